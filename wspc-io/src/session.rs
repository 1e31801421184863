//! The sans-I/O connection shared by the blocking and tokio APIs, driving the protocol core
//! ([`wspc::Decoder`], [`wspc::Encoder`]) with its own buffers: outgoing frames are corked
//! into one write buffer (a large payload is written from where it is, after its header),
//! received bytes go into a pooled read buffer (a large payload straight into the message
//! vector), and messages or pieces come out. It keeps the close state. The transports only
//! move bytes.
//!
//! | step | call | then |
//! |---|---|---|
//! | send | [`Session::send`], [`Session::send_prepared`], [`Session::send_fragment`], [`Session::queue_ping`], [`Session::queue_close`] (check [`Session::can_send`] first for backpressure) | bytes wait in [`Session::write_bufs`] |
//! | write | [`Session::write_bufs`] → write some → [`Session::wrote`]`(n)` (or [`Session::write_failed`]) | repeat while [`Session::wants_write`] |
//! | receive | [`Session::poll_recv`] → `Read` | [`Session::read_buf`] / [`Session::read_buf_uninit`] → read → [`Session::read_done`]`(n)` (0: end of stream) or [`Session::read_failed`]; or [`Session::feed`] bytes already held; or [`Session::park`] when nothing can be read now |
//! | receive | `poll_recv` → `Flush` | write, then `poll_recv` again |
//! | receive | `poll_recv` → `Message` / `Piece` | give message vectors back with [`Session::recycle`] |
//! | receive | `poll_recv` → `Err` | final (close received: `ConnectionClosed`) |

mod recv;

use crate::message::Message;
use crate::pubsub::PreparedMessage;
use crate::{Error, Result};
use wspc::{BufferType, Decoder, Encoder, Handle, Role};

pub(crate) use recv::RecvStep;

/// A payload at least this long is written from where it is instead of being copied into
/// the write buffer.
const DIRECT_MIN: usize = 16 << 10;
/// Vectors (message payloads, write buffers) kept per thread for reuse.
const POOL_MAX: usize = 16;
/// Vectors larger than this are freed instead of kept: a 1 MiB message's vector is kept,
/// with the room a direct read reserves past a frame for the next header (without it, the
/// vector of every 1 MiB message was freed, and the next one's memory faulted in anew:
/// twice the server's CPU per message on io_uring).
const POOL_MAX_CAPACITY: usize = (1 << 20) + recv::HEADER_PEEK;

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

/// Where the next encoded frame goes: the write buffer, or behind the payload being
/// written from where it is (a frame may not land between another's header and payload).
#[allow(clippy::box_collection)]
fn frames_out<'a>(
    direct: &Option<Direct>,
    behind: &'a mut Option<Box<Vec<u8>>>,
    out: &'a mut Vec<u8>,
) -> &'a mut Vec<u8> {
    match direct {
        Some(_) => behind.get_or_insert_with(Default::default),
        None => out_ready(out),
    }
}

/// A payload (or whole frame) written from where it is, after the write buffer's bytes;
/// `pos` bytes of it are written.
enum Direct {
    /// An owned payload (masked in place for a client), recycled once written.
    Vec { v: Vec<u8>, pos: usize },
    /// Shared bytes: a payload sent unmasked, or a whole frame shared with other
    /// connections ([`PreparedMessage`]).
    Shared { b: bytes::Bytes, pos: usize },
}

impl Direct {
    /// The bytes still to write.
    fn rest(&self) -> &[u8] {
        match self {
            Direct::Vec { v, pos } => &v[*pos..],
            Direct::Shared { b, pos } => &b[*pos..],
        }
    }

    /// `n` more bytes were written (at most `rest().len()`).
    fn advance(&mut self, n: usize) {
        match self {
            Direct::Vec { pos, .. } | Direct::Shared { pos, .. } => *pos += n,
        }
    }
}

/// One connection's protocol state and buffers.
pub(crate) struct Session {
    enc: Encoder,
    dec: Decoder,
    role: Role,
    out: Vec<u8>,
    out_pos: usize,
    direct: Option<Direct>,
    /// Frames encoded while `direct` is being written: they go after it (a frame may not
    /// land between another's header and its payload). Boxed: rarely used.
    #[allow(clippy::box_collection)]
    behind: Option<Box<Vec<u8>>>,
    write_limit: usize,
    close_sent: bool,
    close_received: bool,
    /// Boxed, like `recv_error`: set at most once, at the end of a connection, and an
    /// idle connection should stay small.
    write_error: Option<Box<Error>>,
    r: recv::RecvState,
}

impl Session {
    /// A session for a handle whose handshake completed (its encoder, decoder and the
    /// receive options it was configured with), with `prefix`: bytes read past the HTTP
    /// head, which come before anything read later.
    pub(crate) fn new(handle: Handle, prefix: Vec<u8>, write_limit: usize) -> Self {
        let role = handle.role();
        let mut handle = handle;
        let (deliver_pings, read_size) = {
            let r = handle.receive_half();
            (r.delivers_pings(), r.buffer_size())
        };
        let (enc, dec) = handle.into_codec().expect("a handle fresh from its handshake");
        Self {
            enc,
            dec,
            role,
            out: Vec::new(),
            out_pos: 0,
            direct: None,
            behind: None,
            write_limit: write_limit.max(1),
            close_sent: false,
            close_received: false,
            write_error: None,
            r: recv::RecvState::new(prefix, read_size, deliver_pings),
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    // ----- sending -------------------------------------------------------------------------

    /// True when a message can be queued without exceeding the write buffer.
    pub(crate) fn can_send(&self) -> bool {
        self.direct.is_none() && self.backlog() < self.write_limit
    }

    /// Bytes waiting to be written.
    pub(crate) fn backlog(&self) -> usize {
        self.out.len() - self.out_pos
            + self.direct.as_ref().map_or(0, |d| d.rest().len())
            + self.behind.as_ref().map_or(0, |b| b.len())
    }

    /// True when the copied frames waiting to be written (automatic pongs and close replies,
    /// small messages; not a large payload written from where it is) fill the write
    /// buffer's limit: the receive side then stops reading until they are written, so a
    /// peer that sends pings and reads nothing holds at most that much.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn replies_full(&self) -> bool {
        self.out.len() - self.out_pos + self.behind.as_ref().map_or(0, |b| b.len()) >= self.write_limit
    }

    /// True while bytes wait to be written.
    pub(crate) fn wants_write(&self) -> bool {
        self.out_pos < self.out.len() || self.direct.is_some()
    }

    /// True when nothing is left to write.
    pub(crate) fn write_idle(&self) -> bool {
        !self.wants_write()
    }

    /// True once a close frame was queued.
    #[inline]
    pub(crate) fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// True once the peer's close frame arrived.
    #[inline]
    pub(crate) fn close_received(&self) -> bool {
        self.close_received
    }

    /// True once a write failed: nothing more can be written.
    pub(crate) fn write_broken(&self) -> bool {
        self.write_error.is_some()
    }

    /// Gives back a vector for reuse as a message buffer (to this thread's pool, shared by
    /// the connections on the thread, so an idle connection keeps none).
    #[allow(dead_code)]
    pub(crate) fn recycle(&mut self, v: Vec<u8>) {
        pool_give(v);
    }

    /// A fresh message buffer (from the pool when possible).
    #[allow(dead_code)]
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        pool_take()
    }

    /// True while the write buffer holds memory (tests).
    #[cfg(all(test, feature = "tokio"))]
    pub(crate) fn holds_send_buffers(&mut self) -> bool {
        self.out.capacity() > 0
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
                self.queue_close(c.map(|c| (c.code, c.reason)));
                return Ok(());
            }
        };
        if self.close_sent && ty.is_data() {
            return Err(Error::InvalidState("a close frame was already sent"));
        }
        match data.vec_or_bytes() {
            Ok(v) => self.send_vec(ty, v),
            Err(b) => self.send_shared(ty, b),
        }
    }

    /// Sends an owned payload: copied after its header when small (or compressed), else
    /// written from where it is, after the header (a client masks it in place first).
    fn send_vec(&mut self, ty: BufferType, mut data: Vec<u8>) -> Result<()> {
        let head = self.enc.begin(ty, None, &data)?;
        if head.compressed || data.len() < DIRECT_MIN || self.direct.is_some() {
            let body = self.enc.body(&head, &data);
            let out = frames_out(&self.direct, &mut self.behind, &mut self.out);
            wspc::proto::append_frame(out, &head, body);
            self.enc.end();
            pool_give(data);
            return Ok(());
        }
        head.mask_body(&mut data, 0);
        self.header_then(&head, Direct::Vec { v: data, pos: 0 });
        Ok(())
    }

    /// [`send_vec`](Self::send_vec) for shared bytes: copied when small, compressed or
    /// masked, else written from where they are.
    fn send_shared(&mut self, ty: BufferType, data: bytes::Bytes) -> Result<()> {
        let head = self.enc.begin(ty, None, &data)?;
        if head.compressed || head.masks() || data.len() < DIRECT_MIN || self.direct.is_some() {
            let body = self.enc.body(&head, &data);
            let out = frames_out(&self.direct, &mut self.behind, &mut self.out);
            wspc::proto::append_frame(out, &head, body);
            self.enc.end();
            return Ok(());
        }
        self.header_then(&head, Direct::Shared { b: data, pos: 0 });
        Ok(())
    }

    /// Writes `head`'s header into the write buffer, with `body` to be written after it
    /// from where it is (nothing is being written that way now).
    fn header_then(&mut self, head: &wspc::proto::FrameHead, body: Direct) {
        let mut hdr = [0u8; 16];
        let n = head.write_header(body.rest().len(), &mut hdr);
        out_ready(&mut self.out).extend_from_slice(&hdr[..n]);
        self.enc.end();
        self.direct = Some(body);
    }

    /// Queues a prepared message (the caller checked [`can_send`](Self::can_send)): its
    /// shared frame is written as it is when the encoder says this connection can take it
    /// (see [`wspc::SharedEncoding`]), otherwise it is sent like any message.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn send_prepared(&mut self, m: &PreparedMessage) -> Result<()> {
        if let Some(e) = &self.write_error {
            return Err(e.duplicate());
        }
        if self.close_sent {
            return Err(Error::InvalidState("a close frame was already sent"));
        }
        if self.direct.is_none() && !self.enc.in_message() {
            if let Some(frame) = m.frame(self.enc.shared_encoding(m.payload().len()))? {
                self.direct = Some(Direct::Shared { b: frame, pos: 0 });
                return Ok(());
            }
        }
        let mut v = pool_take();
        v.extend_from_slice(m.payload());
        self.send_vec(m.buffer_type(), v)
    }

    /// Queues one frame of a fragmented message.
    pub(crate) fn send_fragment(&mut self, text: bool, data: Vec<u8>, last: bool) -> Result<()> {
        if let Some(e) = &self.write_error {
            return Err(e.duplicate());
        }
        if self.close_sent {
            return Err(Error::InvalidState("a close frame was already sent"));
        }
        self.send_vec(BufferType::data(text, last), data)
    }

    /// Queues a ping (keepalive).
    pub(crate) fn queue_ping(&mut self, payload: Vec<u8>) {
        if !self.close_sent && self.write_error.is_none() {
            let out = frames_out(&self.direct, &mut self.behind, &mut self.out);
            if let Err(e) = self.enc.encode(BufferType::PingPong, &payload, out) {
                tracing::debug!(error = %e, "keepalive ping not sent");
            }
            pool_give(payload);
        }
    }

    /// Queues a close frame (no-op after one was sent). A status that may not be sent
    /// gives an empty close; a reason is cut to 123 bytes at a character boundary.
    pub(crate) fn queue_close(&mut self, c: Option<(u16, String)>) {
        if self.close_sent {
            return;
        }
        self.close_sent = true;
        if self.write_error.is_some() {
            return;
        }
        let (status, reason) = match &c {
            Some((code, reason)) if wspc::close_status::is_valid_on_wire(*code) => {
                let mut n = reason.len().min(wspc::MAX_CLOSE_REASON_LENGTH);
                while !reason.is_char_boundary(n) {
                    n -= 1;
                }
                (Some(*code), &reason.as_bytes()[..n])
            }
            _ => (None, &[][..]),
        };
        let out = frames_out(&self.direct, &mut self.behind, &mut self.out);
        if let Err(e) = self.enc.encode_close(status, reason, out) {
            tracing::debug!(error = %e, "close frame not sent");
        }
    }

    /// An automatic pong answering the ping payload `p`.
    fn pong(&mut self, p: &[u8]) {
        if self.write_error.is_some() {
            return;
        }
        let out = frames_out(&self.direct, &mut self.behind, &mut self.out);
        let _ = self.enc.encode(BufferType::UnsolicitedPong, p, out);
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
                if let Some(Direct::Vec { v, .. }) = self.direct.take() {
                    pool_give(v);
                }
                if let Some(behind) = self.behind.take() {
                    out_ready(&mut self.out).extend_from_slice(&behind);
                }
            }
        } else {
            debug_assert_eq!(n, 0);
        }
    }

    /// The transport failed while writing: nothing more can be sent, and the receive side
    /// reports the failure.
    pub(crate) fn write_failed(&mut self, e: &Error) {
        tracing::trace!(role = ?self.role, error = %e, "write failed");
        if self.write_error.is_none() {
            self.write_error = Some(Box::new(e.duplicate()));
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("close_sent", &self.close_sent)
            .field("close_received", &self.close_received)
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

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn rarely_used_state_is_boxed() {
        // The end-of-connection errors are a pointer each in every connection; unboxed
        // they added 64 bytes to each.
        assert_eq!(size_of::<Option<Box<Error>>>(), size_of::<usize>());
        // While the session went through the engine's action queues it held a whole
        // handle (both queues, 464 bytes) and was 800 bytes; with the decoder, the encoder
        // and its own buffer bookkeeping it was 416; with the decoder's, the encoder's and
        // the receive side's state packed, 344.
        let s = size_of::<Session>();
        assert!(s <= 344, "Session is {s} bytes");
    }
}
