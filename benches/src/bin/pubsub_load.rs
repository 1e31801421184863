//! Pub/sub load: SUBS subscriber connections and one publisher to ws://ADDR/PATH. The
//! publisher sends PAYLOAD-byte text messages, message k only once the subscribers have
//! received (k - WINDOW) messages each on average (so no server queue overflows), for
//! SECS seconds after a one-second warm-up. Prints one JSON line: deliveries per second and
//! the server's CPU time per delivery (from /proc/PID/stat of SERVER_PID).
//!
//! Usage: pubsub_load ADDR SERVER_PID [SUBS] [SECS] [PAYLOAD] [WINDOW]

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Server frames: counts whole data frames in a byte stream.
#[derive(Default)]
struct Counter {
    head: Vec<u8>,
    skip: u64,
}

impl Counter {
    fn feed(&mut self, mut b: &[u8]) -> u64 {
        let mut n = 0;
        loop {
            if self.skip > 0 {
                let k = (self.skip as usize).min(b.len());
                self.skip -= k as u64;
                b = &b[k..];
                if self.skip > 0 {
                    return n;
                }
            }
            if b.is_empty() {
                return n;
            }
            // Header: 2 bytes, then 0, 2 or 8 length bytes (server frames are unmasked).
            let need = |h: &[u8]| match h.get(1).map(|l| l & 0x7f) {
                None => 2,
                Some(126) => 4,
                Some(127) => 10,
                Some(_) => 2,
            };
            while self.head.len() < need(&self.head) && !b.is_empty() {
                self.head.push(b[0]);
                b = &b[1..];
            }
            let h = &self.head;
            if h.len() < need(h) {
                return n;
            }
            let len = match h[1] & 0x7f {
                126 => u16::from_be_bytes([h[2], h[3]]) as u64,
                127 => u64::from_be_bytes(h[2..10].try_into().unwrap()),
                l => l as u64,
            };
            if matches!(h[0] & 0x0f, 1 | 2) {
                n += 1;
            }
            self.head.clear();
            self.skip = len;
        }
    }
}

async fn open(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).unwrap();
    let req = format!(
        "GET /room/bench HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "closed during the handshake");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

fn cpu_ticks(pid: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let addr = a[1].clone();
    let pid = a[2].clone();
    let arg = |i: usize, d: u64| a.get(i).map_or(d, |v| v.parse().unwrap());
    let (subs, secs, payload, window) = (arg(3, 10_000), arg(4, 5), arg(5, 32) as usize, arg(6, 8));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let got = Rc::new(Cell::new(0u64));
        let mut opened = 0;
        while opened < subs {
            let batch = (subs - opened).min(500);
            let mut hs = Vec::new();
            for _ in 0..batch {
                let addr = addr.clone();
                hs.push(tokio::task::spawn_local(async move { open(&addr).await }));
            }
            for h in hs {
                let mut s = h.await.unwrap();
                let got = got.clone();
                tokio::task::spawn_local(async move {
                    let mut c = Counter::default();
                    let mut buf = vec![0u8; 16 << 10];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        got.set(got.get() + c.feed(&buf[..n]));
                    }
                });
            }
            opened += batch;
        }
        let mut publisher = open(&addr).await;
        // A masked text frame (zero key: the payload goes as it is), header by the core.
        let mut frame = vec![0u8; wspc::codec::frame::MAX_HEADER_LEN];
        let text = wspc::codec::frame::OpCode::Text;
        let h = wspc::codec::frame::encode_header(&mut frame, true, false, text, Some([0; 4]), payload as u64);
        frame.truncate(h);
        frame.extend(std::iter::repeat_n(b'x', payload));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let base = got.get();
        let mut sent = 0u64;
        let start = Instant::now();
        let warm = start + Duration::from_secs(1);
        let end = warm + Duration::from_secs(secs);
        let (mut t0, mut g0, mut c0) = (None, 0, 0);
        loop {
            let now = Instant::now();
            if t0.is_none() && now >= warm {
                t0 = Some(now);
                g0 = got.get();
                c0 = cpu_ticks(&pid);
            }
            if now >= end {
                break;
            }
            if (got.get() - base) + window * subs >= sent * subs {
                publisher.write_all(&frame).await.unwrap();
                sent += 1;
            } else {
                tokio::task::yield_now().await;
            }
        }
        let dt = t0.unwrap().elapsed().as_secs_f64();
        let deliveries = got.get() - g0;
        let ticks = cpu_ticks(&pid) - c0;
        let hz = 100.0; // USER_HZ on Linux
        let cpu_s = ticks as f64 / hz;
        println!(
            "{{\"subscribers\":{subs},\"payload\":{payload},\"seconds\":{dt:.3},\"published\":{sent},\
             \"deliveries\":{deliveries},\"deliveries_per_s\":{:.0},\"server_cpu_s\":{cpu_s:.2},\
             \"server_cpu_ns_per_delivery\":{:.1}}}",
            deliveries as f64 / dt,
            cpu_s * 1e9 / deliveries.max(1) as f64
        );
    });
}
