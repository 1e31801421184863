//! permessage-deflate (RFC 7692) as an extension of the frame pipeline: RSV1 marks the first
//! frame of a compressed message; the send half compresses whole sends, the receive half
//! inflates into a buffer of the receive-buffer size and hands the output out in chunks.
//!
//! # Memory per connection
//! Compression state is zlib's: about `2^(w+2) + 2^(m+9)` bytes for window bits `w` and
//! memory level `m` (flate2 fixes `m` = 8), so 256 KiB at `w` = 15 and 5 KiB at `w` = 9;
//! decompression about `2^w` + 7 KiB; plus one receive-buffer-sized output buffer and an
//! output vector as large as the largest compressed message sent. Lower
//! [`DeflateConfig::server_max_window_bits`]/[`DeflateConfig::client_max_window_bits`] to
//! bound it. Inflated output never exceeds the maximum message size: the 1009 error comes
//! before the bytes are kept.

use crate::config::Role;
use crate::error::{HandshakeError, ProtocolError, Result};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

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

/// permessage-deflate settings of one handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// zlib compression level 0-9 (default 1: the best throughput per byte saved).
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (default 64 bytes).
    pub threshold: usize,
    /// Client: the offers, in order of preference, all in one header.
    pub offers: Vec<DeflateOffer>,
    /// Server: never keep the compression context between messages.
    pub server_no_context_takeover: bool,
    /// Server: the largest window it compresses with (9-15).
    pub server_max_window_bits: u8,
    /// Server: ask clients that allow it to compress with at most this window (9-15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            level: 1,
            threshold: 64,
            offers: vec![DeflateOffer { client_max_window_bits: Some(None), ..DeflateOffer::default() }],
            server_no_context_takeover: false,
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
            let mut resp = String::from(EXTENSION_NAME);
            if snct {
                resp.push_str("; server_no_context_takeover");
            }
            if o.client_no_context_takeover {
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
                client_no_context_takeover: o.client_no_context_takeover,
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

/// The send side's compressor.
pub struct Compressor {
    c: Compress,
    reset: bool,
    /// The window (9-15) and level the stream is written with (after the 8-bit fallback).
    pub(crate) bits: u8,
    pub(crate) level: u32,
    threshold: usize,
    out: Vec<u8>,
    /// The message being sent is compressed (decided at its first frame).
    in_message: bool,
}

impl Compressor {
    pub(crate) fn new(level: u32, bits: u8, reset: bool, threshold: usize) -> Self {
        // zlib cannot produce a raw stream for an 8-bit window; stored blocks (level 0)
        // never refer back at all, so they are valid for any window.
        let (level, bits) = if bits < 9 { (0, 9) } else { (level.min(9), bits) };
        Self {
            c: Compress::new_with_window_bits(Compression::new(level), false, bits),
            reset,
            bits,
            level,
            threshold,
            out: Vec::new(),
            in_message: false,
        }
    }

    /// True when every message is compressed on its own (no context takeover).
    pub(crate) fn resets(&self) -> bool {
        self.reset
    }

    /// True when a whole message of `len` bytes would be compressed.
    pub(crate) fn compresses(&self, len: usize) -> bool {
        len >= self.threshold
    }

    pub(crate) fn output(&self) -> &[u8] {
        &self.out
    }

    /// Compresses one send. Returns (RSV1, body is the compressed output).
    pub(crate) fn compress(&mut self, data: &[u8], first: bool, fin: bool) -> Result<(bool, bool)> {
        if first {
            self.in_message = !fin || data.len() >= self.threshold;
        }
        if !self.in_message {
            return Ok((false, false));
        }
        self.out.clear();
        let mut input = data;
        loop {
            if self.out.capacity() - self.out.len() < 64 {
                self.out.reserve(input.len() / 2 + 256);
            }
            let before_in = self.c.total_in();
            let st = self
                .c
                .compress_vec(input, &mut self.out, FlushCompress::Sync)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            input = &input[(self.c.total_in() - before_in) as usize..];
            // Done once the input is used up and the flush fits. `BufError` means zlib could make
            // no progress: with no input left the flush is already complete (an empty fragment
            // right after a flushed one, or output that exactly filled the vector); looping on
            // it never ends.
            if input.is_empty() && (self.out.len() < self.out.capacity() || st == Status::BufError) {
                break;
            }
        }
        if fin {
            if self.out.ends_with(&TRAILER) {
                self.out.truncate(self.out.len() - 4);
            } else if self.out.is_empty() {
                // Nothing new since the last flush (an empty final fragment, or an empty message
                // right after one), so zlib emitted nothing. The receiver appends 00 00 ff ff to
                // every message (RFC 7692 §7.2.2): send the byte that starts an empty stored
                // block (BFINAL 0, BTYPE 00) so that those four bytes complete it.
                self.out.push(0x00);
            }
            if self.reset {
                self.c.reset();
            }
        }
        Ok((first, true))
    }
}

/// The receive side's decompressor.
pub struct Decompressor {
    d: Decompress,
    reset: bool,
    out: Box<[u8]>,
    max_message: Option<u64>,
    produced: u64,
    trailer_fed: bool,
}

impl Decompressor {
    fn new(bits: u8, reset: bool, out_len: usize, max_message: Option<u64>) -> Self {
        Self {
            d: Decompress::new_with_window_bits(false, bits.max(9)),
            reset,
            out: vec![0u8; out_len].into_boxed_slice(),
            max_message,
            produced: 0,
            trailer_fed: false,
        }
    }

    pub(crate) fn chunk(&self, start: usize, len: usize) -> &[u8] {
        &self.out[start..start + len]
    }

    /// Inflates `input` into the output buffer. `end` is true once the message's last byte
    /// is in `input`; at most `limit` bytes come out. Returns (input consumed, output
    /// produced, message complete).
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        end: bool,
        limit: usize,
    ) -> Result<(usize, usize, bool), ProtocolError> {
        let cap = self.out.len().min(limit);
        let before = (self.d.total_in(), self.d.total_out());
        self.d
            .decompress(input, &mut self.out[..cap], FlushDecompress::None)
            .map_err(|_| ProtocolError::InvalidCompressedData)?;
        let consumed = (self.d.total_in() - before.0) as usize;
        let mut produced = (self.d.total_out() - before.1) as usize;
        let mut done = false;
        if end && consumed == input.len() && produced < cap {
            if !self.trailer_fed {
                let t0 = self.d.total_in();
                let o0 = self.d.total_out();
                self.d
                    .decompress(&TRAILER, &mut self.out[produced..cap], FlushDecompress::Sync)
                    .map_err(|_| ProtocolError::InvalidCompressedData)?;
                produced += (self.d.total_out() - o0) as usize;
                self.trailer_fed = self.d.total_in() - t0 == TRAILER.len() as u64;
            }
            done = self.trailer_fed && produced < cap;
        }
        self.produced += produced as u64;
        if let Some(limit) = self.max_message {
            if self.produced > limit {
                return Err(ProtocolError::MessageTooBig { limit });
            }
        }
        if done {
            self.produced = 0;
            self.trailer_fed = false;
            if self.reset {
                self.d.reset(false);
            }
        }
        Ok((consumed, produced, done))
    }
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
        let cfg = DeflateConfig::default();
        let offers = vec![
            "permessage-deflate; bogus".to_string(),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits".to_string(),
        ];
        let (p, resp) = cfg.negotiate_server(&offers).unwrap();
        assert_eq!(p.server_max_window_bits, 10);
        assert_eq!(resp, "permessage-deflate; server_max_window_bits=10");
        let small = DeflateConfig { client_max_window_bits: 9, ..DeflateConfig::default() };
        let (p, resp) = small.negotiate_server(&["permessage-deflate; client_max_window_bits".into()]).unwrap();
        assert_eq!(p.client_max_window_bits, 9);
        assert_eq!(resp, "permessage-deflate; client_max_window_bits=9");
        assert!(cfg.negotiate_server(&["x-webkit-deflate-frame".into()]).is_none());
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

    #[test]
    fn rfc7692_example_hello() {
        // RFC 7692 §7.2.3.1: "Hello" compressed.
        let mut d = Decompressor::new(15, false, 256, None);
        let (c, n, done) = d.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true, usize::MAX).unwrap();
        assert_eq!((c, done), (7, true));
        assert_eq!(&d.out[..n], b"Hello");
    }

    #[test]
    fn context_takeover_shrinks_repeats() {
        let msg = br#"{"id":12345,"name":"sensor-alpha","values":[1.5,2.25,3.125],"ok":true}"#.repeat(2);
        let mut keep = Compressor::new(6, 15, false, 0);
        let mut reset = Compressor::new(6, 15, true, 0);
        keep.compress(&msg, true, true).unwrap();
        let first = keep.output().len();
        keep.compress(&msg, true, true).unwrap();
        let second = keep.output().len();
        assert!(second < first / 2, "takeover: {first} then {second}");
        reset.compress(&msg, true, true).unwrap();
        let a = reset.output().len();
        reset.compress(&msg, true, true).unwrap();
        assert_eq!(reset.output().len(), a, "no takeover: same size each time");
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let mut c = Compressor::new(9, 15, false, 0);
        c.compress(&zeros, true, true).unwrap();
        let bomb = c.output().to_vec();
        assert!(bomb.len() < 20_000);
        let mut d = Decompressor::new(15, false, 4096, Some(1 << 20));
        let mut input = &bomb[..];
        let mut total = 0usize;
        let err = loop {
            match d.inflate(input, true, usize::MAX) {
                Ok((c, n, done)) => {
                    assert!(!done);
                    total += n;
                    input = &input[c..];
                }
                Err(e) => break e,
            }
        };
        assert_eq!(err, ProtocolError::MessageTooBig { limit: 1 << 20 });
        assert!(total <= 1 << 20);
    }
}
