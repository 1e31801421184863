//! The server side: an HTTP/2 connection that advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`
//! and turns extended CONNECT requests with `:protocol websocket` into WebSockets.

use super::stream::H2Stream;
use crate::http::{answer, Refusal};
use crate::tokio::WebSocket;
use crate::{Accept, Config, Error, Reject, Request, Result};
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use wspc::handshake::Header;

pub(crate) fn h2_err(e: h2::Error) -> Error {
    Error::Io(super::stream::h2_io_error(e))
}

/// A server HTTP/2 connection (after the TLS handshake chose `h2`, or with prior
/// knowledge). Its frames move only while [`ServerConnection::accept`] is being awaited:
/// keep calling it (the streams it hands out run in their own tasks) until it returns
/// `None`.
pub struct ServerConnection<IO> {
    conn: h2::server::Connection<IO, Bytes>,
}

impl<IO> std::fmt::Debug for ServerConnection<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConnection").finish_non_exhaustive()
    }
}

/// What arrived on a server HTTP/2 connection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Incoming {
    /// An extended CONNECT with `:protocol websocket` (RFC 8441).
    WebSocket(WebSocketRequest),
    /// Any other request, for the application to answer (a page, a 404 ...).
    Http(HttpRequest),
}

impl<IO: AsyncRead + AsyncWrite + Unpin> ServerConnection<IO> {
    /// Runs the HTTP/2 preface and advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`, within
    /// `config`'s handshake timeout; a request's header list is limited to
    /// `config.max_header_bytes` (as an HTTP/1.1 head is).
    pub async fn handshake(io: IO, config: &Config) -> Result<Self> {
        let mut b = h2::server::Builder::new();
        b.enable_connect_protocol()
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .initial_window_size(super::STREAM_WINDOW)
            .initial_connection_window_size(super::CONNECTION_WINDOW)
            .max_concurrent_streams(super::MAX_STREAMS);
        match tokio::time::timeout(config.handshake_timeout, b.handshake(io)).await {
            Ok(r) => Ok(Self { conn: r.map_err(h2_err)? }),
            Err(_) => Err(Error::HandshakeTimeout),
        }
    }

    /// The next request; `None` when the connection has ended. A `CONNECT` that is not an
    /// extended CONNECT for `websocket` is answered here (`501`, or `400` when the request
    /// lacks `:path`).
    pub async fn accept(&mut self) -> Option<Result<Incoming>> {
        loop {
            let (req, mut respond) = match self.conn.accept().await? {
                Ok(r) => r,
                Err(e) => return Some(Err(h2_err(e))),
            };
            if req.method() != http::Method::CONNECT {
                return Some(Ok(Incoming::Http(HttpRequest { request: Some(req), respond })));
            }
            let protocol = req.extensions().get::<h2::ext::Protocol>().map(|p| p.as_str().to_string());
            if !protocol.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
                let _ = send_simple(
                    &mut respond,
                    StatusCode::NOT_IMPLEMENTED,
                    HeaderMap::new(),
                    "only CONNECT with :protocol websocket is served\n",
                );
                continue;
            }
            let (head, body) = req.into_parts();
            return Some(Ok(Incoming::WebSocket(WebSocketRequest { head, body, respond })));
        }
    }

    /// Starts a graceful shutdown (GOAWAY); keep calling [`ServerConnection::accept`] until
    /// it returns `None`.
    pub fn graceful_shutdown(&mut self) {
        self.conn.graceful_shutdown();
    }
}

/// A non-WebSocket request on an HTTP/2 connection.
pub struct HttpRequest {
    request: Option<http::Request<RecvStream>>,
    respond: SendResponse<Bytes>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest").field("request", &self.request).finish_non_exhaustive()
    }
}

impl HttpRequest {
    /// The request (its body is not read).
    pub fn request(&self) -> &http::Request<RecvStream> {
        self.request.as_ref().expect("kept until the response")
    }

    /// Answers with `status`, `headers` and `body` (the response ends the stream).
    pub fn respond(mut self, status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Result<()> {
        self.request = None;
        let body = body.into();
        let status = StatusCode::from_u16(status).map_err(|_| Error::InvalidState("invalid status"))?;
        let mut map = HeaderMap::with_capacity(headers.len());
        for (n, v) in headers {
            let (Ok(n), Ok(v)) = (header::HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_str(v)) else {
                return Err(Error::InvalidState("invalid response header"));
            };
            map.append(n, v);
        }
        let mut send = self.respond.send_response(response(status, map), body.is_empty()).map_err(h2_err)?;
        if !body.is_empty() {
            send.send_data(body, true).map_err(h2_err)?;
        }
        Ok(())
    }
}

fn response(status: StatusCode, headers: HeaderMap) -> http::Response<()> {
    let mut r = http::Response::new(());
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

fn send_simple(
    respond: &mut SendResponse<Bytes>,
    status: StatusCode,
    mut headers: HeaderMap,
    body: &str,
) -> Result<()> {
    headers.entry(header::CONTENT_TYPE).or_insert(HeaderValue::from_static("text/plain; charset=utf-8"));
    let mut send = respond.send_response(response(status, headers), body.is_empty()).map_err(h2_err)?;
    if !body.is_empty() {
        send.send_data(Bytes::copy_from_slice(body.as_bytes()), true).map_err(h2_err)?;
    }
    Ok(())
}

/// An extended CONNECT for a WebSocket (RFC 8441), waiting to be accepted.
pub struct WebSocketRequest {
    head: http::request::Parts,
    body: RecvStream,
    respond: SendResponse<Bytes>,
}

impl std::fmt::Debug for WebSocketRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketRequest")
            .field("stream_id", &self.stream_id())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl WebSocketRequest {
    /// The HTTP/2 stream identifier.
    pub fn stream_id(&self) -> u32 {
        self.respond.stream_id().into()
    }

    /// The request's path and query (`:path`).
    pub fn target(&self) -> &str {
        self.head.uri.path_and_query().map_or("/", |p| p.as_str())
    }

    /// Answers the request: validates it and negotiates the subprotocol and
    /// permessage-deflate exactly as an HTTP/1.1 upgrade is (the same handler and engine
    /// handshake; see [`crate::tokio::accept_with`]), answers `200` and returns the
    /// WebSocket over the stream, or answers the error status (`400`, the handler's
    /// rejection ...) and returns the error.
    pub fn accept_with<F>(mut self, config: &Config, handler: F) -> Result<WebSocket<H2Stream>>
    where
        F: FnOnce(&Request) -> std::result::Result<Accept, Reject>,
    {
        let hv: Vec<Header<'_>> = self
            .head
            .headers
            .iter()
            .map(|(n, v)| Header { name: n.as_str().as_bytes(), value: v.as_bytes() })
            .collect();
        if let Err(e) = wspc::handshake::validate_extended_request(&hv) {
            let mut extra = HeaderMap::new();
            if matches!(e, wspc::HandshakeError::UnsupportedVersion) {
                extra.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            let reason = e.to_string();
            tracing::debug!(%reason, "extended CONNECT refused");
            let _ = send_simple(&mut self.respond, StatusCode::BAD_REQUEST, extra, &format!("{reason}\n"));
            return Err(Error::BadRequest { status: 400, reason });
        }
        // The handler sees the request as an `http::Request<()>`: method CONNECT, version
        // HTTP/2, and `:authority` also as a `host` header (as over HTTP/1.1).
        let mut request = http::Request::new(());
        *request.method_mut() = self.head.method.clone();
        *request.uri_mut() = self.head.uri.clone();
        *request.version_mut() = http::Version::HTTP_2;
        *request.headers_mut() = self.head.headers.clone();
        if let Some(a) = self.head.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
            request.headers_mut().entry(header::HOST).or_insert(a);
        }
        let answered =
            handler(&request).map_err(Refusal::rejected).and_then(|a| answer(request.headers(), a, config, true));
        match answered {
            Err(r) => {
                let _ = send_simple(&mut self.respond, r.status, r.headers, &r.body);
                Err(r.error)
            }
            Ok((handle, headers)) => {
                let subprotocol =
                    headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let send = self.respond.send_response(response(StatusCode::OK, headers), false).map_err(h2_err)?;
                let io = H2Stream::new(send, self.body);
                Ok(WebSocket::from_handle(io, handle, subprotocol.as_deref(), config))
            }
        }
    }
}
