//! After setup and a warm-up, sending and receiving messages allocates nothing: a counting
//! global allocator watches 1,000 messages each way (client and server roles, text and
//! binary, small and larger than the buffers, pings in between), with owned payload vectors
//! reclaimed through `complete_action_reclaim`. Its own test binary, so nothing else counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader, SendBuffer};

struct Counting;

thread_local! {
    /// Count only on the test's own thread, and only while it says so.
    static COUNT: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn counting() -> bool {
    COUNT.try_with(Cell::get).unwrap_or(false)
}

fn note() {
    let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
}

/// Heap allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    COUNT.with(|x| x.set(true));
    f();
    COUNT.with(|x| x.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            note();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            note();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            note();
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One endpoint with fixed-capacity pipes and a pool of payload vectors.
struct End {
    h: Handle,
    /// Bytes from the peer, read from `at`.
    inbox: Vec<u8>,
    at: usize,
    /// The current incoming message, and how many were received whole.
    current: Vec<u8>,
    received: usize,
    pongs: usize,
    /// Payload vectors waiting to be sent again.
    pool: Vec<Vec<u8>>,
    sent: usize,
    /// Largest message sent.
    max_len: usize,
}

const PIPE: usize = 1 << 21;
const SIZES: [usize; 6] = [20, 0, 125, 1024, 5000, 65536];

impl End {
    fn new(h: Handle) -> Self {
        let mut pool = Vec::with_capacity(8);
        for _ in 0..2 {
            pool.push(Vec::with_capacity(65536));
        }
        let mut h = h;
        h.receive(0).unwrap();
        Self {
            h,
            inbox: Vec::with_capacity(PIPE),
            at: 0,
            current: Vec::with_capacity(65536),
            received: 0,
            pongs: 0,
            pool,
            sent: 0,
            max_len: usize::MAX,
        }
    }

    /// Queues the next message (or a ping every tenth time) if the send side is free.
    fn queue_send(&mut self, limit: usize) {
        if self.sent >= limit || self.h.send_half().is_pending() {
            return;
        }
        let i = self.sent;
        if i % 10 == 9 {
            self.h.send(BufferType::PingPong, None, i).unwrap();
        } else {
            let mut v = self.pool.pop().expect("a pooled payload");
            v.clear();
            let n = SIZES[i % SIZES.len()].min(self.max_len);
            v.extend((0..n).map(|j| b'a' + ((i + j) % 26) as u8));
            let ty = if i % 2 == 0 { BufferType::Utf8Message } else { BufferType::BinaryMessage };
            self.h.send(ty, Some(SendBuffer::Data(v.into())), i).unwrap();
        }
        self.sent += 1;
    }

    /// Pumps until `NoAction` or until it needs bytes that are not there. Returns whether
    /// anything happened.
    fn pump(&mut self, out: &mut Vec<u8>) -> bool {
        let mut progress = false;
        loop {
            let a = self.h.get_action(ActionQueue::All).unwrap();
            let t = a.token();
            match a {
                Action::NoAction => return progress,
                Action::SendToNetwork { buffers, .. } => {
                    let mut n = 0;
                    for b in buffers.as_slices() {
                        assert!(out.len() + b.len() <= out.capacity(), "pipe full");
                        out.extend_from_slice(b);
                        n += b.len();
                    }
                    self.h.complete_action(t, n);
                }
                Action::IndicateSendComplete { .. } => {
                    if let Some(v) = self.h.complete_action_reclaim(t, 0).and_then(|p| p.into_vec()) {
                        self.pool.push(v);
                    }
                }
                Action::ReceiveFromNetwork { buffer, .. } => {
                    let avail = self.inbox.len() - self.at;
                    // No bytes: cancel the read (0) and post the receive again later.
                    let n = buffer.len().min(avail);
                    buffer[..n].copy_from_slice(&self.inbox[self.at..self.at + n]);
                    self.at += n;
                    if self.at == self.inbox.len() {
                        self.inbox.clear();
                        self.at = 0;
                    }
                    self.h.complete_action(t, n);
                    if n == 0 {
                        // The receive completes empty next; then we stop.
                        let a = self.h.get_action(ActionQueue::Receive).unwrap();
                        let t = a.token();
                        self.h.complete_action(t, 0);
                        self.h.receive(0).unwrap();
                        return progress;
                    }
                }
                Action::IndicateReceiveComplete { buffer_type, data, .. } => {
                    if buffer_type == BufferType::PingPong {
                        self.pongs += 1;
                    } else {
                        assert!(self.current.len() + data.len() <= self.current.capacity());
                        self.current.extend_from_slice(data);
                        if buffer_type.is_message_end() {
                            self.received += 1;
                            self.current.clear();
                        }
                    }
                    self.h.complete_action(t, 0);
                    self.h.receive(0).unwrap();
                }
            }
            progress = true;
        }
    }
}

fn run(c: &mut End, s: &mut End, c2s: &mut Vec<u8>, s2c: &mut Vec<u8>, limit: usize) {
    loop {
        c.queue_send(limit);
        s.queue_send(limit);
        let a = c.pump(c2s);
        let b = s.pump(s2c);
        let moved = !c2s.is_empty() || !s2c.is_empty();
        s.inbox.extend_from_slice(c2s);
        c.inbox.extend_from_slice(s2c);
        c2s.clear();
        s2c.clear();
        let idle = c.sent >= limit && s.sent >= limit && !c.h.send_half().is_pending() && !s.h.send_half().is_pending();
        if !a && !b && !moved && idle {
            return;
        }
    }
}

fn open(cc: Config, sc: Config) -> (Handle, Handle) {
    let mut c = Handle::client(cc).unwrap();
    let mut s = Handle::server(sc).unwrap();
    let mut req = c.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "h".into() });
    let req: Vec<Header<'_>> = req.iter().map(OwnedHeader::as_header).collect();
    let resp = s.begin_server_handshake(None, &[], &req).unwrap().to_vec();
    let resp: Vec<Header<'_>> = resp.iter().map(OwnedHeader::as_header).collect();
    c.end_client_handshake(&resp).unwrap();
    s.end_server_handshake().unwrap();
    (c, s)
}

fn check(cc: Config, sc: Config, what: &str, max_len: usize) {
    let (c, s) = open(cc, sc);
    #[cfg(feature = "deflate")]
    assert_eq!(c.deflate_params().is_some(), what.contains("deflate"));
    let mut c = End::new(c);
    let mut s = End::new(s);
    c.max_len = max_len;
    s.max_len = max_len;
    let mut c2s = Vec::with_capacity(PIPE);
    let mut s2c = Vec::with_capacity(PIPE);
    // Warm-up: first use of every path (mask-key pool, lazily sized buffers).
    run(&mut c, &mut s, &mut c2s, &mut s2c, 50);
    let warm = (c.received, s.received);
    let n = allocations_in(|| run(&mut c, &mut s, &mut c2s, &mut s2c, 1050));
    assert_eq!((c.received - warm.0, s.received - warm.1), (900, 900), "{what}: messages arrived");
    assert_eq!((c.pongs, s.pongs), (105, 105), "{what}: pongs");
    assert_eq!(n, 0, "{what}: heap allocations while sending and receiving 1,000 messages each way");
}

#[test]
fn sending_and_receiving_allocates_nothing() {
    // Windows' defaults: a masking client, a 16-byte server send buffer.
    check(Config::client(), Config::server(), "defaults", usize::MAX);
    // Zero-mask client (zero copy), small receive buffers (many chunks).
    check(
        Config::client().disable_masking(true).receive_buffer_size(256).unwrap(),
        Config::server().disable_masking(true).receive_buffer_size(256).unwrap(),
        "zero mask, 256-byte receive buffers",
        usize::MAX,
    );
    // Limits configured.
    check(
        Config::client().max_message_size(Some(1 << 20)).max_fragments(Some(4)),
        Config::server().max_message_size(Some(1 << 20)).max_frame_size(Some(1 << 20)),
        "limits",
        usize::MAX,
    );
    // permessage-deflate under each policy: dedicated zlib streams, the per-thread pool of
    // streams and output buffers are filled during the warm-up.
    #[cfg(feature = "deflate")]
    for policy in wspc::deflate::DeflatePolicy::ALL {
        check(
            Config::client().deflate(Some(wspc::deflate::DeflateConfig::policy(policy))),
            Config::server().deflate(Some(wspc::deflate::DeflateConfig::policy(policy))),
            &format!("permessage-deflate, {policy}"),
            8192, // zlib is slow in debug builds
        );
    }
}

#[test]
fn the_counter_sees_allocations() {
    assert_eq!(allocations_in(|| ()), 0);
    assert_eq!(allocations_in(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
    let mut v: Vec<u8> = Vec::new();
    assert_eq!(allocations_in(|| v.extend_from_slice(&[1; 100])), 1);
    // A send whose payload is not reclaimed frees its vector; a fresh one must be allocated.
    let (mut c, _s) = open(Config::client(), Config::server());
    assert!(allocations_in(|| c.send_data(BufferType::BinaryMessage, vec![0u8; 5], 1).unwrap()) >= 1);
}
