//! The one place the io_uring driver touches the shared sans-I/O session: every protocol
//! step goes through these few methods, so a change of the session's internals (or of the
//! decoder under it) meets the driver here only.
//!
//! Received bytes are copied from the ring's provided buffers into the session's receive
//! buffer (or a large message's vector) by [`Engine::fill`]; writes are the session's
//! write buffer and lent payload ([`Engine::to_write`]), left untouched while the kernel
//! writes them (the driver calls nothing that queues bytes while a write is in flight).

use crate::message::Message;
use crate::session::{RecvStep, Session};
use crate::{Error, Result};

/// One open connection's protocol state.
pub(super) struct Engine(Session);

/// What the receive side produced.
pub(super) enum Step {
    /// Needs more bytes ([`Engine::fill`]).
    Read,
    /// Must write before it can go on.
    Write,
    /// A message (the peer's close included).
    Message(Message),
}

impl Engine {
    /// An upgraded connection: `head` (the `101` response) is written before any frame;
    /// `prefix`: bytes received past the request head.
    pub(super) fn new(handle: wspc::Handle, prefix: Vec<u8>, write_limit: usize, head: &[u8]) -> Self {
        let mut s = Session::new(handle, prefix, write_limit);
        s.write_raw(head);
        Engine(s)
    }

    /// Advances the receive side.
    pub(super) fn step(&mut self) -> Result<Step> {
        match self.0.poll_recv(None)? {
            RecvStep::Read => Ok(Step::Read),
            RecvStep::Flush => Ok(Step::Write),
            RecvStep::Message(m) => Ok(Step::Message(m)),
            RecvStep::Piece(_) => unreachable!("whole messages were asked for"),
        }
    }

    /// After [`Step::Read`]: takes bytes from `input` (all it has room for); returns how
    /// many. Empty `input`: the end of the stream.
    pub(super) fn fill(&mut self, input: &[u8]) -> usize {
        if input.is_empty() {
            self.0.read_done(0);
            return 0;
        }
        let buf = self.0.read_buf_uninit();
        let n = buf.len().min(input.len());
        // SAFETY: `buf` has room for `n` bytes and does not overlap `input` (one is the
        // engine's or a message's memory, the other a receive buffer of the ring or the
        // connection's pending bytes).
        unsafe { std::ptr::copy_nonoverlapping(input.as_ptr(), buf.as_mut_ptr() as *mut u8, n) };
        self.0.read_done(n);
        n
    }

    /// True when a large payload (at least `min` bytes of it) is to be read straight into
    /// its message's memory.
    pub(super) fn wants_direct(&self, min: usize) -> bool {
        self.0.direct_read_len().is_some_and(|n| n >= min)
    }

    /// The memory of the read handed out (a large payload's message or the receive
    /// buffer), if one is: it stays put until [`received`](Self::received).
    pub(super) fn read_target(&mut self) -> Option<(*mut u8, usize)> {
        if !self.0.read_pending() {
            return None;
        }
        let buf = self.0.read_buf_uninit();
        Some((buf.as_mut_ptr() as *mut u8, buf.len()))
    }

    /// The kernel wrote `n` bytes at the start of [`read_target`](Self::read_target)'s
    /// memory (0: the end of the stream).
    pub(super) fn received(&mut self, n: usize) {
        self.0.read_done(n);
    }

    /// True when a message can be sent (and more input taken) without waiting for a write.
    pub(super) fn can_send(&self) -> bool {
        self.0.can_send()
    }

    /// Queues a message (after [`can_send`](Self::can_send)).
    pub(super) fn send(&mut self, msg: Message) -> Result<()> {
        self.0.send(msg)
    }

    /// Queues a close frame (nothing if one was queued already).
    pub(super) fn close(&mut self, code: u16, reason: String) {
        self.0.queue_close(Some((code, reason)));
    }

    /// Queues a close frame without status, or with `frame`'s.
    pub(super) fn close_with(&mut self, frame: Option<(u16, String)>) {
        self.0.queue_close(frame);
    }

    /// Queues a keepalive ping.
    pub(super) fn ping(&mut self) {
        self.0.queue_ping(Vec::new());
    }

    /// True once a close frame was queued.
    pub(super) fn closing(&self) -> bool {
        self.0.close_sent()
    }

    /// The bytes to write next (a write buffer and a lent payload), if any.
    pub(super) fn to_write(&self) -> Option<[&[u8]; 2]> {
        self.0.wants_write().then(|| self.0.write_bufs())
    }

    /// `n` bytes of [`to_write`](Self::to_write) were written.
    pub(super) fn written(&mut self, n: usize) {
        self.0.wrote(n);
    }

    /// A write failed: nothing more is sent.
    pub(super) fn write_failed(&mut self, e: &Error) {
        self.0.write_failed(e);
    }

    /// Nothing to read or write for now: gives the buffers back to the thread's pools.
    pub(super) fn idle(&mut self) {
        self.0.park();
    }

    /// Bytes waiting to be written.
    pub(super) fn backlog(&self) -> usize {
        self.0.backlog()
    }
}

/// The size of an engine (for the slot's size check).
pub(super) const ENGINE_SIZE: usize = size_of::<Engine>();
