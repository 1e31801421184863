//! The per-thread pool of zlib streams and output buffers that connections borrow for one
//! message at a time.
//!
//! A direction without context takeover resets its stream after every message anyway, so
//! the stream need not belong to the connection: it is taken here when a message starts and
//! put back (reset) when it ends. Output buffers (the compressed payload of a send, the
//! inflated chunks of a receive) are lent to the caller until the action completes, and come
//! back here after that. Taking and returning move a `Box` in and out of a vector whose
//! capacity is reserved on first use, so the steady state allocates nothing.
//!
//! Each thread keeps at most [`MAX_IDLE_DEFLATE`] compressors, [`MAX_IDLE_INFLATE`]
//! decompressors and [`MAX_IDLE_BUFFERS`] buffers of at most [`MAX_POOLED_BUFFER`] bytes;
//! anything beyond is freed. A stream or buffer taken on one thread and returned on another
//! (a task moved by a work-stealing runtime) simply joins the other thread's pool.

use flate2::{Compress, Compression, Decompress};
use std::cell::RefCell;

/// Idle compressors kept per thread (each about 370 KiB at window 15).
pub const MAX_IDLE_DEFLATE: usize = 4;
/// Idle decompressors kept per thread (each about 47 KiB).
pub const MAX_IDLE_INFLATE: usize = 16;
/// Idle output buffers kept per thread.
pub const MAX_IDLE_BUFFERS: usize = 32;
/// The largest output buffer kept for reuse; larger ones (the compressed output of a message
/// over this size) are freed when their send completes.
pub const MAX_POOLED_BUFFER: usize = 256 << 10;

/// A compressor's settings: compressors are only shared between equal keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct DeflateKey {
    pub(crate) level: u32,
    pub(crate) window_bits: u8,
}

/// Streams stay boxed: a connection holds an `Option<Box<_>>` (8 bytes while idle), and taking
/// or returning one moves a pointer.
#[derive(Default)]
#[allow(clippy::vec_box)]
struct Pool {
    deflate: Vec<(DeflateKey, Box<Compress>)>,
    inflate: Vec<Box<Decompress>>,
    buffers: Vec<Vec<u8>>,
    boxes: Vec<Box<[u8]>>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Runs `f` on this thread's pool; `None` while the thread is being torn down.
fn with<R>(f: impl FnOnce(&mut Pool) -> R) -> Option<R> {
    POOL.try_with(|p| p.try_borrow_mut().ok().map(|mut p| f(&mut p))).ok().flatten()
}

/// Pushes `item` unless the pool already holds `max`; reserves the whole capacity at once so
/// later pushes never allocate.
fn keep<T>(v: &mut Vec<T>, item: T, max: usize) -> bool {
    if v.len() >= max {
        return false;
    }
    if v.capacity() == 0 {
        v.reserve_exact(max);
    }
    v.push(item);
    true
}

/// A raw-deflate compressor for `key`, reset.
pub(crate) fn take_deflate(key: DeflateKey) -> Box<Compress> {
    with(|p| p.deflate.iter().rposition(|(k, _)| *k == key).map(|i| p.deflate.swap_remove(i).1))
        .flatten()
        .unwrap_or_else(|| {
            Box::new(Compress::new_with_window_bits(Compression::new(key.level), false, key.window_bits))
        })
}

/// Resets `c` and keeps it for the next message with the same settings.
pub(crate) fn put_deflate(key: DeflateKey, mut c: Box<Compress>) {
    c.reset();
    with(|p| keep(&mut p.deflate, (key, c), MAX_IDLE_DEFLATE));
}

/// A raw-inflate decompressor with a 32 KiB window, reset. A window at least as large as the
/// sender's decodes any stream, so one kind serves every negotiated window size (zlib-rs
/// allocates a 32 KiB window whatever the size asked).
pub(crate) fn take_inflate() -> Box<Decompress> {
    with(|p| p.inflate.pop()).flatten().unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, 15)))
}

/// Resets `d` and keeps it.
pub(crate) fn put_inflate(mut d: Box<Decompress>) {
    d.reset(false);
    with(|p| keep(&mut p.inflate, d, MAX_IDLE_INFLATE));
}

/// An empty vector, with the capacity some earlier message left in it when one is pooled.
pub(crate) fn take_vec() -> Vec<u8> {
    with(|p| p.buffers.pop()).flatten().unwrap_or_default()
}

/// Keeps `v` (emptied) when it is no larger than [`MAX_POOLED_BUFFER`]; frees it otherwise.
pub(crate) fn put_vec(mut v: Vec<u8>) {
    if v.capacity() == 0 || v.capacity() > MAX_POOLED_BUFFER {
        return;
    }
    v.clear();
    with(|p| keep(&mut p.buffers, v, MAX_IDLE_BUFFERS));
}

/// A buffer of exactly `len` bytes (contents unspecified).
pub(crate) fn take_box(len: usize) -> Box<[u8]> {
    with(|p| p.boxes.iter().rposition(|b| b.len() == len).map(|i| p.boxes.swap_remove(i)))
        .flatten()
        .unwrap_or_else(|| vec![0u8; len].into_boxed_slice())
}

/// Keeps `b` for a later [`take_box`] of the same length.
pub(crate) fn put_box(b: Box<[u8]>) {
    if b.len() <= MAX_POOLED_BUFFER {
        with(|p| keep(&mut p.boxes, b, MAX_IDLE_BUFFERS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_buffers_come_back() {
        let key = DeflateKey { level: 1, window_bits: 15 };
        let c = take_deflate(key);
        let at = &*c as *const Compress;
        put_deflate(key, c);
        let again = take_deflate(key);
        assert_eq!(&*again as *const Compress, at, "the same compressor is reused");
        put_deflate(key, again);
        let other = take_deflate(DeflateKey { level: 1, window_bits: 10 });
        assert_ne!(&*other as *const Compress, at, "other settings get another compressor");
        let mut v = take_vec();
        v.extend_from_slice(&[1; 1000]);
        let cap = v.capacity();
        put_vec(v);
        let v = take_vec();
        assert!(v.is_empty() && v.capacity() == cap);
        put_vec(vec![0; MAX_POOLED_BUFFER + 1]);
        assert_eq!(take_vec().capacity(), 0, "oversized vectors are freed, not kept");
        let b = take_box(300);
        let at = b.as_ptr();
        put_box(b);
        let again = take_box(300);
        assert_eq!(again.as_ptr(), at);
    }
}
