//! Publish/subscribe: named topics, each message encoded once for all its subscribers.
//!
//! A [`Hub`] holds the topics of one process. Each connection takes a [`Subscriber`]
//! ([`Hub::subscriber`]), subscribes it to topics, and writes what it receives
//! ([`Subscriber::recv`]) with [`tokio::WebSocket::feed_prepared`](crate::tokio::WebSocket::feed_prepared).
//! [`Hub::publish`] hands one [`PreparedMessage`] (a reference count, not a copy) to every
//! subscriber of a topic, optionally leaving out the sender.
//!
//! Memory: every subscriber has a bounded queue ([`QueueLimits`]: by default 256 messages
//! and 1 MiB of payload). A subscriber that does not keep up (its peer reads slowly or not
//! at all) meets its [`SlowPolicy`]: by default its queue is emptied and
//! [`Subscriber::recv`] reports [`Delivery::Overflow`], on which the connection closes with
//! 1008 (policy violation); with [`SlowPolicy::DropMessages`] new messages are dropped for
//! it (counted by [`Subscriber::dropped`]) until it catches up. So one slow subscriber
//! holds at most its queue's payload bytes (messages shared with other subscribers are
//! counted in full), plus its connection's write buffer, whatever the publish rate.
//!
//! Across processes: [`redis`] (feature `redis`) joins hubs through Redis pub/sub.

mod prepared;
#[cfg(feature = "redis")]
pub mod redis;

pub use prepared::PreparedMessage;

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Poll, Waker};

/// What happens when a subscriber's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SlowPolicy {
    /// Empty its queue and report [`Delivery::Overflow`]: close the connection with 1008.
    #[default]
    Close,
    /// Drop the messages that do not fit (counted), keep the connection.
    DropMessages,
}

/// Bounds of each subscriber's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most messages queued (default 256).
    pub max_messages: usize,
    /// Most payload bytes queued (default 1 MiB). A single message larger than this is
    /// still queued when the queue is empty.
    pub max_bytes: usize,
    /// What a full queue does (default [`SlowPolicy::Close`]).
    pub policy: SlowPolicy,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self { max_messages: 256, max_bytes: 1 << 20, policy: SlowPolicy::Close }
    }
}

/// What [`Subscriber::recv`] hands out.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A message published to one of its topics.
    Message(Arc<PreparedMessage>),
    /// Its queue overflowed under [`SlowPolicy::Close`]: close the connection with 1008.
    /// Nothing more is delivered to it.
    Overflow,
}

/// Called with a topic's name when it gains its first subscriber in this hub (`true`) or
/// loses its last (`false`).
pub type TopicObserver = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// The topics of one process. Cheap to clone (a reference count).
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<HubInner>,
}

/// A topic's subscribers: a vector to publish over, and where each one is in it (so that
/// subscribing and unsubscribing cost the same in a topic of 10 or 100,000 subscribers).
#[derive(Default)]
struct Topic {
    subs: Vec<Arc<Mailbox>>,
    index: HashMap<u64, usize>,
}

#[derive(Default)]
struct HubInner {
    topics: RwLock<HashMap<Arc<str>, Topic>>,
    next_id: AtomicU64,
    limits: QueueLimits,
    observer: RwLock<Option<TopicObserver>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("topics", &self.read().len()).finish()
    }
}

fn unpoisoned<T>(r: std::sync::LockResult<T>) -> T {
    r.unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// A hub whose subscribers get the default [`QueueLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A hub whose subscribers get `limits` (zero counts are raised to one).
    pub fn with_limits(mut limits: QueueLimits) -> Self {
        limits.max_messages = limits.max_messages.max(1);
        limits.max_bytes = limits.max_bytes.max(1);
        Self { inner: Arc::new(HubInner { limits, ..Default::default() }) }
    }

    /// The limits every subscriber's queue has.
    pub fn limits(&self) -> QueueLimits {
        self.inner.limits
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Topic>> {
        unpoisoned(self.inner.topics.read())
    }

    /// A new subscriber (subscribed to nothing yet).
    pub fn subscriber(&self) -> Subscriber {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox { id, limits: self.inner.limits, state: Mutex::new(MailState::default()) });
        Subscriber { hub: self.clone(), mailbox, topics: Vec::new() }
    }

    /// Delivers `msg` to every subscriber of `topic` in this hub except `except` (a
    /// [`Subscriber::id`]). Returns how many subscribers it was queued for.
    pub fn publish(&self, topic: &str, msg: Arc<PreparedMessage>, except: Option<u64>) -> usize {
        let topics = self.read();
        let Some(t) = topics.get(topic) else { return 0 };
        let mut n = 0;
        for m in &t.subs {
            if Some(m.id) != except && m.push(&msg) {
                n += 1;
            }
        }
        n
    }

    /// How many subscribers `topic` has in this hub.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.read().get(topic).map_or(0, |t| t.subs.len())
    }

    /// The topics with at least one subscriber in this hub.
    pub fn topics(&self) -> Vec<String> {
        self.read().keys().map(|k| k.to_string()).collect()
    }

    /// Sets the function told when a topic gains its first or loses its last subscriber
    /// (a broker subscribes the process to the topics it holds with it).
    pub fn set_topic_observer(&self, f: Option<TopicObserver>) {
        *unpoisoned(self.inner.observer.write()) = f;
    }

    fn notify(&self, topic: &str, held: bool) {
        let obs = unpoisoned(self.inner.observer.read()).clone();
        if let Some(f) = obs {
            f(topic, held);
        }
    }

    fn add(&self, topic: &str, m: &Arc<Mailbox>) -> Option<Arc<str>> {
        let mut topics = unpoisoned(self.inner.topics.write());
        let (key, first) = match topics.get_key_value(topic) {
            Some((k, _)) => (k.clone(), false),
            None => (Arc::<str>::from(topic), true),
        };
        let t = topics.entry(key.clone()).or_default();
        if t.index.contains_key(&m.id) {
            return None;
        }
        t.index.insert(m.id, t.subs.len());
        t.subs.push(m.clone());
        drop(topics);
        if first {
            self.notify(topic, true);
        }
        Some(key)
    }

    fn remove(&self, topic: &str, id: u64) -> bool {
        let mut topics = unpoisoned(self.inner.topics.write());
        let Some(t) = topics.get_mut(topic) else { return false };
        let Some(i) = t.index.remove(&id) else { return false };
        t.subs.swap_remove(i);
        if let Some(moved) = t.subs.get(i) {
            t.index.insert(moved.id, i);
        }
        let last = t.subs.is_empty();
        if last {
            topics.remove(topic);
        }
        drop(topics);
        if last {
            self.notify(topic, false);
        }
        true
    }
}

/// One connection's subscriptions and queue. Dropping it unsubscribes it everywhere.
pub struct Subscriber {
    hub: Hub,
    mailbox: Arc<Mailbox>,
    topics: Vec<Arc<str>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").field("id", &self.mailbox.id).field("topics", &self.topics).finish()
    }
}

impl Subscriber {
    /// Its id in its hub (for [`Hub::publish`]'s `except`).
    pub fn id(&self) -> u64 {
        self.mailbox.id
    }

    /// Subscribes to `topic`; false if it already was.
    pub fn subscribe(&mut self, topic: &str) -> bool {
        match self.hub.add(topic, &self.mailbox) {
            Some(k) => {
                self.topics.push(k);
                true
            }
            None => false,
        }
    }

    /// Unsubscribes from `topic`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        let Some(i) = self.topics.iter().position(|t| &**t == topic) else { return false };
        self.topics.swap_remove(i);
        self.hub.remove(topic, self.mailbox.id)
    }

    /// The topics it is subscribed to.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(|t| &**t)
    }

    /// Publishes to every subscriber of `topic` but this one.
    pub fn publish_to_others(&self, topic: &str, msg: Arc<PreparedMessage>) -> usize {
        self.hub.publish(topic, msg, Some(self.id()))
    }

    /// Messages dropped for it under [`SlowPolicy::DropMessages`].
    pub fn dropped(&self) -> u64 {
        self.mailbox.lock().dropped
    }

    /// Messages waiting in its queue.
    pub fn queued(&self) -> usize {
        self.mailbox.lock().queue.len()
    }

    /// The next delivery, without waiting.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.mailbox.lock().take()
    }

    /// Resolves once its queue has overflowed under [`SlowPolicy::Close`] (the next
    /// [`recv`](Self::recv) then reports [`Delivery::Overflow`]). For a connection that is
    /// blocked writing a delivery to a peer that does not read: select on this beside the
    /// write, so that the overflow is noticed while the write waits.
    pub async fn overflowed(&self) {
        poll_fn(|cx| {
            let mut st = self.mailbox.lock();
            if st.overflow == Some(true) {
                return Poll::Ready(());
            }
            if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// The next delivery (waits while the queue is empty; cancel-safe).
    pub async fn recv(&mut self) -> Delivery {
        poll_fn(|cx| {
            let mut st = self.mailbox.lock();
            match st.take() {
                Some(d) => Poll::Ready(d),
                None => {
                    if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        st.waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        for t in std::mem::take(&mut self.topics) {
            self.hub.remove(&t, self.mailbox.id);
        }
    }
}

struct Mailbox {
    id: u64,
    limits: QueueLimits,
    state: Mutex<MailState>,
}

#[derive(Default)]
struct MailState {
    queue: VecDeque<Arc<PreparedMessage>>,
    bytes: usize,
    dropped: u64,
    /// Overflowed under `SlowPolicy::Close`: `Some(true)` until reported, then `Some(false)`.
    overflow: Option<bool>,
    waker: Option<Waker>,
}

impl MailState {
    fn take(&mut self) -> Option<Delivery> {
        if self.overflow == Some(true) {
            self.overflow = Some(false);
            return Some(Delivery::Overflow);
        }
        let m = self.queue.pop_front()?;
        self.bytes -= m.payload().len();
        Some(Delivery::Message(m))
    }
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, MailState> {
        unpoisoned(self.state.lock())
    }

    /// Queues `msg` (or applies the slow policy); true if it was queued.
    fn push(&self, msg: &Arc<PreparedMessage>) -> bool {
        let len = msg.payload().len();
        let mut st = self.lock();
        if st.overflow.is_some() {
            return false;
        }
        let full = st.queue.len() >= self.limits.max_messages
            || (!st.queue.is_empty() && st.bytes + len > self.limits.max_bytes);
        if full {
            match self.limits.policy {
                SlowPolicy::DropMessages => {
                    st.dropped += 1;
                    return false;
                }
                SlowPolicy::Close => {
                    st.overflow = Some(true);
                    st.queue = VecDeque::new();
                    st.bytes = 0;
                }
            }
        } else {
            st.queue.push_back(msg.clone());
            st.bytes += len;
        }
        let w = st.waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        !full
    }
}

#[cfg(test)]
mod tests;
