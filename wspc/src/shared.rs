//! Frames encoded once and written to many connections (publish/subscribe fan-out).
//!
//! A server's frames are not masked, so the frame of a whole message is the same bytes on
//! every connection that does not compress it, and, with permessage-deflate, on every
//! connection whose compressor starts each message afresh (no context takeover) with the
//! same window and level. [`encode_message`] and [`SharedCompressor::encode`] write such a
//! frame once; [`SendHalf::shared_encoding`] says which of them a connection can take, and
//! [`SendHalf::begin_shared`] / [`SendHalf::end_shared`] bracket writing it, so the engine's
//! message and close state and its wire (an automatic pong never lands inside the frame)
//! stay exact. A connection that compresses with context takeover (or a client, whose
//! frames are masked) sends the message through its own queue instead.

use crate::codec::frame::OpCode;
use crate::config::Role;
use crate::error::{Misuse, Result};
use crate::proto::{append_frame, Encoder, FrameHead};
use crate::region::WIRE_SEND;
use crate::send::SendHalf;

/// Which shared frame of a message a connection can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedEncoding {
    /// The uncompressed frame ([`encode_message`]).
    Plain,
    /// The frame compressed on its own with this window and level
    /// ([`SharedCompressor::encode`]).
    Deflate {
        /// LZ77 window bits (9-15).
        window_bits: u8,
        /// zlib level (0-9).
        level: u32,
    },
    /// None: the connection encodes the message itself (masked client frames, or a
    /// compressor that keeps its context between messages).
    Own,
}

fn opcode(text: bool) -> OpCode {
    if text {
        OpCode::Text
    } else {
        OpCode::Binary
    }
}

/// The header of an unmasked whole-message frame.
fn head(text: bool, rsv1: bool) -> FrameHead {
    FrameHead::unmasked(true, rsv1, opcode(text))
}

/// Appends the unmasked frame of a whole message (FIN, text or binary) to `out`: what a
/// server without compression sends for it.
pub fn encode_message(text: bool, payload: &[u8], out: &mut Vec<u8>) {
    append_frame(out, &head(text, false), payload);
}

/// A compressor for shared frames: each message is compressed on its own, as a connection
/// without context takeover does. Keep one per (window, level) and reuse it: building one
/// allocates zlib's state.
#[cfg(feature = "deflate")]
pub struct SharedCompressor(crate::deflate::Compressor);

#[cfg(feature = "deflate")]
impl SharedCompressor {
    /// A compressor writing what a connection negotiated with `window_bits` and `level`
    /// produces (the values of [`SharedEncoding::Deflate`]).
    pub fn new(window_bits: u8, level: u32) -> Self {
        Self(crate::deflate::Compressor::new(level, window_bits, true, 0))
    }

    /// Appends the compressed (RSV1) unmasked frame of a whole message to `out`.
    pub fn encode(&mut self, text: bool, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.0.compress(payload, true, true)?;
        append_frame(out, &head(text, true), self.0.output());
        self.0.release_output();
        Ok(())
    }
}

impl Encoder {
    /// Which shared frame of a whole message of `len` payload bytes this encoder can write
    /// in place of encoding it (see the module docs).
    pub fn shared_encoding(&self, len: usize) -> SharedEncoding {
        if self.is_client() {
            return SharedEncoding::Own;
        }
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_ref() {
            return match (d.resets(), d.compresses(len)) {
                (_, false) => SharedEncoding::Plain,
                (true, true) => SharedEncoding::Deflate { window_bits: d.window_bits(), level: d.level() },
                (false, true) => SharedEncoding::Own,
            };
        }
        let _ = len;
        SharedEncoding::Plain
    }
}

impl SendHalf {
    /// Which shared frame of a whole message of `len` payload bytes this connection can
    /// write in place of encoding it (see the module docs and [`Encoder::shared_encoding`]).
    pub fn shared_encoding(&self, len: usize) -> SharedEncoding {
        self.enc.shared_encoding(len)
    }

    /// Starts writing a shared frame (of a whole text or binary message, encoded as
    /// [`shared_encoding`](Self::shared_encoding) said): refuses what a data send
    /// refuses (a send pending, a fragmented message in progress, a close sent, a client
    /// handle) and takes the wire. Returns `Ok(false)`, having changed nothing, while the
    /// receive half is writing an automatic pong (write what is gathered first, or send
    /// the message through the queue). After `Ok(true)`, write the frame's bytes, then
    /// call [`end_shared`](Self::end_shared); nothing else is written in between.
    pub fn begin_shared(&mut self) -> Result<bool> {
        self.check_idle()?;
        if self.role != Role::Server {
            return Err(Misuse::WrongState("shared frames are unmasked: servers only").into());
        }
        if self.enc.in_message() {
            return Err(Misuse::WrongState("a fragmented message is in progress").into());
        }
        if self.enc.is_close_sent() {
            return Err(Misuse::WrongState("a close was already sent").into());
        }
        Ok(self.shared.try_acquire_wire(WIRE_SEND))
    }

    /// The shared frame begun by [`begin_shared`](Self::begin_shared) was written whole
    /// (`true`), or cut (`false`: the stream is broken and later sends fail).
    pub fn end_shared(&mut self, whole: bool) {
        if !whole {
            self.shared.break_wire();
        }
        self.shared.release_wire(WIRE_SEND);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BufferType, Config, Handle};

    fn open(cfg: Config) -> Handle {
        let mut h = Handle::server(cfg).unwrap();
        h.open_without_handshake().unwrap();
        h
    }

    #[test]
    fn the_plain_shared_frame_is_what_the_encoder_writes() {
        let (mut e, _) = open(Config::server()).into_codec().unwrap();
        for len in [0usize, 5, 125, 126, 70_000] {
            let payload = vec![b'x'; len];
            let (mut a, mut b) = (Vec::new(), Vec::new());
            e.encode(BufferType::Utf8Message, &payload, &mut a).unwrap();
            encode_message(true, &payload, &mut b);
            assert_eq!(a, b, "len {len}");
            assert_eq!(e.shared_encoding(len), SharedEncoding::Plain);
        }
    }

    #[test]
    fn shared_sends_keep_the_engine_state() {
        let mut h = open(Config::server());
        assert!(h.send_half().begin_shared().unwrap());
        h.send_half().end_shared(true);
        h.send_half().enc.encode(BufferType::Utf8Fragment, b"a", &mut Vec::new()).unwrap();
        assert!(h.send_half().begin_shared().is_err(), "inside a fragmented message");
        let mut c = Handle::client(Config::client()).unwrap();
        c.open_without_handshake().unwrap();
        assert!(c.send_half().begin_shared().is_err());
        assert_eq!(c.send_half().shared_encoding(10), SharedEncoding::Own);
        let mut h = open(Config::server());
        h.send_half().end_shared(false);
        assert!(h.send_data(BufferType::BinaryMessage, "x", 0).is_err(), "a cut shared frame breaks the wire");
    }

    /// A server handle that negotiated permessage-deflate with `server_no_context_takeover`
    /// as given.
    #[cfg(feature = "deflate")]
    fn deflating(reset: bool) -> Handle {
        use crate::deflate::{DeflateConfig, DeflatePolicy};
        use crate::{Header, OwnedHeader};
        let policy = if reset { DeflatePolicy::Lean } else { DeflatePolicy::BestRatio };
        let dc = DeflateConfig { threshold: 16, ..DeflateConfig::policy(policy) };
        let mut client = Handle::client(Config::client().deflate(Some(dc.clone()))).unwrap();
        let mut server = Handle::server(Config::server().deflate(Some(dc))).unwrap();
        let mut req: Vec<OwnedHeader> = client.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
        req.push(OwnedHeader { name: "Host".into(), value: "h".into() });
        let req: Vec<Header> = req.iter().map(OwnedHeader::as_header).collect();
        server.begin_server_handshake(None, &[], &req).unwrap();
        server.end_server_handshake().unwrap();
        server
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn the_compressed_shared_frame_is_what_a_resetting_connection_writes() {
        let payload = b"the same message, compressed once for every subscriber ".repeat(20);
        let (mut h, _) = deflating(true).into_codec().unwrap();
        let enc = h.shared_encoding(payload.len());
        let SharedEncoding::Deflate { window_bits, level } = enc else { panic!("{enc:?}") };
        let mut c = SharedCompressor::new(window_bits, level);
        for _ in 0..3 {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            h.encode(BufferType::Utf8Message, &payload, &mut a).unwrap();
            c.encode(true, &payload, &mut b).unwrap();
            assert_eq!(a, b);
            assert!(b.len() < payload.len() / 4);
        }
        assert_eq!(h.shared_encoding(15), SharedEncoding::Plain, "under the threshold");
        assert_eq!(deflating(false).send_half().shared_encoding(payload.len()), SharedEncoding::Own);
    }
}
