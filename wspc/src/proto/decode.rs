//! The decoder: received bytes in, one event at a time out. Every receive-side rule of
//! RFC 6455 (and RFC 7692's inflation) is here, once: frame headers, the mask direction,
//! control frames, message sequencing, UTF-8, the configured limits.
//!
//! It works on whatever buffer the caller reads into, never copying payload: masked bytes
//! are unmasked in place, and a chunk is a range of the caller's input (or of the
//! inflater's output).
//!
//! (A little over 600 lines on purpose: the event types and the one state machine that
//! produces them are read together; a third of the file is their documentation.)

use crate::codec::frame::{parse_header, FrameHeader, OpCode};
use crate::codec::mask::{apply_mask, extend_masked};
use crate::codec::unmask_and_validate;
use crate::codec::utf8::Utf8Validator;
use crate::config::{Config, Role};
use crate::error::{Error, Misuse, ProtocolError};
use crate::types::close_status;

/// The data frame whose payload is arriving (24 bytes: every connection carries one).
#[derive(Clone, Copy)]
struct Frame {
    fin: bool,
    /// Payload bytes not yet handed out.
    remaining: u64,
    mask: Option<[u8; 4]>,
    /// Payload bytes unmasked so far, modulo 4 (the mask's phase).
    phase: u8,
    /// Bytes at the front of the next input that belong to this frame and are already
    /// unmasked and validated (input handed out by no event yet, which the caller presents
    /// again). At most `u32::MAX`: an input is looked at that much at a time.
    ready: u32,
}

/// The most input bytes of one frame unmasked and handed out at a time (`Frame::ready`).
const MAX_AVAIL: u64 = u32::MAX as u64;

/// The message whose frames are arriving (a copy of the decoder's fields: see
/// [`Decoder::message`]).
#[derive(Clone, Copy)]
struct Message {
    text: bool,
    compressed: bool,
    size: u64,
    frames: u64,
}

/// Where a chunk's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// In the input given to [`Decoder::decode`], from `start`.
    Input,
    /// In the inflater's output ([`Decoder::inflated`]), from `start`.
    Inflated,
    /// Appended to the vector given to [`Decoder::decode_append`], from `start`.
    Appended,
}

/// A piece of a text or binary message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Where the bytes are.
    pub source: Source,
    /// Their offset in the source.
    pub start: usize,
    /// Their length (0 only for the empty end of a message).
    pub len: usize,
    /// The message is text (these bytes are valid UTF-8 so far: a code point is split only
    /// where the peer's frames split it, and never at the end of a message).
    pub text: bool,
    /// The chunk ends its message.
    pub last: bool,
}

/// What [`Decoder::decode`] found. Payload ranges are offsets into its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// More input is needed (the unconsumed rest of this input, then more bytes).
    NeedMore,
    /// More input is needed, and it is payload of an uncompressed data frame: the next
    /// `remaining` bytes of the stream may be read straight into the caller's own memory
    /// and given to [`Decoder::direct`] (all of the input was consumed). Reading into the
    /// usual buffer and calling `decode` again is just as correct.
    Payload(DirectPayload),
    /// A piece of a message.
    Data(Chunk),
    /// A ping, its payload (at most 125 bytes) unmasked at `start..start + len`. The
    /// decoder does not answer it: that is the caller's (see [`Encoder`](super::Encoder)).
    Ping {
        /// Offset of the payload.
        start: usize,
        /// Its length.
        len: usize,
    },
    /// A pong, its payload unmasked at `start..start + len`.
    Pong {
        /// Offset of the payload.
        start: usize,
        /// Its length.
        len: usize,
    },
    /// A close frame: its status ([`close_status::EMPTY`] when it had none) and its
    /// reason, UTF-8 (checked when UTF-8 is verified), at `start..start + len`. Nothing
    /// after it is decoded.
    Close {
        /// The status code.
        code: u16,
        /// Offset of the reason.
        start: usize,
        /// Its length.
        len: usize,
    },
}

/// An event and how many input bytes it used up: drop that many from the front of the
/// input before the next call, and present the rest again, unchanged, in front of any new
/// bytes. The event's ranges point into the input as given (also into the consumed part):
/// they stay valid until the bytes are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes used up.
    pub consumed: usize,
    /// What was found.
    pub event: Event,
}

/// The current frame's payload, offered for a direct read ([`Event::Payload`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectPayload {
    /// Payload bytes of the frame not received yet.
    pub remaining: u64,
    /// The message is text (its bytes are validated as UTF-8 as they are completed).
    pub text: bool,
    /// The frame is the last of its message.
    pub last: bool,
}

/// Where a message stands after [`Decoder::direct`].
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

/// The receive side of RFC 6455 (and permessage-deflate), without I/O or buffers of its
/// own (except the inflater's output). See the module docs of [`proto`](super) for the
/// calling sequence.
pub struct Decoder {
    client: bool,
    accept_unmasked: bool,
    verify_utf8: bool,
    /// The limits, `u64::MAX` for none (no length or count can exceed it).
    max_message: u64,
    max_frame: u64,
    max_fragments: u64,
    frame: Option<Frame>,
    /// The message whose frames are arriving, kept as plain fields (its flags beside the
    /// decoder's own, instead of a padded `Option<Message>`): meaningful while
    /// `in_message`.
    in_message: bool,
    msg_text: bool,
    msg_compressed: bool,
    msg_size: u64,
    msg_frames: u64,
    utf8: Utf8Validator,
    /// Boxed: set at most once, when decoding fails (a pointer instead of 16 bytes).
    failed: Option<Box<ProtocolError>>,
    closed: bool,
    /// Boxed: most connections do not compress, and an idle one should stay small.
    #[cfg(feature = "deflate")]
    pub(crate) inflate: Option<Box<crate::deflate::Decompressor>>,
}

impl Decoder {
    /// A decoder for `config`'s role, masking, UTF-8 and limits (permessage-deflate comes
    /// with the handshake: see [`Handle::into_codec`](crate::Handle::into_codec)).
    pub fn new(config: &Config) -> Self {
        Self {
            client: config.role == Role::Client,
            accept_unmasked: config.role == Role::Server && config.disable_masking,
            verify_utf8: !config.disable_utf8,
            max_message: config.max_message_size.unwrap_or(u64::MAX),
            max_frame: config.max_frame_size.unwrap_or(u64::MAX),
            max_fragments: config.max_fragments.unwrap_or(u64::MAX),
            frame: None,
            in_message: false,
            msg_text: false,
            msg_compressed: false,
            msg_size: 0,
            msg_frames: 0,
            utf8: Utf8Validator::new(),
            failed: None,
            closed: false,
            #[cfg(feature = "deflate")]
            inflate: None,
        }
    }

    /// True when received text is checked to be UTF-8 (the default).
    pub fn verifies_utf8(&self) -> bool {
        self.verify_utf8
    }

    /// The protocol error that ended decoding, if any (every later call returns it).
    pub fn error(&self) -> Option<ProtocolError> {
        self.failed.as_deref().copied()
    }

    /// Ends decoding with `e` (found outside the decoder, by whoever holds the bytes).
    pub(crate) fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.failed = Some(Box::new(e));
        e
    }

    /// The message whose frames are arriving, if any.
    #[inline]
    fn message(&self) -> Option<Message> {
        self.in_message.then_some(Message {
            text: self.msg_text,
            compressed: self.msg_compressed,
            size: self.msg_size,
            frames: self.msg_frames,
        })
    }

    /// True once a close frame was decoded.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True while a data frame is partly decoded (its header parsed, payload to come).
    pub fn in_frame(&self) -> bool {
        self.frame.is_some()
    }

    /// `Some(text)` while a message is partly decoded.
    pub fn message_text(&self) -> Option<bool> {
        self.message().map(|m| m.text)
    }

    /// The bytes of a chunk, from the input it was decoded from or the inflater.
    ///
    /// # Panics
    /// For a [`Source::Appended`] chunk: its bytes are in the caller's vector.
    pub fn chunk<'a>(&'a self, input: &'a [u8], c: &Chunk) -> &'a [u8] {
        match c.source {
            Source::Input => &input[c.start..c.start + c.len],
            Source::Inflated => self.inflated(c.start, c.len),
            Source::Appended => panic!("an appended chunk is in the caller's vector"),
        }
    }

    /// Inflated output of the last [`Event::Data`] (valid until the next `decode` or
    /// [`release_inflated`](Self::release_inflated)).
    pub fn inflated(&self, start: usize, len: usize) -> &[u8] {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.inflate.as_ref() {
            return d.chunk(start, len);
        }
        assert!(start == 0 && len == 0, "no inflated output");
        &[]
    }

    /// The last chunk of a compressed message was used: the inflater's output buffer goes
    /// back to its pool, so an idle connection holds none.
    pub fn release_inflated(&mut self) {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.inflate.as_mut() {
            d.release_output();
        }
    }

    /// Decodes from `input` (unconsumed bytes of the last call first, then new ones):
    /// see [`Decoded`]. A protocol error is final: every later call returns it.
    pub fn decode(&mut self, input: &mut [u8]) -> Result<Decoded, ProtocolError> {
        self.decode_at_most(input, usize::MAX)
    }

    /// [`decode`](Self::decode) with data chunks of at most `max_chunk` bytes (at least 1).
    pub fn decode_at_most(&mut self, input: &mut [u8], max_chunk: usize) -> Result<Decoded, ProtocolError> {
        self.decode_with(input, max_chunk, None)
    }

    /// The one fast path for callers that assemble messages: [`decode`](Self::decode),
    /// except that a whole unfragmented, uncompressed message found between messages is
    /// appended to `out` unmasked while it is copied (one pass over the bytes instead of an
    /// unmask in place and a copy), text validated in the copy: its chunk is
    /// [`Source::Appended`], at `start` in `out`. Every other event is what `decode` gives
    /// (`out` untouched).
    pub fn decode_append(&mut self, input: &mut [u8], out: &mut Vec<u8>) -> Result<Decoded, ProtocolError> {
        self.decode_with(input, usize::MAX, Some(out))
    }

    fn decode_with(
        &mut self,
        input: &mut [u8],
        max_chunk: usize,
        out: Option<&mut Vec<u8>>,
    ) -> Result<Decoded, ProtocolError> {
        if let Some(e) = self.failed.as_deref() {
            return Err(*e);
        }
        let r = self.step(input, max_chunk.max(1), out);
        if let Err(e) = r {
            self.failed = Some(Box::new(e));
        }
        r
    }

    fn step(
        &mut self,
        input: &mut [u8],
        max_chunk: usize,
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<Decoded, ProtocolError> {
        let mut consumed = 0;
        loop {
            if self.frame.is_none() {
                if self.closed {
                    return Ok(Decoded { consumed, event: Event::NeedMore });
                }
                let avail = &mut input[consumed..];
                let Some(h) = parse_header(avail, self.allow_rsv1())? else {
                    return Ok(Decoded { consumed, event: Event::NeedMore });
                };
                match h.mask {
                    None if !self.client && !self.accept_unmasked => return Err(ProtocolError::UnmaskedFrame),
                    Some(_) if self.client => return Err(ProtocolError::MaskedFrame),
                    _ => {}
                }
                if let Some(d) = self.whole_message(avail, &h, consumed, max_chunk, out.take())? {
                    return Ok(d);
                }
                if h.opcode.is_control() {
                    if h.rsv1 {
                        return Err(ProtocolError::InvalidCompressedFrame);
                    }
                    let (p, len) = (h.header_len, h.len as usize);
                    if avail.len() < p + len {
                        return Ok(Decoded { consumed, event: Event::NeedMore });
                    }
                    if let Some(k) = h.mask {
                        apply_mask(&mut avail[p..p + len], k, 0);
                    }
                    let start = consumed + p;
                    consumed += p + len;
                    let event = match h.opcode {
                        OpCode::Ping => Event::Ping { start, len },
                        OpCode::Pong => Event::Pong { start, len },
                        _ => self.close(&avail[p..p + len], start)?,
                    };
                    return Ok(Decoded { consumed, event });
                }
                let new_message = h.opcode != OpCode::Continuation;
                match (self.in_message, new_message) {
                    (false, false) => return Err(ProtocolError::UnexpectedContinuation),
                    (true, true) => return Err(ProtocolError::ExpectedContinuation),
                    _ => {}
                }
                if h.rsv1 && !new_message {
                    return Err(ProtocolError::InvalidCompressedFrame);
                }
                self.check_limits(h.len, new_message)?;
                if new_message {
                    (self.in_message, self.msg_text, self.msg_compressed) = (true, h.opcode == OpCode::Text, h.rsv1);
                    (self.msg_size, self.msg_frames) = (0, 0);
                    self.utf8.reset();
                }
                self.msg_size += h.len;
                self.msg_frames += 1;
                consumed += h.header_len;
                self.frame = Some(Frame { fin: h.fin, remaining: h.len, mask: h.mask, phase: 0, ready: 0 });
            }
            let m = self.message().expect("a frame belongs to a message");
            let step = if m.compressed {
                self.step_compressed(&mut input[consumed..], m.text, max_chunk)?
            } else {
                self.step_data(&mut input[consumed..], m.text, max_chunk)?
            };
            match step {
                FrameStep::Again(n) => consumed += n,
                FrameStep::Need(n) => return Ok(Decoded { consumed: consumed + n, event: Event::NeedMore }),
                FrameStep::Payload(d) => return Ok(Decoded { consumed, event: Event::Payload(d) }),
                FrameStep::Chunk(mut c, n) => {
                    if c.source == Source::Input {
                        c.start += consumed;
                    }
                    return Ok(Decoded { consumed: consumed + n, event: Event::Data(c) });
                }
            }
        }
    }

    /// The common case, decoded without moving the frame and message state: a whole
    /// unfragmented, uncompressed text or binary message in `avail` (at `at` in the input),
    /// between messages. The same checks, in the same order, as frame by frame.
    #[inline]
    fn whole_message(
        &mut self,
        avail: &mut [u8],
        h: &FrameHeader,
        at: usize,
        max_chunk: usize,
        out: Option<&mut Vec<u8>>,
    ) -> Result<Option<Decoded>, ProtocolError> {
        let whole = h.fin
            && !h.rsv1
            && !self.in_message
            && matches!(h.opcode, OpCode::Text | OpCode::Binary)
            && h.len <= (avail.len() - h.header_len) as u64
            && h.len <= max_chunk as u64;
        if !whole {
            return Ok(None);
        }
        self.check_limits(h.len, true)?;
        let (p, len) = (h.header_len, h.len as usize);
        let text = h.opcode == OpCode::Text;
        let payload = &mut avail[p..p + len];
        let key = h.mask.unwrap_or([0; 4]);
        if let Some(out) = out {
            let start = out.len();
            extend_masked(out, payload, key, 0);
            if text && self.verify_utf8 && simdutf8::basic::from_utf8(&out[start..]).is_err() {
                out.truncate(start);
                return Err(ProtocolError::InvalidUtf8);
            }
            let c = Chunk { source: Source::Appended, start, len, text, last: true };
            return Ok(Some(Decoded { consumed: at + p + len, event: Event::Data(c) }));
        }
        if text && self.verify_utf8 {
            self.utf8.reset();
            if unmask_and_validate(payload, key, 0, &mut self.utf8).is_err() || self.utf8.finish().is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
        } else {
            apply_mask(payload, key, 0);
        }
        let c = Chunk { source: Source::Input, start: at + p, len, text, last: true };
        Ok(Some(Decoded { consumed: at + p + len, event: Event::Data(c) }))
    }

    /// The close frame with payload `p` (at `start` in the input).
    fn close(&mut self, p: &[u8], start: usize) -> Result<Event, ProtocolError> {
        let (code, at) = match p.len() {
            0 => (close_status::EMPTY, 0),
            1 => return Err(ProtocolError::InvalidClosePayload),
            _ => {
                let code = u16::from_be_bytes([p[0], p[1]]);
                if !close_status::is_valid_on_wire(code) {
                    return Err(ProtocolError::InvalidCloseCode(code));
                }
                (code, 2)
            }
        };
        if self.verify_utf8 && simdutf8::basic::from_utf8(&p[at..]).is_err() {
            return Err(ProtocolError::InvalidUtf8InCloseReason);
        }
        self.closed = true;
        Ok(Event::Close { code, start: start + at, len: p.len() - at })
    }

    /// Unmasks (and, if `validate`, feeds to the UTF-8 check) the bytes of the current
    /// frame in `input` not seen before. Returns the frame's bytes in `input`.
    fn unmask_fresh(&mut self, input: &mut [u8], validate: bool) -> Result<usize, ProtocolError> {
        let f = self.frame.as_mut().expect("a data frame is current");
        let avail = (input.len() as u64).min(f.remaining).min(MAX_AVAIL) as usize;
        let fresh = &mut input[(f.ready as usize).min(avail)..avail];
        if !fresh.is_empty() {
            let (key, offset) = (f.mask.unwrap_or([0; 4]), f.phase as usize);
            f.phase = ((f.phase as usize + fresh.len()) % 4) as u8;
            f.ready = avail as u32;
            if validate {
                unmask_and_validate(fresh, key, offset, &mut self.utf8).map_err(|_| ProtocolError::InvalidUtf8)?;
            } else {
                apply_mask(fresh, key, offset);
            }
        }
        Ok(avail)
    }

    /// The current frame and message end (the message if the frame was its last).
    fn end_frame(&mut self) {
        if self.frame.take().is_some_and(|f| f.fin) {
            self.in_message = false;
        }
    }

    /// Hands out (part of) the current uncompressed data frame from `input`.
    fn step_data(&mut self, input: &mut [u8], text: bool, max_chunk: usize) -> Result<FrameStep, ProtocolError> {
        let check = text && self.verify_utf8;
        let avail = self.unmask_fresh(input, check)?;
        let f = self.frame.as_mut().expect("a data frame is current");
        let ends_frame = avail as u64 == f.remaining;
        if avail == 0 && !ends_frame {
            let d = DirectPayload { remaining: f.remaining, text, last: f.fin };
            return Ok(FrameStep::Payload(d));
        }
        if ends_frame && f.fin && check && self.utf8.finish().is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        // Hold back the bytes of an unfinished code point (the last ones fed) unless the
        // frame ends: a chunk never ends inside a code point the peer did not split.
        let mut len = if ends_frame || !check { avail } else { avail - self.utf8.pending().min(avail) };
        let mut ends = ends_frame;
        if len > max_chunk {
            len = max_chunk;
            ends = false;
        }
        if ends && !f.fin && len == 0 {
            // An empty non-final frame: nothing to hand out.
            self.frame = None;
            return Ok(FrameStep::Again(0));
        }
        if len == 0 && !ends {
            return Ok(FrameStep::Need(0));
        }
        // (An empty final frame still ends its message: an empty last chunk.)
        f.remaining -= len as u64;
        f.ready -= len as u32;
        let last = ends && f.fin;
        if ends {
            self.end_frame();
        }
        Ok(FrameStep::Chunk(Chunk { source: Source::Input, start: 0, len, text, last }, len))
    }

    /// Inflates (part of) the current compressed message and hands out what comes out.
    #[cfg(feature = "deflate")]
    fn step_compressed(&mut self, input: &mut [u8], text: bool, max_chunk: usize) -> Result<FrameStep, ProtocolError> {
        let avail = self.unmask_fresh(input, false)?;
        let f = self.frame.as_mut().expect("a data frame is current");
        let frame_end = avail as u64 == f.remaining;
        let message_end = frame_end && f.fin;
        let inflater = self.inflate.as_mut().expect("compressed implies an inflater");
        let (consumed, produced, done) = inflater.inflate(&input[..avail], message_end, max_chunk)?;
        f.ready -= consumed as u32;
        f.remaining -= consumed as u64;
        if text && self.verify_utf8 {
            let out = inflater.chunk(0, produced);
            if self.utf8.feed(out).is_err() || (done && self.utf8.finish().is_err()) {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        if produced > 0 || done {
            if frame_end && f.remaining == 0 && (!f.fin || done) {
                self.end_frame();
            }
            let c = Chunk { source: Source::Inflated, start: 0, len: produced, text, last: done };
            return Ok(FrameStep::Chunk(c, consumed));
        }
        if f.remaining == 0 && !f.fin {
            self.frame = None;
            return Ok(FrameStep::Again(consumed));
        }
        if consumed > 0 {
            return Ok(FrameStep::Again(consumed));
        }
        Ok(FrameStep::Need(0))
    }

    #[cfg(not(feature = "deflate"))]
    fn step_compressed(&mut self, _: &mut [u8], _: bool, _: usize) -> Result<FrameStep, ProtocolError> {
        unreachable!("RSV1 is refused without deflate")
    }

    /// What [`Event::Payload`] said, while it still holds: an uncompressed data frame's
    /// payload is incomplete and none of it is held in the caller's input (no bytes of an
    /// unfinished code point kept back, no error).
    pub fn direct_offer(&self) -> Option<DirectPayload> {
        let (f, m) = (self.frame.as_ref()?, self.message()?);
        if m.compressed || f.remaining == 0 || f.ready != 0 || self.failed.is_some() {
            return None;
        }
        Some(DirectPayload { remaining: f.remaining, text: m.text, last: f.fin })
    }

    /// Rust-only fast path after [`Event::Payload`]: `bytes` are the next payload bytes of
    /// the current frame (at most its `remaining`), which the caller read from the stream
    /// into its own memory. They are unmasked in place and, for text, validated as part of
    /// the message; the frame (and its message, if final) ends with its last byte. Until
    /// the status says the frame ended, the stream's next bytes are still this payload:
    /// call `direct` again, or `decode` with them.
    pub fn direct(&mut self, bytes: &mut [u8]) -> Result<DirectStatus, Error> {
        if self.direct_offer().is_none() {
            return Err(Misuse::WrongState("no frame payload can be read directly now").into());
        }
        let f = self.frame.as_mut().expect("checked by direct_offer");
        if bytes.len() as u64 > f.remaining {
            return Err(Misuse::InvalidArgument("more bytes than the frame's remaining payload").into());
        }
        let text = self.in_message && self.msg_text;
        let check = text && self.verify_utf8;
        let (key, offset) = (f.mask.unwrap_or([0; 4]), f.phase as usize);
        let valid = if check {
            unmask_and_validate(bytes, key, offset, &mut self.utf8).is_ok()
        } else {
            apply_mask(bytes, key, offset);
            true
        };
        f.phase = ((f.phase as usize + bytes.len()) % 4) as u8;
        f.remaining -= bytes.len() as u64;
        let (remaining, fin) = (f.remaining, f.fin);
        if !valid || (check && remaining == 0 && fin && self.utf8.finish().is_err()) {
            let e = ProtocolError::InvalidUtf8;
            self.failed = Some(Box::new(e));
            return Err(e.into());
        }
        if remaining > 0 {
            return Ok(DirectStatus::Partial { remaining });
        }
        self.end_frame();
        Ok(if fin { DirectStatus::MessageEnd } else { DirectStatus::FrameEnd })
    }

    fn check_limits(&self, len: u64, new_message: bool) -> Result<(), ProtocolError> {
        let limit = self.max_frame;
        if len > limit {
            return Err(ProtocolError::FrameTooBig { limit });
        }
        let (size, frames, compressed) = match (self.message(), new_message) {
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
}

/// Progress inside a data frame; counts are input bytes used up.
enum FrameStep {
    Again(usize),
    Need(usize),
    Payload(DirectPayload),
    Chunk(Chunk, usize),
}
