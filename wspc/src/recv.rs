//! The receive queue: asks for network bytes while a receive is posted, parses frames,
//! answers pings, and hands data out in chunks no larger than the receive buffer.

use crate::action::{Action, ActionToken};
use crate::codec::frame::{parse_header, OpCode};
use crate::codec::mask::{apply_mask, extend_masked};
use crate::codec::unmask_and_validate;
use crate::codec::utf8::Utf8Validator;
use crate::config::Role;
use crate::error::{Misuse, ProtocolError, Result};
use crate::region::{write_pong, MaskKeys, Region, Shared, MAX_PONG_FRAME, WIRE_RECV};
use crate::types::{close_status, BufferType};
use std::sync::Arc;

pub(crate) const QUEUE_RECV: u8 = 2;

/// The frame whose payload is being delivered.
struct Frame {
    fin: bool,
    remaining: u64,
    mask: Option<[u8; 4]>,
    /// Payload bytes unmasked so far (for the mask offset).
    unmasked: u64,
    /// Bytes after `start` that belong to this frame and are already unmasked and validated.
    ready: usize,
}

/// What [`ReceiveHalf::direct_payload`] reports about the current frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectPayload {
    /// Payload bytes of the frame not received yet.
    pub remaining: u64,
    /// The message is text (its bytes are validated as UTF-8 as they are completed).
    pub text: bool,
    /// The frame is the last of its message.
    pub last: bool,
}

/// Where a message stands after [`ReceiveHalf::complete_direct`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectStatus {
    /// The frame's payload continues: this many bytes are still to come.
    Partial {
        /// Payload bytes of the frame not received yet.
        remaining: u64,
    },
    /// The frame is complete; its message continues in later frames.
    FrameEnd,
    /// The frame and its message are complete.
    MessageEnd,
}

/// Unmasks `bytes` (at payload position `offset`, if the frame is masked) and, if `utf8` is
/// given, validates them in the codec's fused pass; false when they are not UTF-8.
#[inline]
fn unmask_validate(bytes: &mut [u8], mask: Option<[u8; 4]>, offset: u64, utf8: Option<&mut Utf8Validator>) -> bool {
    let (key, offset) = (mask.unwrap_or([0; 4]), (offset % 4) as usize);
    match utf8 {
        Some(v) => unmask_and_validate(bytes, key, offset, v).is_ok(),
        None => {
            apply_mask(bytes, key, offset);
            true
        }
    }
}

/// The message whose frames are arriving.
struct Message {
    text: bool,
    compressed: bool,
    size: u64,
    frames: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Buffer,
    Target,
    #[cfg(feature = "deflate")]
    Inflate,
}

#[derive(Clone, Copy)]
enum InFlight {
    Read {
        at: usize,
        len: usize,
    },
    /// A read into the buffer's free space without a queued receive ([`ReceiveHalf::read_space`]).
    Fill {
        at: usize,
        len: usize,
    },
    Pong {
        len: usize,
    },
    Deliver {
        consume: usize,
        close: bool,
        ends_frame: bool,
    },
}

/// One chunk ready to hand out.
#[derive(Clone, Copy)]
struct Delivery {
    source: Source,
    start: usize,
    len: usize,
    ty: BufferType,
    close_status: Option<u16>,
    /// A received ping handed out (`Config::deliver_pings`).
    ping: bool,
    /// Receive-buffer bytes consumed when the chunk is completed.
    consume: usize,
    ends_frame: bool,
}

enum Step {
    Deliver(Delivery),
    Pong,
    NeedData,
    Again,
}

struct Pending {
    context: usize,
    target: Option<(*mut u8, usize)>,
}

/// The receive half of a handle: owns the receive buffer, the pong buffer and the
/// decompressor. Use it from one thread while a [`SendHalf`](crate::SendHalf) is used from
/// another.
pub struct ReceiveHalf {
    pub(crate) shared: Arc<Shared>,
    role: Role,
    accept_unmasked: bool,
    zero_mask: bool,
    verify_utf8: bool,
    /// The limits, `u64::MAX` for none (no length or count can exceed it): a word each
    /// instead of an `Option`'s two.
    max_message: u64,
    max_frame: u64,
    max_fragments: u64,
    /// `[0, cap)` receive buffer, `[cap, cap + 144)` the pong frame.
    buf: Region,
    cap: usize,
    start: usize,
    end: usize,
    keys: MaskKeys,
    seq: u32,
    op: Option<Pending>,
    in_flight: Option<InFlight>,
    cancel: bool,
    frame: Option<Frame>,
    message: Option<Message>,
    utf8: Utf8Validator,
    failed: Option<ProtocolError>,
    close_received: bool,
    /// `Config::deliver_pings`.
    deliver_pings: bool,
    /// A received ping whose pong was queued and which is handed out next: its header and
    /// payload lengths, the frame (already unmasked) still at `start`.
    ping_due: Option<(u8, u8)>,
    #[cfg(feature = "deflate")]
    /// Boxed: most connections do not compress, and an idle one should stay small.
    pub(crate) inflate: Option<Box<crate::deflate::Decompressor>>,
}

// SAFETY: the only non-Send field is `Pending::target`, caller memory handed over by the
// unsafe `receive_into`, whose contract keeps it valid until the receive completes.
unsafe impl Send for ReceiveHalf {}

pub(crate) struct RecvLimits {
    pub(crate) verify_utf8: bool,
    pub(crate) disable_masking: bool,
    pub(crate) max_message: Option<u64>,
    pub(crate) max_frame: Option<u64>,
    pub(crate) max_fragments: Option<u64>,
    pub(crate) deliver_pings: bool,
}

impl ReceiveHalf {
    pub(crate) fn new(shared: Arc<Shared>, role: Role, limits: RecvLimits, buf: Region, cap: usize) -> Self {
        Self {
            shared,
            role,
            accept_unmasked: role == Role::Server && limits.disable_masking,
            zero_mask: limits.disable_masking,
            verify_utf8: limits.verify_utf8,
            max_message: limits.max_message.unwrap_or(u64::MAX),
            max_frame: limits.max_frame.unwrap_or(u64::MAX),
            max_fragments: limits.max_fragments.unwrap_or(u64::MAX),
            buf,
            cap,
            start: 0,
            end: 0,
            keys: MaskKeys::new(),
            seq: 0,
            op: None,
            in_flight: None,
            cancel: false,
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            failed: None,
            close_received: false,
            deliver_pings: limits.deliver_pings,
            ping_due: None,
            #[cfg(feature = "deflate")]
            inflate: None,
        }
    }

    /// True while a receive is queued and not yet completed.
    pub fn is_pending(&self) -> bool {
        self.op.is_some()
    }

    /// True once a close frame was received (and its receive completed).
    pub fn is_close_received(&self) -> bool {
        self.close_received
    }

    /// The protocol error that failed this side, if any.
    pub fn error(&self) -> Option<ProtocolError> {
        self.failed
    }

    /// True once the send half queued a close frame.
    pub fn is_close_sent(&self) -> bool {
        self.shared.is_close_sent()
    }

    /// Gives the receive buffer back while this side is idle (nothing buffered, no pong
    /// waiting, no receive being handed out), so a connection that waits for data holds no
    /// buffer. The buffer returns (from a per-thread pool of idle buffers, so without
    /// allocating in steady state) when the next receive needs it. Returns whether memory
    /// was released (and so whether a read in flight was withdrawn); does nothing (and returns `false`) with a caller-allocated buffer
    /// ([`Config::allocated_buffer`](crate::Config::allocated_buffer)).
    ///
    /// Call it when the transport has no bytes for the engine. A `ReceiveFromNetwork` that
    /// is in flight with nothing buffered is **withdrawn**: its buffer must not be touched
    /// any more, its token becomes stale (a later `complete_action` with it is ignored, like
    /// any stale token), and the next [`get_action`](Self::get_action) asks for a new read,
    /// in a buffer that may be elsewhere. So a caller can take the read action, try a
    /// non-blocking read into its buffer, and release (withdrawing the read) when the
    /// transport has nothing, instead of holding the buffer while it waits. A read that
    /// has already been filled must be completed instead: never release between writing
    /// bytes into the buffer and completing the read with their count. (The C API never
    /// withdraws a read: there the buffer stays lent until the completion, as on Windows.)
    pub fn release_buffer(&mut self) -> bool {
        if !self.buf.is_owned() || self.start != self.end {
            return false;
        }
        match self.in_flight {
            None => {}
            Some(InFlight::Read { .. }) => {
                // Withdraw the read. Its token is stale from now on: every action gets a new
                // sequence number (bumped here as well).
                self.in_flight = None;
                self.seq = self.seq.wrapping_add(1);
            }
            Some(_) => return false,
        }
        self.start = 0;
        self.end = 0;
        self.buf.release()
    }

    /// True while the receive buffer is attached.
    pub fn holds_buffer(&self) -> bool {
        self.buf.is_allocated()
    }

    /// Bytes already read from the network and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Rust-only: whether the rest of the current frame's payload can be read by the
    /// caller into its own memory instead of through the receive buffer (see
    /// [`complete_direct`](Self::complete_direct)). `Some` while an uncompressed data
    /// frame's payload is incomplete and nothing of it is buffered, with no action in
    /// flight except a `ReceiveFromNetwork` (no chunk lent out, no automatic pong waiting,
    /// no cancellation or failure); otherwise continue with
    /// [`get_action`](Self::get_action). A `ReceiveFromNetwork` handed out may stay
    /// outstanding during direct reads: complete it later with the bytes that follow (the
    /// next frame). A text chunk that ended inside a code point keeps those bytes
    /// buffered, so direct reading resumes after the next chunk.
    pub fn direct_payload(&self) -> Option<DirectPayload> {
        if matches!(self.in_flight, Some(InFlight::Pong { .. } | InFlight::Deliver { .. }))
            || self.shared.pong_waiting()
            || self.cancel
            || self.failed.is_some()
            || self.close_received
            || self.start != self.end
            || self.shared.is_aborted()
        {
            return None;
        }
        let f = self.frame.as_ref()?;
        let m = self.message.as_ref()?;
        if m.compressed || f.remaining == 0 || f.ready != 0 {
            return None;
        }
        Some(DirectPayload { remaining: f.remaining, text: m.text, last: f.fin })
    }

    /// Rust-only: true while a frame is partly received (its header parsed, its payload
    /// not all handed out). Between frames a reader expecting a large frame can read just
    /// its header, then the payload directly.
    pub fn in_frame(&self) -> bool {
        self.frame.is_some()
    }

    /// Rust-only: takes the next `bytes.len()` payload bytes of the current frame, which the
    /// caller read from the network into `bytes` while
    /// [`direct_payload`](Self::direct_payload) allowed it (at most its `remaining`).
    /// They are unmasked in place and, for text, validated as part of the message (which
    /// may mix chunks handed out by `get_action` with direct parts). When the frame's
    /// payload is complete the frame ends (and its message, if final, with the UTF-8
    /// check); `get_action` then continues with the next frame. A protocol error fails the
    /// receive side as `get_action` would (later calls of `get_action` return it).
    pub fn complete_direct(&mut self, bytes: &mut [u8]) -> Result<DirectStatus> {
        let Some(d) = self.direct_payload() else {
            return Err(Misuse::WrongState("no frame payload can be read directly now").into());
        };
        if bytes.len() as u64 > d.remaining {
            return Err(Misuse::InvalidArgument("more bytes than the frame's remaining payload").into());
        }
        let f = self.frame.as_mut().expect("checked by direct_payload");
        let utf8 = (d.text && self.verify_utf8).then_some(&mut self.utf8);
        let valid = unmask_validate(bytes, f.mask, f.unmasked, utf8);
        f.unmasked += bytes.len() as u64;
        f.remaining -= bytes.len() as u64;
        let (remaining, fin) = (f.remaining, f.fin);
        let valid = valid && !(d.text && self.verify_utf8 && remaining == 0 && fin && self.utf8.finish().is_err());
        if !valid {
            let e = ProtocolError::InvalidUtf8;
            self.failed = Some(e);
            return Err(e.into());
        }
        if remaining > 0 {
            return Ok(DirectStatus::Partial { remaining });
        }
        self.frame = None;
        if !fin {
            return Ok(DirectStatus::FrameEnd);
        }
        self.message = None;
        self.utf8.reset();
        Ok(DirectStatus::MessageEnd)
    }

    /// Queues one receive (`WebSocketReceive` with a NULL buffer): the result is lent from
    /// the engine's receive buffer.
    pub fn receive(&mut self, context: usize) -> Result<()> {
        self.queue(context, None)
    }

    /// Queues one receive into caller memory: the chunk is copied there (at most `len`
    /// bytes per chunk) and lent back from it.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be valid for writes, and not otherwise used, until the receive's
    /// `IndicateReceiveComplete` has been completed (or the handle is dropped).
    pub unsafe fn receive_into(&mut self, ptr: *mut u8, len: usize, context: usize) -> Result<()> {
        if ptr.is_null() || len == 0 {
            return Err(Misuse::InvalidArgument("receive buffer is empty").into());
        }
        self.queue(context, Some((ptr, len)))
    }

    fn queue(&mut self, context: usize, target: Option<(*mut u8, usize)>) -> Result<()> {
        if self.shared.is_aborted() {
            return Err(Misuse::Aborted.into());
        }
        if self.op.is_some() {
            return Err(Misuse::AlreadyPending.into());
        }
        if self.close_received {
            return Err(Misuse::WrongState("a close was already received").into());
        }
        if self.failed.is_some() {
            return Err(Misuse::WrongState("the receive side failed with a protocol error").into());
        }
        self.op = Some(Pending { context, target });
        Ok(())
    }

    fn next_token(&mut self) -> ActionToken {
        self.seq = self.seq.wrapping_add(1);
        ActionToken { queue: QUEUE_RECV, seq: self.seq }
    }

    /// True when `get_action` would return something other than `NoAction` (or an error):
    /// whenever a receive is queued and no action of this queue is outstanding.
    pub fn has_action(&self) -> bool {
        self.in_flight.is_none() && (self.op.is_some() || self.failed.is_some())
    }

    /// The next receive-queue action (`WebSocketGetAction` on the receive queue): while a
    /// receive is queued and no action of this queue is outstanding, never `NoAction`
    /// (an automatic pong that cannot go yet waits; see the crate's notes). After a
    /// protocol error every call returns that error until the handle is aborted.
    pub fn get_action(&mut self) -> Result<Action<'_>> {
        if self.in_flight.is_some() {
            return Ok(Action::NoAction);
        }
        if self.op.is_some() {
            self.buf.ensure();
        }
        if self.shared.is_aborted() {
            self.shared.drop_ping();
            if self.op.is_none() {
                return Ok(Action::NoAction);
            }
            return Ok(self.hand_out(self.cancelled_delivery()));
        }
        if let Some(e) = self.failed {
            return Err(e.into());
        }
        if self.op.is_none() {
            return Ok(Action::NoAction);
        }
        if self.cancel {
            self.cancel = false;
            return Ok(self.hand_out(self.cancelled_delivery()));
        }
        loop {
            // An owed pong goes first whenever no frame of the send half is half written;
            // while one is, this queue goes on receiving (never `NoAction` while a receive is
            // queued) and the pong waits for the next turn here, or for the send half to take
            // it when that frame ends.
            if self.shared.pong_waiting() {
                if self.shared.is_wire_broken() {
                    self.shared.drop_ping();
                } else if self.shared.try_acquire_wire(WIRE_RECV) {
                    if let Some(len) = self.take_pong() {
                        self.in_flight = Some(InFlight::Pong { len });
                        let token = self.next_token();
                        let bufs = [self.buf.slice(self.cap, len), &[][..]];
                        return Ok(Action::SendToNetwork {
                            token,
                            buffer_type: BufferType::UnsolicitedPong,
                            context: None,
                            buffers: crate::action::SendBuffers { bufs, count: 1 },
                        });
                    }
                    self.shared.release_wire(WIRE_RECV);
                }
            }
            match self.step() {
                Err(e) => {
                    self.failed = Some(e);
                    return Err(e.into());
                }
                Ok(Step::Again) => continue,
                Ok(Step::Pong) => continue,
                Ok(Step::Deliver(d)) => return Ok(self.hand_out(d)),
                Ok(Step::NeedData) => {
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    } else if self.start > 0 {
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                    }
                    if self.end == self.cap {
                        // Cannot happen: every unit that must be whole in the buffer (a
                        // header, a control frame) is smaller than the minimum buffer.
                        let e = ProtocolError::ControlFrameTooLong;
                        self.failed = Some(e);
                        return Err(e.into());
                    }
                    let (at, len) = (self.end, self.cap - self.end);
                    self.in_flight = Some(InFlight::Read { at, len });
                    let token = self.next_token();
                    let context = self.op.as_ref().map_or(0, |p| p.context);
                    return Ok(Action::ReceiveFromNetwork { token, context, buffer: self.buf.slice_mut(at, len) });
                }
            }
        }
    }

    fn cancelled_delivery(&self) -> Delivery {
        let ty = match &self.message {
            Some(m) => BufferType::data(m.text, false),
            None => BufferType::BinaryMessage,
        };
        Delivery {
            source: Source::Buffer,
            start: self.start,
            len: 0,
            ty,
            close_status: None,
            ping: false,
            consume: 0,
            ends_frame: false,
        }
    }

    fn hand_out(&mut self, mut d: Delivery) -> Action<'_> {
        let op = self.op.as_ref().expect("a receive is pending");
        let context = op.context;
        if let Some((ptr, cap)) = op.target {
            let n = d.len.min(cap);
            debug_assert_eq!(n, d.len, "step() limits chunks to the target size");
            let src: &[u8] = match d.source {
                #[cfg(feature = "deflate")]
                Source::Inflate => self.inflate.as_ref().expect("inflate source").chunk(d.start, n),
                _ => self.buf.slice(d.start, n),
            };
            // SAFETY: `receive_into`'s contract makes `ptr..ptr+cap` valid for writes and
            // unaliased until this receive completes; `n <= cap`; the source is engine memory,
            // so the two do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), ptr, n) };
            d.source = Source::Target;
            d.start = 0;
        }
        self.in_flight =
            Some(InFlight::Deliver { consume: d.consume, close: d.ty == BufferType::Close, ends_frame: d.ends_frame });
        let token = self.next_token();
        let data: &[u8] = match d.source {
            Source::Buffer => self.buf.slice(d.start, d.len),
            Source::Target => {
                let (ptr, _) = self.op.as_ref().and_then(|p| p.target).expect("target set");
                // SAFETY: written just above (or by the inflater) within the caller's region,
                // which stays valid until the completion per `receive_into`.
                unsafe { std::slice::from_raw_parts(ptr, d.len) }
            }
            #[cfg(feature = "deflate")]
            Source::Inflate => self.inflate.as_ref().expect("inflate source").chunk(d.start, d.len),
        };
        Action::IndicateReceiveComplete {
            token,
            buffer_type: d.ty,
            context,
            data,
            close_status: d.close_status,
            ping: d.ping,
        }
    }

    /// Completes a receive-queue action.
    pub(crate) fn complete(&mut self, token: ActionToken, bytes: usize) {
        if token.queue != QUEUE_RECV || token.seq != self.seq {
            return;
        }
        if matches!(self.in_flight, Some(InFlight::Fill { .. })) {
            return; // not a token's action: only `commit_read` ends it
        }
        let Some(f) = self.in_flight.take() else { return };
        match f {
            InFlight::Read { at, len } => {
                debug_assert_eq!(at, self.end);
                if bytes == 0 {
                    self.cancel = true;
                } else {
                    self.end += bytes.min(len);
                }
            }
            InFlight::Fill { .. } => unreachable!("returned above"),
            InFlight::Pong { len } => {
                self.shared.release_wire(WIRE_RECV);
                // 0 drops the pong cleanly (nothing was written); a partial write cuts it.
                if bytes != 0 && bytes < len {
                    self.shared.break_wire();
                }
            }
            InFlight::Deliver { consume, close, ends_frame } => {
                self.op = None;
                self.start += consume;
                if let Some(fr) = self.frame.as_mut() {
                    fr.ready -= consume.min(fr.ready);
                }
                if ends_frame && self.frame.take().is_some_and(|f| f.fin) {
                    self.message = None;
                    self.utf8.reset();
                    #[cfg(feature = "deflate")]
                    if let Some(d) = self.inflate.as_mut() {
                        d.release_output();
                    }
                }
                if close {
                    self.close_received = true;
                    self.shared.set_close_received();
                }
            }
        }
    }

    fn check_limits(&self, len: u64, new_message: bool) -> Result<(), ProtocolError> {
        let limit = self.max_frame;
        if len > limit {
            return Err(ProtocolError::FrameTooBig { limit });
        }
        let (size, frames, compressed) = match (&self.message, new_message) {
            (Some(m), false) => (m.size, m.frames, m.compressed),
            _ => (0, 0, false),
        };
        let limit = self.max_message;
        // Compressed messages are checked on their inflated size instead.
        if !compressed && size.saturating_add(len) > limit {
            return Err(ProtocolError::MessageTooBig { limit });
        }
        let limit = self.max_fragments;
        if frames.saturating_add(1) > limit {
            return Err(ProtocolError::TooManyFragments { limit });
        }
        Ok(())
    }

    fn allow_rsv1(&self) -> bool {
        #[cfg(feature = "deflate")]
        {
            self.inflate.is_some()
        }
        #[cfg(not(feature = "deflate"))]
        {
            false
        }
    }

    /// Makes progress on the buffered bytes.
    fn step(&mut self) -> Result<Step, ProtocolError> {
        if let Some((header, len)) = self.ping_due.take() {
            // The ping parsed (and its pong queued) on the previous step, handed out now.
            let (header, len) = (header as usize, len as usize);
            return Ok(Step::Deliver(Delivery {
                source: Source::Buffer,
                start: self.start + header,
                len,
                ty: BufferType::PingPong,
                close_status: None,
                ping: true,
                consume: header + len,
                ends_frame: false,
            }));
        }
        if self.frame.is_none() {
            let avail = self.buf.slice(self.start, self.end - self.start);
            let Some(h) = parse_header(avail, self.allow_rsv1())? else { return Ok(Step::NeedData) };
            match (self.role, h.mask) {
                (Role::Server, None) if !self.accept_unmasked => return Err(ProtocolError::UnmaskedFrame),
                (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame),
                _ => {}
            }
            if h.opcode.is_control() {
                if h.rsv1 {
                    return Err(ProtocolError::InvalidCompressedFrame);
                }
                let total = h.header_len + h.len as usize;
                if avail.len() < total {
                    return Ok(Step::NeedData);
                }
                let p = self.start + h.header_len;
                let len = h.len as usize;
                if let Some(k) = h.mask {
                    apply_mask(self.buf.slice_mut(p, len), k, 0);
                }
                return match h.opcode {
                    OpCode::Ping => {
                        self.shared.store_ping(self.buf.slice(p, len));
                        if self.deliver_pings {
                            // Kept in the buffer: handed out once the pong had its turn.
                            self.ping_due = Some((h.header_len as u8, len as u8));
                        } else {
                            self.start += total;
                        }
                        Ok(Step::Pong)
                    }
                    OpCode::Pong => Ok(Step::Deliver(Delivery {
                        source: Source::Buffer,
                        start: p,
                        len,
                        ty: BufferType::PingPong,
                        close_status: None,
                        ping: false,
                        consume: total,
                        ends_frame: false,
                    })),
                    _ => {
                        let (status, reason_at, reason_len) = match len {
                            0 => (close_status::EMPTY, p, 0),
                            1 => return Err(ProtocolError::InvalidClosePayload),
                            _ => {
                                let b = self.buf.slice(p, 2);
                                let code = u16::from_be_bytes([b[0], b[1]]);
                                if !close_status::is_valid_on_wire(code) {
                                    return Err(ProtocolError::InvalidCloseCode(code));
                                }
                                (code, p + 2, len - 2)
                            }
                        };
                        if self.verify_utf8
                            && simdutf8::basic::from_utf8(self.buf.slice(reason_at, reason_len)).is_err()
                        {
                            return Err(ProtocolError::InvalidUtf8InCloseReason);
                        }
                        Ok(Step::Deliver(Delivery {
                            source: Source::Buffer,
                            start: reason_at,
                            len: reason_len,
                            ty: BufferType::Close,
                            close_status: Some(status),
                            ping: false,
                            consume: total,
                            ends_frame: false,
                        }))
                    }
                };
            }
            let new_message = h.opcode != OpCode::Continuation;
            match (&self.message, new_message) {
                (None, false) => return Err(ProtocolError::UnexpectedContinuation),
                (Some(_), true) => return Err(ProtocolError::ExpectedContinuation),
                _ => {}
            }
            if h.rsv1 && !new_message {
                return Err(ProtocolError::InvalidCompressedFrame);
            }
            self.check_limits(h.len, new_message)?;
            if new_message {
                self.message = Some(Message { text: h.opcode == OpCode::Text, compressed: h.rsv1, size: 0, frames: 0 });
                self.utf8.reset();
            }
            let m = self.message.as_mut().expect("set above");
            m.size += h.len;
            m.frames += 1;
            self.start += h.header_len;
            self.frame = Some(Frame { fin: h.fin, remaining: h.len, mask: h.mask, unmasked: 0, ready: 0 });
        }
        #[cfg(feature = "deflate")]
        if self.message.as_ref().is_some_and(|m| m.compressed) {
            return self.step_compressed();
        }
        self.step_data()
    }

    /// Unmasks the bytes of the current frame that arrived since the last call, and feeds
    /// them to the UTF-8 validator if `validate`. Returns the frame's bytes now in the buffer.
    fn unmask_fresh(&mut self, validate: bool) -> Result<usize, ProtocolError> {
        let f = self.frame.as_mut().expect("a data frame is current");
        let avail = ((self.end - self.start) as u64).min(f.remaining) as usize;
        let fresh = self.start + f.ready.min(avail)..self.start + avail;
        if !fresh.is_empty() {
            let bytes = self.buf.slice_mut(fresh.start, fresh.len());
            let (key, offset) = (f.mask.unwrap_or([0; 4]), (f.unmasked % 4) as usize);
            f.unmasked += bytes.len() as u64;
            f.ready = avail;
            if validate {
                unmask_and_validate(bytes, key, offset, &mut self.utf8).map_err(|_| ProtocolError::InvalidUtf8)?;
            } else {
                apply_mask(bytes, key, offset);
            }
        }
        Ok(avail)
    }

    /// Hands out (part of) the current uncompressed data frame.
    fn step_data(&mut self) -> Result<Step, ProtocolError> {
        let text = self.message.as_ref().expect("a message is current").text;
        let avail = self.unmask_fresh(text && self.verify_utf8)?;
        let f = self.frame.as_mut().expect("a data frame is current");
        let ends_frame = avail as u64 == f.remaining;
        if avail == 0 && !ends_frame {
            return Ok(Step::NeedData);
        }
        let last = ends_frame && f.fin;
        if last && text && self.verify_utf8 && self.utf8.finish().is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        let mut len = if ends_frame || !(text && self.verify_utf8) {
            avail
        } else {
            // Hold back the bytes of an unfinished code point: they are the last ones fed.
            avail - self.utf8.pending().min(avail)
        };
        let mut ends = ends_frame;
        if let Some((_, cap)) = self.op.as_ref().and_then(|p| p.target) {
            if len > cap {
                len = cap;
                ends = false;
            }
        }
        if ends && !f.fin && len == 0 {
            // An empty non-final frame: nothing to hand out.
            self.frame = None;
            return Ok(Step::Again);
        }
        // An empty final frame still ends its message: hand out an empty `*Message` chunk
        // rather than waiting for payload that will never come.
        if len == 0 && !ends {
            return Ok(Step::NeedData);
        }
        if ends && len < avail {
            ends = false;
        }
        if !ends {
            f.remaining -= len as u64;
        } else {
            f.remaining = 0;
        }
        Ok(Step::Deliver(Delivery {
            source: Source::Buffer,
            start: self.start,
            len,
            ty: BufferType::data(text, ends && f.fin),
            close_status: None,
            ping: false,
            consume: len,
            ends_frame: ends,
        }))
    }

    /// Inflates (part of) the current compressed message and hands out what comes out.
    #[cfg(feature = "deflate")]
    fn step_compressed(&mut self) -> Result<Step, ProtocolError> {
        let text = self.message.as_ref().expect("a message is current").text;
        let avail = self.unmask_fresh(false)?;
        let f = self.frame.as_mut().expect("a data frame is current");
        let frame_end = avail as u64 == f.remaining;
        let message_end = frame_end && f.fin;
        let inflater = self.inflate.as_mut().expect("compressed implies an inflater");
        let input = self.buf.slice(self.start, avail);
        let limit = self.op.as_ref().and_then(|p| p.target).map_or(usize::MAX, |(_, cap)| cap);
        let (consumed, produced, done) = inflater.inflate(input, message_end, limit)?;
        self.start += consumed;
        f.ready -= consumed;
        f.remaining -= consumed as u64;
        if text && self.verify_utf8 {
            let out = inflater.chunk(0, produced);
            if self.utf8.feed(out).is_err() || (done && self.utf8.finish().is_err()) {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        if produced > 0 || done {
            let ends_frame = frame_end && f.remaining == 0 && (!f.fin || done);
            return Ok(Step::Deliver(Delivery {
                source: Source::Inflate,
                start: 0,
                len: produced,
                ty: BufferType::data(text, done),
                close_status: None,
                ping: false,
                consume: 0,
                ends_frame,
            }));
        }
        if f.remaining == 0 && !f.fin {
            self.frame = None;
            return Ok(Step::Again);
        }
        if consumed > 0 {
            return Ok(Step::Again);
        }
        Ok(Step::NeedData)
    }

    /// True when received text is checked to be UTF-8 (the default; see
    /// `Config::disable_utf8_verification`).
    pub fn verifies_utf8(&self) -> bool {
        self.verify_utf8
    }

    /// Nothing queued, outstanding or waiting, and the side still open: what the Rust-only
    /// shortcuts (`receive_now`, `read_space`) need before they touch the buffer.
    fn shortcut_ready(&self) -> bool {
        self.op.is_none()
            && self.in_flight.is_none()
            && self.ping_due.is_none()
            && !self.shared.pong_waiting()
            && self.failed.is_none()
            && !self.close_received
            && !self.shared.is_aborted()
    }

    /// A Rust-only shortcut for callers that assemble whole messages: when no receive is
    /// queued and the buffer already holds one complete, unfragmented, uncompressed text or
    /// binary message, appends its payload (unmasked and, for text, validated) to `out`,
    /// consumes the frame and returns the message's type (`Utf8Message` or
    /// `BinaryMessage`). What arrives is exactly what `receive` and its actions would have
    /// delivered for that frame.
    ///
    /// Returns `None`, having changed nothing, in every other case: nothing or only part of
    /// a frame buffered, a control frame, a fragment, a compressed message, a receive
    /// already queued, and any frame that breaks the protocol or a limit (the normal path
    /// then reports it with its close code). `out` is left as it was then.
    pub fn receive_now(&mut self, out: &mut Vec<u8>) -> Option<BufferType> {
        if self.start == self.end || !self.shortcut_ready() || self.frame.is_some() || self.message.is_some() {
            return None;
        }
        let avail = self.buf.slice(self.start, self.end - self.start);
        let h = parse_header(avail, false).ok()??;
        let text = match h.opcode {
            OpCode::Text => true,
            OpCode::Binary => false,
            _ => return None,
        };
        let masked_ok = match (self.role, h.mask) {
            (Role::Server, None) => self.accept_unmasked,
            (Role::Client, Some(_)) => false,
            _ => true,
        };
        let total = h.header_len as u64 + h.len;
        if !h.fin || h.rsv1 || !masked_ok || total > avail.len() as u64 || self.check_limits(h.len, true).is_err() {
            return None;
        }
        let len = h.len as usize;
        let payload = &avail[h.header_len..h.header_len + len];
        let at = out.len();
        // Unmasked while copied (one pass), then text checked in the copy, still in cache.
        match h.mask {
            Some(k) => extend_masked(out, payload, k, 0),
            None => out.extend_from_slice(payload),
        }
        let valid = !(text && self.verify_utf8) || simdutf8::basic::from_utf8(&out[at..]).is_ok();
        if !valid {
            out.truncate(at);
            return None;
        }
        self.start += h.header_len + len;
        Some(if text { BufferType::Utf8Message } else { BufferType::BinaryMessage })
    }

    /// A Rust-only shortcut for callers that read from the transport themselves before
    /// queuing a receive (with [`receive_now`](Self::receive_now) taking what arrives): the
    /// whole receive buffer, when it holds nothing (it is attached if it was released).
    /// Read into it, then call
    /// [`commit_read`](Self::commit_read) with the count (0 when nothing was read, which is
    /// not an end of stream here: the caller handles that). Until then no action is handed
    /// out and no other read can start.
    ///
    /// `None` while bytes are buffered (they may hold a whole frame, such as a ping, that
    /// must be handed out before waiting for more: take them with `receive_now` or the queued
    /// path), while a receive is queued, an action is outstanding or an automatic pong waits,
    /// and after a close, an error or an abort.
    pub fn read_space(&mut self) -> Option<&mut [u8]> {
        if self.start != self.end || !self.shortcut_ready() {
            return None;
        }
        self.buf.ensure();
        self.start = 0;
        self.end = 0;
        let (at, len) = (0, self.cap);
        self.in_flight = Some(InFlight::Fill { at, len });
        Some(self.buf.slice_mut(at, len))
    }

    /// `n` bytes were read into the space [`read_space`](Self::read_space) gave (more than
    /// it gave are not counted). Does nothing when no such read is open.
    pub fn commit_read(&mut self, n: usize) {
        if let Some(InFlight::Fill { at, len }) = self.in_flight {
            debug_assert_eq!(at, self.end);
            self.in_flight = None;
            self.end += n.min(len);
        }
    }

    /// Takes the owed pong, if the send half has not, and writes its frame after the
    /// receive buffer (the 144 bytes reserved for it). Returns the frame's length.
    fn take_pong(&mut self) -> Option<usize> {
        let mask = match self.role {
            Role::Server => None,
            Role::Client if self.zero_mask => Some([0; 4]),
            Role::Client => Some(self.keys.next()),
        };
        let out = self.buf.slice_mut(self.cap, MAX_PONG_FRAME);
        self.shared.take_ping(|_| true, |payload| write_pong(out, mask, payload))
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn limits_take_a_word_each() {
        // Three `Option<u64>` limits took 48 bytes of every connection; as words, 24.
        assert!(size_of::<super::ReceiveHalf>() <= 264, "ReceiveHalf is {} bytes", size_of::<super::ReceiveHalf>());
    }
}
