//! The receive queue: asks for network bytes while a receive is posted, runs the
//! [`Decoder`] over the receive buffer, answers pings, and lends what it decodes in chunks
//! no larger than the receive buffer (or copies them into the caller's buffer).

use crate::action::{Action, ActionToken};
use crate::codec::frame::OpCode;
use crate::error::{Misuse, ProtocolError, Result};
use crate::proto::MAX_CONTROL_FRAME;
use crate::proto::{write_control, Decoded, Decoder, Event, Masker, Source};
use crate::region::{Region, Shared, WIRE_RECV};
use crate::types::BufferType;
use std::sync::Arc;

pub(crate) const QUEUE_RECV: u8 = 2;

/// Where a lent chunk is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lent {
    Buffer,
    Target,
    Inflated,
}

#[derive(Clone, Copy)]
enum InFlight {
    Read { at: usize, len: usize },
    Pong { len: usize },
    Deliver { consume: usize, close: bool, last: bool },
}

/// One chunk ready to hand out.
#[derive(Clone, Copy)]
struct Delivery {
    source: Lent,
    start: usize,
    len: usize,
    ty: BufferType,
    close_status: Option<u16>,
    /// A received ping handed out (`Config::deliver_pings`).
    ping: bool,
    /// Receive-buffer bytes consumed when the chunk is completed.
    consume: usize,
    /// The chunk ends a message.
    last: bool,
}

impl Delivery {
    fn control(start: usize, len: usize, ty: BufferType, consume: usize) -> Self {
        Self { source: Lent::Buffer, start, len, ty, close_status: None, ping: false, consume, last: false }
    }
}

struct Pending {
    context: usize,
    target: Option<(*mut u8, usize)>,
}

/// The receive half of a handle: owns the receive buffer, the pong buffer and the
/// decoder. Use it from one thread while a [`SendHalf`](crate::SendHalf) is used from
/// another.
pub struct ReceiveHalf {
    pub(crate) shared: Arc<Shared>,
    /// Frames, masks, messages, UTF-8, limits, inflation.
    pub(crate) dec: Decoder,
    /// Mask keys of automatic pongs.
    masker: Masker,
    /// `[0, cap)` receive buffer, `[cap, cap + 144)` the pong frame.
    buf: Region,
    cap: usize,
    start: usize,
    end: usize,
    seq: u32,
    op: Option<Pending>,
    in_flight: Option<InFlight>,
    cancel: bool,
    close_received: bool,
    /// `Config::deliver_pings`.
    deliver_pings: bool,
    /// A received ping whose pong was queued and which is handed out next: the length of
    /// its payload, at `start` in the buffer.
    ping_due: Option<u8>,
}

// SAFETY: the only non-Send field is `Pending::target`, caller memory handed over by the
// unsafe `receive_into`, whose contract keeps it valid until the receive completes.
unsafe impl Send for ReceiveHalf {}

impl ReceiveHalf {
    pub(crate) fn new(shared: Arc<Shared>, config: &crate::Config, buf: Region, cap: usize) -> Self {
        Self {
            shared,
            dec: Decoder::new(config),
            masker: Masker::new(config.role, config.disable_masking),
            buf,
            cap,
            start: 0,
            end: 0,
            seq: 0,
            op: None,
            in_flight: None,
            cancel: false,
            close_received: false,
            deliver_pings: config.deliver_pings,
            ping_due: None,
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
        self.dec.error()
    }

    /// `Config::deliver_pings`: received pings are handed out too.
    pub fn delivers_pings(&self) -> bool {
        self.deliver_pings
    }

    /// The receive buffer's size (`Config::receive_buffer_size`).
    pub fn buffer_size(&self) -> usize {
        self.cap
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
        if self.dec.error().is_some() {
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
        self.in_flight.is_none() && (self.op.is_some() || self.dec.error().is_some())
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
        if let Some(e) = self.dec.error() {
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
            if let Some(len) = self.ping_due.take() {
                // The ping decoded (and its pong queued) on the previous turn, handed out now.
                let len = len.into();
                let d = Delivery { ping: true, ..Delivery::control(self.start, len, BufferType::PingPong, len) };
                return Ok(self.hand_out(d));
            }
            let max_chunk = self.op.as_ref().and_then(|p| p.target).map_or(usize::MAX, |(_, cap)| cap);
            let at = self.start;
            let Decoded { consumed, event } =
                match self.dec.decode_at_most(self.buf.slice_mut(at, self.end - at), max_chunk) {
                    Ok(d) => d,
                    Err(e) => {
                        return Err(e.into());
                    }
                };
            let d = match event {
                Event::NeedMore | Event::Payload(_) => {
                    self.start += consumed;
                    return self.read_action();
                }
                Event::Data(c) => Delivery {
                    source: if c.source == Source::Input { Lent::Buffer } else { Lent::Inflated },
                    start: if c.source == Source::Input { at + c.start } else { c.start },
                    len: c.len,
                    ty: BufferType::data(c.text, c.last),
                    close_status: None,
                    ping: false,
                    consume: consumed,
                    last: c.last,
                },
                Event::Ping { start, len } => {
                    self.shared.store_ping(self.buf.slice(at + start, len));
                    if self.deliver_pings {
                        // The payload is kept in the buffer: handed out once the pong had its
                        // turn.
                        self.start += start;
                        self.ping_due = Some(len as u8);
                    } else {
                        self.start += consumed;
                    }
                    continue;
                }
                Event::Pong { start, len } => Delivery::control(at + start, len, BufferType::PingPong, consumed),
                Event::Close { code, start, len } => Delivery {
                    close_status: Some(code),
                    ..Delivery::control(at + start, len, BufferType::Close, consumed)
                },
            };
            return Ok(self.hand_out(d));
        }
    }

    /// Moves what is left of the buffered bytes to the front and lends the free space for
    /// a read.
    fn read_action(&mut self) -> Result<Action<'_>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.cap {
            // Cannot happen: every unit that must be whole in the buffer (a header, a
            // control frame) is smaller than the minimum buffer.
            return Err(self.dec.fail(ProtocolError::ControlFrameTooLong).into());
        }
        let (at, len) = (self.end, self.cap - self.end);
        self.in_flight = Some(InFlight::Read { at, len });
        let token = self.next_token();
        let context = self.op.as_ref().map_or(0, |p| p.context);
        Ok(Action::ReceiveFromNetwork { token, context, buffer: self.buf.slice_mut(at, len) })
    }

    fn cancelled_delivery(&self) -> Delivery {
        let ty = match self.dec.message_text() {
            Some(text) => BufferType::data(text, false),
            None => BufferType::BinaryMessage,
        };
        Delivery::control(self.start, 0, ty, 0)
    }

    fn hand_out(&mut self, mut d: Delivery) -> Action<'_> {
        let op = self.op.as_ref().expect("a receive is pending");
        let context = op.context;
        if let Some((ptr, cap)) = op.target {
            let n = d.len.min(cap);
            debug_assert_eq!(n, d.len, "step() limits chunks to the target size");
            let src: &[u8] = match d.source {
                Lent::Inflated => self.dec.inflated(d.start, n),
                _ => self.buf.slice(d.start, n),
            };
            // SAFETY: `receive_into`'s contract makes `ptr..ptr+cap` valid for writes and
            // unaliased until this receive completes; `n <= cap`; the source is engine memory,
            // so the two do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), ptr, n) };
            d.source = Lent::Target;
            d.start = 0;
        }
        self.in_flight = Some(InFlight::Deliver { consume: d.consume, close: d.ty == BufferType::Close, last: d.last });
        let token = self.next_token();
        let data: &[u8] = match d.source {
            Lent::Buffer => self.buf.slice(d.start, d.len),
            Lent::Target => {
                let (ptr, _) = self.op.as_ref().and_then(|p| p.target).expect("target set");
                // SAFETY: written just above (or by the inflater) within the caller's region,
                // which stays valid until the completion per `receive_into`.
                unsafe { std::slice::from_raw_parts(ptr, d.len) }
            }
            Lent::Inflated => self.dec.inflated(d.start, d.len),
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
            InFlight::Pong { len } => {
                self.shared.release_wire(WIRE_RECV);
                // 0 drops the pong cleanly (nothing was written); a partial write cuts it.
                if bytes != 0 && bytes < len {
                    self.shared.break_wire();
                }
            }
            InFlight::Deliver { consume, close, last } => {
                self.op = None;
                self.start += consume;
                if last {
                    self.dec.release_inflated();
                }
                if close {
                    self.close_received = true;
                    self.shared.set_close_received();
                }
            }
        }
    }

    /// True when received text is checked to be UTF-8 (the default; see
    /// `Config::disable_utf8_verification`).
    pub fn verifies_utf8(&self) -> bool {
        self.dec.verifies_utf8()
    }

    /// Takes the owed pong, if the send half has not, and writes its frame after the
    /// receive buffer (the 144 bytes reserved for it). Returns the frame's length.
    fn take_pong(&mut self) -> Option<usize> {
        let mask = self.masker.next();
        let out = self.buf.slice_mut(self.cap, MAX_CONTROL_FRAME);
        self.shared.take_ping(|_| true, |payload| write_control(out, OpCode::Pong, mask, payload))
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
