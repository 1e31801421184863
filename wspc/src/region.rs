//! Memory the engine lends: one allocation per half, or the caller's allocated buffer.

use crate::types::MAX_CONTROL_PAYLOAD;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

/// A fixed block of bytes, owned by the engine or borrowed from the caller. It never moves
/// or grows while allocated, so pointers lent from it stay valid until the matching
/// completion; slices are made only for the duration of one engine call. An owned region
/// may be released while idle (see [`Region::release`]) and comes back on [`Region::ensure`].
pub(crate) struct Region {
    ptr: Option<NonNull<u8>>,
    len: usize,
    owned: bool,
}

// SAFETY: a `Region` is plain memory with a single owner (one half of a handle); moving the
// owner to another thread moves the only access path with it.
unsafe impl Send for Region {}

/// Idle buffers (receive and send regions) kept per thread for reuse, so that releasing a
/// buffer while a connection waits and taking one back when data arrives costs no
/// allocation.
/// At most this many blocks of one size (receive buffers and send buffers have their own
/// share, so small send buffers never crowd out receive buffers)...
const POOL_CAP: usize = 32;
/// ...and this many in all.
const POOL_CAP_TOTAL: usize = 4 * POOL_CAP;

struct Pool(Vec<(NonNull<u8>, usize)>);

impl Drop for Pool {
    fn drop(&mut self) {
        for (ptr, len) in self.0.drain(..) {
            free_block(ptr, len);
        }
    }
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = const { std::cell::RefCell::new(Pool(Vec::new())) };
}

/// A zeroed block: `vec![0; n]` uses `calloc`, so untouched pages cost no resident memory.
fn alloc_block(len: usize) -> NonNull<u8> {
    let b: Box<[u8]> = vec![0u8; len].into_boxed_slice();
    NonNull::new(Box::into_raw(b).cast::<u8>()).expect("Box pointers are non-null")
}

fn free_block(ptr: NonNull<u8>, len: usize) {
    // SAFETY: every block comes from `alloc_block` with this `len` (the pool and the region
    // keep the pair together) and is freed exactly once, by whoever holds it last.
    unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr.as_ptr(), len))) };
}

impl Region {
    /// An engine-owned region allocated on first use ([`Region::ensure`]).
    pub(crate) fn owned_lazy(len: usize) -> Self {
        Self { ptr: None, len, owned: true }
    }

    /// A region inside caller memory.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be valid for reads and writes, and used by nothing else, for the
    /// life of the region.
    pub(crate) unsafe fn borrowed(ptr: *mut u8, len: usize) -> Self {
        Self { ptr: Some(NonNull::new(ptr).expect("caller buffer checked non-null")), len, owned: false }
    }

    /// Makes sure the memory exists, taking a pooled block of the right size if there is one.
    pub(crate) fn ensure(&mut self) {
        if self.ptr.is_none() {
            let len = self.len;
            let pooled = POOL.try_with(|p| {
                let mut p = p.borrow_mut();
                let i = p.0.iter().position(|&(_, l)| l == len)?;
                Some(p.0.swap_remove(i).0)
            });
            self.ptr = Some(pooled.ok().flatten().unwrap_or_else(|| alloc_block(len)));
        }
    }

    /// Gives an owned region's memory back (to this thread's pool, or to the allocator).
    /// The caller guarantees nothing in it is still needed or lent. Returns whether memory
    /// was released.
    pub(crate) fn release(&mut self) -> bool {
        if !self.owned {
            return false;
        }
        let Some(ptr) = self.ptr.take() else { return false };
        let len = self.len;
        let kept = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.0.len() < POOL_CAP_TOTAL && p.0.iter().filter(|&&(_, l)| l == len).count() < POOL_CAP {
                p.0.push((ptr, len));
                true
            } else {
                false
            }
        });
        if !matches!(kept, Ok(true)) {
            free_block(ptr, len);
        }
        true
    }

    /// True for engine-owned memory (which [`Region::release`] can give back).
    pub(crate) fn is_owned(&self) -> bool {
        self.owned
    }

    /// True while memory is attached.
    pub(crate) fn is_allocated(&self) -> bool {
        self.ptr.is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn base(&self) -> *mut u8 {
        self.ptr.expect("region used before `ensure`").as_ptr()
    }

    pub(crate) fn slice(&self, start: usize, len: usize) -> &[u8] {
        assert!(start <= self.len && len <= self.len - start);
        // SAFETY: in bounds (checked above); the region is valid while attached (see `owned` /
        // `borrowed`), and the engine creates no `&mut` to it while this `&self` borrow lives.
        unsafe { std::slice::from_raw_parts(self.base().add(start), len) }
    }

    pub(crate) fn slice_mut(&mut self, start: usize, len: usize) -> &mut [u8] {
        assert!(start <= self.len && len <= self.len - start);
        // SAFETY: in bounds; `&mut self` guarantees no other engine borrow of the region.
        // The caller may still hold a raw pointer from an earlier lend, but the engine only
        // writes where no action is outstanding (the calling protocol on `Handle`).
        unsafe { std::slice::from_raw_parts_mut(self.base().add(start), len) }
    }

    pub(crate) fn copy_within(&mut self, from: std::ops::Range<usize>, to: usize) {
        self.slice_mut(0, self.len).copy_within(from, to);
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.owned {
            if let Some(ptr) = self.ptr.take() {
                free_block(ptr, self.len);
            }
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
        None => (Region::owned_lazy(recv_total), Region::owned_lazy(send)),
    }
}

/// Who is writing a frame to the transport.
pub(crate) const WIRE_FREE: u8 = 0;
pub(crate) const WIRE_SEND: u8 = 1;
pub(crate) const WIRE_RECV: u8 = 2;

/// The payload of the latest ping not answered yet. A newer ping replaces an older one
/// that is still waiting (RFC 6455 §5.5.3 allows answering only the most recent), so one
/// slot is enough however many pings arrive.
struct PingSlot {
    len: usize,
    payload: [u8; MAX_CONTROL_PAYLOAD],
}

impl Default for PingSlot {
    fn default() -> Self {
        Self { len: 0, payload: [0; MAX_CONTROL_PAYLOAD] }
    }
}

/// State the two halves of a handle share. Atomics, and one mutex held only while a ping's
/// payload (at most 125 bytes) is copied in or out: a half never waits for the other's I/O.
#[derive(Default)]
pub(crate) struct Shared {
    /// Which half is in the middle of writing a frame that spans several actions
    /// ([`WIRE_FREE`] when none), or [`WIRE_RECV`] while an automatic pong is lent: keeps
    /// an automatic pong from landing inside a data frame.
    wire: AtomicU8,
    /// A ping waits for its pong (mirrors the slot, so the hot path only loads a flag).
    pong_waiting: AtomicBool,
    ping: Mutex<PingSlot>,
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
    fn ping_slot(&self) -> std::sync::MutexGuard<'_, PingSlot> {
        // Nothing can panic while the slot is held (plain copies), so a poisoned lock still
        // holds a consistent slot.
        self.ping.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// A ping arrived: its pong is owed (replacing any older pong still waiting).
    pub(crate) fn store_ping(&self, payload: &[u8]) {
        let mut s = self.ping_slot();
        s.len = payload.len();
        s.payload[..payload.len()].copy_from_slice(payload);
        self.pong_waiting.store(true, Ordering::Release);
    }
    /// True while a pong is owed and no half has taken it yet.
    pub(crate) fn pong_waiting(&self) -> bool {
        self.pong_waiting.load(Ordering::Acquire)
    }
    /// Takes the owed pong, if it is still waiting and `fits(payload length)`: `write` gets
    /// the ping's payload and returns the pong frame's length.
    pub(crate) fn take_ping(
        &self,
        fits: impl FnOnce(usize) -> bool,
        write: impl FnOnce(&[u8]) -> usize,
    ) -> Option<usize> {
        let s = self.ping_slot();
        if !self.pong_waiting.load(Ordering::Acquire) {
            return None;
        }
        if !fits(s.len) {
            return None;
        }
        self.pong_waiting.store(false, Ordering::Release);
        Some(write(&s.payload[..s.len]))
    }
    /// Forgets an owed pong (abort, or a cut stream on which nothing more may be written).
    pub(crate) fn drop_ping(&self) {
        if self.pong_waiting() {
            let _slot = self.ping_slot();
            self.pong_waiting.store(false, Ordering::Release);
        }
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
