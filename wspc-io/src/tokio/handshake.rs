//! Opening a tokio connection: the client handshake (TCP, TLS, upgrade) and the server
//! handshake (with a synchronous or asynchronous decision), within the handshake timeout;
//! a refused upgrade lingers (see [`Linger`]).

use super::{MaybeTlsStream, WebSocket};
use crate::conn::Linger;
use crate::http::{self, Accept, ClientOptions, IntoClientRequest, Reject, Request, Response, ServerStep};
use crate::session::Session;
use crate::{Config, Error, Result};
use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;
use std::future::Future;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn read_head<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> Result<usize> {
    let old = buf.len();
    buf.resize(old + http::HEAD_CHUNK, 0);
    let r = io.read(&mut buf[old..]).await;
    buf.truncate(old + *r.as_ref().unwrap_or(&0));
    Ok(r?)
}

/// Connects to a URL (`&str`, `String`, [`Uri`](::http::Uri)) or sends an
/// `http::Request<()>` (its headers go with the upgrade request) with default options.
pub async fn connect(req: impl IntoClientRequest) -> Result<(WebSocket<MaybeTlsStream>, Response)> {
    connect_with(req, &ClientOptions::default()).await
}

/// [`connect`] with options (the whole handshake, TCP and TLS included, within the
/// handshake timeout).
pub async fn connect_with(
    req: impl IntoClientRequest,
    opts: &ClientOptions,
) -> Result<(WebSocket<MaybeTlsStream>, Response)> {
    let (target, handle, head) = http::client_request(req, opts)?;
    let fut = async {
        let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
        tcp.set_nodelay(true)?;
        let stream = if target.tls {
            #[cfg(feature = "tls")]
            {
                let cfg = match &opts.tls {
                    Some(c) => c.clone(),
                    None => crate::tls::default_client_config(),
                };
                let name = crate::tls::server_name(&target.host)?;
                let tls = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await.map_err(Error::from_tls_io)?;
                MaybeTlsStream::Tls(tls)
            }
            #[cfg(not(feature = "tls"))]
            return Err(Error::Tls(crate::TlsError::NotEnabled));
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        client_handshake_inner(stream, handle, head, &opts.config).await
    };
    // Boxed: the handshake's state is needed only until the upgrade (see `accept_with`).
    match ::tokio::time::timeout(opts.config.handshake_timeout, Box::pin(fut)).await {
        Ok(r) => r,
        Err(_) => Err(Error::HandshakeTimeout),
    }
}

/// Runs the client handshake over an already connected stream.
pub async fn client_handshake<S>(
    stream: S,
    req: impl IntoClientRequest,
    opts: &ClientOptions,
) -> Result<(WebSocket<S>, Response)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (_, handle, head) = http::client_request(req, opts)?;
    let fut = Box::pin(client_handshake_inner(stream, handle, head, &opts.config));
    match ::tokio::time::timeout(opts.config.handshake_timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::HandshakeTimeout),
    }
}

async fn client_handshake_inner<S>(
    mut io: S,
    mut handle: wspc::Handle,
    head: Vec<u8>,
    config: &Config,
) -> Result<(WebSocket<S>, Response)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(&head).await?;
    io.flush().await?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if read_head(&mut io, &mut buf).await? == 0 {
            return Err(Error::ConnectionReset);
        }
        if let Some((resp, subprotocol, len)) = http::client_response(&buf, &mut handle, config)? {
            let prefix = buf.split_off(len);
            let mut ws = WebSocket::new(io, Session::new(handle, prefix, config.write_buffer_size), config);
            ws.inner.subprotocol = subprotocol.map(Box::from);
            return Ok((ws, resp));
        }
    }
}

/// Accepts a WebSocket client with default settings, whatever it asks for.
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, &Config::default(), |_: &Request| Ok(Accept::default())).await
}

/// Accepts a WebSocket client: reads the request within the configured limits and the
/// handshake timeout (a stalled client gets `408` and the connection is dropped), answers
/// bad requests (400, 405, 426, 431), and lets `handler` accept (choosing a subprotocol,
/// adding headers) or reject with any HTTP response.
pub fn accept_with<'a, S, F>(io: S, config: &'a Config, handler: F) -> impl Future<Output = Result<WebSocket<S>>> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
    F: FnOnce(&Request) -> std::result::Result<Accept, Reject> + 'a,
{
    // Boxed: the handshake's state (its timer, the read future, the stream until the
    // upgrade) is needed only until the upgrade, and would otherwise stay reserved in the
    // caller's task for the whole life of the connection. The future returned is that one
    // pointer.
    Box::pin(accept_inner(io, config, move |req: &Request| std::future::ready(handler(req))))
}

/// [`accept_with`] with an asynchronous decision: the handshake waits for `handler`'s
/// future (a token lookup, a database query) before it answers. The request is lent for
/// the call only: copy what the future needs. The wait counts in the handshake timeout; a
/// decision that comes too late gets the client a `503` and the call fails with
/// [`Error::HandshakeTimeout`].
pub fn accept_async_with<'a, S, F, Fut>(
    io: S,
    config: &'a Config,
    handler: F,
) -> impl Future<Output = Result<WebSocket<S>>> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
    F: FnOnce(&Request) -> Fut + 'a,
    Fut: Future<Output = std::result::Result<Accept, Reject>> + 'a,
{
    Box::pin(accept_inner(io, config, handler))
}

/// Writes `bytes` (an HTTP refusal) and ends the stream, giving up after `limit`. Then
/// lingers (see [`Linger`]): what the client is still sending (the rest of an oversized
/// head) is read and dropped while it keeps coming, so that the close is a FIN rather
/// than a reset that could destroy the refusal before the client reads it.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, bytes: &[u8], limit: Duration) {
    let mut linger = Linger::new(Instant::now(), limit);
    let deadline = ::tokio::time::Instant::from_std(linger.deadline());
    let _ = ::tokio::time::timeout_at(deadline, async {
        if io.write_all(bytes).await.is_err() || io.shutdown().await.is_err() {
            return;
        }
        linger.start(Instant::now());
        let mut sink = [0u8; 4096];
        while !linger.is_done(Instant::now()) {
            let until = ::tokio::time::Instant::from_std(linger.poll_timeout());
            match ::tokio::time::timeout_at(until, io.read(&mut sink)).await {
                Ok(Ok(n)) => linger.on_read(n, Instant::now()),
                Ok(Err(_)) => linger.on_read(0, Instant::now()),
                Err(_) => {}
            }
        }
    })
    .await;
}

/// The handshake timeout passed (`what` did not come in time): answers `status` and
/// returns the error.
async fn timed_out<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, status: ::http::StatusCode, what: &str) -> Error {
    tracing::debug!(status = status.as_u16(), "upgrade refused: {what} within the handshake timeout");
    let resp = http::error_response(status, &Default::default(), "handshake timeout\n");
    refuse(io, &resp, Duration::from_millis(500)).await;
    Error::HandshakeTimeout
}

async fn accept_inner<S, F, Fut>(mut io: S, config: &Config, handler: F) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Fut,
    Fut: Future<Output = std::result::Result<Accept, Reject>>,
{
    let mut buf = Vec::with_capacity(1024);
    let deadline = ::tokio::time::Instant::now() + config.handshake_timeout;
    let (request, len) = loop {
        let n = match ::tokio::time::timeout_at(deadline, read_head(&mut io, &mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(timed_out(&mut io, ::http::StatusCode::REQUEST_TIMEOUT, "no complete request").await),
        };
        if n == 0 {
            return Err(Error::ConnectionReset);
        }
        match http::server_step(&buf, config) {
            ServerStep::More => continue,
            ServerStep::Refuse(bytes, e) => {
                refuse(&mut io, &bytes, Duration::from_secs(1)).await;
                return Err(e);
            }
            ServerStep::Request(request, len) => break (request, len),
        }
    };
    let decision = match ::tokio::time::timeout_at(deadline, handler(&request)).await {
        Ok(d) => d,
        Err(_) => return Err(timed_out(&mut io, ::http::StatusCode::SERVICE_UNAVAILABLE, "no decision").await),
    };
    let subprotocol = decision.as_ref().ok().and_then(|a| a.subprotocol.clone());
    let answered =
        decision.map_err(http::Refusal::rejected).and_then(|a| http::answer(request.headers(), a, config, false));
    let (handle, headers) = match answered {
        Ok(x) => x,
        Err(r) => {
            refuse(&mut io, &r.to_bytes(), Duration::from_secs(1)).await;
            return Err(r.error);
        }
    };
    let head = http::switching_protocols(&headers);
    match ::tokio::time::timeout_at(deadline, async {
        io.write_all(&head).await?;
        io.flush().await
    })
    .await
    {
        Ok(r) => r?,
        Err(_) => return Err(Error::HandshakeTimeout),
    }
    let prefix = buf.split_off(len);
    let mut ws = WebSocket::new(io, Session::new(handle, prefix, config.write_buffer_size), config);
    ws.inner.subprotocol = subprotocol.map(Box::from);
    Ok(ws)
}

/// Accepts a TLS client on `tcp`: the TLS handshake, then [`accept_with`], all within the
/// handshake timeout.
#[cfg(feature = "tls")]
pub async fn accept_tls_with<F>(
    tcp: TcpStream,
    acceptor: &tokio_rustls::TlsAcceptor,
    config: &Config,
    handler: F,
) -> Result<WebSocket<tokio_rustls::server::TlsStream<TcpStream>>>
where
    F: FnOnce(&Request) -> std::result::Result<Accept, Reject>,
{
    let start = ::tokio::time::Instant::now();
    // Boxed like `accept_with`'s state: TLS handshake state is large and short-lived.
    let tls = match ::tokio::time::timeout(config.handshake_timeout, Box::pin(acceptor.accept(tcp))).await {
        Ok(r) => r.map_err(Error::from_tls_io)?,
        Err(_) => return Err(Error::HandshakeTimeout),
    };
    let mut cfg = config.clone();
    cfg.handshake_timeout = config.handshake_timeout.saturating_sub(start.elapsed());
    accept_with(tls, &cfg, handler).await
}

/// A TLS acceptor from a rustls server configuration (see [`crate::tls`]).
#[cfg(feature = "tls")]
pub fn tls_acceptor(cfg: Arc<rustls::ServerConfig>) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(cfg)
}
