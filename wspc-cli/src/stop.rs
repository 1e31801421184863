//! The live connections of `wspc serve` and the shutdown signal that reaches them.
//!
//! Shutdown has to reach every connection (each sends close 1001) and then wait until they
//! have all finished. A connection pays for that when it starts, not per message: it is
//! counted ([`Conns::enter`]/[`Conns::leave`]) and, the first time it waits for anything,
//! its task's waker goes into a slab ([`Stop`]). Per message it loads one flag. There is no
//! channel, no waiter list re-registered per wait and no `select!`: [`Conns::stop`] sets
//! the flag and wakes every registered task, whatever thread or runtime it runs on.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;

/// The server's connections: how many are live, the wakers of those waiting for shutdown,
/// and whether shutdown has begun.
#[derive(Default)]
pub(crate) struct Conns {
    stopped: AtomicBool,
    live: AtomicUsize,
    wakers: Mutex<slab::Slab<Waker>>,
    /// Told when the last live connection leaves after shutdown began.
    drained: Notify,
}

impl Conns {
    fn wakers(&self) -> MutexGuard<'_, slab::Slab<Waker>> {
        // A panic while the lock was held left nothing half-done (insert or remove).
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Begins shutdown: every [`Stop`] resolves from now on; the tasks waiting on one are
    /// woken.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for (_, w) in self.wakers().iter() {
            w.wake_by_ref();
        }
        if self.live() == 0 {
            self.drained.notify_waiters();
        }
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Connections counted and not yet left.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Counts a connection (until [`leave`](Self::leave)).
    pub(crate) fn enter(&self) {
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    /// A connection counted by [`enter`](Self::enter) has finished.
    pub(crate) fn leave(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 && self.is_stopped() {
            self.drained.notify_waiters();
        }
    }

    /// Resolves once shutdown has begun and no connection is live.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a `leave` between the check and the wait is
            // not missed.
            notified.as_mut().enable();
            if self.is_stopped() && self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One task's view of the shutdown signal. Registers the task's waker the first time it
/// is polled before shutdown, unregisters it on drop.
///
/// A `Stop` belongs to the task that polls it: the waker registered is the one of its
/// first poll (a tokio task's waker does not change).
pub(crate) struct Stop<'a> {
    conns: &'a Conns,
    /// The waker's slot; [`UNREGISTERED`] before the first wait.
    key: usize,
}

/// [`Stop::key`] before the first wait (a word, not an `Option`'s two: it is in every
/// connection's task).
const UNREGISTERED: usize = usize::MAX;

impl<'a> Stop<'a> {
    /// Not registered until polled.
    pub(crate) fn new(conns: &'a Conns) -> Self {
        Self { conns, key: UNREGISTERED }
    }

    /// Ready once shutdown has begun; otherwise the task is woken when it begins.
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Relaxed is enough on this path: a task that misses the store is woken after it.
        if self.conns.stopped.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        if self.key == UNREGISTERED {
            return self.register(cx);
        }
        Poll::Pending
    }

    /// The first wait: the task's waker goes into the slab.
    #[cold]
    fn register(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.key = self.conns.wakers().insert(cx.waker().clone());
        // `stop` stores the flag before it takes the lock that the insert just released:
        // if it has not seen this waker, the flag is visible here.
        if self.conns.is_stopped() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// [`poll`](Self::poll) as a future (for `select!`).
    pub(crate) async fn stopped(&mut self) {
        poll_fn(|cx| self.poll(cx)).await
    }
}

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        if self.key != UNREGISTERED {
            let w = self.conns.wakers().try_remove(self.key);
            // Dropped outside the lock.
            drop(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn stop_wakes_registered_tasks_and_drained_waits_for_the_last() {
        let conns = Arc::new(Conns::default());
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let c = conns.clone();
            c.enter();
            tasks.push(tokio::spawn(async move {
                Stop::new(&c).stopped().await;
                c.leave();
            }));
        }
        tokio::task::yield_now().await;
        assert_eq!(conns.wakers().len(), 3, "each task registered once");
        let drained = tokio::spawn({
            let c = conns.clone();
            async move { c.drained().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!drained.is_finished(), "not drained before shutdown");
        conns.stop();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(5), t).await.expect("woken by stop").unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), drained).await.expect("drained").unwrap();
        assert_eq!(conns.live(), 0);
        assert_eq!(conns.wakers().len(), 0, "unregistered on drop");
    }

    #[tokio::test]
    async fn a_stop_polled_after_shutdown_is_ready_at_once() {
        let conns = Conns::default();
        conns.stop();
        tokio::time::timeout(Duration::from_secs(5), Stop::new(&conns).stopped()).await.expect("ready");
        assert_eq!(conns.wakers().len(), 0, "nothing registered after shutdown");
        tokio::time::timeout(Duration::from_secs(5), conns.drained()).await.expect("no connection: drained");
    }

    #[tokio::test]
    async fn a_connection_left_after_shutdown_ends_the_wait() {
        let conns = Arc::new(Conns::default());
        conns.enter();
        conns.stop();
        let w = tokio::spawn({
            let c = conns.clone();
            async move { c.drained().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!w.is_finished(), "one connection still live");
        conns.leave();
        tokio::time::timeout(Duration::from_secs(5), w).await.expect("drained").unwrap();
    }
}
