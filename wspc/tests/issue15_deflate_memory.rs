//! Issue 15: what a permessage-deflate connection holds once its messages are done, under
//! each policy, measured by a global allocator that tracks live bytes: every connection
//! first receives one message from its client and echoes it, then the server handles are
//! dropped one by one and the bytes each frees are what it held. Streams in the per-thread
//! pool belong to the thread, not to a connection, so they are not counted.
//!
//! The attack case: each client sends one large incompressible message (larger than the
//! pool keeps, so its compressed echo needs a vector of its own); afterwards a connection
//! must hold no more than after a small message.
#![cfg(feature = "deflate")]

mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use wspc::deflate::{DeflateConfig, DeflateOffer, DeflatePolicy};
use wspc::{BufferType, Config, Handle, OwnedHeader};

struct Tracking;

thread_local! {
    /// Bytes allocated minus bytes freed on this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(n: isize) {
    let _ = LIVE.try_with(|l| l.set(l.get() + n));
}

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

const CONNECTIONS: usize = 6;

/// What a browser offers.
fn browser() -> DeflateConfig {
    DeflateConfig {
        offers: vec![DeflateOffer { client_max_window_bits: Some(None), ..DeflateOffer::default() }],
        ..DeflateConfig::policy(DeflatePolicy::BestRatio)
    }
}

/// Bytes each server handle holds after it received `message` and echoed it.
fn held_per_connection(server: Option<DeflatePolicy>, message: &[u8]) -> usize {
    let mut servers = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut c = Handle::client(Config::client().deflate(Some(browser()))).unwrap();
        let mut s = Handle::server(Config::server().deflate(server.map(DeflateConfig::policy))).unwrap();
        let mut req = c.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
        req.push(OwnedHeader { name: "Host".into(), value: "h".into() });
        let resp = s.begin_server_handshake(None, &[], &hdrs(&req)).unwrap().to_vec();
        c.end_client_handshake(&hdrs(&resp)).unwrap();
        assert_eq!(s.deflate_params().is_some(), server.is_some());
        let mut p = Pair::from_handles(c, s);
        p.c.outgoing.push_back((BufferType::BinaryMessage, message.to_vec()));
        p.run().unwrap();
        assert_eq!(p.s.messages(), [(BufferType::BinaryMessage, message.to_vec())]);
        p.s.outgoing.push_back((BufferType::BinaryMessage, message.to_vec()));
        p.run().unwrap();
        assert_eq!(p.c.messages().len(), 1);
        servers.push(p);
    }
    let mut freed = 0isize;
    for p in &mut servers {
        let h = std::mem::replace(&mut p.s.h, Handle::server(Config::server()).unwrap());
        let before = LIVE.with(Cell::get);
        drop(h);
        freed += before - LIVE.with(Cell::get);
    }
    freed as usize / CONNECTIONS
}

fn json(len: usize) -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < len {
        s.push_str(&format!("{{\"event\":\"update\",\"id\":{i},\"price\":{}.{},\"ok\":true}},", i * 7 % 1000, i % 10));
        i += 1;
    }
    s.truncate(len);
    s.into_bytes()
}

#[test]
fn idle_and_after_a_large_message_connections_hold_only_their_dedicated_streams() {
    let small = json(4096);
    let large = pattern(wspc::deflate::pool::MAX_POOLED_BUFFER * 2, 15);
    let plain = held_per_connection(None, &small);
    assert!(plain > 0);
    // The boxed compressor and decompressor structs and the parameters.
    const LEAN_EXTRA: usize = 256;
    // zlib-rs: a 32 KiB-window decompressor (window + state).
    const INFLATER: usize = 48 << 10;
    // zlib-rs: a window-15, memory-level-8 compressor, plus a decompressor.
    const BOTH: usize = (400 << 10) + INFLATER;
    for (policy, bound) in [
        (DeflatePolicy::Lean, LEAN_EXTRA),
        (DeflatePolicy::Balanced, LEAN_EXTRA + INFLATER),
        (DeflatePolicy::BestRatio, LEAN_EXTRA + BOTH),
    ] {
        for (what, message) in [("4 KiB json", &small), ("large incompressible", &large)] {
            let held = held_per_connection(Some(policy), message);
            let extra = held.saturating_sub(plain);
            eprintln!("{policy}, after {what}: {held} bytes per connection ({extra} over uncompressed)");
            assert!(extra <= bound, "{policy} after {what}: {extra} bytes over an uncompressed connection");
        }
    }
}
