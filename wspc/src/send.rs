//! The send queue: turns one queued send at a time into frame bytes.

use crate::action::{Action, ActionToken, Payload, SendBuffers};
use crate::codec::frame::{encode_header, header_len, OpCode, MAX_HEADER_LEN};
use crate::codec::mask::{apply_mask, copy_masked};
use crate::config::Role;
use crate::error::{Misuse, Result};
use crate::region::{pong_frame_len, write_pong, MaskKeys, Region, Shared, WIRE_RECV, WIRE_SEND};
use crate::types::{close_status, BufferType, MAX_CLOSE_REASON_LENGTH, MAX_CONTROL_PAYLOAD};
use std::sync::Arc;

pub(crate) const QUEUE_SEND: u8 = 1;

/// What `send` is given, mirroring `WEB_SOCKET_BUFFER`'s two arms.
#[derive(Debug)]
pub enum SendBuffer {
    /// `Data`: the payload of a data frame, ping or unsolicited pong.
    Data(Payload),
    /// `CloseStatus`: a status and a reason (at most 123 bytes).
    Close {
        /// The status code (must be valid on the wire).
        status: u16,
        /// The reason, UTF-8.
        reason: Payload,
    },
}

impl SendOp {
    /// Bytes of status code before the body (2 for a close with a status).
    fn prefix(&self) -> usize {
        if self.close_status.is_some() {
            2
        } else {
            0
        }
    }
}

struct SendOp {
    ty: BufferType,
    context: usize,
    payload: Payload,
    close_status: Option<u16>,
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    /// Body bytes come from the compressor's output instead of `payload`.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    compressed: bool,
    mask: Option<[u8; 4]>,
    header_done: bool,
    sent: usize,
    done: bool,
    wire_held: bool,
    /// The message state to restore if the send is cancelled before any byte went out.
    prev_message: Option<bool>,
}

#[cfg(feature = "deflate")]
/// Boxed: most connections do not compress, and an idle one should stay small.
type Deflater = Option<Box<crate::deflate::Compressor>>;
#[cfg(not(feature = "deflate"))]
type Deflater = ();

/// The bytes that follow the header (and close status) of `op`'s frame.
fn body_of<'a>(op: &'a SendOp, deflate: &'a Deflater) -> &'a [u8] {
    #[cfg(feature = "deflate")]
    if op.compressed {
        return deflate.as_ref().expect("compressed implies a compressor").output();
    }
    let _ = deflate;
    op.payload.as_slice()
}

#[derive(Clone, Copy)]
enum InFlight {
    Network {
        lent: usize,
        body: usize,
        had_header: bool,
    },
    /// An automatic pong the receive half left waiting while a frame was half written.
    Pong {
        len: usize,
    },
    Complete,
}

/// The send half of a handle: owns the send buffer and the compressor. Use it from one thread
/// while a [`ReceiveHalf`](crate::ReceiveHalf) is used from another.
pub struct SendHalf {
    pub(crate) shared: Arc<Shared>,
    pub(crate) role: Role,
    zero_mask: bool,
    buf: Region,
    keys: MaskKeys,
    seq: u32,
    op: Option<SendOp>,
    in_flight: Option<InFlight>,
    pub(crate) message: Option<bool>,
    pub(crate) close_sent: bool,
    pub(crate) deflate: Deflater,
}

impl SendHalf {
    pub(crate) fn new(shared: Arc<Shared>, role: Role, disable_masking: bool, buf: Region) -> Self {
        Self {
            shared,
            role,
            zero_mask: disable_masking,
            buf,
            keys: MaskKeys::new(),
            seq: 0,
            op: None,
            in_flight: None,
            message: None,
            close_sent: false,
            deflate: Default::default(),
        }
    }

    /// True while a send is queued and not yet completed.
    pub fn is_pending(&self) -> bool {
        self.op.is_some()
    }

    /// Gives the send buffer (frame headers and small or masked payload copies) back while
    /// no send is queued, so an idle connection holds none; the next send takes one again
    /// from a per-thread pool of idle buffers (no allocation in steady state). Returns
    /// whether memory was released; does nothing with a caller-allocated buffer.
    pub fn release_buffer(&mut self) -> bool {
        if self.op.is_some() || self.in_flight.is_some() {
            return false;
        }
        self.buf.release()
    }

    /// True while the send buffer is attached.
    pub fn holds_buffer(&self) -> bool {
        self.buf.is_allocated()
    }

    /// True once the receive half delivered the peer's close frame.
    pub fn is_close_received(&self) -> bool {
        self.shared.is_close_received()
    }

    /// True once a close frame was queued.
    pub fn is_close_sent(&self) -> bool {
        self.close_sent
    }

    /// Refusals common to every send: aborted, cut wire, a send already pending.
    pub(crate) fn check_idle(&self) -> Result<()> {
        if self.shared.is_aborted() {
            return Err(Misuse::Aborted.into());
        }
        if self.shared.is_wire_broken() {
            return Err(Misuse::WrongState("an earlier send was cut by a short write").into());
        }
        if self.op.is_some() {
            return Err(Misuse::AlreadyPending.into());
        }
        Ok(())
    }

    /// The opcode of a data frame of type `ty`, given the message in progress.
    fn data_opcode(&self, ty: BufferType) -> Result<OpCode> {
        let text = ty.is_text();
        match self.message {
            None if text => Ok(OpCode::Text),
            None => Ok(OpCode::Binary),
            Some(t) if t == text => Ok(OpCode::Continuation),
            Some(_) => Err(Misuse::WrongState("text and binary mixed in one message").into()),
        }
    }

    /// The opcode of a ping or pong of type `ty` with a `len`-byte payload.
    fn control_opcode(ty: BufferType, len: usize) -> Result<OpCode> {
        if len > MAX_CONTROL_PAYLOAD {
            return Err(Misuse::InvalidArgument("ping/pong payload over 125 bytes").into());
        }
        Ok(if ty == BufferType::PingPong { OpCode::Ping } else { OpCode::Pong })
    }

    /// Everything decided once a send is accepted: the message and close state move on, the
    /// payload is compressed when deflate applies, and a mask key is drawn. Returns
    /// `(fin, rsv1, compressed, mask, prev_message)`.
    #[allow(clippy::type_complexity)]
    fn begin_frame(
        &mut self,
        ty: BufferType,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(bool, bool, bool, Option<[u8; 4]>, Option<bool>)> {
        let prev_message = self.message;
        let fin = !ty.is_data() || ty.is_message_end();
        #[allow(unused_mut)]
        let (mut rsv1, mut compressed) = (false, false);
        #[cfg(feature = "deflate")]
        if ty.is_data() {
            if let Some(d) = self.deflate.as_mut() {
                let first = opcode != OpCode::Continuation;
                (rsv1, compressed) = d.compress(payload, first, fin)?;
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = payload;
        if ty.is_data() {
            self.message = if fin { None } else { Some(ty.is_text()) };
        }
        if opcode == OpCode::Close {
            self.close_sent = true;
            self.shared.set_close_sent();
        }
        let mask = match self.role {
            Role::Server => None,
            Role::Client if self.zero_mask => Some([0; 4]),
            Role::Client => Some(self.keys.next()),
        };
        Ok((fin, rsv1, compressed, mask, prev_message))
    }

    /// Queues one send (`WebSocketSend`). `buffer` must be `None` or `Data` for pings and
    /// pongs (at most 125 bytes; Windows only allows `None`), `Data` for data types, and
    /// `None` (an empty close) or `Close` for a close.
    pub fn send(&mut self, ty: BufferType, buffer: Option<SendBuffer>, context: usize) -> Result<()> {
        self.check_idle()?;
        let (payload, close_status, opcode) = match (ty, buffer) {
            (BufferType::Close, None) => (Payload::EMPTY, None, OpCode::Close),
            (BufferType::Close, Some(SendBuffer::Close { status, reason })) => {
                if !close_status::is_valid_on_wire(status) {
                    return Err(Misuse::InvalidArgument("close status may not be sent").into());
                }
                if reason.len() > MAX_CLOSE_REASON_LENGTH {
                    return Err(Misuse::InvalidArgument("close reason longer than 123 bytes").into());
                }
                (reason, Some(status), OpCode::Close)
            }
            (BufferType::Close, Some(SendBuffer::Data(_))) => {
                return Err(Misuse::InvalidArgument("a close takes a status, not data").into())
            }
            (BufferType::PingPong | BufferType::UnsolicitedPong, b) => {
                let p = match b {
                    None => Payload::EMPTY,
                    Some(SendBuffer::Data(p)) => p,
                    Some(_) => return Err(Misuse::InvalidArgument("a ping or pong takes data, not a status").into()),
                };
                let op = Self::control_opcode(ty, p.len())?;
                (p, None, op)
            }
            (_, Some(SendBuffer::Data(p))) => {
                let op = self.data_opcode(ty)?;
                (p, None, op)
            }
            (_, _) => return Err(Misuse::InvalidArgument("data send without a buffer").into()),
        };
        if self.close_sent && !matches!(opcode, OpCode::Ping | OpCode::Pong) {
            return Err(Misuse::WrongState("a close was already sent").into());
        }
        let (fin, rsv1, compressed, mask, prev_message) = self.begin_frame(ty, opcode, payload.as_slice())?;
        self.op = Some(SendOp {
            ty,
            context,
            payload,
            close_status,
            opcode,
            fin,
            rsv1,
            compressed,
            mask,
            header_done: false,
            sent: 0,
            done: false,
            wire_held: false,
            prev_message,
        });
        Ok(())
    }

    /// A Rust-only shortcut for callers that gather frames into their own write buffer:
    /// encodes one data frame, ping or unsolicited pong with `payload` and appends the
    /// whole frame to `out` at once. The frame is exactly what [`send`](Self::send)
    /// followed by its `SendToNetwork` actions would produce (same header, masking,
    /// compression and message state), without a queued operation, token or completion:
    /// the send is complete when this returns `Ok(true)`.
    ///
    /// Returns `Ok(false)`, having changed nothing, while the receive half is writing an
    /// automatic pong (the caller must write what it has gathered first, or queue the frame
    /// with `send`). Refuses what `send` refuses, and closes (use `send` for a close): a
    /// send already pending is [`Misuse::AlreadyPending`].
    pub fn send_now(&mut self, ty: BufferType, payload: &[u8], out: &mut Vec<u8>) -> Result<bool> {
        self.check_idle()?;
        let opcode = match ty {
            BufferType::Close => return Err(Misuse::InvalidArgument("send_now does not send a close").into()),
            BufferType::PingPong | BufferType::UnsolicitedPong => Self::control_opcode(ty, payload.len())?,
            _ => self.data_opcode(ty)?,
        };
        if self.close_sent && ty.is_data() {
            return Err(Misuse::WrongState("a close was already sent").into());
        }
        if !self.shared.try_acquire_wire(WIRE_SEND) {
            return Ok(false);
        }
        let r = self.begin_frame(ty, opcode, payload);
        let (fin, rsv1, compressed, mask, _) = match r {
            Ok(plan) => plan,
            Err(e) => {
                self.shared.release_wire(WIRE_SEND);
                return Err(e);
            }
        };
        #[cfg(feature = "deflate")]
        let body =
            if compressed { self.deflate.as_ref().expect("compressed implies a compressor").output() } else { payload };
        #[cfg(not(feature = "deflate"))]
        let body = {
            let _ = compressed;
            payload
        };
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let h = encode_header(&mut hdr, fin, rsv1, opcode, mask, body.len() as u64);
        out.reserve(h + body.len());
        out.extend_from_slice(&hdr[..h]);
        let at = out.len();
        out.extend_from_slice(body);
        if let Some(k) = mask {
            apply_mask(&mut out[at..], k, 0);
        }
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_mut() {
            d.release_output();
        }
        self.shared.release_wire(WIRE_SEND);
        Ok(true)
    }

    fn next_token(&mut self) -> ActionToken {
        self.seq = self.seq.wrapping_add(1);
        ActionToken { queue: QUEUE_SEND, seq: self.seq }
    }

    /// True when `get_action` would return something other than `NoAction`.
    pub fn has_action(&self) -> bool {
        if self.in_flight.is_some() {
            return false;
        }
        match &self.op {
            None => false,
            Some(op) => {
                op.done
                    || op.wire_held
                    || self.shared.is_aborted()
                    || (!self.shared.is_wire_broken() && self.shared.wire_owner() != WIRE_RECV)
            }
        }
    }

    /// The next send-queue action (`WebSocketGetAction` on the send queue). `slots` is how
    /// many buffers the caller can take (at least 1). Between two frames it may first hand
    /// out an automatic pong that had to wait for this half's last frame (`context: None`).
    /// `NoAction` while a send is pending means "not now" (the receive half has a pong
    /// out): ask again after it completes.
    pub fn get_action(&mut self, slots: usize) -> Result<Action<'_>> {
        if slots == 0 {
            return Err(Misuse::InvalidArgument("no buffer slots").into());
        }
        if self.in_flight.is_some() {
            return Ok(Action::NoAction);
        }
        let aborted = self.shared.is_aborted();
        let Some(op) = self.op.as_mut() else { return Ok(Action::NoAction) };
        if aborted && !op.done {
            op.done = true;
            if op.wire_held {
                op.wire_held = false;
                self.shared.release_wire(WIRE_SEND);
            }
        }
        if self.shared.pong_waiting() && (op.done || !op.header_done) && !aborted {
            // Between two frames: an automatic pong the receive half could not send while
            // the last frame was half written goes out now (the receive side may be blocked
            // in a read, so it must not wait for that side's next turn).
            if let Some(len) = self.take_waiting_pong() {
                self.in_flight = Some(InFlight::Pong { len });
                let token = self.next_token();
                return Ok(Action::SendToNetwork {
                    token,
                    buffer_type: BufferType::UnsolicitedPong,
                    context: None,
                    buffers: SendBuffers { bufs: [self.buf.slice(0, len), &[]], count: 1 },
                });
            }
        }
        let op = self.op.as_mut().expect("checked above");
        if op.done {
            self.in_flight = Some(InFlight::Complete);
            let token = self.next_token();
            let op = self.op.as_ref().expect("checked above");
            return Ok(Action::IndicateSendComplete {
                token,
                buffer_type: op.ty,
                context: op.context,
                payload: op.payload.as_slice(),
                close_status: op.close_status,
            });
        }
        self.buf.ensure();
        let body = body_of(op, &self.deflate);
        let masked_copy = matches!(op.mask, Some(k) if k != [0; 4]);
        let cap = self.buf.len();
        let remaining = body.len() - op.sent;
        let mut use_body_direct = false;
        let (head, body_now) = if !op.header_done {
            let frame_len = (op.prefix() + body.len()) as u64;
            debug_assert!(header_len(frame_len, op.mask.is_some()) + op.prefix() <= cap);
            let out = self.buf.slice_mut(0, cap);
            let mut p = encode_header(&mut out[..MAX_HEADER_LEN], op.fin, op.rsv1, op.opcode, op.mask, frame_len);
            if let Some(status) = op.close_status {
                copy_masked(&mut out[p..p + 2], &status.to_be_bytes(), op.mask.unwrap_or([0; 4]), 0);
                p += 2;
            }
            if masked_copy || remaining <= cap - p {
                let n = remaining.min(cap - p);
                copy_masked(
                    &mut out[p..p + n],
                    &body[op.sent..op.sent + n],
                    op.mask.unwrap_or([0; 4]),
                    op.prefix() + op.sent,
                );
                (p + n, n)
            } else if slots >= 2 {
                use_body_direct = true;
                (p, remaining)
            } else {
                (p, 0)
            }
        } else if masked_copy {
            let n = remaining.min(cap);
            let key = op.mask.expect("masked_copy implies a key");
            copy_masked(self.buf.slice_mut(0, n), &body[op.sent..op.sent + n], key, op.prefix() + op.sent);
            (n, n)
        } else {
            use_body_direct = true;
            (0, remaining)
        };
        let had_header = !op.header_done;
        if !op.wire_held {
            // A frame written by one action is whole on the wire whatever the receive half
            // writes before or after it (callers serialise whole actions); only a frame that
            // takes several actions holds the wire, so that no pong lands inside it. (What
            // was just written into the send buffer is written again next time if the
            // action cannot go now.)
            let whole = had_header && body_now == remaining;
            let wire_ok =
                if whole { self.shared.wire_owner() != WIRE_RECV } else { self.shared.try_acquire_wire(WIRE_SEND) };
            if self.shared.is_wire_broken() || !wire_ok {
                if !whole && wire_ok {
                    self.shared.release_wire(WIRE_SEND);
                }
                return Ok(Action::NoAction);
            }
            op.wire_held = !whole;
        }
        let token = self.next_token();
        self.in_flight = Some(InFlight::Network {
            lent: head + if use_body_direct { body_now } else { 0 },
            body: body_now,
            had_header,
        });
        let op = self.op.as_ref().expect("checked above");
        let body = body_of(op, &self.deflate);
        let direct = &body[op.sent..op.sent + if use_body_direct { body_now } else { 0 }];
        let buffers = if head == 0 {
            SendBuffers { bufs: [direct, &[]], count: 1 }
        } else if use_body_direct {
            SendBuffers { bufs: [self.buf.slice(0, head), direct], count: 2 }
        } else {
            SendBuffers { bufs: [self.buf.slice(0, head), &[]], count: 1 }
        };
        Ok(Action::SendToNetwork { token, buffer_type: op.ty, context: Some(op.context), buffers })
    }

    /// Takes the pong the receive half left waiting and writes it into the send buffer
    /// (when it fits there: always with a send buffer of 131 bytes or more); returns the
    /// frame's length.
    fn take_waiting_pong(&mut self) -> Option<usize> {
        if self.shared.is_wire_broken() {
            return None;
        }
        let cap = self.buf.len();
        let masked = self.role == Role::Client;
        let mask = match self.role {
            Role::Server => None,
            Role::Client if self.zero_mask => Some([0; 4]),
            Role::Client => Some(self.keys.next()),
        };
        self.buf.ensure();
        let out = self.buf.slice_mut(0, cap);
        self.shared.take_ping(|n| pong_frame_len(n, masked) <= cap, |payload| write_pong(out, mask, payload))
    }

    /// Completes a send-queue action. Returns the payload once its send is complete, so an
    /// owned vector can be reused.
    pub(crate) fn complete(&mut self, token: ActionToken, bytes: usize) -> Option<Payload> {
        if token.queue != QUEUE_SEND || token.seq != self.seq {
            return None;
        }
        match self.in_flight.take()? {
            InFlight::Network { lent, body, had_header } => {
                let op = self.op.as_mut()?;
                let total = body_of(op, &self.deflate).len();
                if bytes >= lent {
                    op.header_done = true;
                    op.sent += body;
                    if op.sent == total {
                        op.done = true;
                    }
                } else {
                    op.done = true;
                    if bytes == 0 && had_header {
                        // Nothing of this frame reached the wire: a clean cancel.
                        if op.opcode == OpCode::Close {
                            self.close_sent = false;
                        }
                        if op.ty.is_data() {
                            self.message = op.prev_message;
                        }
                    } else {
                        self.shared.break_wire();
                    }
                }
                if op.done && op.wire_held {
                    op.wire_held = false;
                    self.shared.release_wire(WIRE_SEND);
                }
                None
            }
            InFlight::Pong { len } => {
                // 0 drops the pong cleanly (nothing was written); a partial write cuts it.
                if bytes != 0 && bytes < len {
                    self.shared.break_wire();
                }
                None
            }
            InFlight::Complete => {
                #[cfg(feature = "deflate")]
                if let Some(d) = self.deflate.as_mut() {
                    d.release_output();
                }
                self.op.take().map(|op| op.payload)
            }
        }
    }
}
