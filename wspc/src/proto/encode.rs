//! The encoder: every send-side rule of RFC 6455 (and RFC 7692's compression), once: which
//! opcode a frame takes inside a message, no data after a close, control payload and close
//! reason limits, when RSV1 is set, the mask key of a client frame.
//!
//! It writes into the caller's memory: a header into a small buffer (for a vectored write of
//! header + payload), or a whole frame appended to a vector.

use crate::codec::frame::{encode_header, OpCode, MAX_HEADER_LEN};
use crate::codec::mask::{apply_mask, copy_masked};
use crate::config::{Config, Role};
use crate::error::{Misuse, Result};
use crate::types::{close_status, BufferType, MAX_CLOSE_REASON_LENGTH, MAX_CONTROL_PAYLOAD};

/// One frame as [`Encoder::begin`] planned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// FIN.
    pub fin: bool,
    /// RSV1: the message is compressed (its first frame only).
    pub rsv1: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The mask key (clients).
    pub mask: Option<[u8; 4]>,
    /// The body is the compressor's output ([`Encoder::body`]), not the payload.
    pub compressed: bool,
    /// A close frame's status, written before its body.
    pub close_status: Option<u16>,
    /// The message state before this frame (restored by [`Encoder::cancel`]).
    prev_message: Option<bool>,
}

impl FrameHead {
    /// An unmasked frame of no message state (a frame encoded once for many connections:
    /// see [`encode_message`](crate::encode_message)).
    pub(crate) fn unmasked(fin: bool, rsv1: bool, opcode: OpCode) -> Self {
        Self { fin, rsv1, opcode, mask: None, compressed: rsv1, close_status: None, prev_message: None }
    }

    /// Bytes before the body in the payload (2 for a close with a status).
    pub fn prefix(&self) -> usize {
        if self.close_status.is_some() {
            2
        } else {
            0
        }
    }

    /// Writes the frame's header for a body of `body_len` bytes (and the close status, masked)
    /// into `out` (at least [`MAX_HEADER_LEN`] + 2 bytes); returns its length.
    #[inline]
    pub fn write_header(&self, body_len: usize, out: &mut [u8]) -> usize {
        let len = (self.prefix() + body_len) as u64;
        let mut p = encode_header(out, self.fin, self.rsv1, self.opcode, self.mask, len);
        if let Some(status) = self.close_status {
            copy_masked(&mut out[p..p + 2], &status.to_be_bytes(), self.mask.unwrap_or([0; 4]), 0);
            p += 2;
        }
        p
    }

    /// Masks `body` bytes that start `at` bytes into the body, in place (nothing for an
    /// unmasked frame).
    #[inline]
    pub fn mask_body(&self, body: &mut [u8], at: usize) {
        if let Some(k) = self.mask {
            apply_mask(body, k, self.prefix() + at);
        }
    }

    /// Copies `body` bytes that start `at` bytes into the body to `out`, masked.
    pub fn copy_body(&self, out: &mut [u8], body: &[u8], at: usize) {
        copy_masked(out, body, self.mask.unwrap_or([0; 4]), self.prefix() + at);
    }

    /// True when the body must be copied to be masked (a client's non-zero key); otherwise
    /// it can be written from where it is.
    pub fn masks(&self) -> bool {
        matches!(self.mask, Some(k) if k != [0; 4])
    }
}

/// Mask keys for one side: none for a server, zero for a client without masking. One
/// pointer: a server's is null, a client's points to its key pool (which also holds the
/// "zero keys" choice), so an encoder or receive half carries no padding for it.
pub(crate) struct Masker {
    keys: Option<Box<MaskKeys>>,
}

impl Masker {
    pub(crate) fn new(role: Role, disable_masking: bool) -> Self {
        Self { keys: (role == Role::Client).then(|| Box::new(MaskKeys::new(disable_masking))) }
    }

    /// The key of the next frame.
    #[inline]
    pub(crate) fn next(&mut self) -> Option<[u8; 4]> {
        self.keys.as_mut().map(|k| k.next())
    }

    pub(crate) fn is_client(&self) -> bool {
        self.keys.is_some()
    }
}

/// The longest control frame: a 2-byte header, a mask key and 125 bytes of payload.
pub const MAX_CONTROL_FRAME: usize = 2 + 4 + MAX_CONTROL_PAYLOAD;

/// Writes a whole control frame (ping or pong, at most 125 bytes of payload) at the start of
/// `out` (at least [`control_frame_len`] bytes); returns its length.
pub(crate) fn write_control(out: &mut [u8], opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> usize {
    debug_assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
    let h = encode_header(out, true, false, opcode, mask, payload.len() as u64);
    copy_masked(&mut out[h..h + payload.len()], payload, mask.unwrap_or([0; 4]), 0);
    h + payload.len()
}

/// The length of the control frame [`write_control`] writes for a `len`-byte payload.
pub(crate) fn control_frame_len(len: usize, masked: bool) -> usize {
    2 + if masked { 4 } else { 0 } + len
}

/// Appends a whole frame of `head` to `out`: header, then `body` masked with its key.
#[inline]
pub fn append_frame(out: &mut Vec<u8>, head: &FrameHead, body: &[u8]) {
    let mut hdr = [0u8; MAX_HEADER_LEN + 2];
    let h = head.write_header(body.len(), &mut hdr);
    out.reserve(h + body.len());
    out.extend_from_slice(&hdr[..h]);
    let at = out.len();
    out.extend_from_slice(body);
    head.mask_body(&mut out[at..], 0);
}

#[cfg(feature = "deflate")]
/// Boxed: most connections do not compress, and an idle one should stay small.
pub(crate) type Deflater = Option<Box<crate::deflate::Compressor>>;
#[cfg(not(feature = "deflate"))]
pub(crate) type Deflater = ();

/// The send side of RFC 6455 (and permessage-deflate). See the module docs of
/// [`proto`](super) for the calling sequence.
pub struct Encoder {
    masker: Masker,
    /// `Some(text)` while a fragmented message is being sent.
    message: Option<bool>,
    close_sent: bool,
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) deflate: Deflater,
}

impl Encoder {
    /// An encoder for `config`'s role and masking (permessage-deflate comes with the
    /// handshake: see [`Handle::into_codec`](crate::Handle::into_codec)).
    pub fn new(config: &Config) -> Self {
        Self::with(config.role, config.disable_masking)
    }

    pub(crate) fn with(role: Role, disable_masking: bool) -> Self {
        Self {
            masker: Masker::new(role, disable_masking),
            message: None,
            close_sent: false,
            deflate: Default::default(),
        }
    }

    /// True for a client's encoder (whose frames are masked).
    pub fn is_client(&self) -> bool {
        self.masker.is_client()
    }

    /// True once a close frame was begun (and not cancelled).
    pub fn is_close_sent(&self) -> bool {
        self.close_sent
    }

    /// True while a fragmented message is being sent.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// The mask key for a control frame the caller writes itself (an automatic pong).
    pub(crate) fn control_mask(&mut self) -> Option<[u8; 4]> {
        self.masker.next()
    }

    /// Plans the next frame: `ty` is a data type (its message end decides FIN), a ping
    /// (`PingPong`), a pong (`UnsolicitedPong`) or `Close` (with `close_status`, whose
    /// `payload` is the reason; no status: empty). Refuses what breaks the protocol (data
    /// after a close, text and binary mixed in a message, a control payload over 125
    /// bytes, a close status that may not be sent, a reason over 123 bytes) and otherwise
    /// moves the message and close state on, compresses a data payload when deflate
    /// applies, and draws a mask key. Then write [`FrameHead::write_header`] and the
    /// [`body`](Self::body), and call [`end`](Self::end) once the body was used.
    #[inline]
    pub fn begin(&mut self, ty: BufferType, close_status: Option<u16>, payload: &[u8]) -> Result<FrameHead> {
        let opcode = match ty {
            BufferType::Close => {
                match close_status {
                    Some(s) if !close_status::is_valid_on_wire(s) => {
                        return Err(Misuse::InvalidArgument("close status may not be sent").into())
                    }
                    Some(_) if payload.len() > MAX_CLOSE_REASON_LENGTH => {
                        return Err(Misuse::InvalidArgument("close reason longer than 123 bytes").into())
                    }
                    None if !payload.is_empty() => {
                        return Err(Misuse::InvalidArgument("a close reason needs a status").into())
                    }
                    _ => {}
                }
                OpCode::Close
            }
            BufferType::PingPong | BufferType::UnsolicitedPong => {
                if payload.len() > MAX_CONTROL_PAYLOAD {
                    return Err(Misuse::InvalidArgument("ping/pong payload over 125 bytes").into());
                }
                if ty == BufferType::PingPong {
                    OpCode::Ping
                } else {
                    OpCode::Pong
                }
            }
            _ => {
                let text = ty.is_text();
                match self.message {
                    None if text => OpCode::Text,
                    None => OpCode::Binary,
                    Some(t) if t == text => OpCode::Continuation,
                    Some(_) => return Err(Misuse::WrongState("text and binary mixed in one message").into()),
                }
            }
        };
        if self.close_sent && !matches!(opcode, OpCode::Ping | OpCode::Pong) {
            return Err(Misuse::WrongState("a close was already sent").into());
        }
        let prev_message = self.message;
        let fin = !ty.is_data() || ty.is_message_end();
        #[allow(unused_mut)]
        let (mut rsv1, mut compressed) = (false, false);
        #[cfg(feature = "deflate")]
        if ty.is_data() {
            if let Some(d) = self.deflate.as_mut() {
                (rsv1, compressed) = d.compress(payload, opcode != OpCode::Continuation, fin)?;
            }
        }
        if ty.is_data() {
            self.message = if fin { None } else { Some(ty.is_text()) };
        }
        if opcode == OpCode::Close {
            self.close_sent = true;
        }
        let mask = self.masker.next();
        Ok(FrameHead {
            fin,
            rsv1,
            opcode,
            mask,
            compressed,
            close_status: close_status.filter(|_| opcode == OpCode::Close),
            prev_message,
        })
    }

    /// The bytes that follow the header (and close status) of `head`'s frame: the
    /// compressor's output or `payload`, unmasked.
    #[inline]
    pub fn body<'a>(&'a self, head: &FrameHead, payload: &'a [u8]) -> &'a [u8] {
        #[cfg(feature = "deflate")]
        if head.compressed {
            return self.deflate.as_ref().expect("compressed implies a compressor").output();
        }
        let _ = head;
        payload
    }

    /// The body was written (or copied): the compressor's output buffer is released.
    #[inline]
    pub fn end(&mut self) {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_mut() {
            d.release_output();
        }
    }

    /// Nothing of `head`'s frame reached the wire: the message and close state go back to
    /// what they were before [`begin`](Self::begin).
    pub fn cancel(&mut self, head: &FrameHead) {
        if head.opcode == OpCode::Close {
            self.close_sent = false;
        } else if !head.opcode.is_control() {
            self.message = head.prev_message;
        }
    }

    /// Appends one whole frame to `out`: [`begin`](Self::begin), header, masked body,
    /// [`end`](Self::end).
    #[inline]
    pub fn encode(&mut self, ty: BufferType, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let head = self.begin(ty, None, payload)?;
        append_frame(out, &head, self.body(&head, payload));
        self.end();
        Ok(())
    }

    /// Appends a close frame (`status` `None`: empty) to `out`.
    pub fn encode_close(&mut self, status: Option<u16>, reason: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let head = self.begin(BufferType::Close, status, reason)?;
        append_frame(out, &head, reason);
        Ok(())
    }
}

const KEY_POOL: usize = 256;

/// Mask keys from the operating system's CSPRNG, fetched 64 at a time (RFC 6455 §5.3 asks
/// for unpredictable keys; one system call per 64 frames keeps that cheap): a client's, on
/// the heap (a server, which never masks, has none). Filled on first use.
pub(crate) struct MaskKeys {
    pool: [u8; KEY_POOL],
    pos: u16,
    /// Masking disabled: every key is zero (nothing is drawn).
    zero: bool,
}

impl MaskKeys {
    fn new(zero: bool) -> Self {
        Self { pool: [0; KEY_POOL], pos: KEY_POOL as u16, zero }
    }

    fn next(&mut self) -> [u8; 4] {
        if self.zero {
            return [0; 4];
        }
        if usize::from(self.pos) + 4 > KEY_POOL {
            getrandom::fill(&mut self.pool[..]).expect("the operating system's random source failed");
            self.pos = 0;
        }
        let p = usize::from(self.pos);
        self.pos += 4;
        [self.pool[p], self.pool[p + 1], self.pool[p + 2], self.pool[p + 3]]
    }
}
