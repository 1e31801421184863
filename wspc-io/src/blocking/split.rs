//! The halves of a split blocking [`WebSocket`](super::WebSocket): the connection's state
//! and the writing copy of the stream behind one lock, which the [`Reader`] releases
//! while it waits in a read on its own copy.

use super::driver::{self, flush_all, Parts};
use super::SplitStream;
use crate::conn::Conn;
use crate::message::{CloseFrame, Message, Piece};
use crate::session::RecvStep;
use crate::{Error, Result};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

struct Shared<S> {
    w: S,
    c: Conn,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn split<S: SplitStream>(
    rd: S,
    wr: S,
    c: Conn,
    timeout_set: bool,
    subprotocol: Option<String>,
) -> (Reader<S>, Writer<S>) {
    let shared = Arc::new(Mutex::new(Shared { w: wr, c }));
    (Reader { shared: shared.clone(), r: rd, timeout_set }, Writer { shared, subprotocol })
}

/// The receiving half of a split blocking WebSocket.
pub struct Reader<S> {
    shared: Arc<Mutex<Shared<S>>>,
    r: S,
    timeout_set: bool,
}

impl<S: SplitStream> Parts for Reader<S> {
    type S = S;
    fn locked<R>(&mut self, f: impl FnOnce(&mut Conn, &mut S) -> R) -> R {
        let mut g = lock(&self.shared);
        let g = &mut *g;
        f(&mut g.c, &mut g.w)
    }
    fn reader(&mut self) -> (&mut S, &mut bool) {
        (&mut self.r, &mut self.timeout_set)
    }
}

impl<S: SplitStream> Reader<S> {
    /// Receives the next message (see [`WebSocket::recv`](super::WebSocket::recv)).
    pub fn recv(&mut self) -> Result<Message> {
        match driver::recv_step(self, None)? {
            RecvStep::Message(m) => Ok(m),
            _ => unreachable!("whole messages were asked for"),
        }
    }

    /// Receives the next piece (see [`WebSocket::recv_piece`](super::WebSocket::recv_piece)).
    pub fn recv_piece(&mut self, buf: &mut Vec<u8>) -> Result<Piece> {
        match driver::recv_step(self, Some(buf))? {
            RecvStep::Piece(p) => Ok(p),
            _ => unreachable!("pieces were asked for"),
        }
    }

    /// Waits (up to the close timeout) for the peer's close after the writer sent one.
    pub fn wait_close(&mut self) -> Result<()> {
        self.locked(|c, _| c.arm_close_timer(Instant::now()));
        loop {
            match driver::recv_step(self, None) {
                Ok(RecvStep::Message(Message::Close(_))) | Err(Error::ConnectionClosed) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The sending half of a split blocking WebSocket.
pub struct Writer<S> {
    shared: Arc<Mutex<Shared<S>>>,
    subprotocol: Option<String>,
}

impl<S: SplitStream> Writer<S> {
    fn locked<R>(&mut self, f: impl FnOnce(&mut Conn, &mut S) -> Result<R>) -> Result<R> {
        let mut g = lock(&self.shared);
        let g = &mut *g;
        f(&mut g.c, &mut g.w)
    }

    /// Sends a message and flushes.
    pub fn send(&mut self, msg: Message) -> Result<()> {
        self.locked(|c, w| {
            driver::make_room(w, &mut c.s)?;
            c.s.send(msg)?;
            flush_all(w, &mut c.s)
        })
    }

    /// Queues a message, writing only when the write buffer is full.
    pub fn feed(&mut self, msg: Message) -> Result<()> {
        self.locked(|c, w| driver::feed(w, &mut c.s, msg))
    }

    /// Writes out everything queued.
    pub fn flush(&mut self) -> Result<()> {
        self.locked(|c, w| flush_all(w, &mut c.s))
    }

    /// Sends a close frame (the reader then sees the peer's close; see
    /// [`Reader::wait_close`]).
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.locked(|c, w| {
            c.s.queue_close(frame.map(|f| (f.code, f.reason)));
            flush_all(w, &mut c.s)
        })
    }

    /// The subprotocol selected in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Reader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("io", &self.r).finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for Writer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("subprotocol", &self.subprotocol).finish_non_exhaustive()
    }
}
