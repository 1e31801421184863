//! Memory the engine lends: one allocation per half, or the caller's allocated buffer.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// A fixed block of bytes, owned by the engine or borrowed from the caller. It never moves
/// or grows, so pointers lent from it stay valid until the matching completion; slices are
/// made only for the duration of one engine call.
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
    owned: bool,
}

// SAFETY: a `Region` is plain memory with a single owner (one half of a handle); moving the
// owner to another thread moves the only access path with it.
unsafe impl Send for Region {}

impl Region {
    /// A zeroed region of `len` bytes. `vec![0; n]` uses `calloc`, so untouched pages cost
    /// no resident memory.
    pub(crate) fn owned(len: usize) -> Self {
        let b: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        let len = b.len();
        let ptr = NonNull::new(Box::into_raw(b).cast::<u8>()).expect("Box pointers are non-null");
        Self { ptr, len, owned: true }
    }

    /// A region inside caller memory.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be valid for reads and writes, and used by nothing else, for the
    /// life of the region.
    pub(crate) unsafe fn borrowed(ptr: *mut u8, len: usize) -> Self {
        Self { ptr: NonNull::new(ptr).expect("caller buffer checked non-null"), len, owned: false }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn slice(&self, start: usize, len: usize) -> &[u8] {
        assert!(start <= self.len && len <= self.len - start);
        // SAFETY: in bounds (checked above); the region is valid for its life (see `owned` /
        // `borrowed`), and the engine creates no `&mut` to it while this `&self` borrow lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), len) }
    }

    pub(crate) fn slice_mut(&mut self, start: usize, len: usize) -> &mut [u8] {
        assert!(start <= self.len && len <= self.len - start);
        // SAFETY: in bounds; `&mut self` guarantees no other engine borrow of the region.
        // The caller may still hold a raw pointer from an earlier lend, but the engine only
        // writes where no action is outstanding (the calling protocol on `Handle`).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), len) }
    }

    pub(crate) fn copy_within(&mut self, from: std::ops::Range<usize>, to: usize) {
        self.slice_mut(0, self.len).copy_within(from, to);
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: `ptr`/`len` came from `Box::into_raw` of a `Box<[u8]>` of this length in
            // `owned`, and are freed exactly once, here.
            unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len))) };
        }
    }
}

/// Splits caller memory (or a fresh allocation) into the two halves' regions.
pub(crate) fn split_regions(recv: usize, send: usize, allocated: Option<(*mut u8, usize)>) -> (Region, Region) {
    let recv_total = recv + crate::config::ALLOCATED_BUFFER_OVERHEAD;
    match allocated {
        // SAFETY: `Config::allocated_buffer` (unsafe) made the caller promise the memory is
        // valid and exclusive; it checked `len >= recv + send + 144`, so both pieces are in
        // bounds and disjoint.
        Some((ptr, _len)) => unsafe {
            (Region::borrowed(ptr, recv_total), Region::borrowed(ptr.add(recv_total), send))
        },
        None => (Region::owned(recv_total), Region::owned(send)),
    }
}

/// Who is writing a frame to the transport.
pub(crate) const WIRE_FREE: u8 = 0;
pub(crate) const WIRE_SEND: u8 = 1;
pub(crate) const WIRE_RECV: u8 = 2;

/// State the two halves of a handle share. Atomics only: a half never waits for the other.
#[derive(Default)]
pub(crate) struct Shared {
    /// Which half is in the middle of writing a frame ([`WIRE_FREE`] when none): keeps an
    /// automatic pong from landing inside a data frame.
    wire: AtomicU8,
    aborted: AtomicBool,
    /// A short write cut a frame: nothing more may be written.
    wire_broken: AtomicBool,
    close_sent: AtomicBool,
    close_received: AtomicBool,
}

impl Shared {
    pub(crate) fn try_acquire_wire(&self, who: u8) -> bool {
        match self.wire.compare_exchange(WIRE_FREE, who, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => true,
            Err(cur) => cur == who,
        }
    }
    pub(crate) fn wire_owner(&self) -> u8 {
        self.wire.load(Ordering::Acquire)
    }
    pub(crate) fn release_wire(&self, who: u8) {
        let _ = self.wire.compare_exchange(who, WIRE_FREE, Ordering::Release, Ordering::Relaxed);
    }
    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }
    pub(crate) fn break_wire(&self) {
        self.wire_broken.store(true, Ordering::Release);
    }
    pub(crate) fn is_wire_broken(&self) -> bool {
        self.wire_broken.load(Ordering::Acquire)
    }
    pub(crate) fn set_close_sent(&self) {
        self.close_sent.store(true, Ordering::Release);
    }
    pub(crate) fn is_close_sent(&self) -> bool {
        self.close_sent.load(Ordering::Acquire)
    }
    pub(crate) fn set_close_received(&self) {
        self.close_received.store(true, Ordering::Release);
    }
    pub(crate) fn is_close_received(&self) -> bool {
        self.close_received.load(Ordering::Acquire)
    }
}

/// Mask keys from the operating system's CSPRNG, fetched 64 at a time (RFC 6455 §5.3 asks
/// for unpredictable keys; one system call per 64 frames keeps that cheap).
pub(crate) struct MaskKeys {
    pool: [u8; 256],
    pos: usize,
}

impl MaskKeys {
    pub(crate) fn new() -> Self {
        Self { pool: [0; 256], pos: 256 }
    }

    pub(crate) fn next(&mut self) -> [u8; 4] {
        if self.pos + 4 > self.pool.len() {
            getrandom::fill(&mut self.pool).expect("the operating system's random source failed");
            self.pos = 0;
        }
        let k = [self.pool[self.pos], self.pool[self.pos + 1], self.pool[self.pos + 2], self.pool[self.pos + 3]];
        self.pos += 4;
        k
    }
}
