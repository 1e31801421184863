//! The tokio API: [`WebSocket`] over any `AsyncRead + AsyncWrite` stream with
//! `async fn send/feed/flush/recv/recv_piece/close`, `Stream` of messages and `Sink` of
//! messages, [`connect`]/[`accept_with`] (TLS included), and [`WebSocket::split`] into
//! halves for two tasks.
//!
//! Everything is poll-based over the same sans-I/O session as the blocking API. Split
//! halves share one lock (held only inside a poll, never across an await) and a waker
//! that wakes both halves, so an automatic pong queued by the reader is written whichever
//! task polls next, and a reader never waits on a writer that nobody polls.
//!
//! ```no_run
//! # async fn f() -> wspc_io::Result<()> {
//! use wspc_io::{tokio::connect, Message};
//! let (mut ws, _resp) = connect("ws://127.0.0.1:9001/").await?;
//! ws.send(Message::text("hello")).await?;
//! while let Some(msg) = ws.recv().await {
//!     println!("{:?}", msg?);
//! }
//! # Ok(()) }
//! ```

use crate::http::{self, Accept, ClientOptions, IntoClientRequest, Reject, Request, Response, ServerStep};
use crate::keepalive::{earliest, KeepaliveState, Tick};
use crate::message::{CloseFrame, Message, Piece};
use crate::pubsub::PreparedMessage;
use crate::session::{RecvStep, Session};
use crate::{Config, Error, Result};
use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::{Instant as TokioInstant, Sleep};
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// A TCP stream or TLS over one (what [`connect`] returns).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum MaybeTlsStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "tls")]
    Tls(tokio_rustls::client::TlsStream<TcpStream>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($s) => $e,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

// ----- handshakes ------------------------------------------------------------------------

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
/// lingers: what the client is still sending (the rest of an oversized head) is read and
/// dropped while it keeps coming (at most 64 KiB, 100 ms of silence ends it), so that the
/// close is a FIN rather than a reset that could destroy the refusal before the client
/// reads it.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, bytes: &[u8], limit: Duration) {
    let _ = ::tokio::time::timeout(limit, async {
        if io.write_all(bytes).await.is_err() || io.shutdown().await.is_err() {
            return;
        }
        let mut sink = [0u8; 4096];
        let mut left = 64usize << 10;
        while left > 0 {
            match ::tokio::time::timeout(Duration::from_millis(100), io.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => break,
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

// ----- the connection --------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Still open.
    Open,
    /// Flush what is queued, then end the write direction (server) and drain.
    Flushing,
    /// Read until the peer ends the stream (bounded by the close deadline).
    Draining,
    /// Done.
    Done,
}

struct Inner<S> {
    io: S,
    s: Session,
    ka: Option<KeepaliveState>,
    timer: Option<Pin<Box<Sleep>>>,
    close_timeout: Duration,
    close_deadline: Option<Instant>,
    /// Boxed `str`: a word less than a `String` in every connection.
    subprotocol: Option<Box<str>>,
    /// A message to hand out once the writes before it are flushed (the peer's close), or
    /// an error to report once the close frame it caused is flushed. Boxed: rare, and an
    /// idle connection should stay small.
    held: Option<Box<Result<RecvStep>>>,
    finish: Finish,
    reported_end: bool,
}

enum Want<'a> {
    Message,
    Piece(&'a mut Vec<u8>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while self.s.wants_write() {
            let [a, b] = self.s.write_bufs();
            let r = if b.is_empty() {
                Pin::new(&mut self.io).poll_write(cx, a)
            } else {
                Pin::new(&mut self.io).poll_write_vectored(cx, &[IoSlice::new(a), IoSlice::new(b)])
            };
            match ready!(r) {
                Ok(0) => {
                    let e = Error::Io(io::ErrorKind::WriteZero.into());
                    self.s.write_failed(&e);
                    return Poll::Ready(Err(e));
                }
                Ok(n) => self.s.wrote(n),
                Err(e) => {
                    let e = Error::Io(e);
                    self.s.write_failed(&e);
                    return Poll::Ready(Err(e));
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// [`poll_write_out`](Self::poll_write_out), with the timer running while the write
    /// is stalled: a peer that stops reading (and so never gets our keepalive ping, nor
    /// answers it) is cut off by the keepalive, and a close by the close timeout, instead
    /// of holding the connection forever.
    fn poll_write_out_timed(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            match self.poll_write_out(cx) {
                Poll::Ready(r) => return Poll::Ready(r),
                Poll::Pending => {
                    ready!(self.poll_timer(cx));
                    self.on_timer()?;
                }
            }
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_write_out_timed(cx))?;
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while !self.s.can_send() && self.s.wants_write() {
            ready!(self.poll_write_out_timed(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Arms the timer for the earliest deadline; Ready when it has passed.
    ///
    /// A deadline that moved later (the keepalive after every read) leaves the armed timer
    /// alone: when it fires early it is re-armed then. That saves a timer-wheel update per
    /// message; only an earlier deadline re-arms at once.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let due = earliest(self.ka.as_ref().map(KeepaliveState::deadline), self.close_deadline);
        let Some(due) = due else { return Poll::Pending };
        let at = TokioInstant::from_std(due);
        let t = match &mut self.timer {
            Some(t) => {
                if t.deadline() > at {
                    t.as_mut().reset(at);
                }
                t
            }
            slot => slot.insert(Box::pin(::tokio::time::sleep_until(at))),
        };
        loop {
            ready!(t.as_mut().poll(cx));
            if t.deadline() >= at {
                return Poll::Ready(());
            }
            t.as_mut().reset(at);
        }
    }

    /// A deadline passed: keepalive ping or failure, or the close timeout.
    fn on_timer(&mut self) -> Result<()> {
        let now = Instant::now();
        if let Some(ka) = self.ka.as_mut() {
            match ka.tick(now) {
                Tick::Wait => {}
                Tick::Ping => self.s.queue_ping(Vec::new()),
                Tick::Dead => {
                    tracing::debug!("no answer to the keepalive ping: connection failed");
                    self.s.read_failed(Error::KeepaliveTimeout);
                    return Err(Error::KeepaliveTimeout);
                }
            }
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            tracing::debug!("the close handshake timed out");
            return Err(Error::CloseTimeout);
        }
        Ok(())
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>, mut want: Want<'_>) -> Poll<Result<RecvStep>> {
        if self.held.is_some() {
            // Flush the close frame that goes with it first (bounded by the OS buffer).
            let _ = ready!(self.poll_flush(cx));
            return Poll::Ready(*self.held.take().expect("checked"));
        }
        loop {
            let piece = match &mut want {
                Want::Message => None,
                Want::Piece(b) => Some(&mut **b),
            };
            match self.s.poll_recv(piece) {
                Ok(RecvStep::Read) => {
                    if self.s.wants_write() {
                        match self.poll_flush(cx) {
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                            Poll::Pending if self.s.replies_full() => return Poll::Pending,
                            _ => {}
                        }
                    }
                    let buf = self.s.read_buf_uninit();
                    let mut rb = ReadBuf::uninit(buf);
                    match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) => {
                            let n = rb.filled().len();
                            self.s.read_done(n);
                            if n > 0 {
                                if let Some(ka) = self.ka.as_mut() {
                                    ka.activity(Instant::now());
                                }
                            }
                        }
                        Poll::Ready(Err(e)) => {
                            self.s.read_failed(Error::Io(io::Error::new(e.kind(), e.to_string())));
                            return Poll::Ready(Err(e.into()));
                        }
                        Poll::Pending => {
                            // Nothing to read: wait without the receive buffer (and, once
                            // everything is written, without the write buffers).
                            self.s.park();
                            ready!(self.poll_timer(cx));
                            self.on_timer()?;
                        }
                    }
                }
                Ok(RecvStep::Flush) => ready!(self.poll_write_out_timed(cx))?,
                Ok(step) => {
                    if self.s.close_received() && self.s.wants_write() {
                        // The close reply goes out before the peer's close is handed out.
                        if self.poll_flush(cx).is_pending() {
                            self.held = Some(Box::new(Ok(step)));
                            return Poll::Pending;
                        }
                    }
                    return Poll::Ready(Ok(step));
                }
                Err(e) => {
                    if self.s.close_sent()
                        && self.s.wants_write()
                        && !matches!(e, Error::ConnectionClosed)
                        && self.poll_flush(cx).is_pending()
                    {
                        self.held = Some(Box::new(Err(e)));
                        return Poll::Pending;
                    }
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Ends the connection after the close handshake (or a failure): flushes, ends the
    /// write direction (a server at once, a client after the server ended its side) and
    /// reads until the peer ends the stream, bounded by the close timeout.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.close_deadline.is_none() {
            self.close_deadline = Some(Instant::now() + self.close_timeout);
        }
        loop {
            match self.finish {
                Finish::Open | Finish::Flushing => {
                    self.finish = Finish::Flushing;
                    let timed_out = self.close_deadline.is_some_and(|d| Instant::now() >= d);
                    if !timed_out {
                        match self.poll_flush(cx) {
                            Poll::Pending => {
                                ready!(self.poll_timer(cx));
                                continue;
                            }
                            Poll::Ready(_) => {}
                        }
                    }
                    if self.s.role() == wspc::Role::Server {
                        let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                    }
                    self.finish = Finish::Draining;
                }
                Finish::Draining => {
                    if self.close_deadline.is_some_and(|d| Instant::now() >= d) {
                        self.finish = Finish::Done;
                        continue;
                    }
                    let mut scratch = [0u8; 512];
                    let mut rb = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) if !rb.filled().is_empty() => continue,
                        Poll::Ready(_) => {
                            if self.s.role() == wspc::Role::Client {
                                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                            }
                            self.finish = Finish::Done;
                        }
                        Poll::Pending => {
                            ready!(self.poll_timer(cx));
                            self.finish = Finish::Done;
                        }
                    }
                }
                Finish::Done => return Poll::Ready(Ok(())),
            }
        }
    }

    /// `Stream::poll_next`.
    fn poll_next_msg(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        if self.reported_end {
            if self.finish != Finish::Done {
                let _ = ready!(self.poll_finish(cx));
            }
            return Poll::Ready(None);
        }
        match ready!(self.poll_recv(cx, Want::Message)) {
            Ok(RecvStep::Message(m)) => Poll::Ready(Some(Ok(m))),
            Ok(_) => unreachable!("whole messages were asked for"),
            Err(e) => {
                self.reported_end = true;
                if matches!(e, Error::ConnectionClosed) {
                    let _ = ready!(self.poll_finish(cx));
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(e)))
                }
            }
        }
    }

    /// `close()`: queue the close, flush, receive until the peer's close (dropping data)
    /// or the timeout, then finish.
    fn poll_close_ws(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.close_deadline.is_none() {
            self.close_deadline = Some(Instant::now() + self.close_timeout);
        }
        while !self.s.recv_done() && self.finish == Finish::Open {
            match ready!(self.poll_recv(cx, Want::Message)) {
                Ok(_) => {}
                Err(Error::ConnectionClosed | Error::ConnectionReset | Error::CloseTimeout) => break,
                Err(e) => {
                    let _ = ready!(self.poll_finish(cx));
                    return Poll::Ready(Err(e));
                }
            }
        }
        ready!(self.poll_finish(cx))?;
        Poll::Ready(Ok(()))
    }
}

/// A WebSocket connection over a tokio stream.
///
/// The connection's state lives in one heap block and a `WebSocket` is a pointer: the
/// futures that hold one (a connection's task, `async fn handle(ws: WebSocket<_>)`, which
/// Rust may lay out with the value twice) stay small, and so does an idle connection.
pub struct WebSocket<S> {
    inner: Box<Inner<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    fn new(io: S, s: Session, config: &Config) -> Self {
        Self {
            inner: Box::new(Inner {
                io,
                s,
                ka: config.keepalive.map(|k| KeepaliveState::new(k, Instant::now())),
                timer: None,
                close_timeout: config.close_timeout,
                close_deadline: None,
                subprotocol: None,
                held: None,
                finish: Finish::Open,
                reported_end: false,
            }),
        }
    }

    /// Wraps a stream over which `handle`'s handshake has already finished (an HTTP/2
    /// extended CONNECT, for instance).
    #[cfg(feature = "http2")]
    pub(crate) fn from_handle(io: S, handle: wspc::Handle, subprotocol: Option<&str>, config: &Config) -> Self {
        let s = Session::new(handle, Vec::new(), config.write_buffer_size);
        Self::from_session(io, s, config, subprotocol.map(str::to_owned))
    }

    /// A connection on an engine handle whose handshake is done.
    #[cfg_attr(not(any(feature = "hyper", feature = "http2")), allow(dead_code))]
    pub(crate) fn from_session(io: S, s: Session, config: &Config, subprotocol: Option<String>) -> Self {
        let mut ws = Self::new(io, s, config);
        ws.inner.subprotocol = subprotocol.map(Box::from);
        ws
    }

    /// The same connection over a wrapped stream (the transport enum of `h2::connect_with`).
    #[cfg(feature = "http2")]
    pub(crate) fn map_io<T>(self, f: impl FnOnce(S) -> T) -> WebSocket<T> {
        let i = *self.inner;
        WebSocket {
            inner: Box::new(Inner {
                io: f(i.io),
                s: i.s,
                ka: i.ka,
                timer: i.timer,
                close_timeout: i.close_timeout,
                close_deadline: i.close_deadline,
                subprotocol: i.subprotocol,
                held: i.held,
                finish: i.finish,
                reported_end: i.reported_end,
            }),
        }
    }

    /// Wraps a stream whose upgrade happened elsewhere (`role` decides masking;
    /// `leftover`: bytes already read after the upgrade).
    pub fn from_upgraded(io: S, role: wspc::Role, config: &Config, leftover: Vec<u8>) -> Result<Self> {
        let mut h = wspc::Handle::new(config.engine(role)?);
        h.open_without_handshake()?;
        Ok(Self::new(io, Session::new(h, leftover, config.write_buffer_size), config))
    }

    /// The subprotocol selected in the handshake (client side).
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.subprotocol.as_deref()
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.inner.io
    }

    /// Sends a message and flushes.
    pub async fn send(&mut self, msg: Message) -> Result<()> {
        self.feed(msg).await?;
        self.flush().await
    }

    /// Queues a message in the write buffer (waiting while it is full). Queued messages
    /// go out on [`flush`](Self::flush), or before the next read in
    /// [`recv`](Self::recv).
    ///
    /// The future holds the message and a pointer, nothing more: a connection's task that
    /// waits here stays small.
    pub fn feed(&mut self, msg: Message) -> impl Future<Output = Result<()>> + '_ {
        let mut msg = Some(msg);
        poll_fn(move |cx| {
            ready!(self.inner.poll_ready(cx))?;
            Poll::Ready(self.inner.s.send(msg.take().expect("feed polled after it finished")))
        })
    }

    /// Queues a published message (waiting while the write buffer is full), in order
    /// with this connection's other frames: its shared frame is written as it is when the
    /// connection's settings allow it (no copy, no encoding), otherwise the payload is sent
    /// like [`feed`](Self::feed)'s. See [`crate::pubsub`].
    pub fn feed_prepared<'a>(&'a mut self, msg: &'a PreparedMessage) -> impl Future<Output = Result<()>> + 'a {
        poll_fn(move |cx| {
            ready!(self.inner.poll_ready(cx))?;
            Poll::Ready(self.inner.s.send_prepared(msg))
        })
    }

    /// Sends one frame of a fragmented message (`last` ends it); flushes.
    pub async fn send_fragment(&mut self, text: bool, data: Vec<u8>, last: bool) -> Result<()> {
        poll_fn(|cx| self.inner.poll_ready(cx)).await?;
        self.inner.s.send_fragment(text, data, last)?;
        self.flush().await
    }

    /// Writes out everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| self.inner.poll_flush(cx)).await
    }

    /// The next message; `None` after the close handshake finished (the peer's close
    /// frame comes first as `Message::Close`, its echo already sent). Pings are answered
    /// automatically.
    ///
    /// The future is one pointer: an idle connection's task waiting here stays small.
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message>>> + '_ {
        poll_fn(move |cx| self.inner.poll_next_msg(cx))
    }

    /// The next piece of a message, into `buf` (cleared first). A large message is handed
    /// out in pieces no larger than the receive buffer, never held whole.
    pub async fn recv_piece(&mut self, buf: &mut Vec<u8>) -> Result<Piece> {
        match poll_fn(|cx| self.inner.poll_recv(cx, Want::Piece(buf))).await? {
            RecvStep::Piece(p) => Ok(p),
            _ => unreachable!("pieces were asked for"),
        }
    }

    /// Closes gracefully: sends a close (`None`: no status; nothing if one was sent
    /// already), receives until the peer's close (dropping data) or the close timeout,
    /// then ends the transport (the server first; the client after the server).
    pub fn close(&mut self, frame: Option<CloseFrame>) -> impl Future<Output = Result<()>> + '_ {
        let mut frame = Some(frame);
        poll_fn(move |cx| {
            if let Some(f) = frame.take() {
                self.inner.s.queue_close(f.map(|f| (f.code, f.reason)));
            }
            self.inner.poll_close_ws(cx)
        })
    }

    /// True once the close handshake finished (or the connection failed).
    pub fn is_closed(&self) -> bool {
        self.inner.s.recv_done() && self.inner.s.close_sent()
    }

    /// Splits into halves for two tasks. They share one lock, held only inside a poll.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        let shared = Arc::new(Shared { inner: Mutex::new(*self.inner), wakers: Arc::new(WakerPair::default()) });
        (ReadHalf { shared: shared.clone() }, WriteHalf { shared })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocket<S> {
    type Item = Result<Message>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next_msg(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocket<S> {
    type Error = Error;
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().inner.poll_ready(cx)
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().inner.s.send(item)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().inner.poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let inner = &mut self.get_mut().inner;
        inner.s.queue_close(Some((wspc::close_status::SUCCESS, String::new())));
        inner.poll_flush(cx)
    }
}

// ----- split halves ----------------------------------------------------------------------

/// Wakes both halves: any readiness of the shared stream (or timer) wakes the reader and
/// the writer, so neither misses a wake-up meant for the other.
#[derive(Default)]
struct WakerPair {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl WakerPair {
    fn register(&self, i: usize, w: &Waker) {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        match &s[i] {
            Some(old) if old.will_wake(w) => {}
            _ => s[i] = Some(w.clone()),
        }
    }
}

impl Wake for WakerPair {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let ws = {
            let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            [s[0].take(), s[1].take()]
        };
        for w in ws.into_iter().flatten() {
            w.wake();
        }
    }
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    wakers: Arc<WakerPair>,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` under the lock with a context whose waker wakes both halves.
    fn with<R>(&self, half: usize, cx: &mut Context<'_>, f: impl FnOnce(&mut Inner<S>, &mut Context<'_>) -> R) -> R {
        self.wakers.register(half, cx.waker());
        let waker = Waker::from(self.wakers.clone());
        let mut cx2 = Context::from_waker(&waker);
        let mut g = self.lock();
        f(&mut g, &mut cx2)
    }
}

/// The receiving half of a split [`WebSocket`]: `recv`, `recv_piece`, `Stream`. It
/// answers pings (writing the pongs itself) and runs the keepalive.
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("session", &self.inner.s)
            .field("subprotocol", &self.inner.subprotocol)
            .finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

/// The sending half of a split [`WebSocket`]: `send`, `feed`, `flush`, `close`, `Sink`.
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// The next message (see [`WebSocket::recv`]).
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| self.shared.with(0, cx, |i, cx| i.poll_next_msg(cx))).await
    }

    /// The next piece (see [`WebSocket::recv_piece`]).
    pub async fn recv_piece(&mut self, buf: &mut Vec<u8>) -> Result<Piece> {
        match poll_fn(|cx| self.shared.with(0, cx, |i, cx| i.poll_recv(cx, Want::Piece(buf)))).await? {
            RecvStep::Piece(p) => Ok(p),
            _ => unreachable!("pieces were asked for"),
        }
    }

    /// Joins the halves back together (they must come from the same split).
    pub fn reunite(self, other: WriteHalf<S>) -> std::result::Result<WebSocket<S>, (Self, WriteHalf<S>)> {
        if !Arc::ptr_eq(&self.shared, &other.shared) {
            return Err((self, other));
        }
        drop(other);
        match Arc::try_unwrap(self.shared) {
            Ok(sh) => Ok(WebSocket { inner: Box::new(sh.inner.into_inner().unwrap_or_else(|p| p.into_inner())) }),
            Err(_) => unreachable!("both halves were given"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Sends a message and flushes.
    pub async fn send(&mut self, msg: Message) -> Result<()> {
        self.feed(msg).await?;
        self.flush().await
    }

    /// Queues a message (waiting while the write buffer is full).
    pub async fn feed(&mut self, msg: Message) -> Result<()> {
        let mut msg = Some(msg);
        poll_fn(|cx| {
            self.shared.with(1, cx, |i, cx| {
                ready!(i.poll_ready(cx))?;
                Poll::Ready(i.s.send(msg.take().expect("sent once")))
            })
        })
        .await
    }

    /// Queues a published message (see [`WebSocket::feed_prepared`]).
    pub async fn feed_prepared(&mut self, msg: &PreparedMessage) -> Result<()> {
        poll_fn(|cx| {
            self.shared.with(1, cx, |i, cx| {
                ready!(i.poll_ready(cx))?;
                Poll::Ready(i.s.send_prepared(msg))
            })
        })
        .await
    }

    /// Writes out everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| self.shared.with(1, cx, |i, cx| i.poll_flush(cx))).await
    }

    /// Sends a close frame and flushes; the read half then receives the peer's close.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.shared.lock().s.queue_close(frame.map(|f| (f.code, f.reason)));
        self.flush().await
    }

    /// The subprotocol selected in the handshake (client side).
    pub fn subprotocol(&self) -> Option<String> {
        self.shared.lock().subprotocol.as_deref().map(str::to_owned)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for ReadHalf<S> {
    type Item = Result<Message>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared.with(0, cx, |i, cx| i.poll_next_msg(cx))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WriteHalf<S> {
    type Error = Error;
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.with(1, cx, |i, cx| i.poll_ready(cx))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.shared.lock().s.send(item)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.with(1, cx, |i, cx| i.poll_flush(cx))
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.with(1, cx, |i, cx| {
            i.s.queue_close(Some((wspc::close_status::SUCCESS, String::new())));
            i.poll_flush(cx)
        })
    }
}

#[cfg(test)]
mod idle_tests {
    use super::*;
    use ::tokio::io::{duplex, DuplexStream};

    /// A masked client frame (`0x81`: text, `0x82`: binary) carrying `payload`.
    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let key = [0x11, 0x22, 0x33, 0x44];
        let mut f = match payload.len() {
            n if n < 126 => vec![opcode, 0x80 | n as u8],
            n if n < 65536 => vec![opcode, 0x80 | 126, (n >> 8) as u8, n as u8],
            n => [vec![opcode, 0x80 | 127], (n as u64).to_be_bytes().to_vec()].concat(),
        };
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    }

    /// Polls the server for a message once, with a waker that does nothing.
    fn poll_once(ws: &mut WebSocket<DuplexStream>) -> Poll<Option<Result<Message>>> {
        let mut cx = Context::from_waker(Waker::noop());
        ws.inner.poll_next_msg(&mut cx)
    }

    fn server() -> (WebSocket<DuplexStream>, DuplexStream) {
        let (a, b) = duplex(1 << 20);
        (WebSocket::from_upgraded(a, wspc::Role::Server, &Config::default(), Vec::new()).unwrap(), b)
    }

    #[test]
    fn the_futures_a_connection_waits_in_are_a_few_words() {
        use std::mem::size_of_val;
        let word = size_of::<usize>();
        let (mut ws, _peer) = server();
        // The task of an idle connection carries `recv`'s future: one pointer.
        assert_eq!(size_of_val(&ws.recv()), word);
        // `feed`: the pointer and the message.
        assert!(size_of_val(&ws.feed(Message::text("x"))) <= word + size_of::<Option<Message>>());
        assert!(size_of_val(&ws.close(None)) <= word + size_of::<Option<Option<CloseFrame>>>());
        // The handshake's state is on the heap: the caller's task holds one pointer for it.
        let (a, _b) = duplex(64);
        let config = Config::default();
        let fut = accept_with(a, &config, |_: &Request| Ok(Accept::default()));
        assert_eq!(size_of_val(&fut), word);
    }

    #[::tokio::test]
    async fn a_connection_waiting_for_data_holds_no_buffer_and_still_receives() {
        let (mut ws, mut peer) = server();
        assert!(poll_once(&mut ws).is_pending());
        assert!(!ws.inner.s.holds_recv_buffer(), "waiting for data without a receive buffer");
        assert!(!ws.inner.s.holds_send_buffers());
        // Data arrives: it is read (into a buffer taken again) and delivered whole.
        peer.write_all(&client_frame(0x81, b"hello")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hello"));
        // Idle again after traffic, with an echo written: nothing held either.
        ws.send(Message::binary(b"echo".to_vec())).await.unwrap();
        assert!(poll_once(&mut ws).is_pending());
        assert!(!ws.inner.s.holds_recv_buffer());
        assert!(!ws.inner.s.holds_send_buffers(), "the write buffers go back while idle");
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"\x82\x04echo");
        // Two messages in one write, then silence: both come out, in order.
        let mut two = client_frame(0x82, b"one");
        two.extend(client_frame(0x82, b"two"));
        peer.write_all(&two).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(b"one".to_vec()));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(b"two".to_vec()));
        assert!(poll_once(&mut ws).is_pending());
        assert!(!ws.inner.s.holds_recv_buffer());
    }

    #[::tokio::test]
    async fn bytes_read_past_the_http_head_are_delivered_then_freed() {
        let (a, mut peer) = duplex(1 << 16);
        let mut leftover = client_frame(0x81, b"first");
        leftover.extend(client_frame(0x82, b"second"));
        let mut ws = WebSocket::from_upgraded(a, wspc::Role::Server, &Config::default(), leftover).unwrap();
        assert!(ws.inner.s.holds_prefix());
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("first"));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(b"second".to_vec()));
        assert!(poll_once(&mut ws).is_pending());
        assert!(!ws.inner.s.holds_prefix(), "the leftover bytes are freed once handed on");
        peer.write_all(&client_frame(0x81, b"third")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("third"));
        // Without leftover bytes there is nothing to keep.
        let (ws, _peer) = server();
        assert!(!ws.inner.s.holds_prefix());
    }

    #[::tokio::test]
    async fn a_partial_frame_keeps_its_buffer_until_the_rest_arrives() {
        let (mut ws, mut peer) = server();
        let f = client_frame(0x81, b"split across reads");
        // Half a frame header (2 of its 6 bytes and 1 of the mask key) stays in the engine.
        peer.write_all(&f[..3]).await.unwrap();
        assert!(poll_once(&mut ws).is_pending());
        assert!(ws.inner.s.holds_recv_buffer(), "the header's first bytes stay buffered");
        // Payload bytes that arrive are handed on (the buffer empties between frames' pieces).
        peer.write_all(&f[3..9]).await.unwrap();
        assert!(poll_once(&mut ws).is_pending());
        peer.write_all(&f[9..]).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("split across reads"));
        assert!(poll_once(&mut ws).is_pending());
        assert!(!ws.inner.s.holds_recv_buffer());
    }

    #[::tokio::test]
    async fn frames_right_behind_a_large_payload_arrive_in_order() {
        let (mut ws, mut peer) = server();
        let big = |n: usize, seed: u32| -> Vec<u8> { (0..n as u32).map(|i| (i * 7 + seed) as u8).collect() };
        // A direct read of a large payload also takes what follows it: here a ping, a small
        // text and the first bytes of the next large frame; then the same with a small frame
        // cut inside its header, and a large message with nothing behind it.
        let mut wire = client_frame(0x82, &big(200_000, 1));
        wire.extend(client_frame(0x89, b"ping"));
        wire.extend(client_frame(0x81, b"small"));
        wire.extend(client_frame(0x82, &big(150_000, 2)));
        wire.extend(client_frame(0x81, "é".repeat(30_000).as_bytes()));
        let mut tail = client_frame(0x82, &big(3, 3));
        tail.extend(client_frame(0x82, &big(100_000, 4)));
        peer.write_all(&wire).await.unwrap();
        peer.write_all(&tail[..20]).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(200_000, 1)));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("small"));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(150_000, 2)));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("é".repeat(30_000)));
        peer.write_all(&tail[20..]).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(3, 3)));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(100_000, 4)));
        assert!(poll_once(&mut ws).is_pending());
        // The ping was answered by the engine (not handed out), its pong written.
        ws.flush().await.unwrap();
        let mut pong = [0u8; 6];
        peer.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\x8a\x04ping");
    }

    #[::tokio::test]
    async fn a_large_frame_that_stalls_mid_payload_holds_no_engine_buffer() {
        let (mut ws, mut peer) = server();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let f = client_frame(0x82, &big);
        // The header and a first part: the rest of the payload is read into the message.
        peer.write_all(&f[..100_000]).await.unwrap();
        for _ in 0..4 {
            assert!(poll_once(&mut ws).is_pending());
        }
        assert!(!ws.inner.s.holds_recv_buffer(), "a stalled payload read holds no engine buffer");
        // The rest, then a small message in the same write: both come out whole, in order.
        let mut rest = f[100_000..].to_vec();
        rest.extend(client_frame(0x81, b"after"));
        peer.write_all(&rest).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("after"));
        assert!(poll_once(&mut ws).is_pending());
        assert!(!ws.inner.s.holds_recv_buffer());
    }
}
