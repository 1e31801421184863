//! Actions: what `get_action` asks the application to do, with the buffers it lends.

use crate::types::{ActionKind, BufferType};

/// Identifies one action for [`complete_action`](crate::Handle::complete_action). Completing
/// a token twice, or the token of a `NoAction`, does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ActionToken {
    pub(crate) queue: u8,
    pub(crate) seq: u32,
}

impl ActionToken {
    /// The token of a `NoAction` (completing it is a no-op).
    pub const NONE: ActionToken = ActionToken { queue: 0, seq: 0 };

    /// The queue this token belongs to (`None` for [`ActionToken::NONE`]).
    pub fn queue(&self) -> Option<crate::ActionQueue> {
        match self.queue {
            1 => Some(crate::ActionQueue::Send),
            2 => Some(crate::ActionQueue::Receive),
            _ => None,
        }
    }

    /// A non-zero integer for C callers (`NONE` is 0).
    pub fn to_raw(self) -> u64 {
        if self.queue == 0 {
            0
        } else {
            (u64::from(self.seq) << 2) | u64::from(self.queue)
        }
    }

    /// The inverse of [`to_raw`](Self::to_raw). Unknown values give a token that no action
    /// matches, so completing it does nothing.
    pub fn from_raw(raw: u64) -> Self {
        Self { queue: (raw & 3) as u8, seq: (raw >> 2) as u32 }
    }
}

/// The frame bytes of a `SendToNetwork` action: one or two buffers to write in order.
#[derive(Clone, Copy, Debug)]
pub struct SendBuffers<'a> {
    pub(crate) bufs: [&'a [u8]; 2],
    pub(crate) count: usize,
}

impl<'a> SendBuffers<'a> {
    /// The buffers, in wire order.
    pub fn as_slices(&self) -> &[&'a [u8]] {
        &self.bufs[..self.count]
    }

    /// Total bytes to write.
    pub fn len(&self) -> usize {
        self.as_slices().iter().map(|b| b.len()).sum()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the application must do next. Every action except `NoAction` must be answered
/// with exactly one `complete_action(token, bytes)` before the same queue hands out another;
/// lent buffers are valid until then.
#[derive(Debug)]
pub enum Action<'a> {
    /// Nothing may be done on the selected queue(s) now: no work is queued, the queue's
    /// previous action is outstanding, or (send queue only) the receive queue has an
    /// automatic pong out. The receive queue never says it while a receive is queued and
    /// none of its actions is outstanding (unless aborted), so a caller may take it as
    /// "the receive is finished", as .NET does.
    NoAction,
    /// Write `buffers` to the transport in order, then complete with the byte count. A
    /// short count cancels the send (the next action is `IndicateSendComplete`). Callers
    /// that pump the two queues from two threads write whole actions one at a time (one
    /// write lock): an automatic pong (`context: None`, on either queue) may be handed out
    /// while the other queue's one-action frame is still being written.
    SendToNetwork {
        /// For `complete_action`.
        token: ActionToken,
        /// The frame's type.
        buffer_type: BufferType,
        /// The send's context; `None` for an automatic pong.
        context: Option<usize>,
        /// The bytes.
        buffers: SendBuffers<'a>,
    },
    /// A send finished (or was cancelled); its payload is no longer borrowed.
    IndicateSendComplete {
        /// For `complete_action`.
        token: ActionToken,
        /// The send's type.
        buffer_type: BufferType,
        /// The send's context.
        context: usize,
        /// The send's payload (the close reason for a close).
        payload: &'a [u8],
        /// The status of a close send.
        close_status: Option<u16>,
    },
    /// Read from the transport into `buffer` and complete with the count; 0 cancels the
    /// receive (the next action is an empty `IndicateReceiveComplete`).
    ReceiveFromNetwork {
        /// For `complete_action`.
        token: ActionToken,
        /// The receive's context.
        context: usize,
        /// Where to read to (partial fills are fine).
        buffer: &'a mut [u8],
    },
    /// A receive finished: copy out `data` before completing.
    IndicateReceiveComplete {
        /// For `complete_action`.
        token: ActionToken,
        /// Data chunk type, `Close`, or `PingPong` (a pong arrived, or a ping when `ping`).
        buffer_type: BufferType,
        /// The receive's context.
        context: usize,
        /// The chunk (the close reason for `Close`; the payload for a pong or a ping).
        data: &'a [u8],
        /// For `Close`: the status (1005 when the frame had none).
        close_status: Option<u16>,
        /// Rust-only: the `PingPong` chunk is a received ping, already answered by the
        /// automatic pong (only with [`Config::deliver_pings`](crate::Config::deliver_pings);
        /// always false otherwise).
        ping: bool,
    },
}

impl Action<'_> {
    /// The Windows action value.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::NoAction => ActionKind::NoAction,
            Action::SendToNetwork { .. } => ActionKind::SendToNetwork,
            Action::IndicateSendComplete { .. } => ActionKind::IndicateSendComplete,
            Action::ReceiveFromNetwork { .. } => ActionKind::ReceiveFromNetwork,
            Action::IndicateReceiveComplete { .. } => ActionKind::IndicateReceiveComplete,
        }
    }

    /// The token to complete this action with.
    pub fn token(&self) -> ActionToken {
        match self {
            Action::NoAction => ActionToken::NONE,
            Action::SendToNetwork { token, .. }
            | Action::IndicateSendComplete { token, .. }
            | Action::ReceiveFromNetwork { token, .. }
            | Action::IndicateReceiveComplete { token, .. } => *token,
        }
    }
}

/// The payload of a send, borrowed by the engine until `IndicateSendComplete`.
pub struct Payload {
    pub(crate) inner: PayloadInner,
}

pub(crate) enum PayloadInner {
    Owned(Vec<u8>),
    Static(&'static [u8]),
    Raw(*const u8, usize),
}

impl Payload {
    /// No payload.
    pub const EMPTY: Payload = Payload { inner: PayloadInner::Static(&[]) };

    /// Caller memory, lent back out without copying where no masking is needed.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid and unchanged until the send's `IndicateSendComplete`
    /// has been completed (or the handle is dropped).
    pub unsafe fn from_raw(ptr: *const u8, len: usize) -> Self {
        if len == 0 {
            return Self::EMPTY;
        }
        Self { inner: PayloadInner::Raw(ptr, len) }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.inner {
            PayloadInner::Owned(v) => v,
            PayloadInner::Static(s) => s,
            // SAFETY: `from_raw`'s contract keeps the memory valid and unchanged until the
            // send completes, and the engine drops the payload at that point.
            PayloadInner::Raw(p, n) => unsafe { std::slice::from_raw_parts(*p, *n) },
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back an owned payload's vector (to reuse its allocation).
    pub fn into_vec(self) -> Option<Vec<u8>> {
        match self.inner {
            PayloadInner::Owned(v) => Some(v),
            _ => None,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload { inner: PayloadInner::Owned(v) }
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload { inner: PayloadInner::Owned(s.into_bytes()) }
    }
}

impl From<&'static [u8]> for Payload {
    fn from(s: &'static [u8]) -> Self {
        Payload { inner: PayloadInner::Static(s) }
    }
}

impl From<&'static str> for Payload {
    fn from(s: &'static str) -> Self {
        Payload { inner: PayloadInner::Static(s.as_bytes()) }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.len())
    }
}

// SAFETY: `Raw` comes only from the unsafe `from_raw`, whose caller guarantees the memory
// stays valid and unchanged while the engine holds it, whichever thread the engine runs on.
unsafe impl Send for Payload {}
