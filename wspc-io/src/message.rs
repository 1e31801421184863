//! Messages as the application sees them.

use crate::payload::{Payload, Utf8Payload};

/// A close frame's status and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (1000 normal, 1001 going away, ...).
    pub code: u16,
    /// The reason (at most 123 bytes of UTF-8).
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into() }
    }
}

/// One WebSocket message.
///
/// Received: `Text`, `Binary`, `Pong`, `Close` (the peer's close frame; `None` when it had
/// no status) and, only with [`Config::deliver_pings`](crate::Config::deliver_pings), `Ping`.
/// Sent: all five; `Ping`/`Pong` payloads are at most 125 bytes.
///
/// Payloads are [`Utf8Payload`] and [`Payload`]: they convert to and from `bytes::Bytes`,
/// `String` and `Vec<u8>` without copying, so one `Bytes` can be sent to many connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(Utf8Payload),
    /// A binary message.
    Binary(Payload),
    /// A ping. Received pings are always answered by the engine with the matching pong
    /// (as RFC 6455 requires; when pings come faster than the pong can be written, the
    /// newest one's). By default they are not shown; with
    /// [`Config::deliver_pings`](crate::Config::deliver_pings) each one is also returned by
    /// `recv` after its pong was queued, for the application to observe, not to answer:
    /// sending a pong for it would send a second one.
    Ping(Payload),
    /// A pong: received (solicited or not) or sent unsolicited.
    Pong(Payload),
    /// A close frame.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<Utf8Payload>) -> Self {
        Message::Text(s.into())
    }
    /// A binary message.
    pub fn binary(b: impl Into<Payload>) -> Self {
        Message::Binary(b.into())
    }
    /// A close with a code and a reason.
    pub fn close(code: u16, reason: impl Into<String>) -> Self {
        Message::Close(Some(CloseFrame::new(code, reason)))
    }
    /// True for `Text` and `Binary`.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
    /// True for `Close`.
    pub fn is_close(&self) -> bool {
        matches!(self, Message::Close(_))
    }
    /// A ping with `b` (at most 125 bytes).
    pub fn ping(b: impl Into<Payload>) -> Self {
        Message::Ping(b.into())
    }
    /// A pong with `b` (at most 125 bytes).
    pub fn pong(b: impl Into<Payload>) -> Self {
        Message::Pong(b.into())
    }
    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            _ => None,
        }
    }
    /// The payload bytes (the reason for a close).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(c) => c.as_ref().map_or(&[], |c| c.reason.as_bytes()),
        }
    }
    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }
    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}
impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}
impl From<Utf8Payload> for Message {
    fn from(s: Utf8Payload) -> Self {
        Message::Text(s)
    }
}
impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}
impl From<bytes::Bytes> for Message {
    fn from(b: bytes::Bytes) -> Self {
        Message::Binary(b.into())
    }
}
impl From<Payload> for Message {
    fn from(b: Payload) -> Self {
        Message::Binary(b)
    }
}

/// What one piece handed out by `recv_piece` belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PieceKind {
    /// Part of a text message. Pieces split only where the peer's frames split the
    /// text, so a piece may end inside a code point only when a frame did.
    Text,
    /// Part of a binary message.
    Binary,
    /// A pong (whole).
    Pong,
    /// A received ping (whole; only with
    /// [`Config::deliver_pings`](crate::Config::deliver_pings)), already answered.
    Ping,
    /// The peer's close frame.
    Close(Option<CloseFrame>),
}

/// A piece of a received message: the bytes were put in the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The kind.
    pub kind: PieceKind,
    /// True on the last piece of a message (always true for pings, pongs and closes).
    pub last: bool,
}
