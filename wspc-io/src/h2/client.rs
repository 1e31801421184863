//! The client side: WebSockets as streams of one HTTP/2 connection, and a `connect` that
//! prefers HTTP/2 and falls back to HTTP/1.1.

use super::server::h2_err;
use super::stream::H2Stream;
use crate::http::Target;
use crate::tokio::{MaybeTlsStream, WebSocket};
use crate::{ClientOptions, Error, Response, Result};
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use wspc::handshake::Header;

/// A client HTTP/2 connection on which WebSockets open as extended CONNECT streams.
/// Clones share the connection; its frames are moved by a task spawned on the current
/// tokio runtime, which ends when the connection does.
#[derive(Clone)]
pub struct H2Connection {
    send: h2::client::SendRequest<Bytes>,
    scheme: &'static str,
    authority: String,
}

impl std::fmt::Debug for H2Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Connection")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("supports_websocket", &self.supports_websocket())
            .finish()
    }
}

impl H2Connection {
    /// Runs the HTTP/2 preface over `io` (TLS that chose `h2`, or a stream with prior
    /// knowledge) and waits until the server's first SETTINGS have been applied (a PING
    /// round trip: the server's SETTINGS come first), so that
    /// [`H2Connection::supports_websocket`] answers for the server. `authority` is the
    /// `:authority` of the requests (`host[:port]`), `tls` selects `:scheme`.
    pub async fn handshake<IO>(io: IO, authority: &str, tls: bool) -> Result<Self>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, mut conn) = h2::client::Builder::new()
            .initial_window_size(super::STREAM_WINDOW)
            .initial_connection_window_size(super::CONNECTION_WINDOW)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(h2_err)?;
        let mut ping = conn.ping_pong().ok_or(Error::InvalidState("HTTP/2 ping already taken"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        ping.ping(h2::Ping::opaque()).await.map_err(h2_err)?;
        Ok(Self { send, scheme: if tls { "https" } else { "http" }, authority: authority.to_string() })
    }

    /// True when the server advertised `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3).
    pub fn supports_websocket(&self) -> bool {
        self.send.is_extended_connect_protocol_enabled()
    }

    /// Opens a WebSocket at `resource` (path and query) as a new stream: an extended
    /// CONNECT with `:protocol websocket`, the subprotocols, permessage-deflate offer,
    /// `Origin` and extra headers of `opts`, checked by the same engine handshake as over
    /// HTTP/1.1 (a `2xx` answer is success; anything else is [`Error::HttpStatus`]).
    pub async fn open_websocket(
        &self,
        resource: &str,
        opts: &ClientOptions,
    ) -> Result<(WebSocket<H2Stream>, Response)> {
        if !self.supports_websocket() {
            return Err(Error::InvalidState("the server did not enable the extended CONNECT protocol"));
        }
        let fut = self.open_inner(resource, opts);
        match tokio::time::timeout(opts.config.handshake_timeout, Box::pin(fut)).await {
            Ok(r) => r,
            Err(_) => Err(Error::HandshakeTimeout),
        }
    }

    async fn open_inner(&self, resource: &str, opts: &ClientOptions) -> Result<(WebSocket<H2Stream>, Response)> {
        let mut handle = wspc::Handle::client(opts.config.engine(wspc::Role::Client)?)?;
        let subs: Vec<&str> = opts.subprotocols.iter().map(String::as_str).collect();
        let uri = format!("{}://{}{}", self.scheme, self.authority, resource);
        let mut b = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(uri)
            .extension(h2::ext::Protocol::from("websocket"));
        for h in handle.begin_client_handshake_extended(&subs, &[])? {
            b = b.header(h.name.to_ascii_lowercase(), h.value.as_str());
        }
        if let Some(o) = &opts.origin {
            b = b.header("origin", o.as_str());
        }
        for (n, v) in &opts.headers {
            b = b.header(n.to_ascii_lowercase(), v.as_str());
        }
        let req = b.body(()).map_err(|_| Error::InvalidState("invalid request header"))?;
        let mut send = self.send.clone().ready().await.map_err(h2_err)?;
        let (resp, stream) = send.send_request(req, false).map_err(h2_err)?;
        let resp = resp.await.map_err(h2_err)?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(Error::HttpStatus { status, headers: resp.headers().clone() });
        }
        let hv: Vec<Header<'_>> =
            resp.headers().iter().map(|(n, v)| Header { name: n.as_str().as_bytes(), value: v.as_bytes() }).collect();
        let r = handle.end_client_handshake(&hv)?;
        let subprotocol = r.subprotocol.map(|i| opts.subprotocols[i].clone());
        let (parts, body) = resp.into_parts();
        let io = H2Stream::new(stream, body);
        let ws = WebSocket::from_handle(io, handle, subprotocol.as_deref(), &opts.config);
        let mut response = Response::new(());
        *response.status_mut() = parts.status;
        *response.headers_mut() = parts.headers;
        Ok((ws, response))
    }
}

/// The transport a [`connect_with`] WebSocket runs on.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Transport {
    /// A stream of an HTTP/2 connection (extended CONNECT).
    H2(H2Stream),
    /// Its own TCP (or TLS) connection, upgraded with HTTP/1.1.
    H1(MaybeTlsStream),
}

impl Transport {
    /// True for a WebSocket over HTTP/2.
    pub fn is_http2(&self) -> bool {
        matches!(self, Transport::H2(_))
    }
}

impl WebSocket<H2Stream> {
    /// The same WebSocket as a [`Transport`] one (to keep WebSockets of both kinds together).
    pub fn into_transport(self) -> WebSocket<Transport> {
        self.map_io(Transport::H2)
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Transport::H2($s) => $e,
            Transport::H1($s) => $e,
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// The TLS client configuration of `opts` (or the web PKI one) offering `h2` then
/// `http/1.1` by ALPN.
pub fn client_config_h2(opts: &ClientOptions) -> Arc<rustls::ClientConfig> {
    let base = opts.tls.clone().unwrap_or_else(crate::tls::default_client_config);
    let mut cfg = (*base).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// Connects to a `wss://` URL over HTTP/2 when the server offers it by ALPN and
/// advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL`; otherwise (ALPN chose `http/1.1`, the
/// setting is absent, or the URL is `ws://`) with an HTTP/1.1 upgrade, on a new connection
/// when the first was HTTP/2. Returns the connection handle too when HTTP/2 was used, to
/// open more WebSockets on it.
///
/// With `prefer_http2` false, this is [`crate::tokio::connect_with`] (HTTP/1.1 only), with
/// the same return type.
pub async fn connect_with(
    url: &str,
    opts: &ClientOptions,
    prefer_http2: bool,
) -> Result<(WebSocket<Transport>, Response, Option<H2Connection>)> {
    let target = Target::parse(url)?;
    if target.tls && prefer_http2 {
        let fut = async {
            let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            let name = crate::tls::server_name(&target.host)?;
            let tls = tokio_rustls::TlsConnector::from(client_config_h2(opts))
                .connect(name, tcp)
                .await
                .map_err(Error::from_tls_io)?;
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                let conn = H2Connection::handshake(tls, &target.host_header, true).await?;
                return Ok(Err(Some(conn)));
            }
            let (ws, resp) = crate::tokio::client_handshake(MaybeTlsStream::Tls(tls), url, opts).await?;
            Ok(Ok((ws, resp)))
        };
        let got: Result<std::result::Result<_, Option<H2Connection>>> =
            match tokio::time::timeout(opts.config.handshake_timeout, Box::pin(fut)).await {
                Ok(r) => r,
                Err(_) => Err(Error::HandshakeTimeout),
            };
        match got? {
            Ok((ws, resp)) => return Ok((ws.map_io(Transport::H1), resp, None)),
            Err(Some(conn)) if conn.supports_websocket() => {
                let (ws, resp) = conn.open_websocket(&target.resource, opts).await?;
                return Ok((ws.map_io(Transport::H2), resp, Some(conn)));
            }
            Err(_) => {}
        }
    }
    let (ws, resp) = crate::tokio::connect_with(url, opts).await?;
    Ok((ws.map_io(Transport::H1), resp, None))
}
