//! The tokio API: [`WebSocket`] over any `AsyncRead + AsyncWrite` stream with
//! `async fn send/feed/flush/recv/recv_piece/close`, `Stream` of messages and `Sink` of
//! messages, [`connect`]/[`accept_with`] (TLS included), and [`WebSocket::split`] into
//! halves for two tasks. The order in which their methods may be called is in the
//! [crate docs](crate#call-order).
//!
//! Everything is poll-based over the same I/O-free connection steps as the blocking API
//! (`crate::conn`). Split halves share one lock (held only inside a poll, never across an
//! await) and a waker that wakes both halves, so an automatic pong queued by the reader is
//! written whichever task polls next, and a reader never waits on a writer that nobody
//! polls.
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
//!
//! Layout: `stream` (the transport enum), `handshake` (connect and accept), `driver` (the
//! poll-based executor of the connection's I/O-free steps: one write loop, one receive
//! loop, one close loop), `split` (the halves); this file is the [`WebSocket`] type.

mod driver;
mod handshake;
mod split;
mod stream;
#[cfg(test)]
mod tests;

pub use handshake::{accept, accept_async_with, accept_with, client_handshake, connect, connect_with};
#[cfg(feature = "tls")]
pub use handshake::{accept_tls_with, tls_acceptor};
pub use split::{ReadHalf, WriteHalf};
pub use stream::MaybeTlsStream;

use crate::conn::Conn;
use crate::message::{CloseFrame, Message, Piece};
use crate::pubsub::PreparedMessage;
use crate::session::{RecvStep, Session};
use crate::{Config, Error, Result};
use ::tokio::io::{AsyncRead, AsyncWrite};
use driver::{Inner, Want};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

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
        Self { inner: Box::new(Inner::new(io, Conn::new(s, config, Instant::now()), None)) }
    }

    /// Wraps a stream over which `handle`'s handshake has already finished (an HTTP/2
    /// extended CONNECT, for instance).
    #[cfg(feature = "http2")]
    pub(crate) fn from_handle(io: S, handle: wspc::Handle, subprotocol: Option<&str>, config: &Config) -> Self {
        let s = Session::new(handle, Vec::new(), config.write_buffer_size);
        let mut ws = Self::from_session(io, s, config, subprotocol.map(str::to_owned));
        // A stream dropped before the peer's END_STREAM is reset (RST_STREAM, like a TCP
        // reset): wait for the peer's end after the close handshake.
        ws.inner.c.await_peer_end();
        ws
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
        WebSocket { inner: Box::new(Inner { io: f(i.io), c: i.c, timer: i.timer, subprotocol: i.subprotocol }) }
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
            Poll::Ready(self.inner.c.s.send(msg.take().expect("feed polled after it finished")))
        })
    }

    /// Queues a published message (waiting while the write buffer is full), in order
    /// with this connection's other frames: its shared frame is written as it is when the
    /// connection's settings allow it (no copy, no encoding), otherwise the payload is sent
    /// like [`feed`](Self::feed)'s. See [`crate::pubsub`].
    pub fn feed_prepared<'a>(&'a mut self, msg: &'a PreparedMessage) -> impl Future<Output = Result<()>> + 'a {
        poll_fn(move |cx| {
            ready!(self.inner.poll_ready(cx))?;
            Poll::Ready(self.inner.c.s.send_prepared(msg))
        })
    }

    /// Sends one frame of a fragmented message (`last` ends it); flushes.
    pub async fn send_fragment(&mut self, text: bool, data: Vec<u8>, last: bool) -> Result<()> {
        poll_fn(|cx| self.inner.poll_ready(cx)).await?;
        self.inner.c.s.send_fragment(text, data, last)?;
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
                self.inner.c.start_close(f.map(|f| (f.code, f.reason)), Instant::now());
            }
            self.inner.poll_close(cx)
        })
    }

    /// True once the close handshake finished (or the connection failed).
    pub fn is_closed(&self) -> bool {
        self.inner.c.is_closed()
    }

    /// Splits into halves for two tasks. They share one lock, held only inside a poll.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        split::split(*self.inner)
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
        self.get_mut().inner.c.s.send(item)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().inner.poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let inner = &mut self.get_mut().inner;
        inner.c.s.queue_close(Some((wspc::close_status::SUCCESS, String::new())));
        inner.poll_flush(cx)
    }
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("session", &self.inner.c.s)
            .field("subprotocol", &self.inner.subprotocol)
            .finish_non_exhaustive()
    }
}
