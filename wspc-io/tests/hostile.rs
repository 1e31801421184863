//! Hostile peers against the tokio server: each test is a raw TCP attacker on loopback that
//! asserts the server cuts it off (the right HTTP status or close code, within a deadline)
//! and that the process's memory stays bounded while it tries.
//!
//! Memory is measured with a counting global allocator (live bytes and their peak) around
//! each attack; the thresholds are generous (16 MiB) and each attack is sized so that the
//! server would need several times that if the limit under test were missing (a 100 MiB
//! decompression bomb, 64 MiB of pings, 64 MiB of echoes that are never read). The tests
//! run one at a time (a lock), so one attack's memory is not counted against another.
//!
//! Server settings (`hostile_config`): 1 MiB messages and frames, 1000 fragments per
//! message, 1 s handshake and close timeouts, keepalive 400 ms + 400 ms, 64 KiB write
//! buffer, permessage-deflate accepted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wspc_io::{Accept, CloseFrame, Config, Error, Message, Request};

// ----- memory accounting -----------------------------------------------------------------

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                grew(new - l.size());
            } else {
                LIVE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak growth of live heap bytes since `start`.
struct Mem {
    base: usize,
}

impl Mem {
    fn start() -> Self {
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        Self { base }
    }
    fn peak_growth(&self) -> usize {
        PEAK.load(Relaxed).saturating_sub(self.base)
    }
    fn assert_bounded(&self, what: &str, limit: usize) {
        let g = self.peak_growth();
        eprintln!("{what}: peak heap growth {} KiB (limit {} KiB)", g >> 10, limit >> 10);
        assert!(g < limit, "{what}: the heap grew by {} KiB (limit {} KiB)", g >> 10, limit >> 10);
    }
}

const MEM_LIMIT: usize = 16 << 20;

/// One attack at a time, so that the allocator's peak belongs to it.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

// ----- the server ------------------------------------------------------------------------

const KEEPALIVE: Duration = Duration::from_millis(400);

fn hostile_config() -> Config {
    Config::default()
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
        .max_fragments(Some(1000))
        .handshake_timeout(Duration::from_secs(1))
        .close_timeout(Duration::from_secs(1))
        .keepalive(KEEPALIVE, KEEPALIVE)
        .write_buffer_size(64 << 10)
        .deflate(true)
}

/// How a server connection ended: the first error, or "closed".
#[derive(Debug)]
enum Outcome {
    Handshake(String),
    Ended(Result<(), String>),
}

fn describe(e: &Error) -> String {
    match e {
        Error::Ws(w) => format!("ws {:?} close {:?}", w, w.close_code()),
        e => format!("{e:?}"),
    }
}

/// An echo server (as the example) whose connections report how they ended. A text message
/// "close-me" makes it start the close handshake.
async fn start_server() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Outcome>) {
    start_server_with(hostile_config()).await
}

async fn start_server_with(cfg: Config) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Outcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let tx = tx.clone();
            let cfg = cfg.clone();
            tokio::spawn(async move {
                let ws = wspc_io::tokio::accept_with(tcp, &cfg, |_: &Request| Ok(Accept::default())).await;
                let mut ws = match ws {
                    Ok(ws) => ws,
                    Err(e) => {
                        let _ = tx.send(Outcome::Handshake(describe(&e)));
                        return;
                    }
                };
                let mut result = Ok(());
                while let Some(msg) = ws.recv().await {
                    match msg {
                        Ok(Message::Text(t)) if t == "close-me" => {
                            result = ws
                                .close(Some(CloseFrame { code: 1000, reason: "bye".into() }))
                                .await
                                .map_err(|e| describe(&e));
                            let _ = tx.send(Outcome::Ended(result));
                            return;
                        }
                        Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                            if let Err(e) = ws.feed(m).await {
                                result = Err(describe(&e));
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            result = Err(describe(&e));
                            break;
                        }
                    }
                }
                let _ = ws.close(None).await;
                let _ = tx.send(Outcome::Ended(result));
            });
        }
    });
    (addr, rx)
}

async fn outcome(rx: &mut mpsc::UnboundedReceiver<Outcome>, within: Duration) -> Outcome {
    tokio::time::timeout(within, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("the server did not end the connection within {within:?}"))
        .expect("server alive")
}

// ----- the attacker ----------------------------------------------------------------------

const REQUEST: &str = "GET /hostile HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// Connects and upgrades (offering permessage-deflate when asked).
async fn upgraded(addr: std::net::SocketAddr, deflate: bool) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut req = REQUEST.to_string();
    if deflate {
        req.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "EOF in the response head");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(head.contains("permessage-deflate"), deflate, "{head}");
    s
}

/// A masked client frame header declaring `len` payload bytes (mask key 0: payload as is).
fn header(fin: bool, rsv1: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![(fin as u8) << 7 | (rsv1 as u8) << 6 | opcode];
    match len {
        0..=125 => h.push(0x80 | len as u8),
        126..=0xffff => {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
    }
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = header(fin, false, opcode, payload.len() as u64);
    f.extend_from_slice(payload);
    f
}

/// Reads server frames until a close frame (its status, 1005 for none) or the end of the
/// stream (`None`), within `deadline`. Counts the pings seen on the way.
async fn read_until_close(s: &mut TcpStream, within: Duration, pings: &mut usize) -> Option<u16> {
    let end = Instant::now() + within;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        // Parse what is buffered.
        while buf.len() >= 2 {
            let op = buf[0] & 0x0f;
            let (len, at) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            assert_eq!(buf[1] & 0x80, 0, "a server frame is masked");
            if buf.len() < at + len {
                break;
            }
            if op == 0x8 {
                let p = &buf[at..at + len];
                return Some(if p.len() >= 2 { u16::from_be_bytes([p[0], p[1]]) } else { 1005 });
            }
            if op == 0x9 {
                *pings += 1;
            }
            buf.drain(..at + len);
        }
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no close frame or end of stream within {within:?}");
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no close frame or end of stream within {within:?}"),
        }
    }
}

/// Reads (and drops) until the end of the stream; true if it ended within `within`.
async fn ends_within(s: &mut TcpStream, within: Duration) -> bool {
    let end = Instant::now() + within;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Writes `unit` over and over, without ever reading, until `total` bytes went out or the
/// server stopped taking them for `stall`; returns the bytes written.
async fn push_until_stalled(s: &mut TcpStream, unit: &[u8], total: usize, stall: Duration) -> usize {
    let mut sent = 0;
    while sent < total {
        match tokio::time::timeout(stall, s.write_all(unit)).await {
            Ok(Ok(())) => sent += unit.len(),
            Ok(Err(_)) | Err(_) => break,
        }
    }
    sent
}

/// A raw deflate stream (as permessage-deflate sends it: no final block, no trailing
/// 00 00 ff ff) that inflates to about `n` zero bytes, at 258 bytes per 13 bits.
fn deflate_bomb(n: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u8,
        used: u32,
    }
    impl Bits {
        fn bit(&mut self, b: u32) {
            self.acc |= ((b & 1) as u8) << self.used;
            self.used += 1;
            if self.used == 8 {
                self.out.push(self.acc);
                self.acc = 0;
                self.used = 0;
            }
        }
        fn value(&mut self, v: u32, n: u32) {
            (0..n).for_each(|i| self.bit(v >> i));
        }
        fn code(&mut self, c: u32, n: u32) {
            (0..n).rev().for_each(|i| self.bit(c >> i));
        }
    }
    let mut w = Bits { out: Vec::new(), acc: 0, used: 0 };
    w.value(0, 1); // not the final block
    w.value(1, 2); // fixed Huffman codes
    w.code(0x30, 8); // literal 0
    for _ in 0..n / 258 {
        w.code(0xc5, 8); // length 258
        w.code(0, 5); // distance 1
    }
    w.code(0, 7); // end of block
    w.value(0, 3); // an empty stored block (its LEN/NLEN are the stripped 00 00 ff ff)
    while w.used != 0 {
        w.bit(0);
    }
    w.out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

// ----- the attacks -----------------------------------------------------------------------

/// Slowloris: 200 connections trickle a request head one byte per 100 ms; each gets 408
/// and is closed at the handshake timeout (1 s). A head that never ends gets 431 at 16 KiB.
#[test]
fn slow_handshake_gets_408() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        let mem = Mem::start();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..200 {
            tasks.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                let mut reply = Vec::new();
                for &b in head.iter() {
                    if s.write_all(&[b]).await.is_err() {
                        break;
                    }
                    let mut buf = [0u8; 256];
                    match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
                        Err(_) => {}
                    }
                }
                // Whatever is left of the answer, then the end of the stream.
                let mut rest = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest)).await;
                reply.extend_from_slice(&rest);
                reply
            }));
        }
        for t in tasks {
            let reply = String::from_utf8_lossy(&t.await.unwrap()).into_owned();
            assert!(reply.starts_with("HTTP/1.1 408 "), "{reply:?}");
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(4), "slowloris connections lived {took:?}");
        for _ in 0..200 {
            match outcome(&mut rx, Duration::from_secs(2)).await {
                Outcome::Handshake(e) => assert_eq!(e, "HandshakeTimeout"),
                o => panic!("{o:?}"),
            }
        }
        mem.assert_bounded("slowloris x200", MEM_LIMIT);

        // A head that does not end, sent fast: 431 as soon as it passes the 16 KiB limit
        // (20 KiB are sent; a server without the limit would wait for more, then 408).
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let line = format!("X-Junk: {}\r\n", "j".repeat(1000));
        for _ in 0..20 {
            s.write_all(line.as_bytes()).await.unwrap();
        }
        let started = Instant::now();
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut reply)).await;
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 431 "), "{reply:?}");
        assert!(started.elapsed() < Duration::from_millis(900), "431 came after {:?}", started.elapsed());
        match outcome(&mut rx, Duration::from_secs(2)).await {
            Outcome::Handshake(e) => assert!(e.contains("431"), "{e}"),
            o => panic!("{o:?}"),
        }
    });
}

/// Endless 1-byte fragments: close 1009 once a message passes 1000 frames.
#[test]
fn endless_tiny_fragments_get_1009() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        let mut s = upgraded(addr, false).await;
        let mem = Mem::start();
        let started = Instant::now();
        let mut burst = frame(false, 0x1, b"a");
        for _ in 0..255 {
            burst.extend_from_slice(&frame(false, 0x0, b"a"));
        }
        let cont: Vec<u8> = (0..256).flat_map(|_| frame(false, 0x0, b"a")).collect();
        s.write_all(&burst).await.unwrap();
        // Up to 100 000 frames: far past the limit.
        let sent = push_until_stalled(&mut s, &cont, 100_000 * 7, Duration::from_millis(500)).await;
        let code = read_until_close(&mut s, Duration::from_secs(2), &mut 0).await;
        assert_eq!(code, Some(1009), "after {} frames", sent / 7);
        assert!(started.elapsed() < Duration::from_secs(3));
        match outcome(&mut rx, Duration::from_secs(3)).await {
            Outcome::Ended(Err(e)) => assert!(e.contains("TooManyFragments") && e.contains("1009"), "{e}"),
            o => panic!("{o:?}"),
        }
        mem.assert_bounded("tiny fragments", MEM_LIMIT);
    });
}

/// A frame declaring 2^63 - 1 bytes: close 1009 at once, from the header alone (no
/// payload is sent, so a server waiting for data would hang here).
#[test]
fn huge_declared_length_gets_1009_at_once() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        for opcode in [0x2u8, 0x1] {
            let mut s = upgraded(addr, false).await;
            let mem = Mem::start();
            let started = Instant::now();
            s.write_all(&header(true, false, opcode, (1u64 << 63) - 1)).await.unwrap();
            // No payload follows: a server that waited for it would never answer.
            let code = read_until_close(&mut s, Duration::from_secs(1), &mut 0).await;
            assert_eq!(code, Some(1009));
            assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
            assert!(ends_within(&mut s, Duration::from_secs(2)).await, "the server kept the connection");
            match outcome(&mut rx, Duration::from_secs(2)).await {
                Outcome::Ended(Err(e)) => assert!(e.contains("FrameTooBig") && e.contains("1009"), "{e}"),
                o => panic!("{o:?}"),
            }
            mem.assert_bounded("2^63-1 length", 1 << 20);
        }
        // The same in a continuation frame, and a length with the top bit set (invalid: 1002).
        let mut s = upgraded(addr, false).await;
        s.write_all(&frame(false, 0x2, b"x")).await.unwrap();
        s.write_all(&header(true, false, 0x0, (1u64 << 63) - 1)).await.unwrap();
        assert_eq!(read_until_close(&mut s, Duration::from_secs(1), &mut 0).await, Some(1009));
        outcome(&mut rx, Duration::from_secs(2)).await;
        let mut s = upgraded(addr, false).await;
        s.write_all(&header(true, false, 0x2, u64::MAX)).await.unwrap();
        assert_eq!(read_until_close(&mut s, Duration::from_secs(1), &mut 0).await, Some(1002));
        outcome(&mut rx, Duration::from_secs(2)).await;
    });
}

/// A flood of pings from a peer that never reads: the pong backlog stays within the write
/// buffer's limit (the server stops reading), and the stalled peer is cut off by the
/// keepalive.
#[test]
fn ping_flood_backlog_is_bounded() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        let mut s = upgraded(addr, false).await;
        let mem = Mem::start();
        let unit: Vec<u8> = (0..500).flat_map(|_| frame(true, 0x9, &[0x55; 125])).collect();
        let sent = push_until_stalled(&mut s, &unit, 64 << 20, Duration::from_millis(300)).await;
        eprintln!("ping flood: {} KiB of pings taken before the server stopped reading", sent >> 10);
        assert!(sent < 48 << 20, "the server kept reading pings it could not answer ({} MiB)", sent >> 20);
        let cut = outcome(&mut rx, 2 * KEEPALIVE + Duration::from_secs(3)).await;
        match cut {
            Outcome::Ended(Err(e)) => assert!(e.contains("KeepaliveTimeout"), "{e}"),
            o => panic!("{o:?}"),
        }
        assert!(ends_within(&mut s, Duration::from_secs(3)).await, "the connection stayed open");
        // Pongs wait in the write buffer up to its 64 KiB limit (plus one read's worth),
        // not megabytes of them.
        mem.assert_bounded("ping flood", 1 << 20);
    });
}

/// A decompression bomb: one compressed frame of ~700 KiB that inflates to 100 MiB. The
/// 1 MiB message limit applies to the inflated size: close 1009.
#[test]
fn decompression_bomb_gets_1009() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        let bomb = deflate_bomb(100 << 20);
        let mut s = upgraded(addr, true).await;
        let mem = Mem::start();
        let started = Instant::now();
        let mut f = header(true, true, 0x2, bomb.len() as u64);
        f.extend_from_slice(&bomb);
        // The server may stop reading (and close) before all of it is taken.
        let _ = s.write_all(&f).await;
        let code = read_until_close(&mut s, Duration::from_secs(3), &mut 0).await;
        assert_eq!(code, Some(1009));
        assert!(started.elapsed() < Duration::from_secs(3));
        match outcome(&mut rx, Duration::from_secs(3)).await {
            Outcome::Ended(Err(e)) => assert!(e.contains("MessageTooBig") && e.contains("1009"), "{e}"),
            o => panic!("{o:?}"),
        }
        drop(f);
        mem.assert_bounded("decompression bomb", MEM_LIMIT);
    });
}

/// The server closes; the peer reads its close frame but never answers (and never closes
/// the TCP connection): the server ends the connection at the close timeout (1 s). No
/// keepalive here: it would cut the silent peer first.
#[test]
fn unanswered_close_times_out() {
    let _g = serial();
    rt().block_on(async {
        let mut cfg = hostile_config();
        cfg.keepalive = None;
        let (addr, mut rx) = start_server_with(cfg).await;
        let mut s = upgraded(addr, false).await;
        let started = Instant::now();
        s.write_all(&frame(true, 0x1, b"close-me")).await.unwrap();
        assert_eq!(read_until_close(&mut s, Duration::from_secs(1), &mut 0).await, Some(1000));
        // Never answer; just watch for the end of the stream.
        assert!(ends_within(&mut s, Duration::from_secs(3)).await, "the server waited forever for the close");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "closed before the timeout ({took:?})");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        match outcome(&mut rx, Duration::from_secs(2)).await {
            Outcome::Ended(_) => {}
            o => panic!("{o:?}"),
        }
    });
}

/// A half-open connection (the peer vanished: it neither reads nor writes nor closes):
/// the keepalive pings it, and cuts it when no answer comes.
#[test]
fn half_open_is_cut_by_keepalive() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        let mut s = upgraded(addr, false).await;
        let started = Instant::now();
        match outcome(&mut rx, 2 * KEEPALIVE + Duration::from_secs(2)).await {
            Outcome::Ended(Err(e)) => assert!(e.contains("KeepaliveTimeout"), "{e}"),
            o => panic!("{o:?}"),
        }
        let took = started.elapsed();
        assert!(took >= 2 * KEEPALIVE - Duration::from_millis(50), "cut too early ({took:?})");
        // What the dead peer would have seen: a ping, then the end of the stream.
        let mut pings = 0;
        // (Possibly a close frame before the end: the server's close attempt.)
        let _ = read_until_close(&mut s, Duration::from_secs(2), &mut pings).await;
        assert!(pings >= 1, "no keepalive ping was sent");
        assert!(ends_within(&mut s, Duration::from_secs(2)).await);
    });
}

/// A peer that sends large messages and never reads the echoes: the server's write buffer
/// stays bounded (it stops reading), and the stalled peer is cut off by the keepalive.
#[test]
fn peer_that_stops_reading_is_bounded_and_cut() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        let mut s = upgraded(addr, false).await;
        let mem = Mem::start();
        let unit = {
            let mut f = header(true, false, 0x2, 256 << 10);
            f.resize(f.len() + (256 << 10), 0xab);
            f
        };
        let sent = push_until_stalled(&mut s, &unit, 64 << 20, Duration::from_millis(300)).await;
        eprintln!("stops reading: {} KiB taken before the server stopped reading", sent >> 10);
        assert!(sent < 48 << 20, "the server kept reading messages it could not echo ({} MiB)", sent >> 20);
        match outcome(&mut rx, 2 * KEEPALIVE + Duration::from_secs(3)).await {
            Outcome::Ended(Err(e)) => assert!(e.contains("KeepaliveTimeout"), "{e}"),
            o => panic!("{o:?}"),
        }
        drop(unit);
        mem.assert_bounded("stops reading", MEM_LIMIT);
        assert!(ends_within(&mut s, Duration::from_secs(3)).await, "the connection stayed open");
    });
}

/// A frame announcing 64 MiB (within the limit) of which 256 KiB arrive: the server grows
/// the message in bounded steps as bytes arrive (it does not allocate the announced length
/// up front), and the end of the stream in the middle of the payload resets the connection.
#[test]
fn announced_length_is_not_allocated_ahead_of_the_bytes() {
    let _g = serial();
    rt().block_on(async {
        let cfg = hostile_config().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
        let (addr, mut rx) = start_server_with(cfg).await;
        let mut s = upgraded(addr, false).await;
        let mem = Mem::start();
        s.write_all(&header(true, false, 0x2, 64 << 20)).await.unwrap();
        for _ in 0..16 {
            s.write_all(&[0x5a; 16 << 10]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        mem.assert_bounded("64 MiB announced, 256 KiB sent", 2 << 20);
        drop(s);
        match outcome(&mut rx, Duration::from_secs(3)).await {
            Outcome::Ended(Err(e)) => assert!(e.contains("ConnectionReset"), "{e}"),
            o => panic!("{o:?}"),
        }
    });
}

/// Invalid UTF-8 deep inside a large text message (read straight into the message) and in
/// a later frame of a fragmented one: close 1007.
#[test]
fn invalid_utf8_in_a_large_text_message_gets_1007() {
    let _g = serial();
    rt().block_on(async {
        let (addr, mut rx) = start_server().await;
        for fragmented in [false, true] {
            let mut s = upgraded(addr, false).await;
            let mut payload = "é€😀".repeat(30_000).into_bytes();
            payload[200_001] = 0xff;
            if fragmented {
                s.write_all(&frame(false, 0x1, &payload[..100_000])).await.unwrap();
                s.write_all(&frame(true, 0x0, &payload[100_000..])).await.unwrap();
            } else {
                s.write_all(&frame(true, 0x1, &payload)).await.unwrap();
            }
            assert_eq!(read_until_close(&mut s, Duration::from_secs(2), &mut 0).await, Some(1007));
            match outcome(&mut rx, Duration::from_secs(3)).await {
                Outcome::Ended(Err(e)) => assert!(e.contains("InvalidUtf8") && e.contains("1007"), "{e}"),
                o => panic!("{o:?}"),
            }
        }
    });
}
