//! The connection's life cycle past the upgrade, as I/O-free steps: deadlines (keepalive,
//! close timeout), what happens after the receive side yields (the close reply goes out,
//! a server ends its side) and the close sequence (send a close, wait for the peer's close
//! up to the close timeout, end the transport). The clock is an argument (`now`), every
//! step says what the transport does next, and the transport reports back: the blocking
//! and tokio adapters (and any completion-based driver) only read, write, shut down and
//! sleep until [`Conn::poll_timeout`].
//!
//! The WebSocket close state (close sent, close received) is the engine's, read through
//! [`Session`]; this module keeps only what the transport does about it (the closing
//! phase, whether the write direction was ended, the deadlines).
//!
//! ```text
//!              start_close            recv_done or deadline
//!   Open ─────────────────────▶ AwaitClose ───────────────▶ Flush ──▶ ShutFirst ──▶ Drain ──▶ ShutLast ──▶ Done
//!     │  the receive side ended (finish)                      ▲          │  (server,      ▲   (client that
//!     └───────────────────────────────────────────────────────┘          │   handshake    │    got the close)
//!                                                                        └── complete) ───┴──▶ Done
//! ```

mod linger;
#[cfg(test)]
mod tests;

pub(crate) use linger::Linger;

use crate::keepalive::{earliest, KeepaliveState, Tick};
use crate::session::{RecvStep, Session};
use crate::{Config, Error, Result};
use std::time::{Duration, Instant};
use wspc::Role;

/// Where the close sequence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not closing.
    Open,
    /// A close was sent: receive (dropping data) until the peer's close or the deadline.
    AwaitClose,
    /// Write what is queued and flush the transport.
    Flush,
    /// End the write direction before draining: a server always (RFC 6455 §7.1.1: the
    /// server closes the TCP connection first), a client that got no close.
    ShutFirst,
    /// Read and drop until the peer ends the stream (or the deadline).
    Drain,
    /// A client that got the close ends its side after the server did.
    ShutLast,
    /// Finished.
    Done,
}

/// What the transport does next in the close sequence ([`Conn::poll_close`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CloseStep {
    /// Run the receive loop ([`Session::poll_recv`] with reads, honouring
    /// [`Conn::poll_timeout`]) until it yields, and hand what it yields to
    /// [`Conn::close_recv`].
    Receive,
    /// Write everything pending ([`Session::write_bufs`]) and flush the transport, then call
    /// [`Conn::flushed`] (whether or not that worked). Stop at [`Conn::poll_timeout`] and
    /// call [`Conn::on_timer`], then poll again.
    Flush,
    /// End the write direction (TCP FIN, TLS close_notify), then call [`Conn::shut_down`].
    Shutdown,
    /// Read and drop bytes; report each read with [`Conn::drained`] (0 at the end of the
    /// stream or on an error). Stop at [`Conn::poll_timeout`] and poll again.
    Drain,
    /// Finished: the close's outcome is [`Conn::take_close_result`].
    Done,
}

/// What happens before a receive outcome is handed to the application
/// ([`Conn::handoff`], [`Conn::poll_handoff`]).
pub(crate) enum Handoff {
    /// Write everything pending and flush, then call [`Conn::handoff_flushed`] (whether or
    /// not that worked), and poll again.
    Flush,
    /// End the write direction, then call [`Conn::shut_down`], and poll again.
    Shutdown,
    /// Hand this out.
    Ready(Result<RecvStep>),
}

/// The step of a held outcome's hand-off.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HandoffStage {
    Flush,
    Shutdown,
}

/// What a connection keeps for later, rarely (one box, so that an idle connection carries a
/// pointer for it).
enum Kept {
    /// A receive outcome waiting for its close reply to be written (and, on a server, for
    /// the write direction to end).
    Handoff(HandoffStage, Result<RecvStep>),
    /// The error met while closing: the close's outcome.
    CloseError(Error),
}

/// One connection: the engine's session and the transport's life cycle around it.
pub(crate) struct Conn {
    pub(crate) s: Session,
    ka: Option<KeepaliveState>,
    close_timeout: Duration,
    close_deadline: Option<Instant>,
    phase: Phase,
    /// The write direction was ended.
    shut: bool,
    /// The transport's clean end needs the peer's end too (an HTTP/2 stream: dropped
    /// before the peer's END_STREAM, it is reset), so a server drains after the close
    /// handshake as well.
    await_peer_end: bool,
    /// The application was told the receive side ended (tokio's `Stream`: an error, or
    /// `None` next).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) end_reported: bool,
    /// Boxed: rare, and an idle connection should stay small. A hand-off replaces a close
    /// error not yet taken (the close was abandoned).
    kept: Option<Box<Kept>>,
}

impl Conn {
    /// A connection on `s` with `config`'s keepalive and close timeout; the keepalive
    /// counts from `now`.
    pub(crate) fn new(s: Session, config: &Config, now: Instant) -> Self {
        Self {
            s,
            ka: config.keepalive.map(|k| KeepaliveState::new(k, now)),
            close_timeout: config.close_timeout,
            close_deadline: None,
            phase: Phase::Open,
            shut: false,
            await_peer_end: false,
            end_reported: false,
            kept: None,
        }
    }

    /// The transport ends cleanly only once the peer ended it too (an HTTP/2 stream): a
    /// server then waits for the peer's end after the close handshake (up to the close
    /// timeout) instead of finishing at once.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn await_peer_end(&mut self) {
        self.await_peer_end = true;
    }

    pub(crate) fn role(&self) -> Role {
        self.s.role()
    }

    /// True once the close handshake finished (or the connection failed).
    pub(crate) fn is_closed(&self) -> bool {
        self.s.recv_done() && self.s.close_sent()
    }

    /// True once the close sequence ended.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// True while the close sequence runs.
    #[cfg(test)]
    pub(crate) fn is_closing(&self) -> bool {
        self.phase != Phase::Open
    }

    // ----- time ----------------------------------------------------------------------------

    /// The next deadline: the keepalive's (while the connection is open or waits for the
    /// peer's close) or the close timeout's.
    #[inline]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let ka = match self.phase {
            Phase::Open | Phase::AwaitClose => self.ka.as_ref().map(KeepaliveState::deadline),
            _ => None,
        };
        earliest(ka, self.close_deadline)
    }

    /// The deadline of [`poll_timeout`](Self::poll_timeout) may have passed: sends the
    /// keepalive ping, or fails the connection (no answer to it: `KeepaliveTimeout`; the
    /// peer's close did not come in time: `CloseTimeout`, while a close waits for it). In
    /// the later close phases a passed deadline only moves the close on
    /// ([`poll_close`](Self::poll_close)).
    pub(crate) fn on_timer(&mut self, now: Instant) -> Result<()> {
        if matches!(self.phase, Phase::Open | Phase::AwaitClose) {
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
            if self.deadline_passed(now) {
                tracing::debug!("the close handshake timed out");
                return Err(Error::CloseTimeout);
            }
        }
        Ok(())
    }

    /// `n` bytes were read into [`Session::read_buf`] (0: the end of the stream).
    #[inline]
    pub(crate) fn on_read(&mut self, n: usize, now: Instant) {
        self.s.read_done(n);
        if n > 0 {
            if let Some(ka) = self.ka.as_mut() {
                ka.activity(now);
            }
        }
    }

    /// Starts the close timer (if it is not running): the peer's close is due within the
    /// close timeout from `now`.
    pub(crate) fn arm_close_timer(&mut self, now: Instant) {
        if self.close_deadline.is_none() {
            self.close_deadline = Some(now + self.close_timeout);
        }
    }

    fn deadline_passed(&self, now: Instant) -> bool {
        self.close_deadline.is_some_and(|d| now >= d)
    }

    // ----- after a receive -----------------------------------------------------------------

    /// Takes what the receive side yielded (a message, a piece, an error; not `Read` or
    /// `Flush`) and says what happens before it is handed out: after the peer's close (or
    /// a failure that queued a close) the close frame is written first, and then a server
    /// ends its write direction (RFC 6455 §7.1.1). Nothing is kept when nothing is needed.
    /// (Adapters may ask [`must_hold`](Self::must_hold) first and hand `r` out at once when
    /// it says no, which saves moving it on the hot path.)
    pub(crate) fn handoff(&mut self, r: Result<RecvStep>) -> Handoff {
        if !self.must_hold(&r) {
            return Handoff::Ready(r);
        }
        self.kept = Some(Box::new(Kept::Handoff(HandoffStage::Flush, r)));
        self.poll_handoff()
    }

    /// True when `r` needs [`handoff`](Self::handoff)'s steps before it is handed out.
    #[inline]
    pub(crate) fn must_hold(&self, r: &Result<RecvStep>) -> bool {
        match r {
            Ok(_) => self.s.close_received(),
            Err(Error::ConnectionClosed) => false,
            Err(_) => self.s.close_sent(),
        }
    }

    /// True while an outcome waits in [`handoff`](Self::handoff)'s steps.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    #[inline]
    pub(crate) fn is_handing_off(&self) -> bool {
        self.kept.is_some() && matches!(self.kept.as_deref(), Some(Kept::Handoff(..)))
    }

    /// The next step for the outcome [`handoff`](Self::handoff) kept.
    pub(crate) fn poll_handoff(&mut self) -> Handoff {
        let Some(Kept::Handoff(stage, _)) = self.kept.as_deref_mut() else { panic!("no outcome is held") };
        if *stage == HandoffStage::Flush {
            if self.s.wants_write() && !self.s.write_broken() {
                return Handoff::Flush;
            }
            *stage = HandoffStage::Shutdown;
        }
        if self.role() == Role::Server && self.s.close_sent() && !self.shut {
            return Handoff::Shutdown;
        }
        match self.kept.take().map(|k| *k) {
            Some(Kept::Handoff(_, r)) => Handoff::Ready(r),
            _ => unreachable!("checked above"),
        }
    }

    /// The flush [`Handoff::Flush`] asked for is over.
    pub(crate) fn handoff_flushed(&mut self) {
        if let Some(Kept::Handoff(stage, _)) = self.kept.as_deref_mut() {
            *stage = HandoffStage::Shutdown;
        }
    }

    /// The write direction was ended (or ending it failed: it is not tried again).
    pub(crate) fn shut_down(&mut self) {
        self.shut = true;
    }

    // ----- the close sequence --------------------------------------------------------------

    /// `close()`: queues a close frame (`frame`: `None` for none with a status; nothing if
    /// one was sent already), and starts the close sequence with its deadline.
    pub(crate) fn start_close(&mut self, frame: Option<(u16, String)>, now: Instant) {
        self.s.queue_close(frame);
        self.arm_close_timer(now);
        if self.phase == Phase::Open {
            self.phase = Phase::AwaitClose;
        }
    }

    /// The receive side ended (the peer's close was handed out and the application asked
    /// for more, or it failed): the close sequence goes on without receiving.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn finish(&mut self, now: Instant) {
        self.arm_close_timer(now);
        if matches!(self.phase, Phase::Open | Phase::AwaitClose) {
            self.phase = Phase::Flush;
        }
    }

    /// What the transport does next to close.
    pub(crate) fn poll_close(&mut self, now: Instant) -> CloseStep {
        loop {
            let late = self.deadline_passed(now);
            match self.phase {
                Phase::Open => return CloseStep::Done,
                Phase::AwaitClose => {
                    if !self.s.recv_done() && !late {
                        return CloseStep::Receive;
                    }
                    self.phase = Phase::Flush;
                }
                Phase::Flush => {
                    if !late {
                        return CloseStep::Flush;
                    }
                    self.phase = self.after_flush();
                }
                Phase::ShutFirst => {
                    if !self.shut {
                        return CloseStep::Shutdown;
                    }
                    // A server whose close handshake is complete is done: the client reads
                    // nothing more from it and closes when it sees the end of the stream
                    // (unless the transport needs the client's end to end cleanly).
                    let complete = self.role() == Role::Server && self.s.close_received();
                    self.phase = if complete && !self.await_peer_end { Phase::Done } else { Phase::Drain };
                }
                Phase::Drain => {
                    if !late {
                        return CloseStep::Drain;
                    }
                    self.phase = self.after_drain();
                }
                Phase::ShutLast => {
                    if !self.shut {
                        return CloseStep::Shutdown;
                    }
                    self.phase = Phase::Done;
                }
                Phase::Done => return CloseStep::Done,
            }
        }
    }

    /// A server ends its side first; so does a client that got no close (nothing will end
    /// the stream for it). A client that got the close waits for the server's end first.
    fn after_flush(&self) -> Phase {
        if self.role() == Role::Server || !self.s.close_received() {
            Phase::ShutFirst
        } else {
            Phase::Drain
        }
    }

    fn after_drain(&self) -> Phase {
        if self.role() == Role::Client && self.s.close_received() {
            Phase::ShutLast
        } else {
            Phase::Done
        }
    }

    /// What the receive loop yielded for [`CloseStep::Receive`]: messages are dropped; an
    /// end of the receive side moves the close on (an error other than the peer's end, a
    /// reset or the close timeout is the close's outcome).
    pub(crate) fn close_recv(&mut self, r: Result<RecvStep>) {
        match r {
            Ok(_) => {}
            Err(Error::ConnectionClosed | Error::ConnectionReset | Error::CloseTimeout) => self.phase = Phase::Flush,
            Err(e) => {
                if self.kept.is_none() {
                    self.kept = Some(Box::new(Kept::CloseError(e)));
                }
                self.phase = Phase::Flush;
            }
        }
    }

    /// The flush of [`CloseStep::Flush`] is over.
    pub(crate) fn flushed(&mut self) {
        if self.phase == Phase::Flush {
            self.phase = self.after_flush();
        }
    }

    /// `n` bytes were read and dropped for [`CloseStep::Drain`] (0: the stream ended, or
    /// the read failed).
    pub(crate) fn drained(&mut self, n: usize) {
        if n == 0 && self.phase == Phase::Drain {
            self.phase = self.after_drain();
        }
    }

    /// The close's outcome, once [`poll_close`](Self::poll_close) said `Done`.
    pub(crate) fn take_close_result(&mut self) -> Result<()> {
        match self.kept.as_deref() {
            Some(Kept::CloseError(_)) => match self.kept.take().map(|k| *k) {
                Some(Kept::CloseError(e)) => Err(e),
                _ => unreachable!("checked above"),
            },
            _ => Ok(()),
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("session", &self.s).field("phase", &self.phase).finish_non_exhaustive()
    }
}
