//! `wspc bench URL`: a load generator for any WebSocket echo server.
//!
//! Design, chosen for a generator that costs far less CPU than the server it measures:
//! - `--threads N` worker threads, each with its own share of the connections and its own
//!   `epoll` loop over non-blocking sockets (edge-triggered; no runtime, no mio). A plain
//!   epoll loop measured faster than tokio `current_thread` per thread for this job, and
//!   unlike blocking round-robin it keeps every connection's pipeline full.
//! - Frames are encoded and masked once per thread: a block of up to `--pipeline` copies of
//!   the masked frame, so that refilling K messages is one `write` (or one `writev` for large
//!   frames) of pre-built bytes. All frames of a thread share one mask key.
//! - Echoes are parsed by wspc's own receive path (a [`ReceiveHalf`] whose lent buffer the
//!   socket is read into directly), each chunk compared byte for byte with the payload.
//!   In `--raw` mode (for a TCP reflector) the returned bytes are compared with the masked
//!   frames themselves, and no handshake is done.
//! - Latency: each connection keeps a ring of send timestamps (echoes come back in order);
//!   a log-linear histogram (<1% error) per thread.
//! - The generator reports its own CPU use (`getrusage`, per process and per thread), and
//!   with `--server-pid` the server's (utime+stime from `/proc/PID/stat`), so a reader can
//!   tell which side was the limit.

use crate::BoxError;
use clap::Args;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use wspc::codec::frame::{encode_header, OpCode, MAX_HEADER_LEN};
use wspc::codec::mask::copy_masked;
use wspc::{Action, ActionToken, BufferType, Config, Handle, ReceiveHalf};

/// Arguments of `wspc bench`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Only ws:// URLs are supported (no TLS). MB/s counts echoed payload bytes in one \
direction, MB = 10^6 bytes. Exit status: 0 when messages were echoed and no error was seen, 1 otherwise.")]
pub struct BenchArgs {
    /// Echo server, `ws://host:port/path` (ws:// only: no TLS).
    pub url: String,
    /// Connections to open.
    #[arg(short, long, default_value_t = 100)]
    pub connections: usize,
    /// Message size: bytes, or with a unit (`20`, `1KiB`, `64k`, `1MiB`).
    #[arg(short, long, default_value = "20", value_parser = parse_size)]
    pub size: usize,
    /// How long to measure (`5`, `5s`, `500ms`, `1m`).
    #[arg(short, long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before measuring starts (not counted).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Messages in flight per connection.
    #[arg(short = 'k', long, default_value_t = 1)]
    pub pipeline: usize,
    /// Send text messages (default: binary).
    #[arg(long)]
    pub text: bool,
    /// Worker threads (default: the CPUs this process may run on, at most one per connection).
    #[arg(short, long)]
    pub threads: Option<usize>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Also report this process's CPU time (utime+stime from /proc/PID/stat) during the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The server is a raw TCP reflector: no handshake; the masked frames themselves must come
    /// back byte for byte.
    #[arg(long)]
    pub raw: bool,
    /// No progress line.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown size unit in {s:?}")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size too large: {s:?}"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "m" | "min" => n * 60.0,
        _ => return Err(format!("unknown duration unit in {s:?}")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A parsed `ws://` URL and its first address.
#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    url: wspc_io::http::Target,
}

fn parse_url(url: &str) -> Result<Target, BoxError> {
    let parsed = wspc_io::http::Target::parse(url)?;
    if parsed.tls {
        return Err("wss:// is not supported by `wspc bench` (ws:// only)".into());
    }
    if !url.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("ws://")) {
        return Err(format!("not a ws:// URL: {url}").into());
    }
    let hostport = (parsed.host.as_str(), parsed.port);
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", parsed.host_header))?
        .next()
        .ok_or_else(|| format!("no address for {}", parsed.host_header))?;
    Ok(Target { addr, url: parsed })
}

/// A small xorshift generator (payload bytes and mask keys; no cryptographic needs here).
struct XorShift(u64);

impl XorShift {
    fn seeded(extra: u64) -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        Self((t ^ extra.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn make_payload(size: usize, text: bool) -> Vec<u8> {
    if text {
        const T: &[u8] = b"The quick brown fox jumps over the lazy dog 0123456789. ";
        T.iter().copied().cycle().take(size).collect()
    } else {
        let mut r = XorShift(0x2545_F491_4F6C_DD1D);
        (0..size).map(|_| (r.next() >> 24) as u8).collect()
    }
}

/// Masked frames, pre-encoded: `count` copies of one frame, back to back.
struct FrameBlock {
    bytes: Vec<u8>,
    frame_len: usize,
    count: usize,
}

impl FrameBlock {
    /// Up to `pipeline` copies, keeping the block near 256 KiB for large frames.
    fn new(payload: &[u8], text: bool, pipeline: usize, key: [u8; 4]) -> Self {
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let op = if text { OpCode::Text } else { OpCode::Binary };
        let h = encode_header(&mut hdr, true, false, op, Some(key), payload.len() as u64);
        let frame_len = h + payload.len();
        let mut frame = vec![0u8; frame_len];
        frame[..h].copy_from_slice(&hdr[..h]);
        copy_masked(&mut frame[h..], payload, key, 0);
        let count = pipeline.min((256 << 10) / frame_len).max(1);
        let bytes = frame.repeat(count);
        Self { bytes, frame_len, count }
    }
}

/// Log-linear histogram of nanoseconds: exact below 128, then 128 sub-buckets per power of
/// two (under 1% error).
struct Hist {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;

impl Hist {
    fn new() -> Self {
        Self { counts: vec![0; (64 - SUB_BITS as usize + 1) * SUB], total: 0, max: 0, sum: 0 }
    }
    fn index(v: u64) -> usize {
        if v < SUB as u64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros();
        let top = (v >> (e - SUB_BITS)) as usize;
        (e - SUB_BITS + 1) as usize * SUB + (top - SUB)
    }
    fn value(i: usize) -> u64 {
        if i < SUB {
            return i as u64;
        }
        let e = (i / SUB) as u32 + SUB_BITS - 1;
        let top = (i % SUB + SUB) as u64;
        let width = 1u64 << (e - SUB_BITS);
        (top << (e - SUB_BITS)) + width / 2
    }
    fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }
    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.max = self.max.max(o.max);
        self.sum += o.sum;
    }
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let want = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

/// CPU seconds (user + system) of this process or thread.
fn rusage_cpu(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes a `struct rusage` into the zeroed value we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage`.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// utime + stime of a process in seconds, from `/proc/PID/stat`.
fn proc_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Some(ticks as f64 / hz as f64)
}

/// A `kB` field of `/proc/PID/status` (VmRSS, VmHWM).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Opens a connection and does the WebSocket upgrade with wspc's handshake functions.
/// Returns the stream (blocking), the receive half and any bytes read past the response.
fn connect_ws(t: &Target, recv_buf: u32) -> Result<(TcpStream, ReceiveHalf, Vec<u8>), BoxError> {
    let mut s = TcpStream::connect_timeout(&t.addr, Duration::from_secs(10))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let config = Config::client().receive_buffer_size(recv_buf)?.disable_utf8_verification(true);
    let mut h = Handle::client(config)?;
    let opts = wspc_io::ClientOptions::default();
    let req = wspc_io::http::request_head(&mut h, &t.url, &Default::default(), &opts)?;
    s.write_all(&req)?;
    let mut buf = vec![0u8; 4096];
    let mut have = 0;
    loop {
        if have == buf.len() {
            return Err("handshake response too long".into());
        }
        let n = s.read(&mut buf[have..])?;
        if n == 0 {
            return Err("connection closed during the handshake".into());
        }
        have += n;
        if let Some((_, _, len)) = wspc_io::http::client_response(&buf[..have], &mut h, &opts.config)? {
            let leftover = buf[len..have].to_vec();
            let (_send, recv) = h.split()?;
            s.set_read_timeout(None)?;
            return Ok((s, recv, leftover));
        }
    }
}

/// Counters a worker publishes for the progress line.
#[derive(Default)]
struct Progress {
    messages: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

struct Shared {
    base: Instant,
    connected: Barrier,
    go: Barrier,
    /// Nanoseconds after `base` at which counting starts / sending stops.
    count_from: AtomicU64,
    deadline: AtomicU64,
    progress: Vec<Progress>,
    server_pid: Option<u32>,
    /// CPU readings when counting starts and when sending stops, taken by worker 0 itself
    /// (under SCHED_FIFO on one CPU the main thread may not run until the workers block).
    window: std::sync::Mutex<[Option<CpuSample>; 2]>,
}

/// Process CPU seconds, the server's CPU seconds, and when.
#[derive(Clone, Copy)]
struct CpuSample {
    own: f64,
    server: Option<f64>,
    at: Instant,
}

impl CpuSample {
    fn take(server_pid: Option<u32>) -> Self {
        Self { own: rusage_cpu(libc::RUSAGE_SELF), server: server_pid.and_then(proc_cpu), at: Instant::now() }
    }
}

/// What one worker measured.
struct WorkerResult {
    hist: Hist,
    messages: u64,
    bytes: u64,
    errors: u64,
    connect_errors: u64,
    samples: Vec<String>,
    cpu_s: f64,
    wall_s: f64,
}

/// Per-thread state shared by its connections.
struct Ctx {
    base: Instant,
    count_from: u64,
    deadline: u64,
    payload: Arc<[u8]>,
    text: bool,
    hist: Hist,
    messages: u64,
    bytes: u64,
    errors: u64,
    samples: Vec<String>,
    /// Raw mode: the read buffer and the frame the echo must equal.
    scratch: Vec<u8>,
    raw_frame: Vec<u8>,
}

impl Ctx {
    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
    fn error(&mut self, now: u64, msg: impl FnOnce() -> String) {
        if now < self.deadline {
            self.errors += 1;
            if self.samples.len() < 8 {
                self.samples.push(msg());
            }
        }
    }
}

/// One connection's state.
struct Conn {
    stream: TcpStream,
    alive: bool,
    /// WebSocket receive path (None in raw mode).
    rx: Option<ReceiveHalf>,
    leftover: Vec<u8>,
    /// The read the engine asked for and the socket could not fill yet.
    pending: Option<(ActionToken, *mut u8, usize)>,
    /// Frames queued but not fully written; bytes of the first already written.
    unsent: usize,
    wpos: usize,
    /// Send timestamps of the messages in flight (FIFO).
    ring: std::collections::VecDeque<u64>,
    /// Bytes of the echo being received so far, and whether it differs.
    msg_off: usize,
    msg_bad: bool,
    /// Raw mode: position in the frame of the next byte expected.
    raw_off: usize,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl Conn {
    fn fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    fn fail(&mut self, ctx: &mut Ctx, now: u64, why: &str) {
        if self.alive {
            self.alive = false;
            ctx.error(now, || why.to_string());
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Queues one more message (if before the deadline).
    fn queue(&mut self, now: u64, ctx: &Ctx) {
        if now < ctx.deadline {
            self.unsent += 1;
            self.ring.push_back(now);
        }
    }

    /// An echo arrived whole.
    fn message_done(&mut self, ctx: &mut Ctx, now: u64) {
        let sent = self.ring.pop_front();
        let bad = std::mem::take(&mut self.msg_bad);
        self.msg_off = 0;
        match sent {
            None => ctx.error(now, || "an echo arrived for a message never sent".into()),
            Some(t) => {
                if bad {
                    ctx.error(now, || "echo differs from the message sent".into());
                } else if now >= ctx.count_from && now < ctx.deadline {
                    ctx.messages += 1;
                    ctx.bytes += ctx.payload.len() as u64;
                    ctx.hist.record(now.saturating_sub(t));
                }
            }
        }
        self.queue(now, ctx);
    }

    /// Writes queued frames until done or the socket is full.
    fn flush(&mut self, block: &FrameBlock, ctx: &mut Ctx) {
        const MAX_IOV: usize = 64;
        let flen = block.frame_len;
        while self.alive && self.unsent > 0 {
            let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_IOV];
            let mut cnt = 0;
            let mut frames = self.unsent;
            let mut want = 0usize;
            let mut start = self.wpos;
            while frames > 0 && cnt < MAX_IOV {
                let n = frames.min(block.count);
                let end = n * flen;
                iov[cnt] =
                    libc::iovec { iov_base: block.bytes[start..].as_ptr() as *mut libc::c_void, iov_len: end - start };
                want += end - start;
                frames -= n;
                start = 0;
                cnt += 1;
            }
            // SAFETY: every iovec points into `block.bytes`, alive for the call.
            let r = unsafe { libc::writev(self.fd(), iov.as_ptr(), cnt as libc::c_int) };
            if r < 0 {
                match errno() {
                    libc::EAGAIN => return,
                    libc::EINTR => continue,
                    e => {
                        let now = ctx.now();
                        self.fail(ctx, now, &format!("write failed: {}", std::io::Error::from_raw_os_error(e)));
                        return;
                    }
                }
            }
            let n = r as usize;
            let total = self.wpos + n;
            self.unsent -= total / flen;
            self.wpos = total % flen;
            if n < want {
                return;
            }
        }
    }

    /// The socket is readable: read everything there is and check the echoes.
    fn on_readable(&mut self, ctx: &mut Ctx) {
        if self.rx.is_none() {
            return self.on_readable_raw(ctx);
        }
        loop {
            if !self.alive {
                return;
            }
            let Some((token, ptr, len)) = self.pending.take() else {
                let now = ctx.now();
                if !self.pump(ctx, now) {
                    return;
                }
                continue;
            };
            // SAFETY: `ptr..ptr+len` is the engine's lent receive buffer, valid and unused by
            // the engine until this token is completed.
            let r = unsafe { libc::read(self.fd(), ptr.cast(), len) };
            let now = ctx.now();
            if r <= 0 {
                let e = errno();
                if r < 0 && e == libc::EAGAIN {
                    self.pending = Some((token, ptr, len));
                    return;
                }
                if r < 0 && e == libc::EINTR {
                    self.pending = Some((token, ptr, len));
                    continue;
                }
                let why = if r == 0 {
                    "connection closed by the server".to_string()
                } else {
                    format!("read failed: {}", std::io::Error::from_raw_os_error(e))
                };
                self.fail(ctx, now, &why);
                return;
            }
            let n = r as usize;
            self.rx.as_mut().expect("ws mode").complete_action(token, n);
            if !self.pump(ctx, now) || n < len {
                // A short read drained the socket; edge-triggered epoll reports new data.
                return;
            }
        }
    }

    /// Drives the receive half until it asks for network bytes. False when the connection died.
    fn pump(&mut self, ctx: &mut Ctx, now: u64) -> bool {
        loop {
            let rx = self.rx.as_mut().expect("ws mode");
            let action = match rx.get_action() {
                Ok(a) => a,
                Err(e) => {
                    self.fail(ctx, now, &format!("protocol error from the server: {e}"));
                    return false;
                }
            };
            match action {
                Action::NoAction => {
                    if let Err(e) = rx.receive(0) {
                        self.fail(ctx, now, &format!("receive: {e}"));
                        return false;
                    }
                }
                Action::ReceiveFromNetwork { token, buffer, .. } => {
                    if !self.leftover.is_empty() {
                        let n = self.leftover.len().min(buffer.len());
                        buffer[..n].copy_from_slice(&self.leftover[..n]);
                        self.leftover.drain(..n);
                        rx.complete_action(token, n);
                        continue;
                    }
                    self.pending = Some((token, buffer.as_mut_ptr(), buffer.len()));
                    return true;
                }
                Action::IndicateReceiveComplete { token, buffer_type, data, .. } => {
                    match buffer_type {
                        BufferType::Close => {
                            rx.complete_action(token, 0);
                            self.fail(ctx, now, "the server sent a close frame");
                            return false;
                        }
                        BufferType::PingPong | BufferType::UnsolicitedPong => {
                            rx.complete_action(token, 0);
                            continue;
                        }
                        _ => {}
                    }
                    let expected = &ctx.payload[..];
                    let end = self.msg_off + data.len();
                    if buffer_type.is_text() != ctx.text || end > expected.len() || data != &expected[self.msg_off..end]
                    {
                        self.msg_bad = true;
                    }
                    self.msg_off = end;
                    let last = buffer_type.is_message_end();
                    rx.complete_action(token, 0);
                    if last {
                        if self.msg_off != expected.len() {
                            self.msg_bad = true;
                        }
                        self.message_done(ctx, now);
                    }
                }
                Action::SendToNetwork { token, buffers, .. } => {
                    // An automatic pong (the server pinged us): write it out.
                    let mut written = 0;
                    for b in buffers.as_slices() {
                        match (&self.stream).write(b) {
                            Ok(n) => written += n,
                            Err(_) => break,
                        }
                    }
                    rx.complete_action(token, written);
                }
                Action::IndicateSendComplete { token, .. } => rx.complete_action(token, 0),
            }
        }
    }

    fn on_readable_raw(&mut self, ctx: &mut Ctx) {
        loop {
            if !self.alive {
                return;
            }
            let cap = ctx.scratch.len();
            // SAFETY: reading into our own scratch buffer of `cap` bytes.
            let r = unsafe { libc::read(self.fd(), ctx.scratch.as_mut_ptr().cast(), cap) };
            let now = ctx.now();
            if r <= 0 {
                let e = errno();
                if r < 0 && e == libc::EAGAIN {
                    return;
                }
                if r < 0 && e == libc::EINTR {
                    continue;
                }
                let why =
                    if r == 0 { "connection closed by the server".into() } else { format!("read failed: errno {e}") };
                self.fail(ctx, now, &why);
                return;
            }
            let n = r as usize;
            let mut at = 0;
            while at < n {
                let flen = ctx.raw_frame.len();
                let take = (n - at).min(flen - self.raw_off);
                if ctx.scratch[at..at + take] != ctx.raw_frame[self.raw_off..self.raw_off + take] {
                    self.msg_bad = true;
                }
                at += take;
                self.raw_off += take;
                if self.raw_off == flen {
                    self.raw_off = 0;
                    self.message_done(ctx, now);
                }
            }
            if n < cap {
                return;
            }
        }
    }
}

struct WorkerSpec {
    target: Target,
    connections: usize,
    pipeline: usize,
    raw: bool,
    index: usize,
    payload: Arc<[u8]>,
    text: bool,
}

fn worker(spec: WorkerSpec, shared: Arc<Shared>) -> WorkerResult {
    let mut rng = XorShift::seeded(spec.index as u64 + 1);
    let mut key = (rng.next() as u32).to_ne_bytes();
    if spec.raw || key == [0; 4] {
        key = [0x5a, 0xa5, 0x3c, 0xc3];
    }
    let block = FrameBlock::new(&spec.payload, spec.text, spec.pipeline, key);
    let recv_buf = (spec.pipeline * block.frame_len).clamp(4096, 256 << 10) as u32;
    let mut ctx = Ctx {
        base: shared.base,
        count_from: 0,
        deadline: u64::MAX,
        payload: spec.payload.clone(),
        text: spec.text,
        hist: Hist::new(),
        messages: 0,
        bytes: 0,
        errors: 0,
        samples: Vec::new(),
        scratch: if spec.raw { vec![0u8; 256 << 10] } else { Vec::new() },
        raw_frame: block.bytes[..block.frame_len].to_vec(),
    };
    let mut conns: Vec<Conn> = Vec::with_capacity(spec.connections);
    let mut connect_errors = 0;
    for _ in 0..spec.connections {
        let opened = if spec.raw {
            TcpStream::connect_timeout(&spec.target.addr, Duration::from_secs(10))
                .and_then(|s| s.set_nodelay(true).map(|_| s))
                .map(|s| (s, None, Vec::new()))
                .map_err(BoxError::from)
        } else {
            connect_ws(&spec.target, recv_buf).map(|(s, r, l)| (s, Some(r), l))
        };
        match opened {
            Ok((stream, rx, leftover)) => {
                if stream.set_nonblocking(true).is_err() {
                    connect_errors += 1;
                    continue;
                }
                conns.push(Conn {
                    stream,
                    alive: true,
                    rx,
                    leftover,
                    pending: None,
                    unsent: 0,
                    wpos: 0,
                    ring: std::collections::VecDeque::with_capacity(spec.pipeline),
                    msg_off: 0,
                    msg_bad: false,
                    raw_off: 0,
                });
            }
            Err(e) => {
                connect_errors += 1;
                if ctx.samples.len() < 8 {
                    ctx.samples.push(format!("connect: {e}"));
                }
            }
        }
    }
    // SAFETY: plain system call.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0, "epoll_create1 failed");
    for (i, c) in conns.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` is a valid epoll_event; the fd is open.
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, c.fd(), &mut ev) };
    }
    shared.connected.wait();
    shared.go.wait();
    ctx.count_from = shared.count_from.load(Ordering::Acquire);
    ctx.deadline = shared.deadline.load(Ordering::Acquire);
    let mut cpu0 = None;
    let now = ctx.now();
    for c in conns.iter_mut() {
        for _ in 0..spec.pipeline {
            c.queue(now, &ctx);
        }
        c.flush(&block, &mut ctx);
    }
    let progress = &shared.progress[spec.index];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        // SAFETY: `events` has room for `len` entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 20) };
        if n < 0 && errno() != libc::EINTR {
            break;
        }
        for ev in &events[..n.max(0) as usize] {
            let c = &mut conns[ev.u64 as usize];
            if !c.alive {
                continue;
            }
            let bits = ev.events;
            if bits & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLRDHUP) as u32 != 0 {
                c.on_readable(&mut ctx);
            }
            c.flush(&block, &mut ctx);
        }
        progress.messages.store(ctx.messages, Ordering::Relaxed);
        progress.bytes.store(ctx.bytes, Ordering::Relaxed);
        progress.errors.store(ctx.errors + connect_errors, Ordering::Relaxed);
        let now = ctx.now();
        if cpu0.is_none() && now >= ctx.count_from {
            cpu0 = Some((rusage_cpu(libc::RUSAGE_THREAD), Instant::now()));
            if spec.index == 0 {
                shared.window.lock().expect("not poisoned")[0] = Some(CpuSample::take(shared.server_pid));
            }
        }
        if now >= ctx.deadline {
            if spec.index == 0 {
                shared.window.lock().expect("not poisoned")[1] = Some(CpuSample::take(shared.server_pid));
            }
            break;
        }
    }
    let (cpu_s, wall_s) = match cpu0 {
        Some((c, t)) => (rusage_cpu(libc::RUSAGE_THREAD) - c, t.elapsed().as_secs_f64()),
        None => (0.0, 0.0),
    };
    // SAFETY: closing our epoll descriptor.
    unsafe { libc::close(ep) };
    WorkerResult {
        hist: ctx.hist,
        messages: ctx.messages,
        bytes: ctx.bytes,
        errors: ctx.errors,
        connect_errors,
        samples: ctx.samples,
        cpu_s,
        wall_s,
    }
}

/// The `--json` report (and the numbers of the human one).
#[derive(Serialize, Debug)]
pub struct Report {
    pub url: String,
    pub raw: bool,
    pub connections: usize,
    pub connected: usize,
    pub size: usize,
    pub text: bool,
    pub pipeline: usize,
    pub threads: usize,
    pub duration_s: f64,
    pub messages: u64,
    pub messages_per_s: f64,
    pub mb_per_s: f64,
    pub latency_us: Latency,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub generator: GeneratorCpu,
    pub server: Option<ServerCpu>,
}

#[derive(Serialize, Debug)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Serialize, Debug)]
pub struct GeneratorCpu {
    /// CPU seconds of the whole process during the measured window.
    pub cpu_s: f64,
    /// `cpu_s` / wall time: cores kept busy.
    pub cores: f64,
    /// The busiest worker thread's CPU share (1.0 = a full core): near 1 means the generator
    /// was probably the limit.
    pub busiest_thread: f64,
    pub cpu_us_per_msg: f64,
}

#[derive(Serialize, Debug)]
pub struct ServerCpu {
    pub pid: u32,
    pub cpu_s: f64,
    pub cores: f64,
    pub cpu_us_per_msg: f64,
    pub vm_hwm_kib: Option<u64>,
    pub vm_rss_kib: Option<u64>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// Runs `wspc bench`.
pub fn run(args: BenchArgs) -> Result<ExitCode, BoxError> {
    if args.connections == 0 || args.pipeline == 0 {
        return Err("--connections and --pipeline must be at least 1".into());
    }
    let target = parse_url(&args.url)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.threads.unwrap_or(cpus).clamp(1, args.connections);
    let payload: Arc<[u8]> = make_payload(args.size, args.text).into();
    let shared = Arc::new(Shared {
        base: Instant::now(),
        connected: Barrier::new(threads + 1),
        go: Barrier::new(threads + 1),
        count_from: AtomicU64::new(0),
        deadline: AtomicU64::new(u64::MAX),
        progress: (0..threads).map(|_| Progress::default()).collect(),
        server_pid: args.server_pid,
        window: std::sync::Mutex::new([None, None]),
    });
    let mut handles = Vec::new();
    for i in 0..threads {
        let spec = WorkerSpec {
            target: target.clone(),
            connections: args.connections / threads + usize::from(i < args.connections % threads),
            pipeline: args.pipeline,
            raw: args.raw,
            index: i,
            payload: payload.clone(),
            text: args.text,
        };
        let sh = shared.clone();
        handles.push(std::thread::Builder::new().name(format!("bench-{i}")).spawn(move || worker(spec, sh))?);
    }
    shared.connected.wait();
    let start = shared.base.elapsed();
    let count_from = start + args.warmup;
    let deadline = count_from + args.duration;
    shared.count_from.store(count_from.as_nanos() as u64, Ordering::Release);
    shared.deadline.store(deadline.as_nanos() as u64, Ordering::Release);
    shared.go.wait();

    let bar = if args.quiet || args.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new((args.warmup + args.duration).as_millis() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed:>3} [{bar:24}] {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    };
    let mut last = (Instant::now(), 0u64);
    loop {
        let now = shared.base.elapsed();
        if now >= deadline {
            break;
        }
        let msgs: u64 = shared.progress.iter().map(|p| p.messages.load(Ordering::Relaxed)).sum();
        let bytes: u64 = shared.progress.iter().map(|p| p.bytes.load(Ordering::Relaxed)).sum();
        let errs: u64 = shared.progress.iter().map(|p| p.errors.load(Ordering::Relaxed)).sum();
        let dt = last.0.elapsed().as_secs_f64();
        let rate = if dt > 0.0 { (msgs - last.1.min(msgs)) as f64 / dt } else { 0.0 };
        last = (Instant::now(), msgs);
        let phase = if now < count_from { "warming up, " } else { "" };
        bar.set_position(now.saturating_sub(start).as_millis() as u64);
        bar.set_message(format!(
            "{phase}{} msgs, {} msg/s now, {:.1} MB echoed, {errs} errors",
            thousands(msgs),
            thousands(rate as u64),
            bytes as f64 / 1e6
        ));
        std::thread::sleep((deadline - now).min(Duration::from_millis(200)));
    }
    bar.finish_and_clear();
    let mut hist = Hist::new();
    let (mut messages, mut bytes, mut errors, mut connect_errors) = (0, 0, 0, 0);
    let mut samples = Vec::new();
    let mut busiest: f64 = 0.0;
    for h in handles {
        let r = h.join().map_err(|_| "a worker thread panicked")?;
        hist.merge(&r.hist);
        messages += r.messages;
        bytes += r.bytes;
        errors += r.errors + r.connect_errors;
        connect_errors += r.connect_errors;
        samples.extend(r.samples);
        if r.wall_s > 0.0 {
            busiest = busiest.max(r.cpu_s / r.wall_s);
        }
    }
    samples.truncate(8);
    let [w0, w1] = *shared.window.lock().expect("not poisoned");
    let end = w1.unwrap_or_else(|| CpuSample::take(args.server_pid));
    let start = w0.unwrap_or(end);
    let wall = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
    let secs = args.duration.as_secs_f64().max(1e-9);
    let gen_cpu = end.own - start.own;
    let per_msg = |cpu: f64| if messages > 0 { cpu * 1e6 / messages as f64 } else { 0.0 };
    let server = args.server_pid.map(|pid| {
        let cpu = match (start.server, end.server) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        ServerCpu {
            pid,
            cpu_s: cpu,
            cores: cpu / wall,
            cpu_us_per_msg: per_msg(cpu),
            vm_hwm_kib: proc_status_kib(pid, "VmHWM"),
            vm_rss_kib: proc_status_kib(pid, "VmRSS"),
        }
    });
    let ns_to_us = |v: u64| v as f64 / 1e3;
    let report = Report {
        url: args.url.clone(),
        raw: args.raw,
        connections: args.connections,
        connected: args.connections - connect_errors as usize,
        size: args.size,
        text: args.text,
        pipeline: args.pipeline,
        threads,
        duration_s: secs,
        messages,
        messages_per_s: messages as f64 / secs,
        mb_per_s: bytes as f64 / secs / 1e6,
        latency_us: Latency {
            p50: ns_to_us(hist.quantile(0.50)),
            p99: ns_to_us(hist.quantile(0.99)),
            max: ns_to_us(hist.max),
            mean: if hist.total > 0 { hist.sum as f64 / hist.total as f64 / 1e3 } else { 0.0 },
        },
        errors,
        error_samples: samples,
        generator: GeneratorCpu {
            cpu_s: gen_cpu,
            cores: gen_cpu / wall,
            busiest_thread: busiest,
            cpu_us_per_msg: per_msg(gen_cpu),
        },
        server,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_human(&report);
    }
    Ok(if report.errors == 0 && report.messages > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_human(r: &Report) {
    let kind = if r.raw {
        "raw frames"
    } else if r.text {
        "text"
    } else {
        "binary"
    };
    println!(
        "{}: {} connections ({} open) x {} in flight, {} B {kind} messages, {:.1} s, {} thread{}",
        r.url,
        r.connections,
        r.connected,
        r.pipeline,
        r.size,
        r.duration_s,
        r.threads,
        if r.threads == 1 { "" } else { "s" }
    );
    println!(
        "  messages    {} echoed and checked, {} msg/s",
        thousands(r.messages),
        thousands(r.messages_per_s as u64)
    );
    println!("  throughput  {:.1} MB/s of payload each way", r.mb_per_s);
    println!(
        "  latency     p50 {}  p99 {}  max {}  (mean {})",
        fmt_us(r.latency_us.p50),
        fmt_us(r.latency_us.p99),
        fmt_us(r.latency_us.max),
        fmt_us(r.latency_us.mean)
    );
    println!("  errors      {}", r.errors);
    for s in &r.error_samples {
        println!("              {s}");
    }
    let g = &r.generator;
    println!(
        "  generator   CPU {:.2} s = {:.0}% of a core in all, busiest thread {:.0}%, {:.2} µs/msg{}",
        g.cpu_s,
        g.cores * 100.0,
        g.busiest_thread * 100.0,
        g.cpu_us_per_msg,
        if g.busiest_thread > 0.9 { "  (the generator may be the limit)" } else { "" }
    );
    if let Some(s) = &r.server {
        let rss = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        println!(
            "  server      pid {} CPU {:.2} s = {:.0}% of a core, {:.2} µs/msg, RSS {} (peak {})",
            s.pid,
            s.cpu_s,
            s.cores * 100.0,
            s.cpu_us_per_msg,
            rss(s.vm_rss_kib),
            rss(s.vm_hwm_kib)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("20").unwrap(), 20);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert!(parse_size("1x").is_err());
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn urls() {
        let t = parse_url("ws://127.0.0.1:9001/echo?x=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(t.url.resource, "/echo?x=1");
        assert_eq!(t.url.host_header, "127.0.0.1:9001");
        assert_eq!(parse_url("ws://127.0.0.1:1").unwrap().url.resource, "/");
        assert!(parse_url("wss://127.0.0.1:1/").is_err());
        assert!(parse_url("http://127.0.0.1:1/").is_err());
    }

    #[test]
    fn histogram_is_within_one_percent() {
        let mut h = Hist::new();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        for (q, exact) in [(0.5, 500_000.0), (0.99, 990_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() / exact < 0.01, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.quantile(1.0), 1_000_000);
        for v in [0u64, 1, 127, 128, 255, 256, 1 << 20, u64::MAX / 2] {
            let i = Hist::index(v);
            let back = Hist::value(i);
            assert!(back.abs_diff(v) <= v / 100 + 1, "{v} -> {i} -> {back}");
        }
    }

    #[test]
    fn frame_block_holds_masked_copies() {
        let payload = make_payload(300, false);
        let b = FrameBlock::new(&payload, false, 4, [1, 2, 3, 4]);
        assert_eq!(b.count, 4);
        assert_eq!(b.frame_len, 4 + 4 + 300);
        let mut rx = Handle::server(Config::server()).unwrap();
        rx.open_without_handshake().unwrap();
        let mut wire = b.bytes.clone();
        let mut got = Vec::new();
        rx.receive(0).unwrap();
        loop {
            let a = rx.get_action(wspc::ActionQueue::Receive).unwrap();
            let t = a.token();
            match a {
                Action::ReceiveFromNetwork { buffer, .. } => {
                    let n = wire.len().min(buffer.len());
                    if n == 0 {
                        break;
                    }
                    buffer[..n].copy_from_slice(&wire[..n]);
                    wire.drain(..n);
                    rx.complete_action(t, n);
                }
                Action::IndicateReceiveComplete { data, .. } => {
                    got.extend_from_slice(data);
                    rx.complete_action(t, 0);
                    rx.receive(0).unwrap();
                }
                _ => break,
            }
        }
        assert_eq!(got, payload.repeat(4));
    }
}
