//! Topics shared between processes through Redis pub/sub (feature `redis`).
//!
//! A [`RedisBroker`] joins a [`Hub`] to a Redis server. The process subscribes on Redis to
//! the channel of every topic its hub has subscribers for (`PREFIX` + topic, see
//! [`RedisOptions::prefix`]), and nothing else; [`RedisBroker::publish`] delivers to the
//! local subscribers at once, then hands the message to a task that publishes it on Redis.
//! Every process receiving it from Redis delivers it to its own subscribers; the one that
//! published it recognises its node id in the message and skips it (it delivered already).
//!
//! On Redis, a message is `node id (16 bytes) | kind (1 byte: 1 text, 2 binary) | payload`.
//!
//! A lost Redis server never blocks local delivery: publishes go through a bounded queue
//! (4096 messages) that is dropped from, not waited on, and while Redis is unreachable the
//! messages for it are dropped (counted: [`RedisBroker::dropped`]). Both connections
//! (subscriptions, publishes) reconnect with exponential backoff (100 ms doubling to 2 s)
//! and report each loss and each reconnection through the log function. Messages published
//! while Redis was away are not replayed: Redis pub/sub keeps nothing.

use super::{Hub, PreparedMessage};
use crate::{Error, Result};
use redis::aio::{MultiplexedConnection, PubSubSink};
use std::collections::HashSet;
use std::future::poll_fn;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Where log lines go (the default writes them to stderr).
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

const KIND_TEXT: u8 = 1;
const KIND_BINARY: u8 = 2;
const NODE_LEN: usize = 16;
const QUEUE: usize = 4096;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Settings of a [`RedisBroker`].
#[derive(Clone)]
pub struct RedisOptions {
    /// Prepended to a topic to name its Redis channel (default `"wspc:"`).
    pub prefix: String,
    /// Where reconnections and losses are reported (default: stderr).
    pub log: LogFn,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self { prefix: "wspc:".into(), log: Arc::new(|s: &str| eprintln!("wspc-io redis: {s}")) }
    }
}

/// A hub's link to Redis. Dropping it (all clones of its `Arc`) stops its tasks.
pub struct RedisBroker {
    hub: Hub,
    node: [u8; NODE_LEN],
    tx: mpsc::Sender<(Box<str>, Arc<PreparedMessage>)>,
    dropped: Arc<AtomicU64>,
    stop: Arc<Notify>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker").field("node", &self.node).finish()
    }
}

fn random_node_id() -> [u8; NODE_LEN] {
    let mut id = [0u8; NODE_LEN];
    for (i, half) in id.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_usize(i);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    id
}

impl RedisBroker {
    /// Joins `hub` to the Redis server at `url` (`redis://HOST:PORT[/DB]`). Starts two
    /// tasks on the current tokio runtime; they connect (and reconnect) in the background,
    /// so this succeeds while Redis is down. Fails only on a malformed URL.
    pub fn start(url: &str, hub: Hub, opts: RedisOptions) -> Result<Arc<Self>> {
        let client = redis::Client::open(url).map_err(|e| Error::Url(format!("{url}: {e}")))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let changed = Arc::new(Notify::new());
        let c2 = changed.clone();
        hub.set_topic_observer(Some(Arc::new(move |_: &str, _| c2.notify_one())));
        let me = Arc::new(Self {
            hub: hub.clone(),
            node: random_node_id(),
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(Notify::new()),
        });
        let sub = Subscriptions { client: client.clone(), hub, node: me.node, opts: opts.clone(), changed };
        let publ = Publisher { client, node: me.node, opts, dropped: me.dropped.clone() };
        let (s1, s2) = (me.stop.clone(), me.stop.clone());
        tokio::spawn(async move {
            tokio::select! { _ = sub.run() => {}, _ = s1.notified() => {} }
        });
        tokio::spawn(async move {
            tokio::select! { _ = publ.run(rx) => {}, _ = s2.notified() => {} }
        });
        Ok(me)
    }

    /// The hub it serves.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Delivers `msg` to the local subscribers of `topic` (but `except`, a
    /// [`Subscriber::id`](super::Subscriber::id)) and queues it for the other processes.
    /// Never waits. Returns the number of local subscribers it was queued for.
    pub fn publish(&self, topic: &str, msg: Arc<PreparedMessage>, except: Option<u64>) -> usize {
        let n = self.hub.publish(topic, msg.clone(), except);
        if self.tx.try_send((topic.into(), msg)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        n
    }

    /// Messages that did not reach Redis (queue full, or Redis unreachable).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.hub.set_topic_observer(None);
        self.stop.notify_waiters();
        self.stop.notify_one();
    }
}

/// Waits before the next connection attempt, and doubles the wait for the one after.
async fn back_off(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
}

struct Subscriptions {
    client: redis::Client,
    hub: Hub,
    node: [u8; NODE_LEN],
    opts: RedisOptions,
    changed: Arc<Notify>,
}

impl Subscriptions {
    async fn run(self) {
        let mut backoff = BACKOFF_MIN;
        let mut lost = false;
        loop {
            match self.client.get_async_pubsub().await {
                Ok(ps) => {
                    (self.opts.log)(if lost { "subscriber reconnected" } else { "subscriber connected" });
                    backoff = BACKOFF_MIN;
                    let (sink, stream) = ps.split();
                    let why = self.serve(sink, Box::pin(stream)).await;
                    (self.opts.log)(&format!("subscriber connection lost ({why}); local delivery goes on"));
                }
                Err(e) => (self.opts.log)(&format!("cannot subscribe: {e}; retrying in {backoff:?}")),
            }
            lost = true;
            back_off(&mut backoff).await;
        }
    }

    /// Keeps the Redis subscriptions equal to the hub's topics and delivers what arrives,
    /// until the connection fails.
    async fn serve(&self, mut sink: PubSubSink, mut stream: Pin<Box<redis::aio::PubSubStream>>) -> String {
        let mut held: HashSet<String> = HashSet::new();
        loop {
            let want: HashSet<String> = self.hub.topics().into_iter().collect();
            for t in want.difference(&held) {
                if let Err(e) = sink.subscribe(format!("{}{t}", self.opts.prefix)).await {
                    return e.to_string();
                }
            }
            for t in held.difference(&want) {
                if let Err(e) = sink.unsubscribe(format!("{}{t}", self.opts.prefix)).await {
                    return e.to_string();
                }
            }
            held = want;
            loop {
                let next = poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx));
                tokio::select! {
                    _ = self.changed.notified() => break,
                    m = next => match m {
                        Some(m) => self.deliver(m.get_channel_name(), m.get_payload_bytes()),
                        None => return "closed".into(),
                    },
                }
            }
        }
    }

    fn deliver(&self, channel: &str, data: &[u8]) {
        let Some(topic) = channel.strip_prefix(self.opts.prefix.as_str()) else { return };
        if data.len() < NODE_LEN + 1 || data[..NODE_LEN] == self.node {
            return;
        }
        let payload = &data[NODE_LEN + 1..];
        let msg = match data[NODE_LEN] {
            KIND_TEXT => match std::str::from_utf8(payload) {
                Ok(s) => PreparedMessage::text(s),
                Err(_) => return,
            },
            KIND_BINARY => PreparedMessage::binary(payload),
            _ => return,
        };
        self.hub.publish(topic, Arc::new(msg), None);
    }
}

struct Publisher {
    client: redis::Client,
    node: [u8; NODE_LEN],
    opts: RedisOptions,
    dropped: Arc<AtomicU64>,
}

impl Publisher {
    async fn run(self, mut rx: mpsc::Receiver<(Box<str>, Arc<PreparedMessage>)>) {
        let mut con: Option<MultiplexedConnection> = None;
        let mut backoff = BACKOFF_MIN;
        let mut retry_at = tokio::time::Instant::now();
        let mut lost = false;
        let mut body = Vec::new();
        let mut channel = String::new();
        while let Some((topic, msg)) = rx.recv().await {
            if con.is_none() && tokio::time::Instant::now() >= retry_at {
                match self.client.get_multiplexed_async_connection().await {
                    Ok(c) => {
                        (self.opts.log)(if lost { "publisher reconnected" } else { "publisher connected" });
                        con = Some(c);
                        backoff = BACKOFF_MIN;
                    }
                    Err(e) => {
                        (self.opts.log)(&format!("cannot publish: {e}; retrying in {backoff:?}"));
                        retry_at = tokio::time::Instant::now() + backoff;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        lost = true;
                    }
                }
            }
            let Some(c) = con.as_mut() else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            body.clear();
            body.extend_from_slice(&self.node);
            body.push(if msg.is_text() { KIND_TEXT } else { KIND_BINARY });
            body.extend_from_slice(msg.payload());
            channel.clear();
            channel.push_str(&self.opts.prefix);
            channel.push_str(&topic);
            let r: redis::RedisResult<i64> = redis::cmd("PUBLISH").arg(&channel).arg(&body).query_async(c).await;
            if let Err(e) = r {
                (self.opts.log)(&format!("publisher connection lost ({e}); local delivery goes on"));
                self.dropped.fetch_add(1, Ordering::Relaxed);
                con = None;
                lost = true;
                retry_at = tokio::time::Instant::now() + backoff;
            }
        }
    }
}
