//! `wspc serve [ADDR]`: an echo (or, with `--broadcast`, chat) WebSocket server that also
//! serves a demo page on plain `GET /`, on the same port.
//!
//! Each connection's request head is read once into a buffer and parsed once with
//! `httparse` to route it: a request with an `Upgrade` header goes to wspc-io's server
//! handshake ([`wspc_io::tokio::accept_with`]) over a stream that replays the buffered
//! bytes first ([`Rewind`]), so wspc-io answers every malformed or unsupported upgrade
//! itself (400, 405, 426, 431); any other request is answered here: the page for
//! `GET /` (and `/index.html`, also `HEAD`), 404 for other paths, 405 for other methods.
//!
//! With `--tls-cert`/`--tls-key`, TLS offers `h2` and `http/1.1` by ALPN: a connection that
//! chose `h2` is served by [`crate::serve_h2`] (the page, and WebSockets as RFC 8441
//! extended CONNECT streams), the others as above. The log line of each WebSocket says
//! which it came over (`via=h2` or `via=http/1.1`).
//!
//! Shutdown (Ctrl-C or SIGTERM): stop accepting, send close 1001 on every WebSocket, wait
//! up to [`SHUTDOWN_GRACE`] for the close handshakes, exit 0.

use crate::rooms::{Member, Rooms};
use crate::BoxError;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
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
    /// ALPN; over HTTP/2, WebSockets come as RFC 8441 extended CONNECT streams. Needs --tls-key.
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
    /// `--exec`, `--to-tcp` and their options.
    #[command(flatten)]
    pub relay: crate::relay::RelayArgs,
    /// I/O driver: uring (io_uring, Linux; the default there for the echo mode, falling back to tokio when
    /// io_uring is not allowed) or tokio. TLS, --broadcast, --exec and --to-tcp run on tokio.
    #[arg(long, value_enum, default_value_t = Io::default())]
    pub io: Io,
    /// Threads (default: the CPUs this process may run on, its affinity mask: `taskset -c 0 wspc serve`
    /// runs one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
}

/// The I/O driver of `wspc serve`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// tokio's runtime (epoll): every mode.
    Tokio,
    /// io_uring (Linux): the echo mode.
    Uring,
}

impl Default for Io {
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            Io::Uring
        } else {
            Io::Tokio
        }
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
}

/// Runs `wspc serve`.
pub fn run(args: ServeArgs) -> Result<ExitCode, BoxError> {
    init_tracing();
    #[cfg(target_os = "linux")]
    let threads = args.threads.map_or_else(crate::serve_uring::affinity_cpus, |n| n as usize);
    #[cfg(not(target_os = "linux"))]
    let threads =
        args.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |n| n as usize);
    #[cfg(target_os = "linux")]
    if args.io == Io::Uring && crate::serve_uring::supports(&args) {
        use crate::serve_uring::NotRun;
        match crate::serve_uring::run(&args, server_config(&args), threads) {
            Ok(code) | Err(NotRun::Failed(code)) => return Ok(code),
            Err(NotRun::Unavailable(e)) => warn!("io_uring cannot be used here ({e}): serving on tokio"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    rt.block_on(serve(args))
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
    let listener = match TcpListener::bind(&args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wspc: cannot listen on {}: {e}", args.addr);
            return Ok(ExitCode::from(1));
        }
    };
    let local = listener.local_addr()?;
    let (http, ws) = if tls.is_some() { ("https", "wss") } else { ("http", "ws") };
    info!(
        "listening on {local}: open {http}://{local}/ for the demo page; WebSocket {ws}://{local}/ ({}{}{})",
        match &relay {
            Some(r) => r.describe(),
            None if args.broadcast => "broadcast".into(),
            None => "echo".into(),
        },
        if deflate { format!(", permessage-deflate accepted ({})", args.deflate_policy) } else { String::new() },
        if args.subprotocol.is_empty() { String::new() } else { format!(", subprotocols {:?}", args.subprotocol) },
    );
    let ctx = Arc::new(Ctx {
        config,
        subprotocols: args.subprotocol.clone(),
        rooms: match args.broadcast {
            true => Some(Rooms::new(args.redis.as_deref())?),
            false => None,
        },
        relay,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut term = terminate_signal()?;
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    tasks.spawn(connection(tcp, peer, tls.clone(), ctx.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = tokio::signal::ctrl_c() => { info!("Ctrl-C: shutting down"); break; }
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
        }
    }
    drop(listener);
    let open = tasks.len();
    let _ = stop_tx.send(true);
    if open > 0 {
        info!("closing {open} connection(s) with 1001");
    }
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!("{} connection(s) did not finish their close handshake in {SHUTDOWN_GRACE:?}; dropped", tasks.len());
        tasks.abort_all();
    }
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (Unix); elsewhere a signal that never comes (Ctrl-C still stops the server).
#[cfg(unix)]
fn terminate_signal() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
}

#[cfg(not(unix))]
fn terminate_signal() -> std::io::Result<NoSignal> {
    Ok(NoSignal)
}

/// Stands in for SIGTERM where there is none.
#[cfg(not(unix))]
struct NoSignal;

#[cfg(not(unix))]
impl NoSignal {
    async fn recv(&mut self) -> Option<()> {
        std::future::pending().await
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: Arc<Ctx>,
    stop: watch::Receiver<bool>,
) {
    match tls {
        None => route(tcp, peer, &ctx, stop).await,
        Some(acc) => match tokio::time::timeout(ctx.config.handshake_timeout, acc.accept(tcp)).await {
            Ok(Ok(s)) if s.get_ref().1.alpn_protocol() == Some(b"h2") => {
                crate::serve_h2::connection(s, peer, &ctx, stop).await
            }
            Ok(Ok(s)) => route(s, peer, &ctx, stop).await,
            Ok(Err(e)) => warn!(peer = %peer, "TLS handshake failed: {e}"),
            Err(_) => warn!(peer = %peer, "TLS handshake timed out"),
        },
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

async fn route<S>(mut io: S, peer: SocketAddr, ctx: &Ctx, stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Some((head, route)) = read_head(&mut io, peer, &ctx.config).await else { return };
    match route {
        Route::Http { method, path } => http(io, peer, &method, &path).await,
        Route::WebSocket => {
            let mut adm = Admission::new(peer, ctx).await;
            let handler = |req: &Request| adm.decide(req, ctx);
            match wspc_io::tokio::accept_with(Rewind::new(head, io), &ctx.config, handler).await {
                Ok(ws) => adm.run(ws, peer, ctx, stop, "http/1.1").await,
                Err(e) => warn!("handshake failed peer={peer}: {e}"),
            }
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

    /// Logs the connection (with the protocol it came over) and runs it.
    pub(crate) async fn run<S>(
        self,
        ws: WebSocket<S>,
        peer: SocketAddr,
        ctx: &Ctx,
        stop: watch::Receiver<bool>,
        via: &str,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (path, sub) = (&self.path, self.chosen.as_deref().unwrap_or("none"));
        info!("connected peer={peer} path={path} subprotocol={sub} via={via}");
        match (&ctx.relay, self.relayed) {
            (Some(r), Some(p)) => r.run(p, ws, peer, path, stop).await,
            _ => session(ws, peer, path, ctx, stop).await,
        }
    }
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

/// Answers a plain HTTP request and closes the connection.
async fn http<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, peer: SocketAddr, method: &str, path: &str) {
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

/// The next message for this connection's room (forever when not in broadcast mode).
async fn next_relayed(member: &mut Option<Member>) -> Delivery {
    match member {
        Some(m) => m.next().await,
        None => std::future::pending().await,
    }
}

/// Echoes (or relays) messages until the close handshake, an error, or shutdown.
pub(crate) async fn session<S>(
    mut ws: WebSocket<S>,
    peer: SocketAddr,
    path: &str,
    ctx: &Ctx,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut relayed = ctx.rooms.as_ref().map(|r| r.join(path, peer));
    let mut peer_close: Option<Option<CloseFrame>> = None;
    let mut error: Option<wspc_io::Error> = None;
    let mut shutdown = false;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                shutdown = true;
                let _ = ws.close(Some(CloseFrame::new(1001, "server shutting down"))).await;
                break;
            }
            d = next_relayed(&mut relayed) => match d {
                Delivery::Message(m) => {
                    let member = relayed.as_ref().expect("deliveries come from a room");
                    tokio::select! {
                        r = ws.feed_prepared(&m) => if let Err(e) = r {
                            error = Some(e);
                            break;
                        },
                        // A peer that stopped reading: the write waits; its queue overflows.
                        _ = member.overflowed() => {}
                    }
                }
                Delivery::Overflow => {
                    warn!("peer={peer} is too slow for its room: closing with 1008");
                    let _ = ws.close(Some(CloseFrame::new(1008, "subscriber too slow"))).await;
                    break;
                }
            },
            m = ws.recv() => match m {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => match &relayed {
                    Some(member) => member.publish(m),
                    // `feed` queues the echo; `recv` flushes before it waits for more.
                    None => {
                        if let Err(e) = ws.feed(m).await {
                            error = Some(e);
                            break;
                        }
                    }
                },
                Some(Ok(Message::Close(c))) => peer_close = Some(c),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    error = Some(e);
                    break;
                }
                None => break,
            },
        }
    }
    if !shutdown {
        let _ = ws.close(None).await;
    }
    match (shutdown, peer_close, error) {
        (true, _, _) => info!("closed peer={peer} code=1001 reason=\"server shutting down\" by=server"),
        (false, Some(Some(c)), _) => info!("closed peer={peer} code={} reason={:?}", c.code, c.reason),
        (false, Some(None), _) => info!("closed peer={peer} code=1005 reason=\"\" (no status)"),
        (false, None, Some(wspc_io::Error::Ws(e))) if e.close_code().is_some() => {
            let code = e.close_code().unwrap_or(1002);
            info!("closed peer={peer} code={code} reason=\"\" by=server error=\"{e}\"")
        }
        (false, None, Some(e)) => info!("closed peer={peer} code=1006 reason=\"\" error=\"{e}\""),
        (false, None, None) => info!("closed peer={peer} code=1006 reason=\"\" (no close frame)"),
    }
}

/// A stream that first yields bytes already read from it (the request head), then reads
/// on; writes go straight through.
pub struct Rewind<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Rewind<S> {
    /// `prefix` is read before `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self { prefix, pos: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if me.pos < me.prefix.len() {
            let n = (me.prefix.len() - me.pos).min(buf.remaining());
            buf.put_slice(&me.prefix[me.pos..me.pos + n]);
            me.pos += n;
            if me.pos == me.prefix.len() {
                me.prefix = Vec::new();
                me.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
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

    #[tokio::test]
    async fn rewind_replays_the_prefix() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut r = Rewind::new(b"GET / HTTP/1.1\r\n".to_vec(), a);
        b.write_all(b"rest").await.unwrap();
        drop(b);
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\nrest");
    }
}
