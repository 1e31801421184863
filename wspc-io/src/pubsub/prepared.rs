//! [`PreparedMessage`]: a message published to many connections, its frame encoded once.

use crate::Result;
use bytes::Bytes;
use std::sync::Mutex;
use wspc::{BufferType, SharedEncoding};

/// A whole text or binary message for many connections. Its uncompressed frame is encoded
/// once, when the message is made (the payload is a slice of it: one allocation); a
/// compressed frame is made once per window size and level, when the first connection that
/// takes it writes it (see [`wspc::SharedEncoding`]). Connections write these bytes as
/// they are; a connection that cannot (a client, or one compressing with context takeover)
/// encodes the payload itself.
pub struct PreparedMessage {
    text: bool,
    /// Header + payload.
    plain: Bytes,
    header: usize,
    /// Compressed frames made so far, by (window bits, level): usually none or one.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    deflated: Mutex<Vec<(u8, u32, Bytes)>>,
}

impl std::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedMessage").field("text", &self.text).field("len", &self.payload().len()).finish()
    }
}

impl PreparedMessage {
    fn new(text: bool, payload: &[u8]) -> Self {
        let mut frame = Vec::new();
        wspc::encode_message(text, payload, &mut frame);
        let header = frame.len() - payload.len();
        Self { text, plain: Bytes::from(frame), header, deflated: Mutex::new(Vec::new()) }
    }

    /// A text message.
    pub fn text(s: &str) -> Self {
        Self::new(true, s.as_bytes())
    }

    /// A binary message.
    pub fn binary(b: &[u8]) -> Self {
        Self::new(false, b)
    }

    /// True for a text message.
    pub fn is_text(&self) -> bool {
        self.text
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.plain[self.header..]
    }

    /// The engine's type of the message.
    pub fn buffer_type(&self) -> BufferType {
        if self.text {
            BufferType::Utf8Message
        } else {
            BufferType::BinaryMessage
        }
    }

    /// The uncompressed frame (header and payload).
    pub fn frame_bytes(&self) -> &Bytes {
        &self.plain
    }

    /// How many compressed frames were made of it so far (one per window and level in use
    /// among its subscribers that take one).
    pub fn compressed_frames(&self) -> usize {
        self.deflated.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The frame a connection whose engine says `enc` writes (`None` for
    /// [`SharedEncoding::Own`]). A compressed frame is made at its first use.
    pub fn frame(&self, enc: SharedEncoding) -> Result<Option<Bytes>> {
        match enc {
            SharedEncoding::Plain => Ok(Some(self.plain.clone())),
            SharedEncoding::Own => Ok(None),
            #[cfg(feature = "deflate")]
            SharedEncoding::Deflate { window_bits, level } => self.deflated(window_bits, level).map(Some),
            #[cfg(not(feature = "deflate"))]
            SharedEncoding::Deflate { .. } => Ok(None),
        }
    }

    /// The compressed frame for `bits` and `level`, made once (under the lock, so that
    /// subscribers on several threads do not compress it twice).
    #[cfg(feature = "deflate")]
    fn deflated(&self, bits: u8, level: u32) -> Result<Bytes> {
        let mut made = self.deflated.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, b)) = made.iter().find(|(b, l, _)| (*b, *l) == (bits, level)) {
            return Ok(b.clone());
        }
        let mut out = Vec::new();
        with_compressor(bits, level, |c| c.encode(self.text, self.payload(), &mut out))?;
        let b = Bytes::from(out);
        made.push((bits, level, b.clone()));
        Ok(b)
    }
}

#[cfg(feature = "deflate")]
thread_local! {
    /// Compressors for shared frames, by (window bits, level): zlib's state is made once
    /// per thread, not per message.
    static COMPRESSORS: std::cell::RefCell<Vec<(u8, u32, wspc::SharedCompressor)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(feature = "deflate")]
fn with_compressor<R>(bits: u8, level: u32, f: impl FnOnce(&mut wspc::SharedCompressor) -> R) -> R {
    COMPRESSORS.with(|cs| {
        let mut cs = cs.borrow_mut();
        let i = match cs.iter().position(|(b, l, _)| (*b, *l) == (bits, level)) {
            Some(i) => i,
            None => {
                cs.push((bits, level, wspc::SharedCompressor::new(bits, level)));
                cs.len() - 1
            }
        };
        f(&mut cs[i].2)
    })
}
