//! A hashed timer wheel of connection deadlines, in ticks of [`TICK`].
//!
//! Entries are `(slot, generation, tick)`. A connection keeps at most one entry it counts
//! as armed (its slot remembers the tick); deadlines that move later (the keepalive after
//! every read) leave the entry alone, and the connection re-arms when it fires early, so
//! traffic costs no wheel update. Entries of freed or re-armed connections fire and are
//! ignored.

use std::time::Duration;

/// The wheel's resolution.
pub(super) const TICK: Duration = Duration::from_millis(10);
const BUCKETS: usize = 1024;

/// A timer entry: slot index, slot generation, due tick.
pub(super) type Entry = (u32, u32, u32);

pub(super) struct Wheel {
    buckets: Vec<Vec<Entry>>,
    /// The last tick processed.
    now: u32,
    /// No entry is due before this tick (a lower bound, exact after a scan).
    earliest: u32,
    len: usize,
}

impl Wheel {
    pub(super) fn new() -> Self {
        Wheel { buckets: (0..BUCKETS).map(|_| Vec::new()).collect(), now: 0, earliest: u32::MAX, len: 0 }
    }

    /// Adds an entry due at `tick` (at the next tick if that has passed).
    pub(super) fn insert(&mut self, slot: u32, gen: u32, tick: u32) -> u32 {
        let tick = tick.max(self.now + 1);
        self.buckets[tick as usize % BUCKETS].push((slot, gen, tick));
        self.earliest = self.earliest.min(tick);
        self.len += 1;
        tick
    }

    /// Moves the wheel to `to`, appending the entries due to `due`.
    pub(super) fn advance(&mut self, to: u32, due: &mut Vec<Entry>) {
        if self.len == 0 {
            self.now = to;
            return;
        }
        while self.now < to && self.earliest <= to {
            self.now = self.now.max(self.earliest - 1) + 1;
            let now = self.now;
            let b = &mut self.buckets[now as usize % BUCKETS];
            let before = b.len();
            b.retain(|e| {
                if e.2 <= now {
                    due.push(*e);
                    false
                } else {
                    true
                }
            });
            self.len -= before - b.len();
            if now >= self.earliest {
                self.rescan();
            }
        }
        self.now = self.now.max(to);
    }

    /// Finds the earliest due tick again (at most one pass over the buckets).
    fn rescan(&mut self) {
        self.earliest = u32::MAX;
        if self.len == 0 {
            return;
        }
        for i in 1..=BUCKETS as u32 {
            let t = self.now + i;
            let b = &self.buckets[t as usize % BUCKETS];
            if !b.is_empty() {
                // Its entries are due at `t` or in later rounds: `t` is a lower bound.
                self.earliest = t;
                return;
            }
        }
    }

    /// The earliest tick at which an entry may be due, if any.
    pub(super) fn next(&self) -> Option<u32> {
        (self.len > 0).then_some(self.earliest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_fire_at_their_tick_across_rounds() {
        let mut w = Wheel::new();
        w.insert(1, 0, 5);
        w.insert(2, 0, 5 + BUCKETS as u32);
        w.insert(3, 0, 3);
        let mut due = Vec::new();
        w.advance(4, &mut due);
        assert_eq!(due, vec![(3, 0, 3)]);
        due.clear();
        w.advance(5, &mut due);
        assert_eq!(due, vec![(1, 0, 5)]);
        due.clear();
        assert!(w.next().is_some_and(|t| t <= 5 + BUCKETS as u32));
        w.advance(4 + BUCKETS as u32, &mut due);
        assert!(due.is_empty());
        w.advance(5 + BUCKETS as u32, &mut due);
        assert_eq!(due, vec![(2, 0, 5 + BUCKETS as u32)]);
        assert_eq!(w.next(), None);
    }

    #[test]
    fn a_past_tick_fires_at_the_next() {
        let mut w = Wheel::new();
        let mut due = Vec::new();
        w.advance(100, &mut due);
        assert_eq!(w.insert(7, 1, 50), 101);
        w.advance(101, &mut due);
        assert_eq!(due, vec![(7, 1, 101)]);
    }
}
