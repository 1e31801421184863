//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): receive buffers the kernel picks
//! from when a multishot receive has data, so that a connection waiting for input holds no
//! buffer of its own.

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// The ring's entries (a power of two) and the buffers, `count` of `size` bytes each.
pub(super) struct BufRing {
    entries: *mut BufRingEntry,
    layout: Layout,
    mask: u16,
    /// The tail as written locally; published to the kernel by [`publish`](Self::publish).
    tail: u16,
    bufs: Box<[u8]>,
    size: usize,
    group: u16,
}

impl BufRing {
    /// Registers a ring of `count` buffers (a power of two, at most 32 Ki) of `size` bytes
    /// with `ring` as buffer group `group`, all of them available.
    pub(super) fn new(ring: &IoUring, group: u16, count: u16, size: usize) -> io::Result<Self> {
        assert!(count.is_power_of_two());
        let layout = Layout::from_size_align(count as usize * size_of::<BufRingEntry>(), 4096)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size.
        let entries = unsafe { alloc_zeroed(layout) } as *mut BufRingEntry;
        if entries.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        // Zeroed memory: pages are taken only when first written (by the kernel, as data
        // arrives), so buffers never used cost no resident memory.
        let bufs = vec![0u8; count as usize * size].into_boxed_slice();
        let mut r = BufRing { entries, layout, mask: count - 1, tail: 0, bufs, size, group };
        // SAFETY: `entries` is page-aligned memory for `count` entries that lives as long as
        // this value, which unregisters it before freeing it (`unregister`, or the ring is
        // dropped first: the kernel drops its registrations with the ring).
        unsafe { ring.submitter().register_buf_ring(entries as u64, count, group) }.inspect_err(|_| {
            // SAFETY: allocated above with this layout, never registered.
            unsafe { dealloc(r.entries as *mut u8, r.layout) };
            r.entries = std::ptr::null_mut();
        })?;
        for bid in 0..count {
            r.push(bid);
        }
        r.publish();
        Ok(r)
    }

    /// The buffer group id to receive with.
    pub(super) fn group(&self) -> u16 {
        self.group
    }

    /// The first `len` bytes of buffer `bid`, filled by a completed receive. Valid until
    /// the buffer is given back with [`push`](Self::push) (the caller copies what it needs
    /// first).
    pub(super) fn data(&self, bid: u16, len: usize) -> *const [u8] {
        let at = bid as usize * self.size;
        &self.bufs[at..at + len.min(self.size)] as *const [u8]
    }

    /// Gives buffer `bid` back to the kernel (seen after [`publish`](Self::publish)).
    pub(super) fn push(&mut self, bid: u16) {
        let slot = (self.tail & self.mask) as usize;
        // SAFETY: `slot` is within the ring's `mask + 1` entries; the kernel reads entries
        // only up to the published tail, and this one is past it until `publish`.
        let e = unsafe { &mut *self.entries.add(slot) };
        e.set_addr(self.bufs[bid as usize * self.size..].as_ptr() as u64);
        e.set_len(self.size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back since the last call available to the kernel.
    pub(super) fn publish(&self) {
        // SAFETY: the tail field of the ring header, which the kernel reads concurrently:
        // written atomically with release ordering so that the entries written before it
        // are visible first.
        unsafe {
            let tail = BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Unregisters the ring from `ring` (before either is dropped).
    pub(super) fn unregister(&mut self, ring: &IoUring) {
        let _ = ring.submitter().unregister_buf_ring(self.group);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if !self.entries.is_null() {
            // SAFETY: allocated in `new` with this layout; the kernel no longer reads it
            // (unregistered, or its ring is gone).
            unsafe { dealloc(self.entries as *mut u8, self.layout) };
        }
    }
}
