//! The opening handshake (RFC 6455 §4): the headers each side adds, and their validation.
//!
//! The engine never sees a request line or a status line: the application (or `wspc-io`)
//! does HTTP; these functions only produce and check the WebSocket headers, as the Windows
//! component does (spec §5.3-§5.6, §7).

use crate::error::HandshakeError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID appended to the key (RFC 6455 §1.3).
pub const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A borrowed HTTP header (bytes; no `:`; not NUL-terminated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header name, matched case-insensitively.
    pub name: &'a [u8],
    /// Header value.
    pub value: &'a [u8],
}

impl<'a> Header<'a> {
    /// A header from two byte strings.
    pub fn new(name: &'a (impl AsRef<[u8]> + ?Sized), value: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        Self { name: name.as_ref(), value: value.as_ref() }
    }
}

/// A header the engine produced; it stays owned by the handle until the handshake ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedHeader {
    /// Canonically cased header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

impl OwnedHeader {
    fn new(name: &str, value: impl Into<String>) -> Self {
        Self { name: name.to_owned(), value: value.into() }
    }

    /// Borrows this header.
    pub fn as_header(&self) -> Header<'_> {
        Header { name: self.name.as_bytes(), value: self.value.as_bytes() }
    }
}

/// `base64(SHA-1(key + GUID))` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(ACCEPT_GUID);
    BASE64.encode(h.finalize())
}

/// A fresh `Sec-WebSocket-Key`: 16 bytes from the operating system's CSPRNG, in base64.
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    BASE64.encode(nonce)
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// All values of a header, joined with `, ` as HTTP allows for list-valued headers.
/// `None` when the header is absent.
pub fn header_values(headers: &[Header<'_>], name: &str) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name.as_bytes())) {
        let o = out.get_or_insert_with(Vec::new);
        if !o.is_empty() {
            o.extend_from_slice(b", ");
        }
        o.extend_from_slice(trim(h.value));
    }
    out
}

/// The last value of a single-valued header.
pub fn header_value<'a>(headers: &[Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers.iter().rev().find(|h| h.name.eq_ignore_ascii_case(name.as_bytes())).map(|h| trim(h.value))
}

/// Splits a comma-separated list into trimmed, non-empty elements.
pub fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim).filter(|s| !s.is_empty())
}

fn has_token(value: &[u8], token: &str) -> bool {
    list_items(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&c))
}

/// Checks a subprotocol name given by the application (an HTTP token).
pub fn validate_token(s: &str) -> Result<(), &'static str> {
    if is_token(s.as_bytes()) {
        Ok(())
    } else {
        Err("not an HTTP token")
    }
}

/// Checks an extension offer or answer given by the application: printable, no CR/LF.
pub fn validate_extension(s: &str) -> Result<(), &'static str> {
    let first = s.split(';').next().unwrap_or("").trim();
    if is_token(first.as_bytes()) && s.bytes().all(|c| c == b' ' || c == b'\t' || c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("not an extension")
    }
}

/// The extension name: the token before the first `;`.
pub fn extension_name(item: &[u8]) -> &[u8] {
    trim(item.split(|&b| b == b';').next().unwrap_or(b""))
}

/// The headers a client adds to its upgrade request (spec §5.3): Connection, Upgrade,
/// Sec-WebSocket-Key, Sec-WebSocket-Version, and Sec-WebSocket-Protocol /
/// Sec-WebSocket-Extensions when any are offered (one header each, joined with `, `).
pub fn client_request_headers(key: &str, subprotocols: &[&str], extensions: &[String]) -> Vec<OwnedHeader> {
    let mut out = vec![
        OwnedHeader::new("Connection", "Upgrade"),
        OwnedHeader::new("Upgrade", "websocket"),
        OwnedHeader::new("Sec-WebSocket-Key", key),
        OwnedHeader::new("Sec-WebSocket-Version", "13"),
    ];
    if !subprotocols.is_empty() {
        out.push(OwnedHeader::new("Sec-WebSocket-Protocol", subprotocols.join(", ")));
    }
    if !extensions.is_empty() {
        out.push(OwnedHeader::new("Sec-WebSocket-Extensions", extensions.join(", ")));
    }
    out
}

/// What a valid upgrade request holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// Offered subprotocols, in order.
    pub subprotocols: Vec<String>,
    /// Offered extensions (each element of `Sec-WebSocket-Extensions`, parameters included).
    pub extensions: Vec<String>,
}

/// Validates the headers of an upgrade request (spec §5.5, RFC 6455 §4.2.1): `Upgrade`
/// contains `websocket`, `Connection` contains `upgrade`, `Host` is present (it may be
/// empty), `Sec-WebSocket-Version` is 13, and `Sec-WebSocket-Key` decodes to 16 bytes.
pub fn validate_request(headers: &[Header<'_>]) -> Result<ClientRequest, HandshakeError> {
    let upgrade = header_values(headers, "Upgrade").ok_or(HandshakeError::MissingHeader("Upgrade"))?;
    if !has_token(&upgrade, "websocket") {
        return Err(HandshakeError::InvalidHeader("Upgrade"));
    }
    let conn = header_values(headers, "Connection").ok_or(HandshakeError::MissingHeader("Connection"))?;
    if !has_token(&conn, "upgrade") {
        return Err(HandshakeError::InvalidHeader("Connection"));
    }
    header_value(headers, "Host").ok_or(HandshakeError::MissingHeader("Host"))?;
    let version =
        header_value(headers, "Sec-WebSocket-Version").ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Version"))?;
    if version != b"13" {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = header_value(headers, "Sec-WebSocket-Key").ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Key"))?;
    match BASE64.decode(key) {
        Ok(k) if k.len() == 16 => {}
        _ => return Err(HandshakeError::InvalidHeader("Sec-WebSocket-Key")),
    }
    offers(headers, String::from_utf8(key.to_vec()).expect("base64 is ASCII"))
}

/// Validates the headers of an extended CONNECT request (RFC 8441 §5: `:method CONNECT`,
/// `:protocol websocket`, which the HTTP/2 layer checks): `Sec-WebSocket-Version` is 13;
/// the subprotocol and extension offers are read as over HTTP/1.1. There is no
/// `Sec-WebSocket-Key` (the returned `key` is empty), `Upgrade` or `Connection` over HTTP/2.
pub fn validate_extended_request(headers: &[Header<'_>]) -> Result<ClientRequest, HandshakeError> {
    let version =
        header_value(headers, "Sec-WebSocket-Version").ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Version"))?;
    if version != b"13" {
        return Err(HandshakeError::UnsupportedVersion);
    }
    offers(headers, String::new())
}

/// The subprotocol and extension offers of a request (the part common to both handshakes).
fn offers(headers: &[Header<'_>], key: String) -> Result<ClientRequest, HandshakeError> {
    let to_strings = |name: &'static str| -> Result<Vec<String>, HandshakeError> {
        let Some(v) = header_values(headers, name) else { return Ok(Vec::new()) };
        let s = String::from_utf8(v).map_err(|_| HandshakeError::InvalidHeader(name))?;
        Ok(s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect())
    };
    let subprotocols = to_strings("Sec-WebSocket-Protocol")?;
    // RFC 6455 §4.1: each offered subprotocol is a token; anything else is a bad request
    // (and must not reach an application that might echo it back).
    if !subprotocols.iter().all(|p| is_token(p.as_bytes())) {
        return Err(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
    }
    Ok(ClientRequest { key, subprotocols, extensions: to_strings("Sec-WebSocket-Extensions")? })
}

/// The headers a server adds to its `101` response (spec §5.5).
pub fn server_response_headers(key: &str, subprotocol: Option<&str>, extensions: &[String]) -> Vec<OwnedHeader> {
    let mut out = vec![
        OwnedHeader::new("Connection", "Upgrade"),
        OwnedHeader::new("Upgrade", "websocket"),
        OwnedHeader::new("Sec-WebSocket-Accept", accept_key(key.as_bytes())),
    ];
    push_selection(&mut out, subprotocol, extensions);
    out
}

/// The headers of the `200` answering an extended CONNECT (RFC 8441 §5): only the selected
/// subprotocol and extensions (no `Sec-WebSocket-Accept`, `Upgrade` or `Connection`).
pub fn extended_response_headers(subprotocol: Option<&str>, extensions: &[String]) -> Vec<OwnedHeader> {
    let mut out = Vec::new();
    push_selection(&mut out, subprotocol, extensions);
    out
}

fn push_selection(out: &mut Vec<OwnedHeader>, subprotocol: Option<&str>, extensions: &[String]) {
    if let Some(p) = subprotocol {
        out.push(OwnedHeader::new("Sec-WebSocket-Protocol", p));
    }
    if !extensions.is_empty() {
        out.push(OwnedHeader::new("Sec-WebSocket-Extensions", extensions.join(", ")));
    }
}

/// The headers a client adds to an extended CONNECT request (RFC 8441 §5):
/// `Sec-WebSocket-Version` and the offers, without `Sec-WebSocket-Key`.
pub fn extended_request_headers(subprotocols: &[&str], extensions: &[String]) -> Vec<OwnedHeader> {
    let mut out = client_request_headers("", subprotocols, extensions);
    out.retain(|h| !["Connection", "Upgrade", "Sec-WebSocket-Key"].contains(&h.name.as_str()));
    out
}

/// What a valid `101` response selected.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServerResponse {
    /// Index of the chosen subprotocol among those offered.
    pub subprotocol: Option<usize>,
    /// Each accepted extension element (parameters included), in the server's order.
    pub extensions: Vec<String>,
}

/// Validates the headers of the server's response (spec §5.4): `Upgrade`/`Connection`,
/// `Sec-WebSocket-Accept` for `key`, a subprotocol among `offered` (one is required when any
/// was offered). Extension elements are returned for the caller to match.
pub fn validate_response(
    headers: &[Header<'_>],
    key: &str,
    offered: &[&str],
) -> Result<ServerResponse, HandshakeError> {
    let upgrade = header_values(headers, "Upgrade").ok_or(HandshakeError::MissingHeader("Upgrade"))?;
    if !has_token(&upgrade, "websocket") {
        return Err(HandshakeError::InvalidHeader("Upgrade"));
    }
    let conn = header_values(headers, "Connection").ok_or(HandshakeError::MissingHeader("Connection"))?;
    if !has_token(&conn, "upgrade") {
        return Err(HandshakeError::InvalidHeader("Connection"));
    }
    let accept =
        header_value(headers, "Sec-WebSocket-Accept").ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Accept"))?;
    if accept != accept_key(key.as_bytes()).as_bytes() {
        return Err(HandshakeError::AcceptMismatch);
    }
    validate_selection(headers, offered)
}

/// Validates the headers of the `2xx` answering an extended CONNECT (RFC 8441 §5): the
/// subprotocol and extension selection, as in [`validate_response`] (there is no
/// `Sec-WebSocket-Accept` over HTTP/2).
pub fn validate_selection(headers: &[Header<'_>], offered: &[&str]) -> Result<ServerResponse, HandshakeError> {
    let subprotocol = match header_values(headers, "Sec-WebSocket-Protocol") {
        Some(v) => {
            let mut items = list_items(&v);
            let chosen = items.next().ok_or(HandshakeError::SubprotocolNotSupported)?;
            if items.next().is_some() {
                return Err(HandshakeError::SubprotocolNotSupported);
            }
            Some(offered.iter().position(|o| o.as_bytes() == chosen).ok_or(HandshakeError::SubprotocolNotSupported)?)
        }
        None if !offered.is_empty() => return Err(HandshakeError::SubprotocolNotSupported),
        None => None,
    };
    let extensions = match header_values(headers, "Sec-WebSocket-Extensions") {
        Some(v) => {
            let s = String::from_utf8(v).map_err(|_| HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"))?;
            s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
        }
        None => Vec::new(),
    };
    Ok(ServerResponse { subprotocol, extensions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_vectors_from_rfc_and_spec() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accept_key(b"AAAAAAAAAAAAAAAAAAAAAA=="), "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
    }

    #[test]
    fn keys_are_random_and_well_formed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert_eq!(BASE64.decode(&a).unwrap().len(), 16);
    }

    fn request<'a>(extra: &[(&'a str, &'a str)]) -> Vec<Header<'a>> {
        let mut v: Vec<Header<'a>> = [
            ("Host", ""),
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ]
        .iter()
        .map(|(n, v)| Header::new(*n, *v))
        .collect();
        for (n, val) in extra {
            v.retain(|h| !h.name.eq_ignore_ascii_case(n.as_bytes()));
            if !val.is_empty() || *n == "Host" {
                v.push(Header::new(*n, *val));
            }
        }
        v
    }

    #[test]
    fn request_validation() {
        assert!(validate_request(&request(&[])).is_ok());
        assert_eq!(
            validate_request(&request(&[("Sec-WebSocket-Version", "8")])),
            Err(HandshakeError::UnsupportedVersion)
        );
        assert_eq!(validate_request(&request(&[("Upgrade", "h2c")])), Err(HandshakeError::InvalidHeader("Upgrade")));
        assert_eq!(
            validate_request(&request(&[("Connection", "close")])),
            Err(HandshakeError::InvalidHeader("Connection"))
        );
        assert_eq!(
            validate_request(&request(&[("Sec-WebSocket-Key", "c2hvcnQ=")])),
            Err(HandshakeError::InvalidHeader("Sec-WebSocket-Key"))
        );
        let mut no_host = request(&[]);
        no_host.retain(|h| h.name != b"Host");
        assert_eq!(validate_request(&no_host), Err(HandshakeError::MissingHeader("Host")));
        let r = validate_request(&request(&[("Sec-WebSocket-Protocol", "chat, superchat")])).unwrap();
        assert_eq!(r.subprotocols, ["chat", "superchat"]);
        assert_eq!(
            validate_request(&request(&[("Sec-WebSocket-Protocol", "chat, chaigin: http://example.com")])),
            Err(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"))
        );
    }

    #[test]
    fn response_validation() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = server_response_headers(key, Some("chat"), &[]);
        let hs: Vec<Header<'_>> = ok.iter().map(OwnedHeader::as_header).collect();
        assert_eq!(validate_response(&hs, key, &["x", "chat"]).unwrap().subprotocol, Some(1));
        assert_eq!(validate_response(&hs, key, &["x"]), Err(HandshakeError::SubprotocolNotSupported));
        assert_eq!(validate_response(&hs, "AAAAAAAAAAAAAAAAAAAAAA==", &["chat"]), Err(HandshakeError::AcceptMismatch));
        let none = server_response_headers(key, None, &[]);
        let hs: Vec<Header<'_>> = none.iter().map(OwnedHeader::as_header).collect();
        assert_eq!(validate_response(&hs, key, &["chat"]), Err(HandshakeError::SubprotocolNotSupported));
        assert_eq!(validate_response(&hs, key, &[]).unwrap().subprotocol, None);
    }
}
