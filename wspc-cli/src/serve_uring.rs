//! `wspc serve --io uring` (Linux; tokio stays the default until this driver is as fast in
//! every benchmark cell): the same echo server, demo page and log lines as the tokio server
//! in [`crate::serve`], on [`wspc_io::uring`]: one thread per CPU the process may run on,
//! each with its own ring and `SO_REUSEPORT` listener, event callbacks instead of a task per connection.
//!
//! With `--tls-cert`/`--tls-key` it serves `wss://` and the page over `https://` (rustls
//! driven from the ring). This driver speaks HTTP/1.1 only, so its TLS offers only
//! `http/1.1` by ALPN: no HTTP/2, hence no RFC 8441 WebSockets (the tokio server offers `h2`
//! too). `--broadcast`, `--exec` and `--to-tcp` stay on tokio. When the process may not use
//! io_uring, [`run`] says so (the caller logs it once and serves on tokio).

use crate::serve::{http_response, ServeArgs};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::{info, warn};
use wspc_io::uring::{Conn, ConnId, Handler, Server, ShutdownHandle};
use wspc_io::{Accept, CloseFrame, Config, Message, Request};

/// Why the io_uring server did not run.
pub enum NotRun {
    /// io_uring cannot be used here: serve on tokio instead.
    Unavailable(wspc_io::Error),
    /// The server could not start (address in use...): the exit code.
    Failed(ExitCode),
}

/// True when `args` asks for a mode this driver serves.
pub fn supports(args: &ServeArgs) -> bool {
    !args.broadcast && args.relay.exec.is_none() && args.relay.to_tcp.is_none()
}

/// Runs the echo server on io_uring until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs, config: Config, threads: usize) -> Result<ExitCode, NotRun> {
    // ALPN `http/1.1` only (`server_config_from_pem_files`): this driver has no HTTP/2.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => match wspc_io::tls::server_config_from_pem_files(c, k) {
            Ok(cfg) => Some(cfg),
            Err(e) => {
                eprintln!("wspc: cannot use {} / {}: {e}", c.display(), k.display());
                return Err(NotRun::Failed(ExitCode::from(1)));
            }
        },
        _ => None,
    };
    let mut server = match Server::bind(&args.addr, config, threads) {
        Ok(s) => s,
        Err(wspc_io::Error::Io(e)) if is_bind_error(&e) => {
            eprintln!("wspc: cannot listen on {}: {e}", args.addr);
            return Err(NotRun::Failed(ExitCode::from(1)));
        }
        Err(e) => return Err(NotRun::Unavailable(e)),
    };
    let (http, ws) = if tls.is_some() { ("https", "wss") } else { ("http", "ws") };
    if let Some(cfg) = tls {
        server = server.tls(cfg);
    }
    let local = server.local_addr();
    let deflate = !args.no_deflate;
    info!(
        "listening on {local}: open {http}://{local}/ for the demo page; WebSocket {ws}://{local}/ (echo{}{}; io_uring, {} thread{})",
        if deflate { format!(", permessage-deflate accepted ({})", args.deflate_policy) } else { String::new() },
        if args.subprotocol.is_empty() { String::new() } else { format!(", subprotocols {:?}", args.subprotocol) },
        server.threads(),
        if server.threads() == 1 { "" } else { "s" },
    );
    // Ctrl-C and SIGTERM: read by the rings themselves (no thread waits for them).
    if let Err(e) = server.stop_on_signals() {
        warn!("Ctrl-C and SIGTERM will not stop the server cleanly: {e}");
    }
    let stop = server.shutdown_handle();
    let subprotocols = Arc::new(args.subprotocol.clone());
    let r = server.run(|| Echo {
        subprotocols: subprotocols.clone(),
        last: String::new(),
        chosen: None,
        peers: Vec::new(),
        stop: stop.clone(),
    });
    match r {
        Ok(()) => {
            info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("wspc: io_uring server failed: {e}");
            Err(NotRun::Failed(ExitCode::from(1)))
        }
    }
}

fn is_bind_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::PermissionDenied
    ) && e.raw_os_error() != Some(libc::EPERM)
        || e.kind() == std::io::ErrorKind::InvalidInput
}

/// One thread's echo handler: the peer of each open connection (for the log lines), by
/// the connection's slot index.
struct Echo {
    subprotocols: Arc<Vec<String>>,
    /// The path and subprotocol of the request `accept` saw last (for `on_open`'s line).
    last: String,
    chosen: Option<String>,
    peers: Vec<Option<SocketAddr>>,
    stop: ShutdownHandle,
}

impl Echo {
    fn peer(&self, id: ConnId) -> String {
        match self.peers.get(id.index()).copied().flatten() {
            Some(p) => p.to_string(),
            None => "?".into(),
        }
    }
}

impl Handler for Echo {
    fn accept(&mut self, req: &Request) -> Result<Accept, wspc_io::Reject> {
        let mut a = Accept::default();
        self.last.clear();
        self.last.push_str(req.uri().path_and_query().map_or("/", |p| p.as_str()));
        self.chosen = None;
        if let Some(p) = wspc_io::http::subprotocols(req).find(|o| self.subprotocols.iter().any(|s| s == o)) {
            self.chosen = Some(p.to_string());
            a = a.subprotocol(p);
        }
        Ok(a)
    }

    fn on_http(&mut self, conn: &mut Conn<'_>, method: &str, path: &str) -> Option<Vec<u8>> {
        let peer = conn.peer_addr().map_or_else(|_| "?".to_string(), |p| p.to_string());
        Some(http_response(peer, method, path))
    }

    fn on_open(&mut self, conn: &mut Conn<'_>) {
        let i = conn.id().index();
        if self.peers.len() <= i {
            self.peers.resize(i + 1, None);
        }
        self.peers[i] = conn.peer_addr().ok();
        // `accept` ran just before, for this connection.
        let sub = self.chosen.as_deref().unwrap_or("none");
        info!("connected peer={} path={} subprotocol={sub} via=http/1.1", self.peer(conn.id()), self.last);
    }

    fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message) {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            let _ = conn.send(msg);
        }
    }

    fn on_close(&mut self, id: ConnId, result: wspc_io::Result<Option<CloseFrame>>) {
        let peer = self.peer(id);
        if let Some(p) = self.peers.get_mut(id.index()) {
            *p = None;
        }
        match result {
            _ if self.stop.is_requested() => {
                info!("closed peer={peer} code=1001 reason=\"server shutting down\" by=server")
            }
            Ok(Some(c)) => info!("closed peer={peer} code={} reason={:?}", c.code, c.reason),
            Ok(None) => info!("closed peer={peer} code=1005 reason=\"\" (no status)"),
            Err(wspc_io::Error::Ws(e)) if e.close_code().is_some() => {
                let code = e.close_code().unwrap_or(1002);
                info!("closed peer={peer} code={code} reason=\"\" by=server error=\"{e}\"")
            }
            Err(e) => info!("closed peer={peer} code=1006 reason=\"\" error=\"{e}\""),
        }
    }
}
