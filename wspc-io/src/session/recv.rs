//! The receive side of a [`Session`]: a pooled read buffer the [`wspc::Decoder`] runs
//! over, direct reads of large payloads into the message vector, and messages or pieces
//! out.

use super::{pool_give, pool_take, Session};
use crate::message::{CloseFrame, Message, Piece, PieceKind};
use crate::{Error, Result};
use wspc::proto::{Decoded, DirectPayload, DirectStatus, Event, Source};

/// A message's frame payload with at least this much still to come is read straight into
/// the message vector (no copy out of the read buffer, larger reads).
const DIRECT_RECV_MIN: u64 = 16 << 10;
/// After a message at least this long, the next message's header is read on its own (at
/// most `HEADER_PEEK` bytes), so that its payload can be read directly from the first byte
/// instead of arriving mostly in the read buffer with the header.
const LARGE_MESSAGE: usize = 32 << 10;
/// The longest client frame header (2 + 8 length + 4 mask bytes).
pub(super) const HEADER_PEEK: usize = 14;
/// The message vector grows for a direct read by at least this much (and at most by its
/// length so far, so a peer's announced length never allocates far ahead of its bytes).
const DIRECT_RESERVE_MIN: usize = 64 << 10;
/// Read buffers kept per thread for reuse.
const READ_POOL_MAX: usize = 32;

thread_local! {
    /// Read buffers of connections waiting for input: a waiting connection holds none, and
    /// taking one back when data arrives allocates nothing.
    static READ_POOL: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A zeroed read buffer of `len` bytes, from this thread's pool when one of that size is
/// there (`vec![0; n]` uses `calloc`: untouched pages cost no resident memory).
fn read_buf_take(len: usize) -> Box<[u8]> {
    let pooled = READ_POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|b| b.len() == len)?;
        Some(p.swap_remove(i))
    });
    pooled.ok().flatten().unwrap_or_else(|| vec![0u8; len].into_boxed_slice())
}

fn read_buf_give(b: Box<[u8]>) {
    let _ = READ_POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < READ_POOL_MAX {
            p.push(b);
        }
    });
}

/// What the receive side needs from the transport.
pub(crate) enum RecvStep {
    /// Read into [`Session::read_buf`], then call [`Session::read_done`].
    Read,
    /// Nothing to do on the receive side until the bytes waiting are written (the
    /// transports write, then ask again).
    #[allow(dead_code)]
    Flush,
    /// A whole message.
    Message(Message),
    /// A piece (its bytes are in the caller's buffer).
    Piece(Piece),
}

/// (Counts are `u32`: a read buffer is at most 4 GiB, and a direct read asks for at most
/// that much at a time.)
enum PendingRead {
    /// Into the read buffer after its bytes, at most `len` bytes.
    Buffer { len: u32 },
    /// Payload straight into the spare capacity of the message vector (`assembly`), at
    /// most `len` bytes, of which the first `payload` belong to the frame (any more are
    /// the start of what follows it, moved to the read buffer); `init`: bytes of that
    /// spare capacity known to be initialised.
    Direct { len: u32, payload: u32, init: u32 },
}

/// The longest direct read asked for at once.
const DIRECT_READ_MAX: usize = u32::MAX as usize;

/// What a receive side rarely has: bytes read past the HTTP head (usually none) and its
/// final error. Boxed, present only while one of them is: a connection carries a pointer.
#[derive(Default)]
struct Cold {
    /// Bytes read past the HTTP head, and how many were handed on.
    prefix: Option<(Vec<u8>, usize)>,
    /// Set at most once, at the end of a connection.
    error: Option<Error>,
}

/// The receive side's buffers and state.
pub(super) struct RecvState {
    /// The read buffer (present while needed, `size` bytes), bytes `start..end` not yet
    /// decoded. (`u32`: every connection carries these, and a read buffer is smaller.)
    buf: Option<Box<[u8]>>,
    size: u32,
    start: u32,
    end: u32,
    read: Option<PendingRead>,
    /// The prefix and the final error (see [`Cold`]).
    cold: Option<Box<Cold>>,
    deliver_pings: bool,
    /// The message being assembled (text if `assembly_text`).
    assembly: Option<Vec<u8>>,
    assembly_text: bool,
    /// The assembled message ended with a direct read: hand it out.
    assembled: bool,
    /// The last direct read left part of its frame: read the rest directly too, however
    /// short (so the message vector is not grown again for a small tail).
    direct_partial: bool,
    /// The last whole message was large: read the next header on its own.
    expect_large: bool,
    /// Bytes of the message vector (`assembly`) known to be initialised, so that
    /// `read_buf` zeroes each byte of spare capacity at most once: (its address, its
    /// capacity, the count); stale once the vector moved or grew.
    direct_init: (usize, usize, usize),
    /// Bytes were read since the last call of `take_activity`.
    activity: bool,
}

impl RecvState {
    pub(super) fn new(prefix: Vec<u8>, size: usize, deliver_pings: bool) -> Self {
        Self {
            buf: None,
            size: size.clamp(2 * HEADER_PEEK, u32::MAX as usize) as u32,
            start: 0,
            end: 0,
            read: None,
            cold: (!prefix.is_empty()).then(|| Box::new(Cold { prefix: Some((prefix, 0)), error: None })),
            deliver_pings,
            assembly: None,
            assembly_text: false,
            assembled: false,
            direct_partial: false,
            expect_large: false,
            direct_init: (0, 0, 0),
            activity: false,
        }
    }

    /// The final error, if the receive side ended.
    #[inline]
    fn error(&self) -> Option<&Error> {
        self.cold.as_deref().and_then(|c| c.error.as_ref())
    }

    /// Ends the receive side with `e` unless it ended already.
    fn set_error(&mut self, e: Error) {
        let c = self.cold.get_or_insert_with(Default::default);
        if c.error.is_none() {
            c.error = Some(e);
        }
    }

    /// True while bytes read past the HTTP head are left.
    fn has_prefix(&self) -> bool {
        self.cold.as_deref().is_some_and(|c| c.prefix.is_some())
    }

    /// The message being assembled, started (as text if `text`) if there is none. (A
    /// function of the two fields, so that the other fields stay free to borrow.)
    fn assembling<'a>(assembly: &'a mut Option<Vec<u8>>, assembly_text: &mut bool, text: bool) -> &'a mut Vec<u8> {
        if assembly.is_none() {
            *assembly_text = text;
        }
        assembly.get_or_insert_with(pool_take)
    }

    /// Takes the assembled message: (text, bytes).
    fn take_assembly(&mut self) -> Option<(bool, Vec<u8>)> {
        self.assembly.take().map(|v| (self.assembly_text, v))
    }

    /// The read buffer with its undecoded bytes moved to the front.
    fn compacted(&mut self) -> &mut [u8] {
        let buf = self.buf.get_or_insert_with(|| read_buf_take(self.size as usize));
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            buf.copy_within(self.start as usize..self.end as usize, 0);
            self.end -= self.start;
            self.start = 0;
        }
        buf
    }

    /// Copies bytes held elsewhere into the read buffer's free space; returns how many.
    fn put(&mut self, bytes: &[u8]) -> usize {
        let end = self.end as usize;
        let buf = self.compacted();
        let n = (buf.len() - end).min(bytes.len());
        buf[end..end + n].copy_from_slice(&bytes[..n]);
        self.end += n as u32;
        n
    }
}

impl Session {
    /// True when the receive side is finished (close received, error or end of stream).
    pub(crate) fn recv_done(&self) -> bool {
        self.close_received || self.r.error().is_some()
    }

    /// Bytes were read since the last call.
    #[allow(dead_code)]
    pub(crate) fn take_activity(&mut self) -> bool {
        std::mem::take(&mut self.r.activity)
    }

    /// True while the read buffer is attached (tests).
    #[cfg(all(test, feature = "tokio"))]
    pub(crate) fn holds_recv_buffer(&mut self) -> bool {
        self.r.buf.is_some()
    }

    /// True while bytes read past the HTTP head are kept (tests).
    #[cfg(all(test, feature = "tokio"))]
    pub(crate) fn holds_prefix(&self) -> bool {
        self.r.has_prefix()
    }

    /// The transport has nothing to read now: gives back what a waiting connection does
    /// not need, so that an idle connection holds no buffer. The read buffer goes back to
    /// its per-thread pool (ending the read handed out, unless bytes of a frame are
    /// buffered), and while nothing waits to be written, the write buffer too. The next
    /// [`poll_recv`](Self::poll_recv) takes a new read, in a pooled buffer: no allocation
    /// and no system call added per wake-up. Call it only when no bytes were put in
    /// [`read_buf`](Self::read_buf) since the read was handed out.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn park(&mut self) {
        let r = &mut self.r;
        if r.start == r.end {
            if matches!(r.read, Some(PendingRead::Buffer { .. })) {
                r.read = None;
            }
            if let Some(b) = r.buf.take() {
                read_buf_give(b);
            }
            (r.start, r.end) = (0, 0);
        }
        if self.write_idle() {
            pool_give(std::mem::take(&mut self.out));
            self.out_pos = 0;
        }
    }

    /// The buffer to read into (only after [`RecvStep::Read`]), initialised (a direct
    /// read zeroes the part of the message vector's spare capacity not yet initialised).
    pub(crate) fn read_buf(&mut self) -> &mut [u8] {
        let r = &mut self.r;
        match r.read.as_mut().expect("a read is pending") {
            PendingRead::Buffer { len } => {
                let end = r.end as usize;
                &mut r.buf.as_mut().expect("a read into the buffer")[end..end + *len as usize]
            }
            PendingRead::Direct { len, init, .. } => {
                let v = r.assembly.as_mut().expect("a direct read fills the message");
                r.direct_init = (v.as_ptr() as usize, v.capacity(), v.len() + *len as usize);
                let spare = &mut v.spare_capacity_mut()[..*len as usize];
                spare[*init as usize..].fill(std::mem::MaybeUninit::new(0));
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
        let r = &mut self.r;
        match r.read.as_mut().expect("a read is pending") {
            PendingRead::Buffer { len } => {
                let end = r.end as usize;
                let b = &mut r.buf.as_mut().expect("a read into the buffer")[end..end + *len as usize];
                // SAFETY: `MaybeUninit<u8>` has `u8`'s layout; the bytes are initialised,
                // and readers only write initialised bytes into them.
                unsafe { &mut *(b as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) }
            }
            PendingRead::Direct { len, .. } => {
                let v = r.assembly.as_mut().expect("a direct read fills the message");
                &mut v.spare_capacity_mut()[..*len as usize]
            }
        }
    }

    /// True while a read is handed out (after [`RecvStep::Read`], until
    /// [`read_done`](Self::read_done)).
    #[cfg_attr(not(all(feature = "uring", target_os = "linux")), allow(dead_code))]
    pub(crate) fn read_pending(&self) -> bool {
        self.r.read.is_some()
    }

    /// The length of the pending read when it is a large payload's read straight into the
    /// message's memory ([`read_buf_uninit`](Self::read_buf_uninit) is that memory).
    #[cfg_attr(not(all(feature = "uring", target_os = "linux")), allow(dead_code))]
    pub(crate) fn direct_read_len(&self) -> Option<usize> {
        match self.r.read {
            Some(PendingRead::Direct { len, .. }) => Some(len as usize),
            _ => None,
        }
    }

    /// `n` bytes were read into [`read_buf`](Self::read_buf) (or written and initialised
    /// in [`read_buf_uninit`](Self::read_buf_uninit)); 0 is the end of the stream.
    pub(crate) fn read_done(&mut self, n: usize) {
        let read = self.r.read.take().expect("a read is pending");
        if n == 0 {
            // The stream ended before a close frame (or inside a frame).
            self.r.set_error(Error::ConnectionReset);
            return;
        }
        self.r.activity = true;
        match read {
            PendingRead::Buffer { len } => self.r.end += n.min(len as usize) as u32,
            PendingRead::Direct { len, payload, .. } => {
                let r = &mut self.r;
                let (len, payload) = (len as usize, payload as usize);
                let v = r.assembly.as_mut().expect("a direct read fills the message");
                let at = v.len();
                let n = n.min(len);
                // SAFETY: the reader initialised the first `n <= len` bytes of the spare
                // capacity (`read_buf` zeroed them, or `read_buf_uninit`'s reader wrote them).
                unsafe { v.set_len(at + n) };
                if n > payload {
                    // The frame's end and the start of what follows: that part goes to the
                    // read buffer (empty: a direct read starts with everything decoded).
                    let extra = at + payload;
                    let buf = r.buf.get_or_insert_with(|| read_buf_take(r.size as usize));
                    debug_assert_eq!(r.start, r.end);
                    let k = n - payload;
                    buf[..k].copy_from_slice(&v[extra..extra + k]);
                    (r.start, r.end) = (0, k as u32);
                    v.truncate(extra);
                }
                r.direct_partial = false;
                match self.dec.direct(&mut v[at..]) {
                    Ok(DirectStatus::MessageEnd) => r.assembled = true,
                    Ok(DirectStatus::Partial { .. }) => r.direct_partial = true,
                    Ok(DirectStatus::FrameEnd) => {}
                    Err(e) => {
                        let _ = self.fail_recv(e);
                    }
                }
            }
        }
    }

    /// Bytes the caller already holds (read from the stream by other means: an HTTP
    /// parser's leftover, a completion-based reader's buffer), taken as if read. Returns
    /// how many were taken (all of them unless the read buffer is full: call
    /// [`poll_recv`](Self::poll_recv), then feed the rest).
    #[allow(dead_code)]
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> usize {
        if bytes.is_empty() {
            return 0;
        }
        if matches!(self.r.read, Some(PendingRead::Direct { .. })) {
            let dst = self.read_buf();
            let n = dst.len().min(bytes.len());
            dst[..n].copy_from_slice(&bytes[..n]);
            self.read_done(n);
            return n;
        }
        self.r.read = None;
        let n = self.r.put(bytes);
        self.r.activity |= n > 0;
        n
    }

    /// The transport failed while reading.
    pub(crate) fn read_failed(&mut self, e: Error) {
        self.r.read = None;
        self.r.set_error(e);
    }

    /// A protocol violation or a limit hit: the close frame with its code is queued, and
    /// the receive side ends with the error.
    fn fail_recv(&mut self, e: wspc::Error) -> Error {
        tracing::debug!(role = ?self.role, close_code = e.close_code(), error = %e, "connection failed");
        if let Some(code) = e.close_code() {
            self.queue_close(Some((code, String::new())));
        }
        let err = Error::Ws(e);
        // (Replaces an earlier error: the decoder's is the one to report.)
        self.r.cold.get_or_insert_with(Default::default).error = Some(err.duplicate());
        err
    }

    /// Advances the receive side. `piece`: hand out pieces into this buffer instead of
    /// whole messages.
    pub(crate) fn poll_recv(&mut self, mut piece: Option<&mut Vec<u8>>) -> Result<RecvStep> {
        loop {
            if let Some(e) = self.r.error() {
                return Err(e.duplicate());
            }
            if self.close_received {
                return Err(Error::ConnectionClosed);
            }
            if let Some(e) = &self.write_error {
                // A write failed: the receive side reports the failure.
                let e = e.duplicate();
                self.r.cold.get_or_insert_with(Default::default).error = Some(e.duplicate());
                return Err(e);
            }
            if self.r.read.is_some() {
                return Ok(RecvStep::Read);
            }
            if self.r.assembled {
                self.r.assembled = false;
                let (text, buf) = self.r.take_assembly().expect("assembled");
                return Ok(RecvStep::Message(self.message_of(text, buf)?));
            }
            let r = &mut self.r;
            let input: &mut [u8] = match r.buf.as_deref_mut() {
                Some(b) => &mut b[r.start as usize..r.end as usize],
                None => &mut [],
            };
            // Between messages, with bytes to look at, a whole message is appended to a
            // pooled vector in one pass (the decoder's fast path).
            let mut fresh = None;
            let decoded = if piece.is_none() && r.assembly.is_none() && !input.is_empty() {
                self.dec.decode_append(input, fresh.insert(pool_take()))
            } else {
                self.dec.decode(input)
            };
            let Decoded { consumed, event } = match decoded {
                Ok(d) => d,
                Err(e) => return Err(self.fail_recv(e.into())),
            };
            match event {
                Event::Data(c) if c.source == Source::Appended => {
                    r.start += consumed as u32;
                    let v = fresh.take().expect("appended to it");
                    return Ok(RecvStep::Message(self.message_of(c.text, v)?));
                }
                _ => {
                    if let Some(v) = fresh.take() {
                        pool_give(v);
                    }
                }
            }
            match event {
                Event::NeedMore => {
                    r.start += consumed as u32;
                    if let Some(step) = self.want_read(piece.is_none())? {
                        return Ok(step);
                    }
                }
                Event::Payload(p) => {
                    r.start += consumed as u32;
                    if piece.is_none() && !r.has_prefix() && self.start_direct(p) {
                        return Ok(RecvStep::Read);
                    }
                    if let Some(step) = self.want_read(piece.is_none())? {
                        return Ok(step);
                    }
                }
                Event::Data(c) => {
                    let bytes = self.dec.chunk(input, &c);
                    match piece.as_deref_mut() {
                        Some(buf) => {
                            buf.clear();
                            buf.extend_from_slice(bytes);
                        }
                        None => RecvState::assembling(&mut r.assembly, &mut r.assembly_text, c.text)
                            .extend_from_slice(bytes),
                    }
                    r.start += consumed as u32;
                    if c.last {
                        self.dec.release_inflated();
                    }
                    if piece.is_some() {
                        let kind = if c.text { PieceKind::Text } else { PieceKind::Binary };
                        return Ok(RecvStep::Piece(Piece { kind, last: c.last }));
                    }
                    if c.last {
                        let (text, buf) = self.r.take_assembly().expect("assembling");
                        return Ok(RecvStep::Message(self.message_of(text, buf)?));
                    }
                }
                Event::Ping { start, len } | Event::Pong { start, len } => {
                    let ping = matches!(event, Event::Ping { .. });
                    let payload = &input[start..start + len];
                    let step = (!ping || r.deliver_pings).then(|| match piece.as_deref_mut() {
                        Some(buf) => {
                            buf.clear();
                            buf.extend_from_slice(payload);
                            let kind = if ping { PieceKind::Ping } else { PieceKind::Pong };
                            RecvStep::Piece(Piece { kind, last: true })
                        }
                        None => {
                            let mut v = pool_take();
                            v.extend_from_slice(payload);
                            RecvStep::Message(if ping { Message::Ping(v.into()) } else { Message::Pong(v.into()) })
                        }
                    });
                    if ping {
                        // Answered at once, in the write buffer (RFC 6455 §5.5.2).
                        let mut p = [0u8; wspc::MAX_CONTROL_PAYLOAD];
                        p[..len].copy_from_slice(payload);
                        self.r.start += consumed as u32;
                        self.pong(&p[..len]);
                    } else {
                        self.r.start += consumed as u32;
                    }
                    if let Some(step) = step {
                        return Ok(step);
                    }
                }
                Event::Close { code, start, len } => {
                    let frame = (code != wspc::close_status::EMPTY).then(|| CloseFrame {
                        code,
                        reason: String::from_utf8_lossy(&input[start..start + len]).into_owned(),
                    });
                    r.start += consumed as u32;
                    tracing::debug!(role = ?self.role, code, "close frame received");
                    self.close_received = true;
                    if !self.close_sent {
                        self.queue_close(frame.as_ref().map(|f| (f.code, f.reason.clone())));
                    }
                    return Ok(match piece {
                        Some(buf) => {
                            buf.clear();
                            buf.extend_from_slice(frame.as_ref().map_or(&[][..], |f| f.reason.as_bytes()));
                            RecvStep::Piece(Piece { kind: PieceKind::Close(frame), last: true })
                        }
                        None => RecvStep::Message(Message::Close(frame)),
                    });
                }
            }
        }
    }

    /// The decoder needs more bytes: those read past the HTTP head first, else a read into
    /// the read buffer (after a large message, of the next header alone). `None`: bytes
    /// were added, decode them.
    fn want_read(&mut self, whole_messages: bool) -> Result<Option<RecvStep>> {
        let r = &mut self.r;
        r.compacted();
        if r.end == r.size {
            // Cannot happen: every unit that must be whole in the buffer (a header, a
            // control frame) is smaller than the smallest read buffer.
            let e = wspc::ProtocolError::ControlFrameTooLong;
            return Err(self.fail_recv(e.into()));
        }
        if let Some(mut p) = r.cold.as_mut().and_then(|c| c.prefix.take()) {
            let n = r.put(&p.0[p.1..]);
            p.1 += n;
            let c = r.cold.as_mut().expect("held the prefix");
            if p.1 < p.0.len() {
                c.prefix = Some(p);
            } else if c.error.is_none() {
                r.cold = None;
            }
            return Ok(None);
        }
        let mut len = r.size - r.end;
        if r.expect_large && whole_messages && !self.dec.in_frame() {
            len = len.min(HEADER_PEEK as u32);
        }
        r.read = Some(PendingRead::Buffer { len });
        Ok(Some(RecvStep::Read))
    }

    /// Sets up a direct read of a large frame payload into the message being assembled.
    /// The vector grows in bounded, geometric steps: by at least `DIRECT_RESERVE_MIN`, by
    /// at most its length so far, and never past the frame.
    fn start_direct(&mut self, d: DirectPayload) -> bool {
        let r = &mut self.r;
        if d.remaining < DIRECT_RECV_MIN && !r.direct_partial {
            return false;
        }
        let v = RecvState::assembling(&mut r.assembly, &mut r.assembly_text, d.text);
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
        let (at, cap, upto) = r.direct_init;
        let init =
            if (at, cap) == (v.as_ptr() as usize, v.capacity()) { upto.saturating_sub(v.len()).min(len) } else { 0 };
        let len = len.min(DIRECT_READ_MAX);
        let init = init.min(len);
        r.read = Some(PendingRead::Direct { len: len as u32, payload: remaining.min(len) as u32, init: init as u32 });
        true
    }

    /// The assembled message. Text was validated by the decoder, or is checked here when
    /// the decoder does not verify UTF-8.
    fn message_of(&mut self, text: bool, buf: Vec<u8>) -> Result<Message> {
        self.r.expect_large = buf.len() >= LARGE_MESSAGE;
        self.r.direct_init = (0, 0, 0);
        if !text {
            return Ok(Message::Binary(buf.into()));
        }
        if !self.dec.verifies_utf8() {
            return match String::from_utf8(buf) {
                Ok(s) => Ok(Message::Text(s.into())),
                Err(_) => Err(self.fail_recv(wspc::Error::Protocol(wspc::ProtocolError::InvalidUtf8))),
            };
        }
        // SAFETY: `buf` holds exactly the bytes of one text message, in order: the chunks
        // of its `Event::Data` (up to the one with `last`; or the one appended chunk of
        // `decode_append`) and the parts completed by `Decoder::direct` (up to
        // `MessageEnd`). This decoder verifies UTF-8, and it
        // reports a message's end only after validating every byte of it and finding no
        // code point unfinished (`Decoder`'s guarantee on `Chunk::text`); any invalid byte
        // fails the connection before a message is handed out.
        Ok(Message::Text(unsafe { crate::Utf8Payload::from_vec_unchecked(buf) }))
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn an_idle_receive_side_is_small() {
        // The prefix and the final error: one pointer, null while there are neither.
        assert_eq!(size_of::<Option<Box<Cold>>>(), size_of::<usize>());
        // A pending read: `u32` counts and a tag.
        assert_eq!(size_of::<Option<PendingRead>>(), 16);
        // It was 152 bytes with `usize` counts, an `Option<(bool, Vec<u8>)>` and two boxes.
        let s = size_of::<RecvState>();
        assert!(s <= 112, "RecvState is {s} bytes");
    }
}
