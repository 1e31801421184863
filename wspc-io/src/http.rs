//! The HTTP/1.1 upgrade, without I/O: URL parsing, request and response heads, and the
//! checks and statuses around the engine's handshake calls.

use crate::{Config, Error, Result};
use wspc::handshake::Header;

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

/// An upgrade request as the server's handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method: `GET` for an HTTP/1.1 upgrade, `CONNECT` for an HTTP/2 extended CONNECT
    /// (RFC 8441; its `:authority` is then given as a `host` header).
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// The header lines, in order (values as bytes: they need not be UTF-8).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The offered subprotocols, in the client's order.
    pub subprotocols: Vec<String>,
    /// The offered extensions (each element with its parameters).
    pub extensions: Vec<String>,
}

impl Request {
    /// The path (the target without the query).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
    /// The last value of header `name` (case-insensitive), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }
}

/// The handler's "yes": the subprotocol to select (one of those offered) and extra headers
/// for the `101` response.
#[derive(Clone, Debug, Default)]
pub struct Accept {
    /// The subprotocol to select; must be one the client offered.
    pub subprotocol: Option<String>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl Accept {
    /// Selects `p`.
    pub fn subprotocol(mut self, p: impl Into<String>) -> Self {
        self.subprotocol = Some(p.into());
        self
    }
    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The handler's "no": an HTTP status, headers and a body.
#[derive(Clone, Debug)]
pub struct Reject {
    /// The status (4xx or 5xx).
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// The body (sent with `Content-Type: text/plain`).
    pub body: String,
}

impl Reject {
    /// A rejection with `status` and a short body.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self { status, headers: Vec::new(), body: body.into() }
    }
}

/// What the client learned from the server's `101`.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// The status (101).
    pub status: u16,
    /// The response headers.
    pub headers: Vec<(String, String)>,
    /// The subprotocol the server selected.
    pub subprotocol: Option<String>,
}

impl Response {
    /// The last value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The client's side of the upgrade: subprotocols, headers, Origin, TLS, limits.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers.
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

/// Starts a client handshake: creates the handle and the request bytes.
pub(crate) fn client_request(target: &Target, opts: &ClientOptions) -> Result<(wspc::Handle, Vec<u8>)> {
    let mut handle = wspc::Handle::client(opts.config.engine(wspc::Role::Client)?)?;
    let subs: Vec<&str> = opts.subprotocols.iter().map(String::as_str).collect();
    let hs = handle.begin_client_handshake(&subs, &[], &[])?;
    let mut req = Vec::with_capacity(256);
    req.extend_from_slice(b"GET ");
    req.extend_from_slice(target.resource.as_bytes());
    req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    req.extend_from_slice(target.host_header.as_bytes());
    req.extend_from_slice(b"\r\n");
    for h in hs {
        push_header(&mut req, &h.name, &h.value);
    }
    if let Some(o) = &opts.origin {
        check_header_text("value", o)?;
        push_header(&mut req, "Origin", o);
    }
    for (n, v) in &opts.headers {
        check_header_text("name", n)?;
        check_header_text("value", v)?;
        push_header(&mut req, n, v);
    }
    req.extend_from_slice(b"\r\n");
    Ok((handle, req))
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Parses the response head in `buf`. `Ok(None)`: incomplete. On success, returns the
/// response and the head length; the handle is open.
pub(crate) fn client_response(
    buf: &[u8],
    handle: &mut wspc::Handle,
    opts: &ClientOptions,
) -> Result<Option<(Response, usize)>> {
    let mut hdrs = vec![httparse::EMPTY_HEADER; opts.config.max_headers];
    let mut resp = httparse::Response::new(&mut hdrs);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > opts.config.max_header_bytes {
                return Err(Error::BadRequest { status: 0, reason: "response head too long".into() });
            }
            return Ok(None);
        }
        Err(e) => return Err(Error::BadRequest { status: 0, reason: format!("malformed response: {e}") }),
    };
    let status = resp.code.unwrap_or(0);
    let headers: Vec<(String, String)> =
        resp.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned())).collect();
    if status != 101 {
        return Err(Error::HttpStatus { status, headers });
    }
    let hv: Vec<Header<'_>> = resp.headers.iter().map(|h| Header { name: h.name.as_bytes(), value: h.value }).collect();
    let r = handle.end_client_handshake(&hv)?;
    let subprotocol = r.subprotocol.map(|i| opts.subprotocols[i].clone());
    Ok(Some((Response { status, headers, subprotocol }, len)))
}

/// A request head was read: what to do next.
pub(crate) enum ServerStep {
    /// Incomplete: read more.
    More,
    /// Answer with these bytes and stop (bad request or rejection); `Error` to report.
    Refuse(Vec<u8>, Error),
    /// Answer with this `101` and go on with the handle; `usize`: head length.
    Upgrade(Vec<u8>, Box<wspc::Handle>, usize),
}

/// A plain HTTP error response.
pub(crate) fn error_response(status: u16, extra: &[(String, String)], body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
    for (n, v) in extra {
        if check_header_text("name", n).is_ok() && check_header_text("value", v).is_ok() {
            push_header(&mut out, n, v);
        }
    }
    push_header(&mut out, "Content-Type", "text/plain; charset=utf-8");
    push_header(&mut out, "Content-Length", &body.len().to_string());
    push_header(&mut out, "Connection", "close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn refuse(status: u16, reason: impl Into<String>, extra: &[(String, String)]) -> ServerStep {
    let reason = reason.into();
    ServerStep::Refuse(error_response(status, extra, &format!("{reason}\n")), Error::BadRequest { status, reason })
}

fn upgrade_required(reason: &str) -> ServerStep {
    let extra =
        [("Upgrade".to_string(), "websocket".to_string()), ("Sec-WebSocket-Version".to_string(), "13".to_string())];
    refuse(426, reason, &extra)
}

/// Parses and answers the request head in `buf`.
pub(crate) fn server_step<F>(buf: &[u8], config: &Config, handler: &mut Option<F>) -> ServerStep
where
    F: FnOnce(&Request) -> std::result::Result<Accept, Reject>,
{
    let mut hdrs = vec![httparse::EMPTY_HEADER; config.max_headers];
    let mut req = httparse::Request::new(&mut hdrs);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > config.max_header_bytes => {
            return refuse(431, "request head too large", &[]);
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= config.max_header_bytes {
                return refuse(431, "request head too large", &[]);
            }
            return ServerStep::More;
        }
        Err(httparse::Error::TooManyHeaders) => return refuse(431, "too many header fields", &[]),
        Err(e) => return refuse(400, format!("malformed request: {e}"), &[]),
    };
    if req.method != Some("GET") {
        return refuse(405, "only GET can be upgraded", &[("Allow".into(), "GET".into())]);
    }
    if req.version != Some(1) {
        return refuse(400, "HTTP/1.1 is required", &[]);
    }
    let hv: Vec<Header<'_>> = req.headers.iter().map(|h| Header { name: h.name.as_bytes(), value: h.value }).collect();
    let checked = match wspc::handshake::validate_request(&hv) {
        Ok(c) => c,
        Err(wspc::HandshakeError::UnsupportedVersion) => {
            return upgrade_required("unsupported Sec-WebSocket-Version (13 is supported)")
        }
        Err(e @ (wspc::HandshakeError::MissingHeader("Upgrade") | wspc::HandshakeError::InvalidHeader("Upgrade"))) => {
            return upgrade_required(&e.to_string())
        }
        Err(e) => return refuse(400, e.to_string(), &[]),
    };
    let request = Request {
        method: "GET".into(),
        target: req.path.unwrap_or("/").to_string(),
        headers: req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect(),
        subprotocols: checked.subprotocols,
        extensions: checked.extensions,
    };
    match decide(&request, &hv, config, handler, false) {
        Decision::Refuse { status, headers, body, error } => {
            ServerStep::Refuse(error_response(status, &headers, &body), error)
        }
        Decision::Accept { headers, handle } => {
            let mut out = Vec::with_capacity(256);
            out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
            for (n, v) in &headers {
                push_header(&mut out, n, v);
            }
            out.extend_from_slice(b"\r\n");
            ServerStep::Upgrade(out, handle, len)
        }
    }
}

/// What the handler and the engine decided for a valid WebSocket request.
pub(crate) enum Decision {
    /// Answer with this status, these headers and this body, and report `error`.
    Refuse { status: u16, headers: Vec<(String, String)>, body: String, error: Error },
    /// Answer with these headers (the engine's, then the handler's) and run the open handle.
    Accept { headers: Vec<(String, String)>, handle: Box<wspc::Handle> },
}

/// Runs the handler and the engine's server handshake on a request that passed the
/// transport's checks: over HTTP/1.1 (`extended` false) or an HTTP/2 extended CONNECT.
pub(crate) fn decide<F>(
    request: &Request,
    hv: &[Header<'_>],
    config: &Config,
    handler: &mut Option<F>,
    extended: bool,
) -> Decision
where
    F: FnOnce(&Request) -> std::result::Result<Accept, Reject>,
{
    let refuse = |status: u16, body: &str, error: Error| Decision::Refuse {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        error,
    };
    let accept = match handler.take() {
        Some(f) => match f(request) {
            Ok(a) => a,
            Err(r) => {
                let status = if (400..=599).contains(&r.status) { r.status } else { 500 };
                return Decision::Refuse { status, headers: r.headers, body: r.body, error: Error::Rejected(status) };
            }
        },
        None => Accept::default(),
    };
    if let Some(p) = &accept.subprotocol {
        if !request.subprotocols.iter().any(|o| o == p) {
            return refuse(
                500,
                "handler chose a subprotocol that was not offered\n",
                Error::InvalidState("the handler chose a subprotocol that was not offered"),
            );
        }
    }
    let built = config.engine(wspc::Role::Server).and_then(|c| Ok(wspc::Handle::server(c)?));
    let mut handle = match built {
        Ok(h) => h,
        Err(e) => return refuse(500, "server misconfigured\n", e),
    };
    let sub = accept.subprotocol.as_deref();
    let begun = if extended {
        handle.begin_server_handshake_extended(sub, &[], hv)
    } else {
        handle.begin_server_handshake(sub, &[], hv)
    };
    let mut headers: Vec<(String, String)> = match begun {
        Ok(h) => h.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
        Err(e) => {
            let reason = e.to_string();
            return refuse(400, &format!("{reason}\n"), Error::BadRequest { status: 400, reason });
        }
    };
    for (n, v) in accept.headers {
        if check_header_text("name", &n).is_ok() && check_header_text("value", &v).is_ok() {
            headers.push((n, v));
        }
    }
    if handle.end_server_handshake().is_err() {
        return refuse(500, "", Error::InvalidState("handshake state"));
    }
    Decision::Accept { headers, handle: Box::new(handle) }
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
    }
}
