//! permessage-deflate (RFC 7692) as an extension of the frame pipeline: RSV1 marks the first
//! frame of a compressed message; the send half compresses whole sends, the receive half
//! inflates into a buffer of the receive-buffer size and hands the output out in chunks.
//!
//! # Policies and memory per connection
//! A direction whose context is not kept between messages does not own a zlib stream: it
//! borrows one from a per-thread [`pool`] for one message. Inflated chunks and compressed
//! payloads are lent from pooled buffers that come back once the message's last action
//! completes. So an idle connection holds only the streams of directions that keep their
//! context. [`DeflatePolicy`] names the useful combinations:
//!
//! | policy | server resets its context | client must reset | dedicated streams | held per idle connection |
//! |---|---|---|---|---|
//! | [`Lean`](DeflatePolicy::Lean) (default) | yes | yes (asked even when not offered, RFC 7692 §7.1.1.2) | none | ~120 B |
//! | [`Balanced`](DeflatePolicy::Balanced) | yes | no | decompressor | ~47 KiB allocated, ~22 KiB resident |
//! | [`BestRatio`](DeflatePolicy::BestRatio) | no | no | both | ~420 KiB allocated, ~335 KiB resident |
//!
//! Lean is the default because it is the only policy whose idle connections cost what
//! uncompressed ones do; it pays with a worse ratio on small messages (each compressed on its
//! own) and about twice the CPU per small message (resetting a zlib-rs compressor clears its
//! 128 KiB hash table).
//!
//! (For a client the roles swap: "we reset" / "the peer resets".) A dedicated zlib-rs
//! compressor costs `128 KiB + 4·2^w + 7·2^(m+6)` bytes for window bits `w` and memory level
//! `m` = 8 (its hash table is fixed at 64 Ki entries and flate2 does not expose `m`), so
//! lowering [`DeflateConfig::server_max_window_bits`] shrinks it only down to ~130 KiB; a
//! decompressor always allocates a 32 KiB window. `BENCHMARKS.md` ("permessage-deflate
//! policies") has the measured RSS, ratio and CPU of each policy.
//!
//! While a message is being received or sent a connection holds one stream and one buffer
//! of each kind it uses; once it is done, it holds only its dedicated streams: a client that
//! opens many connections and sends one large message on each cannot make the server keep
//! more than that. Inflated output never exceeds the maximum message size: the 1009 error
//! comes before the bytes are kept.

mod codec;
pub mod pool;

pub use codec::{Compressor, Decompressor};

use crate::config::Role;
use crate::error::{HandshakeError, Result};

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// One offer a client makes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeflateOffer {
    /// Ask the server not to keep its compression context between messages.
    pub server_no_context_takeover: bool,
    /// Promise not to keep our compression context between messages.
    pub client_no_context_takeover: bool,
    /// Ask the server to use at most this window (8-15).
    pub server_max_window_bits: Option<u8>,
    /// `Some(None)`: offer `client_max_window_bits` without a value (the server may choose);
    /// `Some(Some(b))`: promise at most `b`; `None`: do not mention it.
    pub client_max_window_bits: Option<Option<u8>>,
}

impl DeflateOffer {
    fn render(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(b) = self.server_max_window_bits {
            s.push_str(&format!("; server_max_window_bits={b}"));
        }
        match self.client_max_window_bits {
            Some(Some(b)) => s.push_str(&format!("; client_max_window_bits={b}")),
            Some(None) => s.push_str("; client_max_window_bits"),
            None => {}
        }
        s
    }
}

/// A named trade between memory per connection and compression ratio (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum DeflatePolicy {
    /// No context takeover either way: every stream is pooled, so an idle compressed
    /// connection costs what an uncompressed one does. The default.
    #[default]
    Lean,
    /// We reset our compressor after each message (pooled); the peer may keep its context
    /// (one dedicated decompressor per connection).
    Balanced,
    /// Context takeover both ways with 32 KiB windows, both streams dedicated: the best ratio
    /// on repetitive traffic, and the most memory (wspc's only behaviour before the policies).
    BestRatio,
}

impl DeflatePolicy {
    /// Every policy, leanest first.
    pub const ALL: [DeflatePolicy; 3] = [DeflatePolicy::Lean, DeflatePolicy::Balanced, DeflatePolicy::BestRatio];

    /// The policy's name as the command-line options spell it.
    pub fn name(self) -> &'static str {
        match self {
            DeflatePolicy::Lean => "lean",
            DeflatePolicy::Balanced => "balanced",
            DeflatePolicy::BestRatio => "best-ratio",
        }
    }
}

impl std::fmt::Display for DeflatePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeflatePolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
            format!("unknown permessage-deflate policy {s:?} (one of: {})", names.join(", "))
        })
    }
}

/// permessage-deflate settings of one handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// zlib compression level 0-9 (default 2). zlib-rs's level 1 uses only fixed Huffman
    /// codes, which saves 10% on 100-700-byte JSON messages where level 2 saves 27% (and as
    /// much as levels 3-9); see `BENCHMARKS.md` for the CPU it costs.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (default 64 bytes).
    pub threshold: usize,
    /// Client: the offers, in order of preference, all in one header.
    pub offers: Vec<DeflateOffer>,
    /// Server: never keep the compression context between messages.
    pub server_no_context_takeover: bool,
    /// Server: ask every client not to keep its compression context, whether or not it
    /// offered to (RFC 7692 §7.1.1.2 lets the server add `client_no_context_takeover`).
    pub client_no_context_takeover: bool,
    /// Server: the largest window it compresses with (9-15).
    pub server_max_window_bits: u8,
    /// Server: ask clients that allow it to compress with at most this window (9-15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    /// [`DeflatePolicy::Lean`].
    fn default() -> Self {
        Self::policy(DeflatePolicy::default())
    }
}

impl DeflateConfig {
    /// The settings of a named policy (level 2, threshold 64 bytes, 32 KiB windows).
    pub fn policy(policy: DeflatePolicy) -> Self {
        let (we_reset, peer_resets) = match policy {
            DeflatePolicy::Lean => (true, true),
            DeflatePolicy::Balanced => (true, false),
            DeflatePolicy::BestRatio => (false, false),
        };
        let offer = |server_no_context_takeover| DeflateOffer {
            server_no_context_takeover,
            client_no_context_takeover: we_reset,
            server_max_window_bits: None,
            client_max_window_bits: Some(None),
        };
        // A client asks the server to reset only when the policy wants it, and falls back to
        // an offer without that request for servers that refuse it.
        let offers = if peer_resets { vec![offer(true), offer(false)] } else { vec![offer(false)] };
        Self {
            level: 2,
            threshold: 64,
            offers,
            server_no_context_takeover: we_reset,
            client_no_context_takeover: peer_resets,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// What was negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's window (8-15).
    pub server_max_window_bits: u8,
    /// The client's window (8-15).
    pub client_max_window_bits: u8,
}

#[derive(Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)` when present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn parse_bits(v: Option<&str>) -> std::result::Result<Option<u8>, ()> {
    match v {
        None => Ok(None),
        Some(v) => {
            let v = v.trim_matches('"');
            if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) || v.starts_with('0') {
                return Err(());
            }
            match v.parse::<u8>() {
                Ok(b @ 8..=15) => Ok(Some(b)),
                _ => Err(()),
            }
        }
    }
}

/// Parses one `permessage-deflate; ...` element. Unknown, repeated or malformed parameters
/// make it invalid (RFC 7692 §7.1).
fn parse_element(item: &str) -> std::result::Result<Parsed, ()> {
    let mut parts = item.split(';');
    if !parts.next().unwrap_or("").trim().eq_ignore_ascii_case(EXTENSION_NAME) {
        return Err(());
    }
    let mut p = Parsed::default();
    let mut seen = [false; 4];
    for part in parts {
        let part = part.trim();
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (part, None),
        };
        let idx = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => {
                p.server_no_context_takeover = true;
                0
            }
            "client_no_context_takeover" if value.is_none() => {
                p.client_no_context_takeover = true;
                1
            }
            "server_max_window_bits" => {
                p.server_max_window_bits = Some(parse_bits(value)?.ok_or(())?);
                2
            }
            "client_max_window_bits" => {
                p.client_max_window_bits = Some(parse_bits(value)?);
                3
            }
            _ => return Err(()),
        };
        if std::mem::replace(&mut seen[idx], true) {
            return Err(());
        }
    }
    Ok(p)
}

impl DeflateConfig {
    /// The client's offer elements.
    pub(crate) fn client_offers(&self) -> Vec<String> {
        self.offers.iter().map(DeflateOffer::render).collect()
    }

    /// Client: checks the server's answer against the offers; fails the handshake
    /// (`E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED`) when no offer allows it.
    pub(crate) fn accept_response(&self, item: &str) -> Result<DeflateParams> {
        let r = parse_element(item).map_err(|_| HandshakeError::ExtensionNotSupported)?;
        for o in &self.offers {
            if o.server_no_context_takeover && !r.server_no_context_takeover {
                continue;
            }
            if let (Some(want), got) = (o.server_max_window_bits, r.server_max_window_bits) {
                if got.is_none_or(|g| g > want) {
                    continue;
                }
            }
            let client_bits = match (r.client_max_window_bits, o.client_max_window_bits) {
                (None, Some(Some(b))) => b,
                (None, _) => 15,
                (Some(Some(b)), Some(None)) => b,
                (Some(Some(b)), Some(Some(max))) if b <= max => b,
                _ => continue,
            };
            return Ok(DeflateParams {
                server_no_context_takeover: r.server_no_context_takeover,
                client_no_context_takeover: r.client_no_context_takeover || o.client_no_context_takeover,
                server_max_window_bits: r.server_max_window_bits.unwrap_or(15),
                client_max_window_bits: client_bits,
            });
        }
        Err(HandshakeError::ExtensionNotSupported.into())
    }

    /// Server: picks the first acceptable offer among the request's extension elements and
    /// returns the parameters and the response element.
    pub(crate) fn negotiate_server(&self, offered: &[String]) -> Option<(DeflateParams, String)> {
        for item in offered {
            let Ok(o) = parse_element(item) else { continue };
            let snct = o.server_no_context_takeover || self.server_no_context_takeover;
            let sbits = o.server_max_window_bits.unwrap_or(15).min(self.server_max_window_bits.clamp(8, 15));
            let cbits = match o.client_max_window_bits {
                Some(Some(b)) => Some(b.min(self.client_max_window_bits.clamp(8, 15))),
                Some(None) if self.client_max_window_bits < 15 => Some(self.client_max_window_bits.max(8)),
                _ => None,
            };
            let cnct = o.client_no_context_takeover || self.client_no_context_takeover;
            let mut resp = String::from(EXTENSION_NAME);
            if snct {
                resp.push_str("; server_no_context_takeover");
            }
            if cnct {
                resp.push_str("; client_no_context_takeover");
            }
            if o.server_max_window_bits.is_some() || sbits < 15 {
                resp.push_str(&format!("; server_max_window_bits={sbits}"));
            }
            if let Some(b) = cbits {
                resp.push_str(&format!("; client_max_window_bits={b}"));
            }
            let params = DeflateParams {
                server_no_context_takeover: snct,
                client_no_context_takeover: cnct,
                server_max_window_bits: sbits,
                client_max_window_bits: cbits.unwrap_or(15),
            };
            return Some((params, resp));
        }
        None
    }
}

/// Builds the compressor and decompressor of one endpoint.
pub(crate) fn codec_pair(
    role: Role,
    p: &DeflateParams,
    cfg: &DeflateConfig,
    out_len: usize,
    max_message: Option<u64>,
) -> (Compressor, Decompressor) {
    let (my_bits, my_reset, peer_bits, peer_reset) = match role {
        Role::Client => (
            p.client_max_window_bits,
            p.client_no_context_takeover,
            p.server_max_window_bits,
            p.server_no_context_takeover,
        ),
        Role::Server => (
            p.server_max_window_bits,
            p.server_no_context_takeover,
            p.client_max_window_bits,
            p.client_no_context_takeover,
        ),
    };
    (
        Compressor::new(cfg.level, my_bits, my_reset, cfg.threshold),
        Decompressor::new(peer_bits, peer_reset, out_len, max_message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_render_and_parse() {
        let o = DeflateOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(None),
        };
        let s = o.render();
        assert_eq!(s, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits");
        let p = parse_element(&s).unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
        assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (Some(10), Some(None)));
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=09",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
        ] {
            assert!(parse_element(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_picks_first_acceptable_offer() {
        let cfg = DeflateConfig::policy(DeflatePolicy::BestRatio);
        let offers = vec![
            "permessage-deflate; bogus".to_string(),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits".to_string(),
        ];
        let (p, resp) = cfg.negotiate_server(&offers).unwrap();
        assert_eq!(p.server_max_window_bits, 10);
        assert_eq!(resp, "permessage-deflate; server_max_window_bits=10");
        let small = DeflateConfig { client_max_window_bits: 9, ..cfg.clone() };
        let (p, resp) = small.negotiate_server(&["permessage-deflate; client_max_window_bits".into()]).unwrap();
        assert_eq!(p.client_max_window_bits, 9);
        assert_eq!(resp, "permessage-deflate; client_max_window_bits=9");
        assert!(cfg.negotiate_server(&["x-webkit-deflate-frame".into()]).is_none());
    }

    #[test]
    fn policies_choose_context_takeover() {
        // What a browser offers.
        let browser = ["permessage-deflate; client_max_window_bits".to_string()];
        let expect = [
            (
                DeflatePolicy::Lean,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                (true, true),
            ),
            (DeflatePolicy::Balanced, "permessage-deflate; server_no_context_takeover", (true, false)),
            (DeflatePolicy::BestRatio, "permessage-deflate", (false, false)),
        ];
        for (policy, response, (snct, cnct)) in expect {
            let (p, resp) = DeflateConfig::policy(policy).negotiate_server(&browser).unwrap();
            assert_eq!(resp, response, "{policy}");
            assert_eq!((p.server_no_context_takeover, p.client_no_context_takeover), (snct, cnct), "{policy}");
            assert_eq!(policy.name().parse::<DeflatePolicy>(), Ok(policy));
            // Our own client accepts what our server answers.
            let c = DeflateConfig::policy(policy);
            let offers = c.client_offers();
            let (sp, resp) = c.negotiate_server(&offers).unwrap();
            assert_eq!(c.accept_response(&resp).unwrap(), sp, "{policy}");
        }
        assert_eq!(DeflateConfig::default(), DeflateConfig::policy(DeflatePolicy::Lean));
        assert!("fast".parse::<DeflatePolicy>().is_err());
        // A client that asks the server to keep no context gets that under every policy.
        let snct = ["permessage-deflate; server_no_context_takeover".to_string()];
        let (p, _) = DeflateConfig::policy(DeflatePolicy::BestRatio).negotiate_server(&snct).unwrap();
        assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
    }

    #[test]
    fn client_rejects_answers_it_did_not_offer() {
        let cfg = DeflateConfig::default();
        assert!(cfg.accept_response("permessage-deflate").is_ok());
        assert_eq!(
            cfg.accept_response("permessage-deflate; client_max_window_bits=10").unwrap().client_max_window_bits,
            10
        );
        let strict = DeflateConfig { offers: vec![DeflateOffer::default()], ..DeflateConfig::default() };
        assert!(strict.accept_response("permessage-deflate; client_max_window_bits=10").is_err());
        let want_snct = DeflateConfig {
            offers: vec![DeflateOffer { server_no_context_takeover: true, ..DeflateOffer::default() }],
            ..DeflateConfig::default()
        };
        assert!(want_snct.accept_response("permessage-deflate").is_err());
        assert!(want_snct.accept_response("permessage-deflate; server_no_context_takeover").is_ok());
        assert!(cfg.accept_response("permessage-deflate; unknown=1").is_err());
    }
}
