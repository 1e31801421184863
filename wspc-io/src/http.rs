//! The HTTP/1.1 upgrade, without I/O: URL parsing, request and response heads (as the
//! [`http`] crate's types), and the checks and statuses around the engine's handshake
//! calls. [`client_request`] and [`client_response`] are the two steps of a client
//! handshake for callers that do their own I/O.

use crate::{Config, Error, Result};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use wspc::handshake::Header;

mod server;
pub(crate) use server::*;

/// A `ws://` or `wss://` URL, split up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// True for `wss://` (and `https://`).
    pub tls: bool,
    /// The host name or address (IPv6 without brackets).
    pub host: String,
    /// The port (default 80 / 443).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub resource: String,
    /// The `Host` header value.
    pub host_header: String,
}

impl Target {
    /// Parses `ws://host[:port][/path][?query]` (also `wss`, `http`, `https`).
    pub fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| Error::Url(format!("{url}: no scheme")))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            s => return Err(Error::Url(format!("{url}: scheme {s} is not ws or wss"))),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = tail.split('#').next().unwrap_or("");
        if authority.contains('@') {
            return Err(Error::Url(format!("{url}: user info is not supported")));
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| Error::Url(format!("{url}: unclosed [")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(Error::Url(format!("{url}: junk after ]"))),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(Error::Url(format!("{url}: no host")));
        }
        // The host goes into the Host header verbatim: no CR/LF (header injection), no
        // other control characters or spaces.
        if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(Error::Url(format!("{url:?}: spaces or control characters in the host")));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| Error::Url(format!("{url}: bad port {p}")))?,
            None => default_port,
        };
        let bracketed = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let host_header = if port == default_port { bracketed } else { format!("{bracketed}:{port}") };
        let resource = if tail.is_empty() {
            "/".to_string()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_string()
        };
        if resource.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(Error::Url(format!("{url}: spaces or control characters in the path")));
        }
        Ok(Self { tls, host, port, resource, host_header })
    }
}

impl Target {
    /// The target of an absolute `ws://`/`wss://` URI (`http`/`https` too).
    pub fn from_uri(uri: &Uri) -> Result<Self> {
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(Error::Url(format!("{uri}: not an absolute ws:// or wss:// URL")));
        }
        Self::parse(&uri.to_string())
    }
}

/// An upgrade request as the server's handler sees it: method `GET`, the target as its
/// URI (path and query), version HTTP/1.1 and the header fields.
pub type Request = http::Request<()>;

/// The client's view of the server's `101` response (status and headers).
pub type Response = http::Response<()>;

/// The handler's "no": any HTTP response (status 4xx/5xx, headers, a body; without a
/// `Content-Type` header the body is sent as `text/plain`). [`reject`] builds a simple one.
pub type Reject = http::Response<String>;

/// A rejection with `status` (outside 400-599: 500) and a short text body.
pub fn reject(status: u16, body: impl Into<String>) -> Reject {
    let mut r = http::Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// The subprotocols a request offers, in the client's order (the `Sec-WebSocket-Protocol`
/// values, split at commas).
pub fn subprotocols<B>(req: &http::Request<B>) -> impl Iterator<Item = &str> {
    offered(req.headers())
}

/// The `Sec-WebSocket-Protocol` values in `headers`, split at commas.
pub(crate) fn offered(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// The handler's "yes": the subprotocol to select (one of those offered) and extra headers
/// for the `101` response.
#[derive(Clone, Debug, Default)]
pub struct Accept {
    /// The subprotocol to select; must be one the client offered.
    pub subprotocol: Option<String>,
    /// Extra response headers.
    pub headers: HeaderMap,
    /// A header given to [`Accept::header`] was not a valid name or value: the upgrade is
    /// answered with 500 and fails with [`Error::InvalidState`].
    invalid_header: bool,
}

impl Accept {
    /// Selects `p`.
    pub fn subprotocol(mut self, p: impl Into<String>) -> Self {
        self.subprotocol = Some(p.into());
        self
    }
    /// Adds a response header (an invalid name or value fails the upgrade with 500).
    pub fn header<N, V>(mut self, name: N, value: V) -> Self
    where
        N: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => self.invalid_header = true,
        }
        self
    }
}

/// The client's side of the upgrade: subprotocols, headers, Origin, TLS, limits.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Subprotocols to offer, in order of preference (after any in the request's
    /// `Sec-WebSocket-Protocol` header).
    pub subprotocols: Vec<String>,
    /// Extra request headers (besides those of the request given to `connect`).
    pub headers: Vec<(String, String)>,
    /// The `Origin` header.
    pub origin: Option<String>,
    /// Connection settings.
    pub config: Config,
    /// TLS settings for `wss://` (default: web PKI roots).
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl ClientOptions {
    /// Offers subprotocol `p`.
    pub fn subprotocol(mut self, p: impl Into<String>) -> Self {
        self.subprotocols.push(p.into());
        self
    }
    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the `Origin` header.
    pub fn origin(mut self, o: impl Into<String>) -> Self {
        self.origin = Some(o.into());
        self
    }
    /// Sets the connection settings.
    pub fn config(mut self, c: Config) -> Self {
        self.config = c;
        self
    }
    /// Uses this TLS client configuration for `wss://`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, c: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(c);
        self
    }
}

/// What a client may connect to: a URL (`&str`, `String`), a [`Uri`], or an
/// `http::Request<()>` whose URI is the URL and whose headers are sent with the upgrade
/// request (its `Sec-WebSocket-Protocol` values are offered; the fields the handshake
/// writes itself, `Upgrade`, `Connection`, `Sec-WebSocket-Key`/`-Version`/`-Extensions`,
/// are replaced; a `Host` field replaces the one derived from the URL).
pub trait IntoClientRequest {
    /// The request.
    fn into_client_request(self) -> Result<http::Request<()>>;
}

impl IntoClientRequest for http::Request<()> {
    fn into_client_request(self) -> Result<http::Request<()>> {
        Ok(self)
    }
}

impl IntoClientRequest for Uri {
    fn into_client_request(self) -> Result<http::Request<()>> {
        let mut r = http::Request::new(());
        *r.uri_mut() = self;
        Ok(r)
    }
}

impl IntoClientRequest for &Uri {
    fn into_client_request(self) -> Result<http::Request<()>> {
        self.clone().into_client_request()
    }
}

impl IntoClientRequest for &str {
    fn into_client_request(self) -> Result<http::Request<()>> {
        // Checked by our parser first: its errors say what is wrong for a WebSocket URL.
        Target::parse(self)?;
        self.parse::<Uri>().map_err(|e| Error::Url(format!("{self}: {e}")))?.into_client_request()
    }
}

impl IntoClientRequest for String {
    fn into_client_request(self) -> Result<http::Request<()>> {
        self.as_str().into_client_request()
    }
}

impl IntoClientRequest for &String {
    fn into_client_request(self) -> Result<http::Request<()>> {
        self.as_str().into_client_request()
    }
}

fn check_header_text(what: &str, s: &str) -> Result<()> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::InvalidState(if what == "name" {
            "CR, LF or NUL in a header name"
        } else {
            "CR, LF or NUL in a header value"
        }));
    }
    Ok(())
}

/// Request fields the handshake writes itself.
const HANDSHAKE_FIELDS: [HeaderName; 6] = [
    header::HOST,
    header::UPGRADE,
    header::CONNECTION,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// The first step of a client handshake, without I/O: creates the engine's handle and the
/// request head to send for `req` (see [`IntoClientRequest`]). Read the response head and
/// give it to [`client_response`]. Returns the target too (where to connect).
pub fn client_request(req: impl IntoClientRequest, opts: &ClientOptions) -> Result<(Target, wspc::Handle, Vec<u8>)> {
    let req = req.into_client_request()?;
    let target = Target::from_uri(req.uri())?;
    let (handle, bytes) = client_request_to(&target, req.headers(), opts)?;
    Ok((target, handle, bytes))
}

/// [`client_request`] for an already parsed target and extra header fields.
pub(crate) fn client_request_to(
    target: &Target,
    extra: &HeaderMap,
    opts: &ClientOptions,
) -> Result<(wspc::Handle, Vec<u8>)> {
    let mut handle = wspc::Handle::client(opts.config.engine(wspc::Role::Client)?)?;
    let head = request_head(&mut handle, target, extra, opts)?;
    Ok((handle, head))
}

/// The first step of a client handshake on the caller's engine handle (a client handle
/// before its handshake, configured as the caller wants): the request head for `target`
/// with the `extra` header fields (see [`IntoClientRequest`] for the handshake's own
/// fields) and those of `opts` (its `config` is not used). Then [`client_response`].
pub fn request_head(
    handle: &mut wspc::Handle,
    target: &Target,
    extra: &HeaderMap,
    opts: &ClientOptions,
) -> Result<Vec<u8>> {
    let offered: Vec<&str> = offered(extra).chain(opts.subprotocols.iter().map(String::as_str)).collect();
    let hs = handle.begin_client_handshake(&offered, &[], &[])?;
    let mut req = Vec::with_capacity(256);
    req.extend_from_slice(b"GET ");
    req.extend_from_slice(target.resource.as_bytes());
    req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    match extra.get(header::HOST) {
        Some(h) => req.extend_from_slice(h.as_bytes()),
        None => req.extend_from_slice(target.host_header.as_bytes()),
    }
    req.extend_from_slice(b"\r\n");
    for h in hs {
        push_header(&mut req, h.name.as_bytes(), h.value.as_bytes());
    }
    if let Some(o) = &opts.origin {
        check_header_text("value", o)?;
        push_header(&mut req, b"Origin", o.as_bytes());
    }
    for (n, v) in extra {
        if !HANDSHAKE_FIELDS.contains(n) && n != header::SEC_WEBSOCKET_PROTOCOL {
            push_header(&mut req, n.as_str().as_bytes(), v.as_bytes());
        }
    }
    for (n, v) in &opts.headers {
        check_header_text("name", n)?;
        check_header_text("value", v)?;
        push_header(&mut req, n.as_bytes(), v.as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    Ok(req)
}

/// A field name as written on the wire: `http` keeps names in lower case; the handshake's
/// own fields are written in their usual case (RFC 6455's spelling), the rest as given.
pub(crate) fn wire_name(name: &HeaderName) -> &str {
    const CANONICAL: [&str; 8] = [
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Version",
        "Allow",
        "Content-Type",
    ];
    CANONICAL.iter().find(|c| c.eq_ignore_ascii_case(name.as_str())).copied().unwrap_or(name.as_str())
}

pub(crate) fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The second step of a client handshake: parses the response head at the start of
/// `buf`. `Ok(None)`: incomplete, read more. On success the handle is open; returns the
/// response, the selected subprotocol and the head's length (bytes after it are the
/// first WebSocket bytes).
pub fn client_response(
    buf: &[u8],
    handle: &mut wspc::Handle,
    config: &Config,
) -> Result<Option<(Response, Option<String>, usize)>> {
    let mut hdrs = vec![httparse::EMPTY_HEADER; config.max_headers];
    let mut resp = httparse::Response::new(&mut hdrs);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > config.max_header_bytes {
                return Err(Error::BadRequest { status: 0, reason: "response head too long".into() });
            }
            return Ok(None);
        }
        Err(e) => return Err(Error::BadRequest { status: 0, reason: format!("malformed response: {e}") }),
    };
    let status = resp.code.unwrap_or(0);
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        // httparse checked the name's and value's characters.
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_bytes(h.value)) {
            headers.append(n, v);
        }
    }
    if status != 101 {
        tracing::debug!(status, "the server refused the upgrade");
        return Err(Error::HttpStatus { status, headers });
    }
    let hv: Vec<Header<'_>> = resp.headers.iter().map(|h| Header { name: h.name.as_bytes(), value: h.value }).collect();
    let r = handle.end_client_handshake(&hv).inspect_err(|e| tracing::debug!(%e, "the server's 101 was refused"))?;
    let subprotocol =
        r.subprotocol.and_then(|_| headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok().map(str::to_string));
    let mut response = http::Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = headers;
    Ok(Some((response, subprotocol, len)))
}

/// How much to read at once during the handshake.
pub(crate) const HEAD_CHUNK: usize = 2048;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("ws://example.com/chat?x=1").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port, t.resource.as_str()), (false, "example.com", 80, "/chat?x=1"));
        assert_eq!(t.host_header, "example.com");
        let t = Target::parse("wss://[::1]:9001").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port, t.resource.as_str()), (true, "::1", 9001, "/"));
        assert_eq!(t.host_header, "[::1]:9001");
        let t = Target::parse("ws://h:8080?q").unwrap();
        assert_eq!(t.resource, "/?q");
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("ws://:80/").is_err());
        assert!(Target::parse("ws://h:99999/").is_err());
        // Header injection through the host (found by fuzz/http_upgrade).
        assert!(Target::parse("ws://[a\r\nX-Evil:1]/").is_err());
        assert!(Target::parse("ws://a\x01b/").is_err());
        assert!(Target::parse("ws://a b/").is_err());
        let uri: Uri = "wss://[::1]:9001/x?y".parse().unwrap();
        assert_eq!(Target::from_uri(&uri).unwrap(), Target::parse("wss://[::1]:9001/x?y").unwrap());
        assert!(Target::from_uri(&"/relative".parse().unwrap()).is_err());
    }

    #[test]
    fn request_headers_go_with_the_upgrade() {
        let req = http::Request::get("ws://example.com:8080/chat")
            .header("host", "front.example")
            .header("sec-websocket-protocol", "a, b")
            .header("sec-websocket-key", "not mine")
            .header("authorization", "Bearer t")
            .body(())
            .unwrap();
        let opts = ClientOptions::default().subprotocol("c");
        let (target, _, head) = client_request(req, &opts).unwrap();
        assert_eq!((target.port, target.resource.as_str()), (8080, "/chat"));
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("GET /chat HTTP/1.1\r\nHost: front.example\r\n"), "{head}");
        assert!(head.contains("Sec-WebSocket-Protocol: a, b, c\r\n"), "{head}");
        assert!(head.contains("authorization: Bearer t\r\n"), "{head}");
        assert!(!head.contains("not mine"), "{head}");
        assert_eq!(head.matches("Sec-WebSocket-Key").count(), 1);
    }
}
