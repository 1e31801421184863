//! The send queue: turns one queued send at a time into frame bytes.

use crate::action::{Action, ActionToken, Payload, SendBuffers};
use crate::codec::frame::{header_len, OpCode};
use crate::config::Role;
use crate::error::{Misuse, Result};
use crate::proto::{control_frame_len, write_control, Encoder, FrameHead};
use crate::region::{Region, Shared, WIRE_RECV, WIRE_SEND};
use crate::types::BufferType;
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

struct SendOp {
    ty: BufferType,
    context: usize,
    payload: Payload,
    head: FrameHead,
    header_done: bool,
    sent: usize,
    done: bool,
    wire_held: bool,
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
    buf: Region,
    seq: u32,
    op: Option<SendOp>,
    in_flight: Option<InFlight>,
    /// Frames, masks, message and close state, compression.
    pub(crate) enc: Encoder,
}

impl SendHalf {
    pub(crate) fn new(shared: Arc<Shared>, role: Role, disable_masking: bool, buf: Region) -> Self {
        Self { shared, role, buf, seq: 0, op: None, in_flight: None, enc: Encoder::with(role, disable_masking) }
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
        self.enc.is_close_sent()
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

    /// Queues one send (`WebSocketSend`). `buffer` must be `None` or `Data` for pings and
    /// pongs (at most 125 bytes; Windows only allows `None`), `Data` for data types, and
    /// `None` (an empty close) or `Close` for a close.
    pub fn send(&mut self, ty: BufferType, buffer: Option<SendBuffer>, context: usize) -> Result<()> {
        self.check_idle()?;
        let (payload, close_status) = match (ty, buffer) {
            (BufferType::Close, None) => (Payload::EMPTY, None),
            (BufferType::Close, Some(SendBuffer::Close { status, reason })) => (reason, Some(status)),
            (BufferType::Close, Some(SendBuffer::Data(_))) => {
                return Err(Misuse::InvalidArgument("a close takes a status, not data").into())
            }
            (BufferType::PingPong | BufferType::UnsolicitedPong, b) => match b {
                None => (Payload::EMPTY, None),
                Some(SendBuffer::Data(p)) => (p, None),
                Some(_) => return Err(Misuse::InvalidArgument("a ping or pong takes data, not a status").into()),
            },
            (_, Some(SendBuffer::Data(p))) => (p, None),
            (_, _) => return Err(Misuse::InvalidArgument("data send without a buffer").into()),
        };
        let head = self.enc.begin(ty, close_status, payload.as_slice())?;
        if head.opcode == OpCode::Close {
            self.shared.set_close_sent();
        }
        self.op =
            Some(SendOp { ty, context, payload, head, header_done: false, sent: 0, done: false, wire_held: false });
        Ok(())
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
                close_status: op.head.close_status,
            });
        }
        self.buf.ensure();
        let body = self.enc.body(&op.head, op.payload.as_slice());
        let masked_copy = op.head.masks();
        let cap = self.buf.len();
        let remaining = body.len() - op.sent;
        let mut use_body_direct = false;
        let (head, body_now) = if !op.header_done {
            let fh = &op.head;
            debug_assert!(header_len((fh.prefix() + body.len()) as u64, fh.mask.is_some()) + fh.prefix() <= cap);
            let out = self.buf.slice_mut(0, cap);
            let p = fh.write_header(body.len(), out);
            if masked_copy || remaining <= cap - p {
                let n = remaining.min(cap - p);
                fh.copy_body(&mut out[p..p + n], &body[op.sent..op.sent + n], op.sent);
                (p + n, n)
            } else if slots >= 2 {
                use_body_direct = true;
                (p, remaining)
            } else {
                (p, 0)
            }
        } else if masked_copy {
            let n = remaining.min(cap);
            op.head.copy_body(self.buf.slice_mut(0, n), &body[op.sent..op.sent + n], op.sent);
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
        let body = self.enc.body(&op.head, op.payload.as_slice());
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
        let mask = self.enc.control_mask();
        self.buf.ensure();
        let out = self.buf.slice_mut(0, cap);
        self.shared.take_ping(
            |n| control_frame_len(n, masked) <= cap,
            |payload| write_control(out, OpCode::Pong, mask, payload),
        )
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
                let total = self.enc.body(&op.head, op.payload.as_slice()).len();
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
                        self.enc.cancel(&op.head);
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
                self.enc.end();
                self.op.take().map(|op| op.payload)
            }
        }
    }
}
