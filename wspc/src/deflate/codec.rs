//! The compressor of the send half and the decompressor of the receive half.
//!
//! A direction with context takeover owns its zlib stream (created on its first compressed
//! message and kept); one without borrows a stream from the per-thread [`pool`] for one
//! message. Either way the output buffers are borrowed only while a message's output is lent
//! out, so what an idle connection holds is the dedicated streams, if any, and nothing else.

use super::pool::{self, DeflateKey};
use crate::error::{ProtocolError, Result};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The send side's compressor.
pub struct Compressor {
    key: DeflateKey,
    /// Present while a message is being compressed, or for good with context takeover.
    stream: Option<Box<Compress>>,
    /// No context takeover: the stream goes back to the pool after each message.
    pooled: bool,
    threshold: usize,
    out: Vec<u8>,
    /// The message being sent is compressed (decided at its first frame).
    in_message: bool,
}

impl Compressor {
    pub(crate) fn new(level: u32, bits: u8, reset: bool, threshold: usize) -> Self {
        // zlib cannot produce a raw stream for an 8-bit window; stored blocks (level 0)
        // never refer back at all, so they are valid for any window.
        let (level, window_bits) = if bits < 9 { (0, 9) } else { (level.min(9), bits) };
        Self {
            key: DeflateKey { level, window_bits },
            stream: None,
            pooled: reset,
            threshold,
            out: Vec::new(),
            in_message: false,
        }
    }

    pub(crate) fn output(&self) -> &[u8] {
        &self.out
    }

    /// The window (9-15, after the 8-bit fallback) the stream is written with.
    pub(crate) fn window_bits(&self) -> u8 {
        self.key.window_bits
    }

    /// The compression level (after the 8-bit fallback).
    pub(crate) fn level(&self) -> u32 {
        self.key.level
    }

    /// True when every message is compressed on its own (no context takeover).
    pub(crate) fn resets(&self) -> bool {
        self.pooled
    }

    /// True when a whole message of `len` bytes would be compressed.
    pub(crate) fn compresses(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Compresses one send. Returns (RSV1, body is the compressed output). The output stays
    /// valid until [`release_output`](Self::release_output).
    pub(crate) fn compress(&mut self, data: &[u8], first: bool, fin: bool) -> Result<(bool, bool)> {
        if first {
            self.in_message = !fin || data.len() >= self.threshold;
        }
        if !self.in_message {
            return Ok((false, false));
        }
        if self.out.capacity() == 0 {
            self.out = pool::take_vec();
        }
        self.out.clear();
        let key = self.key;
        let c = self.stream.get_or_insert_with(|| pool::take_deflate(key));
        let mut input = data;
        loop {
            if self.out.capacity() - self.out.len() < 64 {
                self.out.reserve(input.len() / 2 + 256);
            }
            let before_in = c.total_in();
            let st = c
                .compress_vec(input, &mut self.out, FlushCompress::Sync)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            input = &input[(c.total_in() - before_in) as usize..];
            // Done once the input is used up and the flush fits. `BufError` means zlib could make
            // no progress: with no input left the flush is already complete (an empty fragment
            // right after a flushed one, or output that exactly filled the vector); looping on
            // it never ends.
            if input.is_empty() && (self.out.len() < self.out.capacity() || st == Status::BufError) {
                break;
            }
        }
        if fin {
            if self.out.ends_with(&TRAILER) {
                self.out.truncate(self.out.len() - 4);
            } else if self.out.is_empty() {
                // Nothing new since the last flush (an empty final fragment, or an empty message
                // right after one), so zlib emitted nothing. The receiver appends 00 00 ff ff to
                // every message (RFC 7692 §7.2.2): send the byte that starts an empty stored
                // block (BFINAL 0, BTYPE 00) so that those four bytes complete it.
                self.out.push(0x00);
            }
            if self.pooled {
                if let Some(c) = self.stream.take() {
                    pool::put_deflate(key, c);
                }
            }
        }
        Ok((first, true))
    }

    /// The compressed output of the last send is no longer lent: its buffer goes back to the
    /// pool (or is freed when larger than [`pool::MAX_POOLED_BUFFER`]).
    pub(crate) fn release_output(&mut self) {
        pool::put_vec(std::mem::take(&mut self.out));
    }

    /// Bytes this compressor holds between messages (its own stream; pooled ones are not
    /// counted): for tests and documentation.
    #[cfg(test)]
    pub(crate) fn holds_stream(&self) -> bool {
        self.stream.is_some()
    }
}

/// The receive side's decompressor.
pub struct Decompressor {
    /// Present while a message is being inflated, or for good with context takeover.
    stream: Option<Box<Decompress>>,
    window_bits: u8,
    /// No context takeover: the stream goes back to the pool after each message.
    pooled: bool,
    /// Inflated output, lent out in chunks; present only while a message's output is.
    out: Option<Box<[u8]>>,
    out_len: usize,
    max_message: Option<u64>,
    produced: u64,
    trailer_fed: bool,
}

impl Decompressor {
    pub(crate) fn new(bits: u8, reset: bool, out_len: usize, max_message: Option<u64>) -> Self {
        Self {
            stream: None,
            window_bits: bits.max(9),
            pooled: reset,
            out: None,
            out_len,
            max_message,
            produced: 0,
            trailer_fed: false,
        }
    }

    pub(crate) fn chunk(&self, start: usize, len: usize) -> &[u8] {
        &self.out.as_deref().expect("inflated output is lent")[start..start + len]
    }

    /// Inflates `input` into the output buffer. `end` is true once the message's last byte
    /// is in `input`; at most `limit` bytes come out. Returns (input consumed, output
    /// produced, message complete). The output stays valid until the next call or
    /// [`release_output`](Self::release_output).
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        end: bool,
        limit: usize,
    ) -> Result<(usize, usize, bool), ProtocolError> {
        let out = self.out.get_or_insert_with(|| pool::take_box(self.out_len));
        let bits = self.window_bits;
        let d = self.stream.get_or_insert_with(|| {
            if self.pooled {
                pool::take_inflate()
            } else {
                Box::new(Decompress::new_with_window_bits(false, bits))
            }
        });
        let cap = out.len().min(limit);
        let before = (d.total_in(), d.total_out());
        d.decompress(input, &mut out[..cap], FlushDecompress::None)
            .map_err(|_| ProtocolError::InvalidCompressedData)?;
        let consumed = (d.total_in() - before.0) as usize;
        let mut produced = (d.total_out() - before.1) as usize;
        let mut done = false;
        if end && consumed == input.len() && produced < cap {
            if !self.trailer_fed {
                let t0 = d.total_in();
                let o0 = d.total_out();
                d.decompress(&TRAILER, &mut out[produced..cap], FlushDecompress::Sync)
                    .map_err(|_| ProtocolError::InvalidCompressedData)?;
                produced += (d.total_out() - o0) as usize;
                self.trailer_fed = d.total_in() - t0 == TRAILER.len() as u64;
            }
            done = self.trailer_fed && produced < cap;
        }
        self.produced += produced as u64;
        if let Some(limit) = self.max_message {
            if self.produced > limit {
                return Err(ProtocolError::MessageTooBig { limit });
            }
        }
        if done {
            self.produced = 0;
            self.trailer_fed = false;
            if self.pooled {
                if let Some(d) = self.stream.take() {
                    pool::put_inflate(d);
                }
            }
        }
        Ok((consumed, produced, done))
    }

    /// The last chunk of a message was delivered and its receive completed: the output
    /// buffer goes back to the pool.
    pub(crate) fn release_output(&mut self) {
        if let Some(b) = self.out.take() {
            pool::put_box(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7692_example_hello() {
        // RFC 7692 §7.2.3.1: "Hello" compressed.
        for pooled in [false, true] {
            let mut d = Decompressor::new(15, pooled, 256, None);
            let (c, n, done) = d.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true, usize::MAX).unwrap();
            assert_eq!((c, done), (7, true));
            assert_eq!(d.chunk(0, n), b"Hello");
            assert_eq!(d.stream.is_some(), !pooled, "a pooled stream is returned at the message end");
            d.release_output();
            assert!(d.out.is_none());
        }
    }

    #[test]
    fn context_takeover_shrinks_repeats() {
        let msg = br#"{"id":12345,"name":"sensor-alpha","values":[1.5,2.25,3.125],"ok":true}"#.repeat(2);
        let mut keep = Compressor::new(6, 15, false, 0);
        let mut reset = Compressor::new(6, 15, true, 0);
        keep.compress(&msg, true, true).unwrap();
        let first = keep.output().len();
        keep.compress(&msg, true, true).unwrap();
        let second = keep.output().len();
        assert!(second < first / 2, "takeover: {first} then {second}");
        assert!(keep.holds_stream());
        reset.compress(&msg, true, true).unwrap();
        let a = reset.output().len();
        reset.release_output();
        reset.compress(&msg, true, true).unwrap();
        assert_eq!(reset.output().len(), a, "no takeover: same size each time");
        assert!(!reset.holds_stream(), "no takeover: the stream went back to the pool");
    }

    #[test]
    fn pooled_streams_hold_across_fragments() {
        let text = b"fragmented message, fragmented message, fragmented message".repeat(4);
        let mut c = Compressor::new(1, 15, true, 0);
        let mut wire = Vec::new();
        for (i, part) in text.chunks(50).enumerate() {
            let fin = (i + 1) * 50 >= text.len();
            c.compress(part, i == 0, fin).unwrap();
            assert_eq!(c.holds_stream(), !fin, "held until the last fragment");
            wire.extend_from_slice(c.output());
            c.release_output();
        }
        let mut d = Decompressor::new(15, true, 4096, None);
        let (used, n, done) = d.inflate(&wire, true, usize::MAX).unwrap();
        assert!(done && used == wire.len());
        assert_eq!(d.chunk(0, n), &text[..]);
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let mut c = Compressor::new(9, 15, false, 0);
        c.compress(&zeros, true, true).unwrap();
        let bomb = c.output().to_vec();
        assert!(bomb.len() < 20_000);
        let mut d = Decompressor::new(15, false, 4096, Some(1 << 20));
        let mut input = &bomb[..];
        let mut total = 0usize;
        let err = loop {
            match d.inflate(input, true, usize::MAX) {
                Ok((c, n, done)) => {
                    assert!(!done);
                    total += n;
                    input = &input[c..];
                }
                Err(e) => break e,
            }
        };
        assert_eq!(err, ProtocolError::MessageTooBig { limit: 1 << 20 });
        assert!(total <= 1 << 20);
    }
}
