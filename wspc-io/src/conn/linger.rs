//! The lingering close of a refused upgrade: after the HTTP refusal is written and the
//! write direction ended, what the client is still sending (the rest of an oversized
//! head) is read and dropped while it keeps coming, so that closing the socket sends a
//! FIN, not a reset that could destroy the refusal before the client reads it (and fail
//! the client's own writes). I/O-free: the caller reads and reports.

use std::time::{Duration, Instant};

/// Silence that ends the lingering.
pub(crate) const QUIET: Duration = Duration::from_millis(100);
/// Bytes dropped at most.
pub(crate) const MAX_DRAIN: usize = 64 << 10;

/// Where a lingering close is.
#[derive(Debug)]
pub(crate) struct Linger {
    /// The refusal as a whole (writing it included) ends by then.
    deadline: Instant,
    /// Silence until then ends it.
    quiet_until: Instant,
    left: usize,
    ended: bool,
}

impl Linger {
    /// A refusal started at `now`, to end within `limit`.
    pub(crate) fn new(now: Instant, limit: Duration) -> Self {
        Self { deadline: now + limit, quiet_until: now + QUIET, left: MAX_DRAIN, ended: false }
    }

    /// The deadline of the whole refusal (for writing the response and ending the stream).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Starts the drain at `now` (the response is written and the write direction ended):
    /// it ends after [`QUIET`] without bytes.
    pub(crate) fn start(&mut self, now: Instant) {
        self.quiet_until = now + QUIET;
    }

    /// When to stop waiting for the next read.
    pub(crate) fn poll_timeout(&self) -> Instant {
        self.deadline.min(self.quiet_until)
    }

    /// True when the drain is over at `now`: the stream ended, the peer was silent for
    /// [`QUIET`], [`MAX_DRAIN`] bytes were dropped, or the refusal's time is up.
    pub(crate) fn is_done(&self, now: Instant) -> bool {
        self.ended || self.left == 0 || now >= self.poll_timeout()
    }

    /// A read at `now` returned `n` bytes (0: the end of the stream or an error).
    pub(crate) fn on_read(&mut self, n: usize, now: Instant) {
        if n == 0 {
            self.ended = true;
        } else {
            self.left = self.left.saturating_sub(n);
            self.quiet_until = now + QUIET;
        }
    }
}
