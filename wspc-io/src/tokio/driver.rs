//! The poll-based executor of [`Conn`]'s steps, shared by the whole
//! [`WebSocket`](super::WebSocket) and its split halves: one write loop, one receive loop
//! and one close loop over an `AsyncRead + AsyncWrite` stream, with one timer armed at
//! [`Conn::poll_timeout`].

use crate::conn::{CloseStep, Conn, Handoff};
use crate::message::Message;
use crate::session::RecvStep;
use crate::{Error, Result};
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::time::{Instant as TokioInstant, Sleep};
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// One connection: its stream, its state and its timer.
pub(super) struct Inner<S> {
    pub(super) io: S,
    pub(super) c: Conn,
    pub(super) timer: Option<Pin<Box<Sleep>>>,
    /// Boxed `str`: a word less than a `String` in every connection.
    pub(super) subprotocol: Option<Box<str>>,
}

/// What the receive loop hands out.
pub(super) enum Want<'a> {
    Message,
    Piece(&'a mut Vec<u8>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    pub(super) fn new(io: S, c: Conn, subprotocol: Option<Box<str>>) -> Self {
        Self { io, c, timer: None, subprotocol }
    }

    /// Writes everything pending (the only write loop of the tokio API).
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let s = &mut self.c.s;
        while s.wants_write() {
            let [a, b] = s.write_bufs();
            let r = if b.is_empty() {
                Pin::new(&mut self.io).poll_write(cx, a)
            } else {
                Pin::new(&mut self.io).poll_write_vectored(cx, &[IoSlice::new(a), IoSlice::new(b)])
            };
            match ready!(r) {
                Ok(0) => {
                    let e = Error::Io(io::ErrorKind::WriteZero.into());
                    s.write_failed(&e);
                    return Poll::Ready(Err(e));
                }
                Ok(n) => s.wrote(n),
                Err(e) => {
                    let e = Error::Io(e);
                    s.write_failed(&e);
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
                    self.fire()?;
                }
            }
        }
    }

    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_write_out_timed(cx))?;
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Writes until a message can be queued.
    pub(super) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while !self.c.s.can_send() && self.c.s.wants_write() {
            ready!(self.poll_write_out_timed(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Ends the write direction; gives up when the timer fires and the connection failed
    /// or its deadline stays passed.
    fn poll_shutdown_timed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match Pin::new(&mut self.io).poll_shutdown(cx) {
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {
                    ready!(self.poll_timer(cx));
                    if self.fire().is_err() {
                        return Poll::Ready(());
                    }
                }
            }
        }
    }

    /// Arms the timer for [`Conn::poll_timeout`]; Ready when it has passed.
    ///
    /// A deadline that moved later (the keepalive after every read) leaves the armed timer
    /// alone: when it fires early it is re-armed then. That saves a timer-wheel update per
    /// message; only an earlier deadline re-arms at once.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(due) = self.c.poll_timeout() else { return Poll::Pending };
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

    /// The timer fired: [`Conn::on_timer`]; an error also when the deadline is still
    /// passed afterwards (the close timed out: nothing more will happen by waiting).
    fn fire(&mut self) -> Result<()> {
        let now = Instant::now();
        self.c.on_timer(now)?;
        if self.c.poll_timeout().is_some_and(|d| now >= d) {
            return Err(Error::CloseTimeout);
        }
        Ok(())
    }

    /// Runs one step of [`Conn::handoff`]: `Some` to hand out; `None` to poll again.
    fn poll_handoff(&mut self, cx: &mut Context<'_>, h: Handoff) -> Poll<Option<Result<RecvStep>>> {
        match h {
            Handoff::Ready(r) => return Poll::Ready(Some(r)),
            Handoff::Flush => {
                let _ = ready!(self.poll_flush(cx));
                self.c.handoff_flushed();
            }
            Handoff::Shutdown => {
                ready!(self.poll_shutdown_timed(cx));
                self.c.shut_down();
            }
        }
        Poll::Ready(None)
    }

    /// The receive loop.
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>, mut want: Want<'_>) -> Poll<Result<RecvStep>> {
        if self.c.is_handing_off() {
            return self.poll_held(cx);
        }
        loop {
            let piece = match &mut want {
                Want::Message => None,
                Want::Piece(b) => Some(&mut **b),
            };
            match self.c.s.poll_recv(piece) {
                Ok(RecvStep::Read) => {
                    if self.c.s.wants_write() {
                        match self.poll_flush(cx) {
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                            Poll::Pending if self.c.s.replies_full() => return Poll::Pending,
                            _ => {}
                        }
                    }
                    let buf = self.c.s.read_buf_uninit();
                    let mut rb = ReadBuf::uninit(buf);
                    match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) => {
                            let n = rb.filled().len();
                            self.c.on_read(n, Instant::now());
                        }
                        Poll::Ready(Err(e)) => {
                            self.c.s.read_failed(Error::Io(io::Error::new(e.kind(), e.to_string())));
                            return Poll::Ready(Err(e.into()));
                        }
                        Poll::Pending => {
                            // Nothing to read: wait without the receive buffer (and, once
                            // everything is written, without the write buffers).
                            self.c.s.park();
                            ready!(self.poll_timer(cx));
                            self.c.on_timer(Instant::now())?;
                        }
                    }
                }
                Ok(RecvStep::Flush) => ready!(self.poll_write_out_timed(cx))?,
                r => {
                    if !self.c.must_hold(&r) {
                        return Poll::Ready(r);
                    }
                    let h = self.c.handoff(r);
                    if let Some(r) = ready!(self.poll_handoff(cx, h)) {
                        return Poll::Ready(r);
                    }
                    return self.poll_held(cx);
                }
            }
        }
    }

    /// Runs the rest of the steps of the outcome [`Conn::handoff`] kept.
    fn poll_held(&mut self, cx: &mut Context<'_>) -> Poll<Result<RecvStep>> {
        loop {
            let h = self.c.poll_handoff();
            if let Some(r) = ready!(self.poll_handoff(cx, h)) {
                return Poll::Ready(r);
            }
        }
    }

    /// Runs the close sequence ([`Conn::start_close`] or [`Conn::finish`] started it).
    pub(super) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            match self.c.poll_close(Instant::now()) {
                CloseStep::Receive => {
                    let r = ready!(self.poll_recv(cx, Want::Message));
                    self.c.close_recv(r);
                }
                CloseStep::Flush => match self.poll_flush(cx) {
                    Poll::Ready(_) => self.c.flushed(),
                    // Until the deadline (then the close moves on without it).
                    Poll::Pending => ready!(self.poll_timer(cx)),
                },
                CloseStep::Shutdown => {
                    ready!(self.poll_shutdown_timed(cx));
                    self.c.shut_down();
                }
                CloseStep::Drain => {
                    let mut scratch = [0u8; 512];
                    let mut rb = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) => self.c.drained(rb.filled().len()),
                        Poll::Ready(Err(_)) => self.c.drained(0),
                        Poll::Pending => ready!(self.poll_timer(cx)),
                    }
                }
                CloseStep::Done => return Poll::Ready(self.c.take_close_result()),
            }
        }
    }

    /// `Stream::poll_next`: the next message; after the end of the receive side, the close
    /// sequence runs to its end before `None`.
    pub(super) fn poll_next_msg(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        if self.c.end_reported {
            if !self.c.is_finished() {
                let _ = ready!(self.poll_close(cx));
            }
            return Poll::Ready(None);
        }
        match ready!(self.poll_recv(cx, Want::Message)) {
            Ok(RecvStep::Message(m)) => Poll::Ready(Some(Ok(m))),
            Ok(_) => unreachable!("whole messages were asked for"),
            Err(e) => {
                self.c.end_reported = true;
                self.c.finish(Instant::now());
                if matches!(e, Error::ConnectionClosed) {
                    let _ = ready!(self.poll_close(cx));
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(e)))
                }
            }
        }
    }
}
