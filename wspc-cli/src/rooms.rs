//! `wspc serve --broadcast`: rooms by path, on wspc-io's topics, optionally shared with
//! other `wspc serve` processes through Redis (`--redis redis://HOST:PORT`).
//!
//! - Every WebSocket path is a room: what a client sends on `/room/NAME` goes to everyone
//!   connected to `/room/NAME` (on this server and, with `--redis`, on every server joined
//!   to the same Redis), the sender included, each message exactly once. The query string
//!   is not part of the room. `/room/NAME` is the documented form; any other path is a room
//!   of its own too, so plain `ws://HOST/` clients all share the room `/` (the chat of
//!   earlier versions).
//! - Presence: the server sends text messages of the form
//!   `{"wspc":"presence","event":E,"room":R,"who":ID,"here":N}` where E is `welcome`
//!   (to the newcomer only, listing with `"members":[...]` who is in the room on this
//!   server, the newest [`PRESENCE_MAX`] of them), `join` or `leave` (to the room, across servers). ID is `ADDRESS@NODE`; N
//!   counts the room's members on the server that sent the event. `join` and `leave` are
//!   sent only while the room has at most [`PRESENCE_MAX`] members on the server where it
//!   happens (every join in a room of N members is N deliveries: announcing each of 10,000
//!   arrivals to everyone would be 50 million); the welcome is always sent. Messages from clients
//!   are relayed as they are (a client could imitate these; they are informational).
//! - A member's queue is bounded (wspc-io's defaults: 256 messages, 1 MiB); a member that
//!   falls behind is closed with 1008 ("subscriber too slow"). Publishing never waits for a
//!   member, so one that stops reading does not slow the sender or the rest of the room.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use wspc_io::pubsub::redis::{RedisBroker, RedisOptions};
use wspc_io::pubsub::{Delivery, Hub, PreparedMessage, Subscriber};
use wspc_io::Message;

/// Join and leave events are announced while a room has at most this many members on the
/// server (see the module docs).
pub const PRESENCE_MAX: usize = 256;

/// The rooms of one server.
pub struct Rooms {
    hub: Hub,
    broker: Option<Arc<RedisBroker>>,
    node: String,
    /// Who is in each room on this server (for the welcome's list).
    members: Mutex<HashMap<String, Vec<String>>>,
}

impl Rooms {
    /// Rooms on this server; with `redis`, shared through that Redis server. Needs a tokio
    /// runtime (the broker's tasks).
    pub fn new(redis: Option<&str>) -> Result<Arc<Self>, wspc_io::Error> {
        let hub = Hub::new();
        let node = format!("{:x}", std::process::id());
        let broker = match redis {
            Some(url) => {
                let log = Arc::new(|s: &str| tracing::warn!("redis: {s}"));
                Some(RedisBroker::start(url, hub.clone(), RedisOptions { log, ..Default::default() })?)
            }
            None => None,
        };
        Ok(Arc::new(Self { hub, broker, node, members: Mutex::default() }))
    }

    fn publish(&self, room: &str, msg: PreparedMessage) {
        let msg = Arc::new(msg);
        match &self.broker {
            Some(b) => b.publish(room, msg, None),
            None => self.hub.publish(room, msg, None),
        };
    }

    /// A presence message (`{"wspc":"presence",...}`, that key first so that clients can
    /// tell them from relayed messages by their start).
    fn presence(&self, event: &str, room: &str, who: &str, members: Option<&[String]>) -> PreparedMessage {
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let mut s = format!(
            r#"{{"wspc":"presence","event":"{event}","room":{},"who":{},"here":{}"#,
            q(room),
            q(who),
            self.hub.subscriber_count(room)
        );
        if let Some(m) = members {
            s.push_str(&format!(r#","members":{}"#, serde_json::Value::from(m.to_vec())));
        }
        s.push('}');
        PreparedMessage::text(&s)
    }

    /// Joins the room of `path` (announced to the room; the newcomer is welcomed first).
    pub fn join(self: &Arc<Self>, path: &str, peer: SocketAddr) -> Member {
        let room = path.split('?').next().unwrap_or("/").to_string();
        let who = format!("{peer}@{}", self.node);
        let mut sub = self.hub.subscriber();
        sub.subscribe(&room);
        let (count, members): (usize, Vec<String>) = {
            let mut m = self.members.lock().unwrap_or_else(|e| e.into_inner());
            let list = m.entry(room.clone()).or_default();
            list.push(who.clone());
            // The newest first, at most PRESENCE_MAX of them ("here" gives the count).
            (list.len(), list.iter().rev().take(PRESENCE_MAX).cloned().collect())
        };
        let welcome = Arc::new(self.presence("welcome", &room, &who, Some(&members)));
        if count <= PRESENCE_MAX {
            self.publish(&room, self.presence("join", &room, &who, None));
        }
        Member { rooms: self.clone(), sub, room, who, welcome: Some(welcome) }
    }
}

/// One connection's membership of its room.
pub struct Member {
    rooms: Arc<Rooms>,
    sub: Subscriber,
    room: String,
    who: String,
    welcome: Option<Arc<PreparedMessage>>,
}

impl Member {
    /// The next message for this member (its welcome first).
    pub async fn next(&mut self) -> Delivery {
        match self.welcome.take() {
            Some(w) => Delivery::Message(w),
            None => self.sub.recv().await,
        }
    }

    /// Resolves once this member's queue overflowed (see
    /// [`Subscriber::overflowed`]).
    pub async fn overflowed(&self) {
        self.sub.overflowed().await
    }

    /// Sends a text or binary message to the room (other messages are ignored).
    pub fn publish(&self, m: Message) {
        let msg = match &m {
            Message::Text(s) => PreparedMessage::text(s),
            Message::Binary(b) => PreparedMessage::binary(b),
            _ => return,
        };
        self.rooms.publish(&self.room, msg);
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.sub.unsubscribe(&self.room);
        let left = {
            let mut m = self.rooms.members.lock().unwrap_or_else(|e| e.into_inner());
            let list = m.entry(self.room.clone()).or_default();
            list.retain(|w| *w != self.who);
            let n = list.len();
            if n == 0 {
                m.remove(&self.room);
            }
            n
        };
        if left >= PRESENCE_MAX {
            return;
        }
        let leave = self.rooms.presence("leave", &self.room, &self.who, None);
        self.rooms.publish(&self.room, leave);
    }
}
