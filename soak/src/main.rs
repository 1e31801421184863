//! Soak client: opens N WebSocket connections to an echo server on loopback, exchanges
//! checksummed messages of random sizes on every connection for a set time, and checks
//! that every message came back intact and that the server's RSS stayed flat.
//!
//! Usage: `wspc-soak --url ws://127.0.0.1:PORT/ --connections N --seconds S [--server-pid PID]`
//! (see run.sh, which builds and starts the server).
//!
//! Each message carries its own header: connection id, sequence number, payload length
//! and a 64-bit FNV-1a checksum of the payload. The echo must match what was sent byte for
//! byte (compared by checksum and header), in order; a connection that loses, reorders or
//! corrupts a message, or fails, fails the run. Source addresses rotate over
//! 127.0.0.2-127.0.0.9 so that 10,000 connections do not run short of ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use wspc_io::{ClientOptions, Message};

#[derive(Default)]
struct Stats {
    connected: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
    messages: AtomicU64,
    bytes: AtomicU64,
    corrupt: AtomicU64,
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Mostly small, some medium, a few large (up to 256 KiB).
    fn size(&mut self) -> usize {
        match self.below(100) {
            0..=79 => self.below(1024) as usize,
            80..=97 => 1024 + self.below(63 << 10) as usize,
            _ => (64 << 10) + self.below(192 << 10) as usize,
        }
    }
}

const HEADER: usize = 28;

/// A message: `conn u32 | seq u64 | len u64 | fnv1a u64 | payload` (text messages use
/// printable payload bytes; the header is hex-encoded for them).
fn build(conn: u32, seq: u64, rng: &mut Rng, text: bool) -> (Message, u64) {
    let n = rng.size();
    let mut payload = vec![0u8; n];
    let mut x = rng.next();
    for b in payload.iter_mut() {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *b = if text { b'a' + ((x >> 33) % 26) as u8 } else { (x >> 33) as u8 };
    }
    let sum = fnv1a(&payload);
    let mut head = Vec::with_capacity(HEADER);
    head.extend_from_slice(&conn.to_be_bytes());
    head.extend_from_slice(&seq.to_be_bytes());
    head.extend_from_slice(&(n as u64).to_be_bytes());
    head.extend_from_slice(&sum.to_be_bytes());
    if text {
        let mut s: String = head.iter().map(|b| format!("{b:02x}")).collect();
        s.push_str(std::str::from_utf8(&payload).expect("ASCII"));
        (Message::text(s), sum)
    } else {
        head.extend_from_slice(&payload);
        (Message::binary(head), sum)
    }
}

/// Checks an echo against what was sent: header fields and the payload's checksum.
fn verify(conn: u32, seq: u64, sum: u64, m: &Message) -> Result<usize, String> {
    let (head, payload): (Vec<u8>, &[u8]) = match m {
        Message::Binary(b) if b.len() >= HEADER => (b[..HEADER].to_vec(), &b[HEADER..]),
        Message::Text(t) if t.len() >= 2 * HEADER => {
            let h = (0..HEADER)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
                .collect::<Result<Vec<u8>, String>>()?;
            (h, &t.as_bytes()[2 * HEADER..])
        }
        other => return Err(format!("unexpected echo {:?}", std::mem::discriminant(other))),
    };
    let c = u32::from_be_bytes(head[0..4].try_into().expect("4"));
    let s = u64::from_be_bytes(head[4..12].try_into().expect("8"));
    let n = u64::from_be_bytes(head[12..20].try_into().expect("8"));
    let k = u64::from_be_bytes(head[20..28].try_into().expect("8"));
    if c != conn || s != seq {
        return Err(format!("conn {conn}: expected seq {seq}, got conn {c} seq {s}"));
    }
    if n as usize != payload.len() || k != sum || fnv1a(payload) != sum {
        return Err(format!("conn {conn} seq {seq}: payload corrupted"));
    }
    Ok(payload.len())
}

struct Shared {
    server: SocketAddr,
    url: String,
    think_ms: u64,
    stats: Stats,
    gate: Semaphore,
    /// The end of the exchange period, sent once every connection is up.
    go: tokio::sync::watch::Receiver<Option<Instant>>,
    /// Set once the end figures are taken: close now.
    closing: tokio::sync::watch::Receiver<bool>,
}

async fn one(id: u32, sh: Arc<Shared>) -> Result<(), String> {
    let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (id % 8) as u8));
    let stats = &sh.stats;
    let permit = sh.gate.acquire().await.expect("open");
    let up = async {
        let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        sock.bind(SocketAddr::new(src, 0)).map_err(|e| format!("bind {src}: {e}"))?;
        let tcp = tokio::time::timeout(Duration::from_secs(30), sock.connect(sh.server))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut opts = ClientOptions::default();
        opts.config.handshake_timeout = Duration::from_secs(30);
        wspc_io::tokio::client_handshake(tcp, &sh.url, &opts).await.map_err(|e| format!("handshake: {e}"))
    };
    let r = up.await;
    drop(permit);
    let (mut ws, _) = match r {
        Ok(x) => x,
        Err(e) => {
            stats.failed.fetch_add(1, Relaxed);
            return Err(format!("conn {id}: {e}"));
        }
    };
    stats.connected.fetch_add(1, Relaxed);
    let mut go = sh.go.clone();
    let until = go.wait_for(|d| d.is_some()).await.map_err(|e| e.to_string())?.expect("set");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let mut seq = 0u64;
    // Spread the first messages over the first think time.
    tokio::time::sleep(Duration::from_millis(rng.below(sh.think_ms.max(1)))).await;
    let result = async {
        while Instant::now() < until {
            let text = rng.below(4) == 0;
            let (msg, sum) = build(id, seq, &mut rng, text);
            ws.send(msg).await.map_err(|e| format!("conn {id} send: {e}"))?;
            let echo = match tokio::time::timeout(Duration::from_secs(60), ws.recv()).await {
                Err(_) => return Err(format!("conn {id} seq {seq}: no echo within 60 s")),
                Ok(None) => return Err(format!("conn {id} seq {seq}: connection ended")),
                Ok(Some(Err(e))) => return Err(format!("conn {id} seq {seq}: {e}")),
                Ok(Some(Ok(m))) => m,
            };
            match verify(id, seq, sum, &echo) {
                Ok(n) => {
                    stats.messages.fetch_add(1, Relaxed);
                    stats.bytes.fetch_add(n as u64, Relaxed);
                }
                Err(e) => {
                    stats.corrupt.fetch_add(1, Relaxed);
                    return Err(e);
                }
            }
            seq += 1;
            // Think time, so that thousands of connections share two cores evenly.
            tokio::time::sleep(Duration::from_millis(rng.below(sh.think_ms.max(1)))).await;
        }
        Ok(())
    }
    .await;
    stats.finished.fetch_add(1, Relaxed);
    result?;
    // Stay open until the end figures are taken, then close cleanly.
    let mut closing = sh.closing.clone();
    let _ = closing.wait_for(|c| *c).await;
    ws.close(None).await.map_err(|e| format!("conn {id} close: {e}"))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url").unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let conns: u32 = arg(&args, "--connections").and_then(|s| s.parse().ok()).unwrap_or(1000);
    let secs: u64 = arg(&args, "--seconds").and_then(|s| s.parse().ok()).unwrap_or(20);
    let think_ms: u64 = arg(&args, "--think-ms").and_then(|s| s.parse().ok()).unwrap_or(500);
    let pid: Option<u32> = arg(&args, "--server-pid").and_then(|s| s.parse().ok());
    let rss = || pid.and_then(rss_kib).unwrap_or(0);
    let hostport = url.trim_start_matches("ws://").split('/').next().expect("host:port").to_string();
    let server: SocketAddr = hostport.parse().expect("--url ws://IP:PORT/");
    let (go_tx, go) = tokio::sync::watch::channel(None);
    let (close_tx, closing) = tokio::sync::watch::channel(false);
    let sh =
        Arc::new(Shared { server, url, think_ms, stats: Stats::default(), gate: Semaphore::new(256), go, closing });
    let stats = &sh.stats;
    let rss_idle = rss();
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(conns as usize);
    for id in 0..conns {
        tasks.push(tokio::spawn(one(id, sh.clone())));
    }
    // Connecting (bounded): then the exchange period starts for everyone at once.
    let connect_budget = Duration::from_secs(conns as u64 / 100 + 30);
    while stats.connected.load(Relaxed) + stats.failed.load(Relaxed) < conns as usize && t0.elapsed() < connect_budget {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t_up = t0.elapsed();
    let rss_start = rss();
    println!(
        "soak: {} of {conns} connected in {:.1} s ({} failed); server RSS idle {rss_idle} KiB, all connected {rss_start} KiB",
        stats.connected.load(Relaxed),
        t_up.as_secs_f64(),
        stats.failed.load(Relaxed),
    );
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    go_tx.send_replace(Some(until));
    tokio::time::sleep(Duration::from_secs(secs) / 2).await;
    let rss_mid = rss();
    println!("soak: middle: server RSS {rss_mid} KiB, {} messages so far", stats.messages.load(Relaxed));
    // Every connection finishes its last exchange; the end figure; then the closes.
    while stats.finished.load(Relaxed) + stats.failed.load(Relaxed) < conns as usize
        && Instant::now() < until + Duration::from_secs(90)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let span = start.elapsed();
    let rss_end = rss();
    close_tx.send_replace(true);
    let mut failures = Vec::new();
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(60), t).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => failures.push(e),
            Ok(Err(e)) => failures.push(format!("task: {e}")),
            Err(_) => failures.push("did not finish within 60 s of the end".into()),
        }
    }
    let msgs = stats.messages.load(Relaxed);
    let bytes = stats.bytes.load(Relaxed);
    println!(
        "soak: {msgs} messages ({:.1} MiB of payload each way) echoed and verified in {:.1} s ({:.0} msg/s)",
        bytes as f64 / (1 << 20) as f64,
        span.as_secs_f64(),
        msgs as f64 / span.as_secs_f64().max(0.001),
    );
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "soak: server RSS start {rss_start} KiB, middle {rss_mid} KiB, end {rss_end} KiB, after closing {} KiB \
         (this client: {} KiB)",
        rss(),
        rss_kib(std::process::id()).unwrap_or(0)
    );
    let mut ok = true;
    if !failures.is_empty() {
        ok = false;
        println!("FAIL: {} of {conns} connections failed; first: {}", failures.len(), failures[0]);
    }
    if stats.corrupt.load(Relaxed) > 0 {
        ok = false;
        println!("FAIL: {} corrupted echoes", stats.corrupt.load(Relaxed));
    }
    if msgs < conns as u64 {
        ok = false;
        println!("FAIL: only {msgs} messages for {conns} connections");
    }
    // Flat: the end is within 20% (plus 64 MiB of slack) of the middle. A leak per message
    // grows linearly (end ~ 2 x middle); the per-connection buffer pools of wspc-io fill in
    // the first seconds and then stay (HARDENING_FINDINGS.md), hence the slack.
    if pid.is_some() && rss_end > rss_mid * 12 / 10 + (64 << 10) {
        ok = false;
        println!("FAIL: server RSS grew from {rss_mid} KiB (middle) to {rss_end} KiB (end)");
    }
    if ok {
        println!("soak: OK ({conns} connections, every echo verified, server RSS flat)");
    } else {
        std::process::exit(1);
    }
}
