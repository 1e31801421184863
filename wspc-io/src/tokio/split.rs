//! The halves of a split tokio [`WebSocket`]: the connection behind one lock (held only
//! inside a poll, never across an await), and a waker that wakes both halves.

use super::driver::{Inner, Want};
use super::WebSocket;
use crate::message::{CloseFrame, Message, Piece};
use crate::pubsub::PreparedMessage;
use crate::session::RecvStep;
use crate::{Error, Result};
use ::tokio::io::{AsyncRead, AsyncWrite};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Wake, Waker};

pub(super) fn split<S>(inner: Inner<S>) -> (ReadHalf<S>, WriteHalf<S>) {
    let shared = Arc::new(Shared { inner: Mutex::new(inner), wakers: Arc::new(WakerPair::default()) });
    (ReadHalf { shared: shared.clone() }, WriteHalf { shared })
}

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
                Poll::Ready(i.c.s.send(msg.take().expect("sent once")))
            })
        })
        .await
    }

    /// Queues a published message (see [`WebSocket::feed_prepared`]).
    pub async fn feed_prepared(&mut self, msg: &PreparedMessage) -> Result<()> {
        poll_fn(|cx| {
            self.shared.with(1, cx, |i, cx| {
                ready!(i.poll_ready(cx))?;
                Poll::Ready(i.c.s.send_prepared(msg))
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
        self.shared.lock().c.s.queue_close(frame.map(|f| (f.code, f.reason)));
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
        self.shared.lock().c.s.send(item)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.with(1, cx, |i, cx| i.poll_flush(cx))
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.shared.with(1, cx, |i, cx| {
            i.c.s.queue_close(Some((wspc::close_status::SUCCESS, String::new())));
            i.poll_flush(cx)
        })
    }
}
