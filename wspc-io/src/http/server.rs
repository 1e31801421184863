//! The server's side of the upgrade, without I/O: parsing and checking the request head,
//! the refusals (400, 405, 426, 431, the application's own) and the `101` answer with the
//! engine's negotiation. Shared by `accept_with` (both APIs) and the hyper/axum upgrades.

use super::{offered, push_header, wire_name, Accept, Reject, Request};
use crate::{Config, Error};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use wspc::handshake::Header;

/// A request head was read: what to do next.
pub(crate) enum ServerStep {
    /// Incomplete: read more.
    More,
    /// Answer with these bytes and stop (bad request); `Error` to report.
    Refuse(Vec<u8>, Error),
    /// A valid upgrade request: ask the application, then [`answer`]; `usize`: head length.
    Request(Box<Request>, usize),
}

/// A refused upgrade: the HTTP answer and the error to report.
pub(crate) struct Refusal {
    /// The status (4xx/5xx).
    pub status: StatusCode,
    /// Extra response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: String,
    /// What the accepting call fails with.
    pub error: Error,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Box<Self> {
        let reason = reason.into();
        tracing::debug!(status, %reason, "upgrade refused");
        Box::new(Refusal {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            headers: HeaderMap::new(),
            body: format!("{reason}\n"),
            error: Error::BadRequest { status, reason },
        })
    }

    fn with(mut self: Box<Self>, name: HeaderName, value: &'static str) -> Box<Self> {
        self.headers.append(name, HeaderValue::from_static(value));
        self
    }

    /// The application's rejection.
    pub(crate) fn rejected(r: Reject) -> Box<Self> {
        let (parts, body) = r.into_parts();
        let status = if parts.status.is_client_error() || parts.status.is_server_error() {
            parts.status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        tracing::debug!(status = status.as_u16(), "the application rejected the upgrade");
        Box::new(Refusal { status, headers: parts.headers, body, error: Error::Rejected(status.as_u16()) })
    }

    pub(crate) fn internal(body: &str, error: Error) -> Box<Self> {
        tracing::debug!(%error, "upgrade refused");
        Box::new(Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            headers: HeaderMap::new(),
            body: body.into(),
            error,
        })
    }

    /// The HTTP/1.1 response bytes (`Connection: close`).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        error_response(self.status, &self.headers, &self.body)
    }

    /// As an `http::Response` (for hyper and axum).
    #[cfg(feature = "hyper")]
    pub(crate) fn into_response<B: From<String>>(self) -> http::Response<B> {
        let mut r = http::Response::new(B::from(self.body));
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers;
        r.headers_mut().entry(header::CONTENT_TYPE).or_insert(HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    }
}

/// A plain HTTP error response.
pub(crate) fn error_response(status: StatusCode, extra: &HeaderMap, body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(
        format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("Error")).as_bytes(),
    );
    for (n, v) in extra {
        if n != header::CONTENT_LENGTH && n != header::CONNECTION && n != header::TRANSFER_ENCODING {
            push_header(&mut out, wire_name(n).as_bytes(), v.as_bytes());
        }
    }
    if !extra.contains_key(header::CONTENT_TYPE) {
        push_header(&mut out, b"Content-Type", b"text/plain; charset=utf-8");
    }
    push_header(&mut out, b"Content-Length", body.len().to_string().as_bytes());
    push_header(&mut out, b"Connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

fn upgrade_required(reason: &str) -> Box<Refusal> {
    Refusal::new(426, reason).with(header::UPGRADE, "websocket").with(header::SEC_WEBSOCKET_VERSION, "13")
}

/// The headers of a request as the engine reads them.
fn engine_headers(map: &HeaderMap) -> Vec<Header<'_>> {
    map.iter().map(|(n, v)| Header { name: n.as_str().as_bytes(), value: v.as_bytes() }).collect()
}

/// Checks that a request is a WebSocket upgrade (RFC 6455 section 4.2.1, by the engine).
pub(crate) fn check_request(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> std::result::Result<(), Box<Refusal>> {
    if method != Method::GET {
        return Err(Refusal::new(405, "only GET can be upgraded").with(header::ALLOW, "GET"));
    }
    if version != Version::HTTP_11 {
        return Err(Refusal::new(400, "HTTP/1.1 is required"));
    }
    match wspc::handshake::validate_request(&engine_headers(headers)) {
        Ok(_) => Ok(()),
        Err(wspc::HandshakeError::UnsupportedVersion) => {
            Err(upgrade_required("unsupported Sec-WebSocket-Version (13 is supported)"))
        }
        Err(e @ (wspc::HandshakeError::MissingHeader("Upgrade") | wspc::HandshakeError::InvalidHeader("Upgrade"))) => {
            Err(upgrade_required(&e.to_string()))
        }
        Err(e) => Err(Refusal::new(400, e.to_string())),
    }
}

/// Answers a checked upgrade request (its `headers`) the application accepted: the engine's
/// handle (open, with the negotiated permessage-deflate in force) and the `101` response's
/// headers.
/// `extended`: the request is an HTTP/2 extended CONNECT (RFC 8441: no key, no accept
/// header), not an HTTP/1.1 upgrade.
pub(crate) fn answer(
    request: &HeaderMap,
    accept: Accept,
    config: &Config,
    extended: bool,
) -> std::result::Result<(wspc::Handle, HeaderMap), Box<Refusal>> {
    if accept.invalid_header {
        return Err(Refusal::internal(
            "invalid response header\n",
            Error::InvalidState("the handler gave an invalid response header"),
        ));
    }
    if let Some(p) = &accept.subprotocol {
        if !offered(request).any(|o| o == p) {
            return Err(Refusal::internal(
                "handler chose a subprotocol that was not offered\n",
                Error::InvalidState("the handler chose a subprotocol that was not offered"),
            ));
        }
    }
    let mut handle = config
        .engine(wspc::Role::Server)
        .and_then(|c| Ok(wspc::Handle::server(c)?))
        .map_err(|e| Refusal::internal("server misconfigured\n", e))?;
    let hv = engine_headers(request);
    let sub = accept.subprotocol.as_deref();
    let generated = if extended {
        handle.begin_server_handshake_extended(sub, &[], &hv)
    } else {
        handle.begin_server_handshake(sub, &[], &hv)
    }
    .map_err(|e| Refusal::new(400, e.to_string()))?;
    let mut headers = HeaderMap::with_capacity(generated.len() + accept.headers.len());
    for h in generated {
        let (Ok(n), Ok(v)) = (HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_str(&h.value)) else {
            return Err(Refusal::internal("", Error::InvalidState("handshake state")));
        };
        headers.append(n, v);
    }
    for (n, v) in &accept.headers {
        headers.append(n, v.clone());
    }
    if handle.end_server_handshake().is_err() {
        return Err(Refusal::internal("", Error::InvalidState("handshake state")));
    }
    Ok((handle, headers))
}

/// The `101` response head with `headers`.
pub(crate) fn switching_protocols(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    for (n, v) in headers {
        push_header(&mut out, wire_name(n).as_bytes(), v.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Parses and checks the request head in `buf`.
pub(crate) fn server_step(buf: &[u8], config: &Config) -> ServerStep {
    let refuse = |r: Box<Refusal>| ServerStep::Refuse(r.to_bytes(), r.error);
    let mut hdrs = vec![httparse::EMPTY_HEADER; config.max_headers];
    let mut req = httparse::Request::new(&mut hdrs);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > config.max_header_bytes => {
            return refuse(Refusal::new(431, "request head too large"));
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= config.max_header_bytes {
                return refuse(Refusal::new(431, "request head too large"));
            }
            return ServerStep::More;
        }
        Err(httparse::Error::TooManyHeaders) => return refuse(Refusal::new(431, "too many header fields")),
        Err(e) => return refuse(Refusal::new(400, format!("malformed request: {e}"))),
    };
    let mut request = http::Request::new(());
    *request.method_mut() = match Method::from_bytes(req.method.unwrap_or("").as_bytes()) {
        Ok(m) => m,
        Err(_) => return refuse(Refusal::new(400, "bad method")),
    };
    *request.version_mut() = if req.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };
    *request.uri_mut() = match req.path.unwrap_or("/").parse::<Uri>() {
        Ok(u) => u,
        Err(e) => return refuse(Refusal::new(400, format!("bad request target: {e}"))),
    };
    let map = request.headers_mut();
    map.reserve(req.headers.len());
    for h in req.headers.iter() {
        match (HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_bytes(h.value)) {
            (Ok(n), Ok(v)) => {
                map.append(n, v);
            }
            _ => return refuse(Refusal::new(400, "malformed header field")),
        }
    }
    if let Err(r) = check_request(request.method(), request.version(), request.headers()) {
        return refuse(r);
    }
    ServerStep::Request(Box::new(request), len)
}
