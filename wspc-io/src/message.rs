//! Messages as the application sees them.

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
/// Received: `Text`, `Binary`, `Pong` (pings are answered by the engine and not
/// shown) and `Close` (the peer's close frame; `None` when it had no status). Sent: all
/// five; `Ping`/`Pong` payloads are at most 125 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (send only: received pings are answered automatically).
    Ping(Vec<u8>),
    /// A pong: received (solicited or not) or sent unsolicited.
    Pong(Vec<u8>),
    /// A close frame.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<String>) -> Self {
        Message::Text(s.into())
    }
    /// A binary message.
    pub fn binary(b: impl Into<Vec<u8>>) -> Self {
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
        Message::Text(s)
    }
}
impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_owned())
    }
}
impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
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
    /// The peer's close frame.
    Close(Option<CloseFrame>),
}

/// A piece of a received message: the bytes were put in the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The kind.
    pub kind: PieceKind,
    /// True on the last piece of a message (always true for pongs and closes).
    pub last: bool,
}
