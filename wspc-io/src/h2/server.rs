//! The server side: an HTTP/2 connection that advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`
//! and turns extended CONNECT requests with `:protocol websocket` into WebSockets.

use super::stream::H2Stream;
use crate::http::{decide, Decision};
use crate::tokio::WebSocket;
use crate::{Accept, Config, Error, Reject, Request, Result};
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
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

/// What arrived on a server HTTP/2 connection.
#[allow(clippy::large_enum_variant)]
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
                let _ = send_simple(&mut respond, 501, &[], "only CONNECT with :protocol websocket is served\n");
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

impl HttpRequest {
    /// The request (its body is not read).
    pub fn request(&self) -> &http::Request<RecvStream> {
        self.request.as_ref().expect("kept until the response")
    }

    /// Answers with `status`, `headers` and `body` (the response ends the stream).
    pub fn respond(mut self, status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Result<()> {
        self.request = None;
        let body = body.into();
        let owned: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let mut send = self.respond.send_response(response(status, &owned)?, body.is_empty()).map_err(h2_err)?;
        if !body.is_empty() {
            send.send_data(body, true).map_err(h2_err)?;
        }
        Ok(())
    }
}

fn response(status: u16, headers: &[(String, String)]) -> Result<http::Response<()>> {
    let mut b = http::Response::builder().status(status);
    for (n, v) in headers {
        b = b.header(n.as_str(), v.as_str());
    }
    b.body(()).map_err(|_| Error::InvalidState("invalid response header"))
}

fn send_simple(respond: &mut SendResponse<Bytes>, status: u16, headers: &[(String, String)], body: &str) -> Result<()> {
    let mut all = headers.to_vec();
    all.push(("content-type".into(), "text/plain; charset=utf-8".into()));
    let resp = response(status, &all).or_else(|_| response(status, &[]))?;
    let mut send = respond.send_response(resp, body.is_empty()).map_err(h2_err)?;
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
        let checked = match wspc::handshake::validate_extended_request(&hv) {
            Ok(c) => c,
            Err(e) => {
                let extra = match e {
                    wspc::HandshakeError::UnsupportedVersion => {
                        vec![("sec-websocket-version".to_string(), "13".to_string())]
                    }
                    _ => Vec::new(),
                };
                let reason = e.to_string();
                let _ = send_simple(&mut self.respond, 400, &extra, &format!("{reason}\n"));
                return Err(Error::BadRequest { status: 400, reason });
            }
        };
        let mut headers: Vec<(String, Vec<u8>)> = Vec::with_capacity(hv.len() + 1);
        if let Some(a) = self.head.uri.authority() {
            headers.push(("host".into(), a.as_str().as_bytes().to_vec()));
        }
        headers.extend(self.head.headers.iter().map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec())));
        let request = Request {
            method: "CONNECT".into(),
            target: self.target().to_string(),
            headers,
            subprotocols: checked.subprotocols,
            extensions: checked.extensions,
        };
        match decide(&request, &hv, config, &mut Some(handler), true) {
            Decision::Refuse { status, headers, body, error } => {
                let _ = send_simple(&mut self.respond, status, &headers, &body);
                Err(error)
            }
            Decision::Accept { headers, handle } => {
                let subprotocol = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
                    .map(|(_, v)| v.clone());
                let send = self.respond.send_response(response(200, &headers)?, false).map_err(h2_err)?;
                let io = H2Stream::new(send, self.body);
                Ok(WebSocket::from_handle(io, *handle, subprotocol.as_deref(), config))
            }
        }
    }
}
