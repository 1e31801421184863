//! The sans-I/O driver shared by the blocking and tokio APIs: it runs the engine's action
//! queues, corks outgoing frames into one write buffer (large payloads are written from
//! where the engine lends them), hands received chunks out as messages or pieces, and
//! keeps the close state. The transports only move bytes: `read_buf`/`read_done` and
//! `write_bufs`/`wrote`.

use crate::message::{CloseFrame, Message, Piece, PieceKind};
use crate::pubsub::PreparedMessage;
use crate::{Error, Result};
use std::collections::VecDeque;
use wspc::{Action, ActionQueue, ActionToken, BufferType, Handle, Role, SendBuffer};

/// A lent send buffer at least this long is written from the engine's memory instead of
/// being copied into the write buffer.
const DIRECT_MIN: usize = 16 << 10;
/// Vectors (message payloads, write buffers) kept per thread for reuse.
const POOL_MAX: usize = 16;
/// Vectors larger than this are freed instead of kept.
const POOL_MAX_CAPACITY: usize = 1 << 20;
/// A message's frame payload with at least this much still to come is read straight into
/// the message vector (no copy out of the engine's receive buffer, larger reads).
const DIRECT_RECV_MIN: u64 = 16 << 10;
/// After a message at least this long, the next message's header is read on its own (at
/// most `HEADER_PEEK` bytes), so that its payload can be read directly from the first byte
/// instead of arriving mostly in the receive buffer with the header.
const LARGE_MESSAGE: usize = 32 << 10;
/// The longest client frame header (2 + 8 length + 4 mask bytes).
const HEADER_PEEK: usize = 14;
/// The message vector grows for a direct read by at least this much (and at most by its
/// length so far, so a peer's announced length never allocates far ahead of its bytes).
const DIRECT_RESERVE_MIN: usize = 64 << 10;

thread_local! {
    /// The vectors connections on this thread are not using: message buffers reclaimed
    /// after a send, and the write buffers of connections waiting for input. Steady traffic
    /// takes and returns them without allocating, while an idle connection holds none.
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty vector from this thread's pool (or a new, unallocated one).
fn pool_take() -> Vec<u8> {
    POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten().unwrap_or_default()
}

/// Keeps `v` (cleared) in this thread's pool if there is room and it is not too large.
fn pool_give(mut v: Vec<u8>) {
    if v.capacity() == 0 || v.capacity() > POOL_MAX_CAPACITY {
        return;
    }
    v.clear();
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(v);
        }
    });
}

/// Makes sure the write buffer has memory (taking a pooled vector) before it is filled.
fn out_ready(out: &mut Vec<u8>) -> &mut Vec<u8> {
    if out.capacity() == 0 {
        *out = pool_take();
    }
    out
}

/// A frame written from memory outside the write buffer, after the buffer's bytes; `pos`
/// bytes of it are written. (Two variants of equal size, so that an idle connection's
/// `Option<Direct>` is no larger than the lent buffer alone made it.)
enum Direct {
    /// A payload the engine lends until its `SendToNetwork` action is completed.
    Engine { ptr: *const u8, len: usize, pos: usize, token: ActionToken, total: usize },
    /// A whole frame shared with other connections ([`PreparedMessage`]), between the
    /// engine's `begin_shared` and `end_shared` (only the tokio API writes them).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Shared { frame: bytes::Bytes, pos: usize },
}

impl Direct {
    /// The bytes still to write.
    fn rest(&self) -> &[u8] {
        match self {
            // SAFETY: the engine lends this buffer until the action is completed, which
            // happens only in `wrote` once every byte went out.
            Direct::Engine { ptr, len, pos, .. } => unsafe { std::slice::from_raw_parts(ptr.add(*pos), len - pos) },
            Direct::Shared { frame, pos } => &frame[*pos..],
        }
    }

    /// `n` more bytes were written (at most `rest().len()`).
    fn advance(&mut self, n: usize) {
        match self {
            Direct::Engine { pos, .. } | Direct::Shared { pos, .. } => *pos += n,
        }
    }
}

enum PendingRead {
    /// Into the engine's receive buffer: lent by a `ReceiveFromNetwork` action (`token`),
    /// or its free space without a queued receive (`Handle::read_space`, `token: None`).
    Engine { token: Option<ActionToken>, ptr: *mut u8, len: usize },
    /// Payload straight into the spare capacity of the message vector (`assembly`), at
    /// most `len` bytes, of which the first `payload` belong to the frame (any more are
    /// the start of what follows it: see `Carry`); `init`: bytes of that spare capacity
    /// known to be initialised.
    Direct { len: usize, payload: usize, init: usize },
}

enum Control {
    Close(Option<(u16, String)>),
    Ping(Vec<u8>),
}

/// What the receive side needs from the transport.
pub(crate) enum RecvStep {
    /// Read into [`Session::read_buf`], then call [`Session::read_done`].
    Read,
    /// Nothing to do on the receive side until the read in flight ends: write the pending
    /// bytes meanwhile.
    Flush,
    /// A whole message.
    Message(Message),
    /// A piece (its bytes are in the caller's buffer).
    Piece(Piece),
}

/// One connection's engine and buffers.
pub(crate) struct Session {
    handle: Handle,
    role: Role,
    out: Vec<u8>,
    out_pos: usize,
    direct: Option<Direct>,
    /// Automatic pongs the receive queue lent while `direct` was being written: they go
    /// after it (whole actions are written in the order they were handed out; a pong may
    /// not land between a frame's header and its payload). Boxed: rarely used, and a
    /// pointer keeps every connection 16 bytes smaller than a `Vec`.
    #[allow(clippy::box_collection)]
    behind_direct: Option<Box<Vec<u8>>>,
    /// Shared bytes lent to the send in progress (see `send_shared`). Not boxed: four
    /// words in every connection, but a large shared send (a broadcast to many peers)
    /// allocates nothing.
    lent: Option<bytes::Bytes>,
    send_busy: bool,
    control: VecDeque<Control>,
    write_limit: usize,
    /// Bytes read past the HTTP head, and how many were handed on: boxed and present only
    /// while some are left (usually never), so a connection carries a pointer for them.
    prefix: Option<Box<(Vec<u8>, usize)>>,
    recv_posted: bool,
    read: Option<PendingRead>,
    cancelling: bool,
    eof: bool,
    assembly: Option<(bool, Vec<u8>)>,
    /// The assembled message ended with a direct read: hand it out.
    assembled: bool,
    /// The last direct read left part of its frame: read the rest directly too, however
    /// short (so the message vector is not grown again for a small tail).
    direct_partial: bool,
    /// The last whole message was large: read the next header on its own.
    expect_large: bool,
    /// An engine read waiting behind direct reads of the current frame's payload.
    deferred: Option<PendingRead>,
    /// Bytes a direct read took past the end of its frame, for the engine first.
    carry: Carry,
    /// Bytes of the message vector (`assembly`) known to be initialised, so that
    /// `read_buf` zeroes each byte of spare capacity at most once: (its address, its
    /// capacity, the count); stale once the vector moved or grew.
    direct_init: (usize, usize, usize),
    /// Boxed, like `write_error`: set at most once, at the end of a connection, and an
    /// idle connection should stay small.
    recv_error: Option<Box<Error>>,
    write_error: Option<Box<Error>>,
    /// Bytes were read since the last call of `take_activity`.
    activity: bool,
}

// SAFETY: the raw pointers are buffers the engine lent (valid until the matching
// completion, wherever the handle lives) and are only used through `&mut self`.
unsafe impl Send for Session {}

impl Session {
    pub(crate) fn new(handle: Handle, prefix: Vec<u8>, write_limit: usize) -> Self {
        Self {
            role: handle.role(),
            handle,
            out: Vec::new(),
            out_pos: 0,
            direct: None,
            behind_direct: None,
            lent: None,
            send_busy: false,
            control: VecDeque::new(),
            write_limit: write_limit.max(1),
            prefix: (!prefix.is_empty()).then(|| Box::new((prefix, 0))),
            recv_posted: false,
            read: None,
            cancelling: false,
            eof: false,
            assembly: None,
            assembled: false,
            direct_partial: false,
            expect_large: false,
            deferred: None,
            carry: Carry::default(),
            direct_init: (0, 0, 0),
            recv_error: None,
            write_error: None,
            activity: false,
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    // ----- sending -------------------------------------------------------------------------

    /// True when a message can be queued without exceeding the write buffer.
    pub(crate) fn can_send(&self) -> bool {
        !self.send_busy && self.control.is_empty() && self.direct.is_none() && self.backlog() < self.write_limit
    }

    /// Bytes waiting to be written.
    pub(crate) fn backlog(&self) -> usize {
        self.out.len() - self.out_pos
            + self.direct.as_ref().map_or(0, |d| d.rest().len())
            + self.behind_direct.as_ref().map_or(0, |b| b.len())
    }

    /// True when the copied frames waiting to be written (automatic pongs and close replies,
    /// small messages; not a large payload written from where the engine lends it) fill the
    /// write buffer's limit: the receive side then stops reading until they are written, so
    /// a peer that sends pings and reads nothing holds at most that much.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn replies_full(&self) -> bool {
        self.out.len() - self.out_pos + self.behind_direct.as_ref().map_or(0, |b| b.len()) >= self.write_limit
    }

    /// True while bytes wait to be written or a send is in progress.
    pub(crate) fn wants_write(&self) -> bool {
        self.out_pos < self.out.len() || self.direct.is_some()
    }

    /// True when nothing is left to write and no send is in progress.
    pub(crate) fn write_idle(&self) -> bool {
        !self.wants_write() && !self.send_busy && self.control.is_empty()
    }

    /// True once a close frame was queued: the engine sent it, or it waits in `control`
    /// (the engine's state is the only record of the close, apart from that queue; nothing
    /// is queued behind a close, so a queued one is the last entry).
    #[inline]
    pub(crate) fn close_sent(&self) -> bool {
        self.handle.is_close_sent() || matches!(self.control.back(), Some(Control::Close(_)))
    }

    /// True once the peer's close frame arrived (the engine's record).
    #[inline]
    pub(crate) fn close_received(&self) -> bool {
        self.handle.is_close_received()
    }

    /// True once a write failed: nothing more can be written.
    pub(crate) fn write_broken(&self) -> bool {
        self.write_error.is_some()
    }

    /// True when the receive side is finished (close received, error or end of stream).
    pub(crate) fn recv_done(&self) -> bool {
        self.close_received() || self.recv_error.is_some()
    }

    /// Bytes were read since the last call.
    #[allow(dead_code)]
    pub(crate) fn take_activity(&mut self) -> bool {
        std::mem::take(&mut self.activity)
    }

    /// Gives back a vector for reuse as a message buffer (to this thread's pool, shared by
    /// the connections on the thread, so an idle connection keeps none).
    pub(crate) fn recycle(&mut self, v: Vec<u8>) {
        pool_give(v);
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        pool_take()
    }

    /// The transport has nothing to read now: gives back what a waiting connection does
    /// not need, so that an idle connection holds no buffer. The engine's receive buffer
    /// goes back to its per-thread pool (withdrawing the read action in flight, unless
    /// bytes of a frame are buffered), and while nothing waits to be written, the engine's
    /// send buffer and the write buffer too. The next [`poll_recv`](Self::poll_recv) takes
    /// a new read, in a pooled buffer: no allocation and no system call added per wake-up.
    /// Call it only when no bytes were put in [`read_buf`](Self::read_buf) since the read
    /// was handed out. (Only the tokio transport waits for readiness; the blocking one
    /// waits inside its read.)
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn park(&mut self) {
        match &self.read {
            // A read into the empty buffer without a queued receive: end it empty, then
            // give the buffer back.
            Some(PendingRead::Engine { token: None, .. }) => {
                self.handle.commit_read(0);
                self.read = None;
                self.handle.receive_half().release_buffer();
            }
            Some(PendingRead::Engine { .. }) if self.handle.receive_half().release_buffer() => self.read = None,
            // A direct read into the message: the engine's buffer (and its read waiting
            // behind, if one was handed out) can go.
            Some(PendingRead::Direct { .. }) if self.handle.receive_half().release_buffer() => self.deferred = None,
            _ => {}
        }
        if self.write_idle() {
            self.handle.send_half().release_buffer();
            pool_give(std::mem::take(&mut self.out));
            self.out_pos = 0;
        }
    }

    /// True while the engine's receive buffer is attached (tests).
    #[cfg(all(test, feature = "tokio"))]
    pub(crate) fn holds_recv_buffer(&mut self) -> bool {
        self.handle.receive_half().holds_buffer()
    }

    /// True while bytes read past the HTTP head are kept (tests).
    #[cfg(all(test, feature = "tokio"))]
    pub(crate) fn holds_prefix(&self) -> bool {
        self.prefix.is_some()
    }

    /// True while the engine's send buffer or the write buffer holds memory (tests).
    #[cfg(all(test, feature = "tokio"))]
    pub(crate) fn holds_send_buffers(&mut self) -> bool {
        self.out.capacity() > 0 || self.handle.send_half().holds_buffer()
    }

    /// Queues one message (the caller checked [`can_send`](Self::can_send), or accepts a
    /// write buffer above its limit).
    pub(crate) fn send(&mut self, msg: Message) -> Result<()> {
        if let Some(e) = &self.write_error {
            return Err(e.duplicate());
        }
        let (ty, data) = match msg {
            Message::Text(s) => (BufferType::Utf8Message, s.into_payload()),
            Message::Binary(b) => (BufferType::BinaryMessage, b),
            Message::Ping(b) => (BufferType::PingPong, b),
            Message::Pong(b) => (BufferType::UnsolicitedPong, b),
            Message::Close(c) => {
                if self.close_sent() {
                    return Ok(());
                }
                self.control.push_back(Control::Close(c.map(|c| (c.code, c.reason))));
                self.pump();
                return Ok(());
            }
        };
        if self.close_sent() && ty.is_data() {
            return Err(Error::InvalidState("a close frame was already sent"));
        }
        match data.vec_or_bytes() {
            Ok(v) => self.send_data(ty, v),
            Err(b) => self.send_shared(ty, b),
        }
    }

    /// [`send_data`](Self::send_data) for shared bytes: encoded straight into the write
    /// buffer when small, else lent to the engine (kept alive in `lent` until the send
    /// completes) and, unmasked, written from where they are.
    fn send_shared(&mut self, ty: BufferType, data: bytes::Bytes) -> Result<()> {
        if data.len() < DIRECT_MIN {
            if !self.send_busy
                && self.control.is_empty()
                && self.direct.is_none()
                && self.write_error.is_none()
                && self.handle.send_now(ty, &data, out_ready(&mut self.out))?
            {
                return Ok(());
            }
            // Queued behind another send: a pooled copy (no allocation in steady traffic).
            let mut v = pool_take();
            v.extend_from_slice(&data);
            return self.send_frame(ty, Some(SendBuffer::Data(v.into())));
        }
        // SAFETY: `data`'s memory does not move or change while `lent` holds it, and
        // `lent` is dropped only when this send's `IndicateSendComplete` was completed
        // (in `pump`), or with the session after the handle.
        let payload = unsafe { wspc::Payload::from_raw(data.as_ptr(), data.len()) };
        let r = self.send_frame(ty, Some(SendBuffer::Data(payload)));
        if r.is_ok() {
            self.lent = Some(data);
        }
        r
    }

    /// Sends a data frame or control frame: small ones are encoded straight into the write
    /// buffer when nothing is queued before them, the rest go through the send queue.
    ///
    /// Always inlined: it is the whole of a plain `send`, and once its other callers
    /// (`send_prepared`, `send_fragment`) are in use the compiler would otherwise keep it a
    /// call on every message (measured: ~25 instructions per echoed message more).
    #[inline(always)]
    fn send_data(&mut self, ty: BufferType, data: Vec<u8>) -> Result<()> {
        if data.len() < DIRECT_MIN
            && !self.send_busy
            && self.control.is_empty()
            && self.direct.is_none()
            && self.write_error.is_none()
        {
            // `false`: the receive side is writing an automatic pong; queue behind it.
            if self.handle.send_now(ty, &data, out_ready(&mut self.out))? {
                self.recycle(data);
                return Ok(());
            }
        }
        self.send_frame(ty, Some(SendBuffer::Data(data.into())))
    }

    /// Queues a prepared message (the caller checked [`can_send`](Self::can_send)): its
    /// shared frame is written as it is when the engine says this connection can take it
    /// (see [`wspc::SharedEncoding`]), otherwise it is sent like any message.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn send_prepared(&mut self, m: &PreparedMessage) -> Result<()> {
        if let Some(e) = &self.write_error {
            return Err(e.duplicate());
        }
        if self.close_sent() {
            return Err(Error::InvalidState("a close frame was already sent"));
        }
        let idle = !self.send_busy && self.control.is_empty() && self.direct.is_none();
        let enc = self.handle.send_half().shared_encoding(m.payload().len());
        if idle {
            if let Some(frame) = m.frame(enc)? {
                if self.handle.send_half().begin_shared()? {
                    self.direct = Some(Direct::Shared { frame, pos: 0 });
                    return Ok(());
                }
            }
        }
        let mut v = self.take_buffer();
        v.extend_from_slice(m.payload());
        self.send_data(m.buffer_type(), v)
    }

    /// Queues one frame of a fragmented message.
    pub(crate) fn send_fragment(&mut self, text: bool, data: Vec<u8>, last: bool) -> Result<()> {
        if self.close_sent() {
            return Err(Error::InvalidState("a close frame was already sent"));
        }
        self.send_data(BufferType::data(text, last), data)
    }

    fn send_frame(&mut self, ty: BufferType, buf: Option<SendBuffer>) -> Result<()> {
        if self.send_busy || !self.control.is_empty() {
            self.pump();
            if self.send_busy || !self.control.is_empty() {
                return Err(Error::InvalidState("a send is still in progress (wait until ready)"));
            }
        }
        self.handle.send(ty, buf, 0)?;
        self.send_busy = true;
        self.pump();
        Ok(())
    }

    /// Queues a ping (keepalive) behind the message in progress.
    pub(crate) fn queue_ping(&mut self, payload: Vec<u8>) {
        if !self.close_sent() {
            self.control.push_back(Control::Ping(payload));
            self.pump();
        }
    }

    /// Queues a close frame behind the message in progress (no-op after one was sent).
    pub(crate) fn queue_close(&mut self, c: Option<(u16, String)>) {
        if !self.close_sent() {
            self.control.push_back(Control::Close(c));
            self.pump();
        }
    }

    fn start_control(&mut self, c: Control) -> wspc::Result<()> {
        match c {
            Control::Ping(p) => self.handle.send(BufferType::PingPong, Some(SendBuffer::Data(p.into())), 0),
            Control::Close(None) => self.handle.send(BufferType::Close, None, 0),
            Control::Close(Some((code, reason))) => {
                let mut reason = reason;
                if reason.len() > wspc::MAX_CLOSE_REASON_LENGTH {
                    let mut n = wspc::MAX_CLOSE_REASON_LENGTH;
                    while !reason.is_char_boundary(n) {
                        n -= 1;
                    }
                    reason.truncate(n);
                }
                let r = self.handle.send(
                    BufferType::Close,
                    Some(SendBuffer::Close { status: code, reason: reason.into_bytes().into() }),
                    0,
                );
                match r {
                    // A status that may not be on the wire: send an empty close instead.
                    Err(wspc::Error::Misuse(wspc::Misuse::InvalidArgument(_))) => {
                        self.handle.send(BufferType::Close, None, 0)
                    }
                    r => r,
                }
            }
        }
    }

    /// Runs the send queue: copies frames into the write buffer, or stops at a large lent
    /// buffer that must be written first.
    fn pump(&mut self) {
        loop {
            if self.direct.is_some() || self.write_error.is_some() {
                return;
            }
            if !self.send_busy {
                let Some(c) = self.control.pop_front() else { return };
                if self.start_control(c).is_err() {
                    continue;
                }
                self.send_busy = true;
            }
            let action = match self.handle.get_action_with_slots(ActionQueue::Send, 2) {
                Ok(a) => a,
                Err(e) => {
                    self.write_error = Some(Box::new(e.into()));
                    return;
                }
            };
            match action {
                Action::SendToNetwork { token, buffers, .. } => {
                    let slices = buffers.as_slices();
                    let total = buffers.len();
                    let (last, head) = slices.split_last().expect("at least one buffer");
                    let out = out_ready(&mut self.out);
                    if last.len() >= DIRECT_MIN {
                        for s in head {
                            out.extend_from_slice(s);
                        }
                        self.direct =
                            Some(Direct::Engine { ptr: last.as_ptr(), len: last.len(), pos: 0, token, total });
                        return;
                    }
                    for s in slices {
                        out.extend_from_slice(s);
                    }
                    self.handle.complete_action(token, total);
                }
                Action::IndicateSendComplete { token, .. } => {
                    if let Some(v) = self.handle.complete_action_reclaim(token, 0).and_then(|p| p.into_vec()) {
                        self.recycle(v);
                    }
                    // One send at a time: shared bytes lent to it are no longer read.
                    self.lent = None;
                    self.send_busy = false;
                }
                Action::NoAction => return,
                _ => unreachable!("the send queue hands out only send actions"),
            }
        }
    }

    /// Queues bytes to be written as they are, before any frame queued after them (the
    /// `101` response of a driver that writes it through the session's own write buffer).
    #[cfg_attr(not(all(feature = "uring", target_os = "linux")), allow(dead_code))]
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) {
        out_ready(&mut self.out).extend_from_slice(bytes);
    }

    /// The bytes to write next, in order.
    pub(crate) fn write_bufs(&self) -> [&[u8]; 2] {
        let a = &self.out[self.out_pos..];
        let b = self.direct.as_ref().map_or(&[][..], Direct::rest);
        [a, b]
    }

    /// `n` bytes of [`write_bufs`](Self::write_bufs) were written.
    pub(crate) fn wrote(&mut self, mut n: usize) {
        let in_out = (self.out.len() - self.out_pos).min(n);
        self.out_pos += in_out;
        n -= in_out;
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        if let Some(d) = self.direct.as_mut() {
            d.advance(n.min(d.rest().len()));
            if d.rest().is_empty() {
                let d = self.direct.take().expect("checked");
                if let Some(pongs) = self.behind_direct.take() {
                    out_ready(&mut self.out).extend_from_slice(&pongs);
                }
                match d {
                    Direct::Engine { token, total, .. } => self.handle.complete_action(token, total),
                    Direct::Shared { .. } => self.handle.send_half().end_shared(true),
                }
                self.pump();
            }
        } else {
            debug_assert_eq!(n, 0);
        }
    }

    /// The transport failed while writing: nothing more can be sent.
    pub(crate) fn write_failed(&mut self, e: &Error) {
        tracing::trace!(role = ?self.role, error = %e, "write failed");
        if self.write_error.is_none() {
            self.write_error = Some(Box::new(e.duplicate()));
        }
        self.handle.abort();
    }

    // ----- receiving -----------------------------------------------------------------------

    /// The buffer to read into (only after [`RecvStep::Read`]), initialised (a direct
    /// read zeroes the part of the message vector's spare capacity not yet initialised).
    pub(crate) fn read_buf(&mut self) -> &mut [u8] {
        match self.read.as_mut().expect("a read is pending") {
            PendingRead::Engine { ptr, len, .. } => {
                // SAFETY: the engine lent `ptr..ptr+len` for this receive action and keeps
                // it valid until the action is completed in `read_done`; `&mut self` makes
                // this the only borrow of it.
                unsafe { std::slice::from_raw_parts_mut(*ptr, *len) }
            }
            PendingRead::Direct { len, init, .. } => {
                let (_, v) = self.assembly.as_mut().expect("a direct read fills the message");
                self.direct_init = (v.as_ptr() as usize, v.capacity(), v.len() + *len);
                let spare = &mut v.spare_capacity_mut()[..*len];
                spare[*init..].fill(std::mem::MaybeUninit::new(0));
                *init = *len;
                // SAFETY: every byte of `spare` is initialised: the first `init` were zeroed
                // by an earlier call on this same allocation (`direct_init` is dropped when
                // the vector moves, grows or is handed out), the rest just now;
                // `MaybeUninit<u8>` has `u8`'s layout.
                unsafe { &mut *(spare as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) }
            }
        }
    }

    /// The buffer to read into (only after [`RecvStep::Read`]), possibly uninitialised;
    /// the reader must initialise the bytes it reports to [`read_done`](Self::read_done).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn read_buf_uninit(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        match self.read.as_mut().expect("a read is pending") {
            PendingRead::Engine { ptr, len, .. } => {
                // SAFETY: as in `read_buf`; the memory is initialised, and readers only
                // write initialised bytes into it.
                unsafe { std::slice::from_raw_parts_mut(*ptr as *mut std::mem::MaybeUninit<u8>, *len) }
            }
            PendingRead::Direct { len, .. } => {
                let (_, v) = self.assembly.as_mut().expect("a direct read fills the message");
                &mut v.spare_capacity_mut()[..*len]
            }
        }
    }

    /// `n` bytes were read into [`read_buf`](Self::read_buf) (or written and initialised
    /// in [`read_buf_uninit`](Self::read_buf_uninit)); 0 is the end of the stream.
    pub(crate) fn read_done(&mut self, n: usize) {
        let r = self.read.take().expect("a read is pending");
        if n == 0 {
            self.eof = true;
        } else {
            self.activity = true;
        }
        match r {
            PendingRead::Engine { token: None, .. } => {
                self.handle.commit_read(n);
                if n == 0 {
                    self.recv_error = Some(Box::new(Error::ConnectionReset));
                }
            }
            PendingRead::Engine { token: Some(token), len, .. } => {
                if n == 0 {
                    self.cancelling = true;
                }
                self.handle.complete_action(token, n.min(len));
            }
            PendingRead::Direct { len, payload, .. } => {
                if n == 0 {
                    // The stream ended inside a frame: as when the engine's read gets 0.
                    self.recv_error = Some(Box::new(Error::ConnectionReset));
                    return;
                }
                let (_, v) = self.assembly.as_mut().expect("a direct read fills the message");
                let at = v.len();
                let n = n.min(len);
                // SAFETY: the reader initialised the first `n <= len` bytes of the spare
                // capacity (`read_buf` zeroed them, or `read_buf_uninit`'s reader wrote them).
                unsafe { v.set_len(at + n) };
                if n > payload {
                    // The frame's end and the start of what follows: that part goes to the
                    // engine before anything else is read.
                    self.carry.put(&v[at + payload..]);
                    v.truncate(at + payload);
                }
                self.direct_partial = false;
                match self.handle.complete_direct(&mut v[at..]) {
                    Ok(wspc::DirectStatus::MessageEnd) => self.assembled = true,
                    Ok(wspc::DirectStatus::Partial { .. }) => self.direct_partial = true,
                    Ok(wspc::DirectStatus::FrameEnd) => {}
                    Err(e) => {
                        let _ = self.fail_recv(e);
                    }
                }
            }
        }
    }

    /// The transport failed while reading.
    pub(crate) fn read_failed(&mut self, e: Error) {
        for r in [self.read.take(), self.deferred.take()] {
            match r {
                Some(PendingRead::Engine { token: Some(token), .. }) => {
                    self.cancelling = true;
                    self.handle.complete_action(token, 0);
                }
                Some(PendingRead::Engine { token: None, .. }) => self.handle.commit_read(0),
                _ => {}
            }
        }
        if self.recv_error.is_none() {
            self.recv_error = Some(Box::new(e));
        }
    }

    fn fail_recv(&mut self, e: wspc::Error) -> Error {
        // Protocol violations and limits hit (1009: message, frame or fragment count).
        tracing::debug!(role = ?self.role, close_code = e.close_code(), error = %e, "connection failed");
        if let Some(code) = e.close_code() {
            if !self.close_sent() {
                self.control.push_back(Control::Close(Some((code, String::new()))));
                self.pump();
            }
        }
        let err = Error::Ws(e);
        self.recv_error = Some(Box::new(err.duplicate()));
        err
    }

    /// Advances the receive side. `piece`: hand out pieces into this buffer instead of
    /// whole messages.
    pub(crate) fn poll_recv(&mut self, mut piece: Option<&mut Vec<u8>>) -> Result<RecvStep> {
        loop {
            if let Some(e) = &self.recv_error {
                return Err(e.duplicate());
            }
            if self.close_received() {
                return Err(Error::ConnectionClosed);
            }
            if self.handle.is_aborted() {
                // A write failed: the engine cancels the receive; report the failure.
                let e = match &self.write_error {
                    Some(e) => e.duplicate(),
                    None => Error::ConnectionReset,
                };
                self.recv_error = Some(Box::new(e.duplicate()));
                return Err(e);
            }
            if self.read.is_some() {
                return Ok(RecvStep::Read);
            }
            if self.assembled {
                self.assembled = false;
                let (text, buf) = self.assembly.take().expect("assembled");
                return Ok(RecvStep::Message(self.message_of(text, buf)?));
            }
            if piece.is_none() && !self.has_early_bytes() && self.start_direct() {
                return Ok(RecvStep::Read);
            }
            if let Some(mut r) = self.deferred.take() {
                if let PendingRead::Engine { token: Some(token), ptr, len } = r {
                    if self.has_early_bytes() {
                        // SAFETY: the engine lent `ptr..ptr + len` with this read and keeps it
                        // valid until the read is completed, just below; `&mut self` makes
                        // this the only borrow of it.
                        let buf = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
                        let n = take_early(&mut self.carry, &mut self.prefix, buf).expect("checked");
                        self.handle.complete_action(token, n);
                        continue;
                    }
                }
                self.peek_header(&mut r, piece.is_none());
                self.read = Some(r);
                return Ok(RecvStep::Read);
            }
            if piece.is_none() && !self.recv_posted && self.assembly.is_none() {
                // A whole small message already in the buffer: taken in one step (a pooled
                // vector is taken only when there are bytes to look at).
                if self.handle.receive_half().buffered() != 0 {
                    let mut v = self.take_buffer();
                    match self.handle.receive_now(&mut v) {
                        Some(ty) => return Ok(RecvStep::Message(self.message_of(ty.is_text(), v)?)),
                        None => self.recycle(v),
                    }
                }
                // Nothing whole buffered: read more before queuing a receive, so that the
                // next message can be taken whole too.
                if let Some(space) = self.handle.read_space() {
                    if let Some(n) = take_early(&mut self.carry, &mut self.prefix, space) {
                        self.handle.commit_read(n);
                        continue;
                    }
                    let mut r = PendingRead::Engine { token: None, ptr: space.as_mut_ptr(), len: space.len() };
                    self.peek_header(&mut r, true);
                    self.read = Some(r);
                    return Ok(RecvStep::Read);
                }
            }
            if !self.recv_posted {
                if let Err(e) = self.handle.receive(0) {
                    let err = Error::Ws(e);
                    self.recv_error = Some(Box::new(err.duplicate()));
                    return Err(err);
                }
                self.recv_posted = true;
            }
            let action = match self.handle.get_action(ActionQueue::Receive) {
                Ok(a) => a,
                Err(e) => return Err(self.fail_recv(e)),
            };
            match action {
                Action::ReceiveFromNetwork { token, buffer, .. } => {
                    if let Some(n) = take_early(&mut self.carry, &mut self.prefix, buffer) {
                        self.handle.complete_action(token, n);
                        continue;
                    }
                    // Deferred: a direct read of the frame's payload may go first (the engine
                    // keeps the read outstanding meanwhile).
                    self.deferred =
                        Some(PendingRead::Engine { token: Some(token), ptr: buffer.as_mut_ptr(), len: buffer.len() });
                    continue;
                }
                Action::SendToNetwork { token, buffers, .. } => {
                    let out = match self.direct {
                        Some(_) => &mut **self.behind_direct.get_or_insert_with(Default::default),
                        None => out_ready(&mut self.out),
                    };
                    for s in buffers.as_slices() {
                        out.extend_from_slice(s);
                    }
                    let n = buffers.len();
                    self.handle.complete_action(token, n);
                }
                Action::NoAction => return Ok(RecvStep::Flush),
                Action::IndicateSendComplete { .. } => unreachable!("the receive queue hands out no send completions"),
                Action::IndicateReceiveComplete { token, buffer_type, data, close_status, ping, .. } => {
                    if self.cancelling {
                        self.cancelling = false;
                        self.handle.complete_action(token, 0);
                        self.recv_posted = false;
                        let e = if self.eof { Error::ConnectionReset } else { Error::ConnectionClosed };
                        self.recv_error = Some(Box::new(e.duplicate()));
                        return Err(e);
                    }
                    match buffer_type {
                        BufferType::Close => {
                            let status = close_status.unwrap_or(wspc::close_status::EMPTY);
                            let frame = (status != wspc::close_status::EMPTY).then(|| CloseFrame {
                                code: status,
                                reason: String::from_utf8_lossy(data).into_owned(),
                            });
                            tracing::debug!(role = ?self.role, code = status, "close frame received");
                            self.handle.complete_action(token, 0);
                            self.recv_posted = false;
                            if !self.close_sent() {
                                self.control
                                    .push_back(Control::Close(frame.as_ref().map(|f| (f.code, f.reason.clone()))));
                                self.pump();
                            }
                            return Ok(match piece {
                                Some(buf) => {
                                    buf.clear();
                                    buf.extend_from_slice(data_of(&frame));
                                    RecvStep::Piece(Piece { kind: PieceKind::Close(frame), last: true })
                                }
                                None => RecvStep::Message(Message::Close(frame)),
                            });
                        }
                        BufferType::PingPong => {
                            // A pong, or (with `Config::deliver_pings`) a ping the engine
                            // already answered. The payload goes in a pooled vector.
                            let step = match piece.as_deref_mut() {
                                Some(buf) => {
                                    buf.clear();
                                    buf.extend_from_slice(data);
                                    let kind = if ping { PieceKind::Ping } else { PieceKind::Pong };
                                    RecvStep::Piece(Piece { kind, last: true })
                                }
                                None => {
                                    let mut v = pool_take();
                                    v.extend_from_slice(data);
                                    RecvStep::Message(if ping {
                                        Message::Ping(v.into())
                                    } else {
                                        Message::Pong(v.into())
                                    })
                                }
                            };
                            self.handle.complete_action(token, 0);
                            self.recv_posted = false;
                            return Ok(step);
                        }
                        ty => {
                            let text = ty.is_text();
                            let last = ty.is_message_end();
                            if let Some(buf) = piece.as_deref_mut() {
                                buf.clear();
                                buf.extend_from_slice(data);
                                self.handle.complete_action(token, 0);
                                self.recv_posted = false;
                                let kind = if text { PieceKind::Text } else { PieceKind::Binary };
                                return Ok(RecvStep::Piece(Piece { kind, last }));
                            }
                            let (_, buf) = match &mut self.assembly {
                                Some(a) => a,
                                slot => {
                                    let v = pool_take();
                                    slot.insert((text, v))
                                }
                            };
                            buf.extend_from_slice(data);
                            self.handle.complete_action(token, 0);
                            self.recv_posted = false;
                            if !last {
                                continue;
                            }
                            let (_, buf) = self.assembly.take().expect("assembling");
                            return Ok(RecvStep::Message(self.message_of(text, buf)?));
                        }
                    }
                }
            }
        }
    }

    /// True while bytes already read from the stream wait to be handed to the engine (past
    /// the HTTP head, or past a frame a direct read ended): they go before any read.
    fn has_early_bytes(&self) -> bool {
        !self.carry.is_empty() || self.prefix.is_some()
    }

    /// Sets up a direct read of a large frame payload into the message being assembled, if
    /// the engine allows one. The vector grows in bounded, geometric steps: by at least
    /// `DIRECT_RESERVE_MIN`, by at most its length so far, and never past the frame.
    fn start_direct(&mut self) -> bool {
        let Some(d) = self.handle.direct_payload() else { return false };
        if d.remaining < DIRECT_RECV_MIN && !self.direct_partial {
            return false;
        }
        if self.assembly.is_none() {
            let v = self.take_buffer();
            self.assembly = Some((d.text, v));
        }
        let (_, v) = self.assembly.as_mut().expect("set above");
        let remaining = usize::try_from(d.remaining).unwrap_or(usize::MAX);
        let spare = v.capacity() - v.len();
        if spare < remaining.min(DIRECT_RECV_MIN as usize) {
            let step = remaining.min(v.len().max(DIRECT_RESERVE_MIN));
            // Room for what follows the frame too when this step ends it (see below).
            v.reserve_exact(if step == remaining { step + HEADER_PEEK } else { step });
        }
        let spare = v.capacity() - v.len();
        // When the frame's rest fits with room to spare, the read may also take up to the
        // longest frame header after it: the next header then needs no read of its own, and
        // when nothing follows yet the read comes back short, which tells the runtime the
        // socket is drained (no read that finds nothing before waiting).
        let len =
            if spare >= remaining.saturating_add(HEADER_PEEK) { remaining + HEADER_PEEK } else { remaining.min(spare) };
        let (at, cap, upto) = self.direct_init;
        let init =
            if (at, cap) == (v.as_ptr() as usize, v.capacity()) { upto.saturating_sub(v.len()).min(len) } else { 0 };
        self.read = Some(PendingRead::Direct { len, payload: remaining.min(len), init });
        true
    }

    /// The assembled message; text was validated by the engine as it arrived (checked here
    /// only if the engine does not verify UTF-8).
    fn message_of(&mut self, text: bool, buf: Vec<u8>) -> Result<Message> {
        self.expect_large = buf.len() >= LARGE_MESSAGE;
        self.direct_init = (0, 0, 0);
        if !text {
            return Ok(Message::Binary(buf.into()));
        }
        if !self.handle.receive_half().verifies_utf8() {
            return match String::from_utf8(buf) {
                Ok(s) => Ok(Message::Text(s.into())),
                Err(_) => Err(self.fail_recv(wspc::Error::Protocol(wspc::ProtocolError::InvalidUtf8))),
            };
        }
        debug_assert!(std::str::from_utf8(&buf).is_ok());
        // This engine verifies UTF-8: it validated every byte of this text as it arrived (in
        // chunks, in `receive_now` and in direct reads alike) and fails the connection on
        // invalid bytes.
        Ok(Message::Text(crate::Utf8Payload::from_vec_unchecked(buf)))
    }

    /// After a large message, limits an engine read outside a frame to the longest frame
    /// header, so that the next large payload can be read directly from its first byte.
    fn peek_header(&mut self, r: &mut PendingRead, whole_messages: bool) {
        if let PendingRead::Engine { len, .. } = r {
            if self.expect_large && whole_messages && !self.handle.receive_half().in_frame() {
                *len = (*len).min(HEADER_PEEK);
            }
        }
    }

    /// A fresh message buffer (from the pool when possible).
    #[allow(dead_code)]
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.take_buffer()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("close_sent", &self.close_sent())
            .field("close_received", &self.close_received())
            .field("backlog", &self.backlog())
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The write buffer is worth keeping for the next connection on this thread.
        pool_give(std::mem::take(&mut self.out));
    }
}

/// Bytes a direct read took past the end of its frame (at most the longest frame header):
/// the start of what follows, handed to the engine before anything else is read. Inline,
/// so that taking them along costs no allocation.
#[derive(Default)]
struct Carry {
    bytes: [u8; HEADER_PEEK],
    len: u8,
    pos: u8,
}

impl Carry {
    fn is_empty(&self) -> bool {
        self.pos == self.len
    }

    /// Keeps `b` (at most `HEADER_PEEK` bytes; only when empty).
    fn put(&mut self, b: &[u8]) {
        debug_assert!(self.is_empty() && b.len() <= HEADER_PEEK);
        self.bytes[..b.len()].copy_from_slice(b);
        (self.len, self.pos) = (b.len() as u8, 0);
    }

    /// Copies the next kept bytes into `dst`; `None` when none are left.
    fn take(&mut self, dst: &mut [u8]) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        let from = &self.bytes[self.pos as usize..self.len as usize];
        let n = from.len().min(dst.len());
        dst[..n].copy_from_slice(&from[..n]);
        self.pos += n as u8;
        Some(n)
    }
}

/// Copies the next bytes already read from the stream into `dst`: those a direct read took
/// past its frame, then those read past the HTTP head. `None` when none are left.
fn take_early(carry: &mut Carry, prefix: &mut Option<Box<(Vec<u8>, usize)>>, dst: &mut [u8]) -> Option<usize> {
    carry.take(dst).or_else(|| take_prefix(prefix, dst))
}

/// Copies the next bytes read past the HTTP head (`prefix` from `pos`) into `dst`; frees
/// the prefix once all of it was handed over. `None` when none are left.
fn take_prefix(prefix: &mut Option<Box<(Vec<u8>, usize)>>, dst: &mut [u8]) -> Option<usize> {
    let (bytes, pos) = &mut **prefix.as_mut()?;
    let n = (bytes.len() - *pos).min(dst.len());
    dst[..n].copy_from_slice(&bytes[*pos..*pos + n]);
    *pos += n;
    if *pos == bytes.len() {
        *prefix = None;
    }
    Some(n)
}

fn data_of(frame: &Option<CloseFrame>) -> &[u8] {
    frame.as_ref().map_or(&[], |f| f.reason.as_bytes())
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn rarely_used_state_is_boxed() {
        // The end-of-connection errors are a pointer each in every connection; unboxed
        // they added 64 bytes to each.
        assert_eq!(size_of::<Option<Box<Error>>>(), size_of::<usize>());
        // The bytes read past the HTTP head: a pointer, and none while there are none.
        assert_eq!(size_of::<Option<Box<(Vec<u8>, usize)>>>(), size_of::<usize>());
        // (+16 for the inline `Carry`: 14 bytes taken past a frame, kept without allocating;
        // +32 for the `Bytes` lent to a large shared send, kept without allocating; +8 for
        // the automatic pongs that wait behind a lent payload, boxed.)
        let (s, h) = (size_of::<Session>(), size_of::<Handle>());
        assert!(s <= h + 336, "Session is {s} bytes, the engine's handle {h}");
    }
}
