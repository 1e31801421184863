//! `wspc serve [ADDR]`: an echo (or, with `--broadcast`, chat) WebSocket server that also
//! serves a demo page on plain `GET /`, on the same port.
//!
//! Threads: `--threads N` (default: the CPUs of the process's affinity mask) listening
//! sockets share the port with `SO_REUSEPORT`, each accepted on by its own thread and its
//! own single-threaded tokio loop; a connection lives on the loop that accepted it. The
//! main thread runs the first loop, and the signals.
//!
//! Each connection's request head is read once into a buffer and parsed once with
//! `httparse` to route it: a request with an `Upgrade` header goes to wspc-io's server
//! handshake ([`wspc_io::tokio::accept_with`]) over a stream that replays the buffered
//! bytes first ([`Rewind`]), so wspc-io answers every malformed or unsupported upgrade
//! itself (400, 405, 426, 431); any other request is answered here: the page for
//! `GET /` (and `/index.html`, also `HEAD`), 404 for other paths, 405 for other methods.
//!
//! With `--tls-cert`/`--tls-key` (on tokio; `--io uring` offers only `http/1.1`, see
//! [`crate::serve_uring`]), TLS offers `h2` and `http/1.1` by ALPN: a connection that
//! chose `h2` is served by [`crate::serve_h2`] (the page, and WebSockets as RFC 8441
//! extended CONNECT streams), the others as above. The log line of each WebSocket says
//! which it came over (`via=h2` or `via=http/1.1`).
//!
//! The echo path costs what the library's own echo server costs, per message and per
//! connection: the task of a plain connection is `recv` and `feed` in a loop, its other
//! steps (the head, the handshake, the page, rooms, relays) are boxed so that an idle
//! connection does not keep their size, and shutdown reaches it through [`crate::stop`]
//! (a flag loaded per wait, a waker registered once) rather than a channel per message.
//!
//! Shutdown (Ctrl-C or SIGTERM): stop accepting, send close 1001 on every WebSocket, wait
//! up to [`SHUTDOWN_GRACE`] for the close handshakes, exit 0.

use crate::rooms::{Member, Rooms};
use crate::stop::{Conns, Stop};
use crate::BoxError;
use clap::Args;
use std::future::{poll_fn, Future};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};
use wspc_io::pubsub::Delivery;
use wspc_io::tokio::WebSocket;
use wspc_io::{Accept, CloseFrame, Config, Message, Request};

/// The demo page, served for `GET /`.
pub const DEMO_PAGE: &str = include_str!("demo.html");

/// How long shutdown waits for the close handshakes before dropping connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Arguments of `wspc serve`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Open http://ADDR/ in a browser for the demo page: connect, type messages and see them come back, \
send random binary messages, close with a code and a reason. Any other WebSocket client can use \
ws://ADDR/ (every path is accepted for WebSocket; plain HTTP on paths other than / gets 404).

Examples:
  wspc serve                                   echo server on 127.0.0.1:9001
  wspc serve 0.0.0.0:8080 --broadcast          a chat: every message goes to every client
  wspc serve --tls-cert cert.pem --tls-key key.pem   wss:// and https:// (the page too)
  RUST_LOG=debug wspc serve                    more logging (default: info)
  wspc serve --exec 'stdbuf -oL tr a-z A-Z'    a process per connection: messages in, lines out
  wspc serve 0.0.0.0:5901 --to-tcp localhost:5900   a WebSocket-to-TCP bridge (noVNC and the like)

Logs go to stderr: \"listening on ADDR\", then \"connected peer=... path=... subprotocol=...\" and \
\"closed peer=... code=... reason=...\" per connection. Ctrl-C (or SIGTERM) closes every connection \
with 1001 (going away), waits up to 3 s for the close handshakes and exits 0.

Exit status: 0 after Ctrl-C/SIGTERM, 1 when the server cannot start (address in use, bad \
certificate or key), 2 on a usage error.")]
pub struct ServeArgs {
    /// Address to listen on (`host:port`; port 0 picks a free port, printed in the "listening on" line).
    #[arg(default_value = "127.0.0.1:9001")]
    pub addr: String,
    /// Chat mode: rooms by path (a message sent on /room/NAME goes to everyone connected to /room/NAME, the
    /// sender included) instead of echoing it; presence messages announce who joins and leaves.
    #[arg(long)]
    pub broadcast: bool,
    /// With --broadcast: share the rooms with every other `wspc serve --broadcast` joined to this Redis server
    /// (redis://HOST:PORT). Reconnects on its own; local delivery goes on while Redis is away.
    #[arg(long, value_name = "URL", requires = "broadcast")]
    pub redis: Option<String>,
    /// PEM certificate chain: serve wss:// (and the page over https://), offering HTTP/2 and HTTP/1.1 by
    /// ALPN (--io uring: HTTP/1.1 only); over HTTP/2, WebSockets come as RFC 8441 extended CONNECT streams.
    /// Needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A subprotocol to select when a client offers it (repeatable; the first of the client's offers that is
    /// in this list wins). Clients offering none of them still connect, without a subprotocol.
    #[arg(long, value_name = "NAME")]
    pub subprotocol: Vec<String>,
    /// Accept permessage-deflate (RFC 7692) when a client offers it: the default (browsers offer it).
    #[arg(long, overrides_with = "no_deflate")]
    pub deflate: bool,
    /// Never accept permessage-deflate.
    #[arg(long, overrides_with = "deflate")]
    pub no_deflate: bool,
    /// permessage-deflate memory/ratio policy: lean (no context takeover either way, nothing held while
    /// idle), balanced (clients may keep their context: ~47 KiB per connection) or best-ratio (both keep
    /// it: ~420 KiB per connection). See BENCHMARKS.md.
    #[arg(long, value_name = "POLICY", default_value = "lean")]
    pub deflate_policy: wspc_io::DeflatePolicy,
    /// Largest message accepted (bytes, or with a unit: 64KiB, 16MiB; "none" for no limit). A larger one
    /// closes the connection with 1009.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_limit)]
    pub max_message_size: Limit,
    /// Largest frame accepted, as sent on the wire (same units; "none" for no limit). A larger one closes
    /// with 1009. The default is the message limit rather than wspc-io's 16 MiB: compressed, a 16 MiB
    /// message of random bytes is a frame a little over 16 MiB.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_limit)]
    pub max_frame_size: Limit,
    /// Threads, each with its own event loop and listening socket (they share the port with SO_REUSEPORT;
    /// the kernel spreads connections over them). Default: the CPUs this process may run on, so
    /// `taskset -c 0 wspc serve` runs one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// `--exec`, `--to-tcp` and their options.
    #[command(flatten)]
    pub relay: crate::relay::RelayArgs,
    /// I/O driver: tokio (the default) or uring (io_uring, Linux: the echo mode, with or without TLS, falling
    /// back to tokio when io_uring is not allowed; --broadcast, --exec and --to-tcp run on tokio). uring speaks
    /// HTTP/1.1 only: its TLS offers only http/1.1 by ALPN, so no WebSockets over HTTP/2 (RFC 8441).
    #[arg(long, value_enum, default_value_t = Io::default())]
    pub io: Io,
}

/// The I/O driver of `wspc serve`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// tokio's runtime (epoll): every mode.
    Tokio,
    /// io_uring (Linux): the echo mode, ws:// and wss:// (HTTP/1.1 only: TLS offers only http/1.1 by ALPN).
    Uring,
}

/// tokio, for now, on every system: in the benchmark's large-message cells the io_uring
/// driver still takes up to twice the server CPU per message (BENCHMARKS.md), so it is
/// opt-in until it is at least as fast everywhere.
impl Default for Io {
    fn default() -> Self {
        Io::Tokio
    }
}

/// A size limit; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<u64>);

/// Parses `20`, `64k`, `1KiB`, `16MiB`, `1g`, or `none`/`unlimited`.
pub fn parse_limit(s: &str) -> Result<Limit, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(Limit(None));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?} (examples: 1000, 64KiB, 16MiB, none)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown unit in {s:?} (use B, KiB, MiB or GiB)")),
    };
    n.checked_mul(mult).map(|v| Limit(Some(v))).ok_or_else(|| format!("size too large: {s:?}"))
}

/// Logs to stderr with `RUST_LOG` (default `info`); colours only on a terminal.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// What every connection task shares.
pub(crate) struct Ctx {
    pub(crate) config: Config,
    subprotocols: Vec<String>,
    rooms: Option<Arc<Rooms>>,
    relay: Option<crate::relay::Relay>,
    /// The live connections and the shutdown signal.
    pub(crate) conns: Conns,
}

/// Runs `wspc serve`.
pub fn run(args: ServeArgs) -> Result<ExitCode, BoxError> {
    init_tracing();
    #[cfg(target_os = "linux")]
    if args.io == Io::Uring && crate::serve_uring::supports(&args) {
        use crate::serve_uring::NotRun;
        let threads = args.threads.map_or_else(default_threads, usize::from);
        match crate::serve_uring::run(&args, server_config(&args), threads) {
            Ok(code) | Err(NotRun::Failed(code)) => return Ok(code),
            Err(NotRun::Unavailable(e)) => warn!("io_uring cannot be used here ({e}): serving on tokio"),
        }
    }
    // This thread's loop runs the first listener, the signals and (with --redis) the
    // broker; the other listeners get a thread and a loop each.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(serve(args))
}

/// The number of threads when `--threads` is not given: the CPUs this process may run on
/// (its affinity mask, so that `taskset -c 0 wspc serve` runs one thread).
pub fn default_threads() -> usize {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `cpu_set_t` is plain data (all zeros is the empty set); the kernel writes
        // at most `size_of::<cpu_set_t>()` bytes into it, the size passed.
        let n = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            match libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) {
                0 => libc::CPU_COUNT(&set),
                _ => 0, // more CPUs than a cpu_set_t holds: ask the standard library
            }
        };
        if n > 0 {
            return n as usize;
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The connection settings the arguments ask for.
pub(crate) fn server_config(args: &ServeArgs) -> Config {
    let config = Config::default().max_message_size(args.max_message_size.0).max_frame_size(args.max_frame_size.0);
    if args.no_deflate {
        return config;
    }
    // Compress every message (threshold 0), as wspc-io's echo servers do: Autobahn's
    // fuzzing client mishandles short uncompressed text on a permessage-deflate connection.
    let policy = wspc_io::DeflateConfig::policy(args.deflate_policy);
    config.deflate_config(Some(wspc_io::DeflateConfig { threshold: 0, ..policy }))
}

async fn serve(args: ServeArgs) -> Result<ExitCode, BoxError> {
    let config = server_config(&args);
    let deflate = !args.no_deflate;
    let relay = match crate::relay::Relay::from_args(&args.relay) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wspc: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => match wspc_io::tls::server_config_from_pem_files(c, k) {
            Ok(cfg) => Some(wspc_io::tokio::tls_acceptor(wspc_io::h2::server_config_h2(&cfg))),
            Err(e) => {
                eprintln!("wspc: cannot use {} / {}: {e}", c.display(), k.display());
                return Ok(ExitCode::from(1));
            }
        },
        _ => None,
    };
    let threads = args.threads.map_or_else(default_threads, usize::from);
    let listeners = match bind(&args.addr, threads) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wspc: cannot listen on {}: {e}", args.addr);
            return Ok(ExitCode::from(1));
        }
    };
    // Before the server is announced: a signal from then on is a clean shutdown.
    let mut signals = Signals::new()?;
    let local = listeners[0].local_addr()?;
    let (http, ws) = if tls.is_some() { ("https", "wss") } else { ("http", "ws") };
    info!(
        "listening on {local}: open {http}://{local}/ for the demo page; WebSocket {ws}://{local}/ ({}{}{}, {} thread{})",
        match &relay {
            Some(r) => r.describe(),
            None if args.broadcast => "broadcast".into(),
            None => "echo".into(),
        },
        if deflate { format!(", permessage-deflate accepted ({})", args.deflate_policy) } else { String::new() },
        if args.subprotocol.is_empty() { String::new() } else { format!(", subprotocols {:?}", args.subprotocol) },
        listeners.len(),
        if listeners.len() == 1 { "" } else { "s" },
    );
    let ctx = Arc::new(Ctx {
        config,
        subprotocols: args.subprotocol.clone(),
        rooms: match args.broadcast {
            true => Some(Rooms::new(args.redis.as_deref())?),
            false => None,
        },
        relay,
        conns: Conns::default(),
    });
    let mut listeners = listeners.into_iter();
    let first = listeners.next().expect("bind returns one listener at least");
    let mut workers = Vec::new();
    for (i, l) in listeners.enumerate() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (tls, ctx) = (tls.clone(), ctx.clone());
        let thread = std::thread::Builder::new().name(format!("wspc-serve-{}", i + 1));
        workers.push(thread.spawn(move || {
            rt.block_on(async {
                accept_loop(l, tls, ctx.clone()).await;
                // Returning would drop the connections still closing.
                ctx.conns.drained().await
            })
        })?);
    }
    tokio::spawn(accept_loop(first, tls, ctx.clone()));
    let why = signals.recv().await;
    info!("{why}: shutting down");
    // Counted before the signal: connections on other threads may close at once.
    let open = ctx.conns.live();
    ctx.conns.stop();
    if open > 0 {
        info!("closing {open} connection(s) with 1001");
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, ctx.conns.drained()).await.is_ok() {
        for w in workers {
            let _ = w.join();
        }
    } else {
        // Returning drops them (the other threads end with the process).
        warn!("{} connection(s) did not finish their close handshake in {SHUTDOWN_GRACE:?}; dropped", ctx.conns.live());
    }
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// `threads` listening sockets on `addr` (the first of its resolved addresses that works):
/// one plain socket, or a group sharing the port with `SO_REUSEPORT` (the kernel spreads
/// the connections over them).
fn bind(addr: &str, threads: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match bind_at(a, threads) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")))
}

fn bind_at(addr: SocketAddr, threads: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    // First without SO_REUSEPORT: a port that another server holds (even one that shares
    // it with SO_REUSEPORT) is an error here rather than silently shared, and port 0 picks
    // the port.
    let first = listener(addr, false)?;
    if threads <= 1 || !cfg!(unix) {
        return Ok(vec![first]);
    }
    let port = first.local_addr()?;
    drop(first);
    (0..threads).map(|_| listener(port, true)).collect()
}

/// A listening socket, non-blocking, with SO_REUSEADDR (as tokio's and std's own) and, if
/// asked, SO_REUSEPORT.
fn listener(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    {
        s.set_reuse_address(true)?;
        if reuse_port {
            s.set_reuse_port(true)?;
        }
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// Ctrl-C and SIGTERM, caught from creation on.
#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())? })
    }

    /// Which came first.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "Ctrl-C",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// Ctrl-C (there is no SIGTERM here).
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Accepts connections on `listener` until shutdown, a task for each.
async fn accept_loop(listener: std::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, ctx: Arc<Ctx>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return warn!("listener: {e}"),
    };
    let mut stop = Stop::new(&ctx.conns);
    loop {
        let accepted = poll_fn(|cx| match stop.poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => listener.poll_accept(cx).map(Some),
        })
        .await;
        let (tcp, peer) = match accepted {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let conn = Counted::new(&ctx);
        // A task of its own type for TLS: a TLS connection's state is many times a plain one's.
        match &tls {
            None => tokio::spawn(plain(tcp, peer, conn)),
            Some(acc) => tokio::spawn(secure(tcp, peer, acc.clone(), conn)),
        };
    }
}

/// A connection's share of the server: the context, with the connection counted as live
/// until this is dropped (when its task ends).
struct Counted(Arc<Ctx>);

impl Counted {
    fn new(ctx: &Arc<Ctx>) -> Self {
        ctx.conns.enter();
        Self(ctx.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.conns.leave();
    }
}

impl std::ops::Deref for Counted {
    type Target = Arc<Ctx>;
    fn deref(&self) -> &Arc<Ctx> {
        &self.0
    }
}

// A connection's task keeps the size of its largest state for its whole life, so every
// step but the echo loop is boxed below: an idle echo connection holds the WebSocket (a
// pointer), its address and the context, little more.

/// A plain TCP connection.
///
/// Not an `async fn`: its arguments would be kept twice in the task for its whole life
/// (rust-lang/rust#62958). The block holds the boxed opening, the context and, once
/// upgraded, the WebSocket (a pointer; the peer's address is kept in it) and the echo loop.
fn plain(tcp: TcpStream, peer: SocketAddr, ctx: Counted) -> impl Future<Output = ()> + Send {
    let opening = Box::pin(open_owned(tcp, peer, ctx.0.clone()));
    async move {
        // Not a `match` on the await: its value would stay in the task for the match's
        // whole life.
        let Some((mut ws, mode)) = opening.await else { return };
        if !matches!(mode, Mode::Echo) {
            let peer = ws.get_ref().peer();
            return Box::pin(run_session(ws, peer, &ctx, mode)).await;
        }
        drop(mode);
        // The echo loop right in the task, as in the library's example: one state machine
        // between tokio and `recv`.
        let end = echo(&mut ws, &ctx.conns).await;
        let peer = ws.get_ref().peer();
        Box::pin(finish(ws, peer, end)).await
    }
}

/// [`open`] holding its own reference to the context (so that the task need not borrow it
/// across the box).
async fn open_owned(tcp: TcpStream, peer: SocketAddr, ctx: Arc<Ctx>) -> Option<(WebSocket<Rewind<TcpStream>>, Mode)> {
    open(tcp, peer, &ctx).await
}

/// A TLS connection: HTTP/2 or HTTP/1.1, as ALPN chose.
async fn secure(tcp: TcpStream, peer: SocketAddr, acc: tokio_rustls::TlsAcceptor, ctx: Counted) {
    match tokio::time::timeout(ctx.config.handshake_timeout, Box::pin(acc.accept(tcp))).await {
        Ok(Ok(s)) if s.get_ref().1.alpn_protocol() == Some(b"h2") => {
            Box::pin(crate::serve_h2::connection(s, peer, &ctx)).await
        }
        Ok(Ok(s)) => {
            if let Some((ws, mode)) = Box::pin(open(s, peer, &ctx)).await {
                run_session(ws, peer, &ctx, mode).await
            }
        }
        Ok(Err(e)) => warn!(peer = %peer, "TLS handshake failed: {e}"),
        Err(_) => warn!(peer = %peer, "TLS handshake timed out"),
    }
}

/// What the request head asks for.
enum Route {
    /// An upgrade (or something wspc-io should answer: malformed, too large).
    WebSocket,
    /// A plain HTTP request.
    Http { method: String, path: String },
}

/// Reads the request head into a buffer (bounded by the head limit and the handshake
/// timeout) and parses it once. `None`: the client went away or stalled (logged).
async fn read_head<S: AsyncRead + Unpin>(io: &mut S, peer: SocketAddr, config: &Config) -> Option<(Vec<u8>, Route)> {
    let mut buf = Vec::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + config.handshake_timeout;
    loop {
        let old = buf.len();
        buf.resize(old + 2048, 0);
        let n = match tokio::time::timeout_at(deadline, io.read(&mut buf[old..])).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                debug!(peer = %peer, "read: {e}");
                return None;
            }
            Err(_) => {
                debug!(peer = %peer, "no request within {:?}", config.handshake_timeout);
                return None;
            }
        };
        buf.truncate(old + n);
        if n == 0 {
            debug!(peer = %peer, "closed before a complete request");
            return None;
        }
        let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let upgrade = req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("upgrade") || h.name.eq_ignore_ascii_case("sec-websocket-key")
                });
                let route = if upgrade {
                    Route::WebSocket
                } else {
                    Route::Http {
                        method: req.method.unwrap_or("").to_string(),
                        path: req.path.unwrap_or("").to_string(),
                    }
                };
                return Some((buf, route));
            }
            // wspc-io answers malformed and oversized heads (400, 431) itself.
            Ok(httparse::Status::Partial) if buf.len() < config.max_header_bytes => {}
            Ok(httparse::Status::Partial) | Err(_) => return Some((buf, Route::WebSocket)),
        }
    }
}

/// An HTTP/1.1 connection up to its WebSocket: the page (then `None`), or the upgrade.
async fn open<S>(mut io: S, peer: SocketAddr, ctx: &Ctx) -> Option<(WebSocket<Rewind<S>>, Mode)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (head, route) = read_head(&mut io, peer, &ctx.config).await?;
    match route {
        Route::Http { method, path } => {
            http(io, peer, &method, &path).await;
            None
        }
        Route::WebSocket => upgrade(Rewind::new(head, peer, io), peer, ctx).await,
    }
}

/// The HTTP/1.1 upgrade: admission, handshake, the log line.
async fn upgrade<S>(io: S, peer: SocketAddr, ctx: &Ctx) -> Option<(WebSocket<S>, Mode)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut adm = Admission::new(peer, ctx).await;
    let handler = |req: &Request| adm.decide(req, ctx);
    match wspc_io::tokio::accept_with(io, &ctx.config, handler).await {
        Ok(ws) => Some((ws, adm.start(peer, ctx, "http/1.1"))),
        Err(e) => {
            warn!("handshake failed peer={peer}: {e}");
            None
        }
    }
}

/// One WebSocket request's admission, the same over HTTP/1.1 and HTTP/2: a relay's process
/// slot or TCP connection taken before the answer (or the refusal), the subprotocol chosen.
pub(crate) struct Admission {
    path: String,
    chosen: Option<String>,
    relayed: Option<crate::relay::Prepared>,
    refusal: Option<wspc_io::Reject>,
}

impl Admission {
    pub(crate) async fn new(peer: SocketAddr, ctx: &Ctx) -> Self {
        let (relayed, refusal) = match &ctx.relay {
            Some(r) => match r.prepare(peer, ctx.config.handshake_timeout).await {
                Ok(p) => (Some(p), None),
                Err(reject) => (None, Some(reject)),
            },
            None => (None, None),
        };
        Self { path: String::new(), chosen: None, relayed, refusal }
    }

    /// The handshake handler.
    pub(crate) fn decide(&mut self, req: &Request, ctx: &Ctx) -> Result<Accept, wspc_io::Reject> {
        if let Some(reject) = self.refusal.take() {
            return Err(reject);
        }
        self.path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut a = Accept::default();
        if let Some(p) = wspc_io::http::subprotocols(req).find(|o| ctx.subprotocols.iter().any(|s| s == o)) {
            self.chosen = Some(p.to_string());
            a = a.subprotocol(p);
        }
        Ok(a)
    }

    /// Logs the connection (with the protocol it came over) and says how to run it.
    pub(crate) fn start(self, peer: SocketAddr, ctx: &Ctx, via: &str) -> Mode {
        let sub = self.chosen.as_deref().unwrap_or("none");
        info!("connected peer={peer} path={} subprotocol={sub} via={via}", self.path);
        match (self.relayed, &ctx.rooms) {
            (Some(p), _) => Mode::Relay(p, self.path),
            (None, Some(_)) => Mode::Rooms(self.path),
            (None, None) => Mode::Echo,
        }
    }
}

/// What an accepted WebSocket does.
pub(crate) enum Mode {
    /// Echoes every message.
    Echo,
    /// Joins the room of this path (`--broadcast`).
    Rooms(String),
    /// Relays to the process or TCP connection prepared (`--exec`, `--to-tcp`); the path.
    Relay(crate::relay::Prepared, String),
}

/// Runs an accepted WebSocket until it closes (or shutdown).
pub(crate) async fn run_session<S>(mut ws: WebSocket<S>, peer: SocketAddr, ctx: &Ctx, mode: Mode)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let end = match mode {
        Mode::Echo => echo(&mut ws, &ctx.conns).await,
        Mode::Rooms(path) => {
            let rooms = ctx.rooms.as_ref().expect("rooms mode has rooms");
            Box::pin(rooms_session(&mut ws, peer, rooms.join(&path, peer), &ctx.conns)).await
        }
        Mode::Relay(p, path) => {
            let relay = ctx.relay.as_ref().expect("prepared by the server's relay");
            return Box::pin(relay.run(p, ws, peer, &path, &ctx.conns)).await;
        }
    };
    finish(ws, peer, end).await
}

/// The answer to a plain HTTP request: status line, content type, body, extra header line.
pub(crate) fn plain_answer(method: &str, path: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    let page = matches!(path.split('?').next(), Some("/" | "/index.html"));
    match method {
        "GET" | "HEAD" if page => ("200 OK", "text/html; charset=utf-8", DEMO_PAGE, ""),
        "GET" | "HEAD" => ("404 Not Found", "text/plain; charset=utf-8", "not found: the demo page is at /\n", ""),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", "only GET and HEAD\n", "Allow: GET, HEAD\r\n"),
    }
}

/// Logs a plain HTTP request from `peer` and returns its whole HTTP/1.1 response (the page,
/// 404 or 405; the connection closes after it), for both drivers.
pub(crate) fn http_response(peer: impl std::fmt::Display, method: &str, path: &str) -> Vec<u8> {
    let (status, ctype, body, extra) = plain_answer(method, path);
    info!("http peer={peer} {method} {path} {}", &status[..3]);
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Answers a plain HTTP request and closes the connection.
async fn http<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, peer: SocketAddr, method: &str, path: &str) {
    let out = http_response(peer, method, path);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        io.write_all(&out).await?;
        io.flush().await?;
        io.shutdown().await?;
        // Drain what the client still sends (a pipelined request) so that closing does
        // not reset the connection before it has read the response.
        let mut scratch = [0u8; 1024];
        while io.read(&mut scratch).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

/// How a WebSocket session ended, for its log line.
enum End {
    /// Shutdown: closed with 1001.
    Shutdown,
    /// The peer's close frame (its echo sent).
    Closed(Option<CloseFrame>),
    /// A room member that fell behind: closed with 1008.
    TooSlow,
    /// The connection failed (a protocol error closed it with its code).
    Failed(wspc_io::Error),
    /// The stream ended without a close frame.
    Gone,
}

/// Echoes messages until the close handshake, an error, or shutdown: `recv` and `feed`, as
/// the library's own echo server. The shutdown flag is looked at only when `recv` would
/// wait (tokio's budget makes even a client that never pauses wait now and then).
fn echo<'a, S>(ws: &'a mut WebSocket<S>, conns: &'a Conns) -> Echo<'a, S> {
    Echo { ws, stop: Stop::new(conns), pending: None }
}

/// [`echo`]'s future, written out: it lives in every idle connection's task, and as an
/// `async` block it was twice this size (the WebSocket, the shutdown waker's slot, an echo
/// waiting for room in the write buffer).
struct Echo<'a, S> {
    ws: &'a mut WebSocket<S>,
    stop: Stop<'a>,
    pending: Option<Message>,
}

impl<S> Echo<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Queues `m` as `feed` does: Ready once queued (or failed), Pending while the write
    /// buffer is full (`m` kept for the next poll).
    #[inline]
    fn queue(&mut self, cx: &mut Context<'_>, m: Message) -> Poll<Result<(), End>> {
        use futures_sink::Sink;
        match Pin::new(&mut *self.ws).poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Pin::new(&mut *self.ws).start_send(m).map_err(End::Failed)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(End::Failed(e))),
            Poll::Pending => {
                self.pending = Some(m);
                Poll::Pending
            }
        }
    }
}

impl<S> Future for Echo<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Output = End;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<End> {
        use futures_core::Stream;
        let me = self.get_mut();
        if let Some(m) = me.pending.take() {
            if let Err(end) = ready!(me.queue(cx, m)) {
                return Poll::Ready(end);
            }
        }
        loop {
            // `queue` only queues the echo; `recv` flushes before it waits for more.
            match Pin::new(&mut *me.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(m @ (Message::Text(_) | Message::Binary(_))))) => {
                    if let Err(end) = ready!(me.queue(cx, m)) {
                        return Poll::Ready(end);
                    }
                }
                Poll::Ready(Some(Ok(Message::Close(c)))) => return Poll::Ready(End::Closed(c)),
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Poll::Ready(End::Failed(e)),
                Poll::Ready(None) => return Poll::Ready(End::Gone),
                Poll::Pending => return me.stop.poll(cx).map(|()| End::Shutdown),
            }
        }
    }
}

/// Relays the messages of a room (`--broadcast`) until the close handshake, an error, or
/// shutdown. Leaves the room on return.
async fn rooms_session<S>(ws: &mut WebSocket<S>, peer: SocketAddr, mut member: Member, conns: &Conns) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stop = Stop::new(conns);
    loop {
        tokio::select! {
            _ = stop.stopped() => break End::Shutdown,
            d = member.next() => match d {
                Delivery::Message(m) => {
                    tokio::select! {
                        r = ws.feed_prepared(&m) => if let Err(e) = r {
                            break End::Failed(e);
                        },
                        // A peer that stopped reading: the write waits; its queue overflows.
                        _ = member.overflowed() => {}
                    }
                }
                Delivery::Overflow => {
                    warn!("peer={peer} is too slow for its room: closing with 1008");
                    break End::TooSlow;
                }
            },
            m = ws.recv() => match m {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => member.publish(m),
                Some(Ok(Message::Close(c))) => break End::Closed(c),
                Some(Ok(_)) => {}
                Some(Err(e)) => break End::Failed(e),
                None => break End::Gone,
            },
        }
    }
}

/// Ends the close handshake (sending 1001 on shutdown, 1008 to a member too slow) and logs
/// how the session ended.
async fn finish<S>(mut ws: WebSocket<S>, peer: SocketAddr, end: End)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = match &end {
        End::Shutdown => Some(CloseFrame::new(1001, "server shutting down")),
        End::TooSlow => Some(CloseFrame::new(1008, "subscriber too slow")),
        _ => None,
    };
    let _ = ws.close(frame).await;
    match end {
        End::Shutdown => info!("closed peer={peer} code=1001 reason=\"server shutting down\" by=server"),
        End::TooSlow => info!("closed peer={peer} code=1008 reason=\"subscriber too slow\" by=server"),
        End::Closed(Some(c)) => info!("closed peer={peer} code={} reason={:?}", c.code, c.reason),
        End::Closed(None) => info!("closed peer={peer} code=1005 reason=\"\" (no status)"),
        End::Failed(wspc_io::Error::Ws(e)) if e.close_code().is_some() => {
            let code = e.close_code().unwrap_or(1002);
            info!("closed peer={peer} code={code} reason=\"\" by=server error=\"{e}\"")
        }
        End::Failed(e) => info!("closed peer={peer} code=1006 reason=\"\" error=\"{e}\""),
        End::Gone => info!("closed peer={peer} code=1006 reason=\"\" (no close frame)"),
    }
}

/// A client's stream that first yields bytes already read from it (the request head),
/// then reads on; writes go straight through. It also keeps the client's address for the
/// log, in the connection's heap block rather than in its task.
pub struct Rewind<S> {
    prefix: Option<Box<[u8]>>,
    peer: SocketAddr,
    inner: S,
}

impl<S> Rewind<S> {
    /// `prefix` is read before `inner`.
    pub fn new(prefix: Vec<u8>, peer: SocketAddr, inner: S) -> Self {
        Self { prefix: (!prefix.is_empty()).then(|| prefix.into_boxed_slice()), peer, inner }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if let Some(p) = me.prefix.take() {
            let n = p.len().min(buf.remaining());
            buf.put_slice(&p[..n]);
            if n < p.len() {
                me.prefix = Some(p[n..].into());
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    #[inline]
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit("20"), Ok(Limit(Some(20))));
        assert_eq!(parse_limit("64KiB"), Ok(Limit(Some(64 << 10))));
        assert_eq!(parse_limit("16MiB"), Ok(Limit(Some(16 << 20))));
        assert_eq!(parse_limit("none"), Ok(Limit(None)));
        assert!(parse_limit("12 parsecs").is_err());
        assert!(parse_limit("").is_err());
    }

    /// An idle echo connection holds its task: that task must not keep the size of the
    /// connection's other steps (the head, the handshake, the page, TLS, rooms, relays).
    #[tokio::test]
    async fn a_plain_connection_task_stays_small() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (tcp, peer) = l.accept().await.unwrap();
        let ctx = Arc::new(Ctx {
            config: Config::default(),
            subprotocols: Vec::new(),
            rooms: None,
            relay: None,
            conns: Conns::default(),
        });
        let task = plain(tcp, peer, Counted::new(&ctx));
        let size = std::mem::size_of_val(&task);
        // 96 bytes when written (the task's whole block with tokio's header: 256 bytes, as
        // the library's example); the head, handshake, page or a session in the task itself
        // would be kilobytes, the opening's result kept across the echo loop 88 bytes more.
        assert!(size <= 128, "{size} bytes");
        drop(task);
        assert_eq!(ctx.conns.live(), 0, "counted until dropped");
    }

    #[tokio::test]
    async fn rewind_replays_the_prefix() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut r = Rewind::new(b"GET / HTTP/1.1\r\n".to_vec(), "127.0.0.1:1".parse().unwrap(), a);
        b.write_all(b"rest").await.unwrap();
        drop(b);
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\nrest");
    }
}
