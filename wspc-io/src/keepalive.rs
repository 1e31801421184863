//! Keepalive timing, shared by both APIs (the clock is read by the caller).

use crate::config::Keepalive;
use std::time::{Duration, Instant};

pub(crate) enum Tick {
    /// Nothing to do before `deadline`.
    Wait,
    /// Send a ping now.
    Ping,
    /// No answer in time: fail the connection.
    Dead,
}

pub(crate) struct KeepaliveState {
    cfg: Keepalive,
    last_rx: Instant,
    ping_sent: Option<Instant>,
}

impl KeepaliveState {
    pub(crate) fn new(cfg: Keepalive, now: Instant) -> Self {
        Self { cfg, last_rx: now, ping_sent: None }
    }

    /// Bytes arrived: the peer is alive.
    pub(crate) fn activity(&mut self, now: Instant) {
        self.last_rx = now;
        self.ping_sent = None;
    }

    /// When the next tick is due.
    pub(crate) fn deadline(&self) -> Instant {
        match self.ping_sent {
            Some(t) => t + self.cfg.timeout,
            None => self.last_rx + self.cfg.interval,
        }
    }

    /// What is due at `now`.
    pub(crate) fn tick(&mut self, now: Instant) -> Tick {
        if now < self.deadline() {
            return Tick::Wait;
        }
        match self.ping_sent {
            Some(_) => Tick::Dead,
            None => {
                self.ping_sent = Some(now);
                Tick::Ping
            }
        }
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A read timeout reaching `deadline` (at least 1 ms: zero means "none" to the OS).
pub(crate) fn until(deadline: Instant, now: Instant) -> Duration {
    deadline.saturating_duration_since(now).max(Duration::from_millis(1))
}
