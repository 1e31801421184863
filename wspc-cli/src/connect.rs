//! `wspc connect URL`: a line client. Stdin lines become messages, received messages go
//! to stdout; works interactively and in pipes.
//!
//! Stdin is read by a plain thread (so a blocked read never holds up the exit); the
//! connection is split: one task prints what arrives, the main task sends.

use crate::BoxError;
use clap::Args;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use wspc_io::{ClientOptions, CloseFrame, Config, Message};

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the connection failed after it was open, or the server closed it with an
/// error code.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: usage error or bad URL.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: connection refused, name resolution or another I/O error.
pub const EXIT_IO: u8 = 3;
/// Exit status: the WebSocket handshake failed (HTTP status other than 101, bad answer).
pub const EXIT_HANDSHAKE: u8 = 4;
/// Exit status: TLS error.
pub const EXIT_TLS: u8 = 5;

/// Arguments of `wspc connect`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Each line read from stdin is sent as one text message (without its newline); each message \
received is printed on stdout followed by a newline. Binary messages are printed as \
<binary N bytes: 01 02 ...> (first 32 bytes), unless --binary is given.

Interactive (stdin is a terminal): type lines; Ctrl-D closes the connection (code 1000), and so \
does Ctrl-C. In a pipe (echo hi | wspc connect ws://127.0.0.1:9001/): every line is sent, then \
the client waits until as many messages came back as it sent (or the server closes, or --wait \
seconds pass), closes with 1000 and exits.

--once: all of stdin is one message (a trailing newline removed); the first message received is \
printed and the client closes with 1000 and exits 0; no reply within --wait (10 s) or a close \
from the server first: exit 1. --reconnect: when the connection drops or cannot be made, the \
client says why on stderr and connects again after 0.25 s, 0.5 s, 1 s ... up to 30 s (each \
delay drawn between half and all of it), until the end of stdin or Ctrl-C.

Examples:
  wspc connect ws://127.0.0.1:9001/
  echo 'héllo' | wspc connect ws://127.0.0.1:9001/
  wspc connect wss://example.com/socket -H 'Authorization: Bearer x' --subprotocol chat
  wspc connect wss://localhost:9001/ --ca cert.pem
  head -c 64 /dev/urandom | wspc connect --binary ws://127.0.0.1:9001/ | xxd
  reply=$(echo '{\"op\":\"status\"}' | wspc connect --once ws://127.0.0.1:9001/)
  wspc connect --reconnect ws://127.0.0.1:9001/

Exit status:
  0  closed normally (by us, or by the server with 1000, 1001 or no status code)
  1  the connection failed after it was open, or the server closed it with another code
  2  usage error or bad URL
  3  connection refused, name not resolved, or another network error
  4  WebSocket handshake failed (the server answered with an HTTP status other than 101,
     or with something that is not a valid upgrade response, or not in time)
  5  TLS error (certificate not trusted, not TLS on the other side, ...)
Errors are reported as one line on stderr, starting with \"wspc: \".")]
pub struct ConnectArgs {
    /// Server URL: `ws://host[:port][/path]` or `wss://...`.
    pub url: String,
    /// Send each stdin line as a binary message, and write received binary messages raw (each followed by a newline).
    #[arg(long)]
    pub binary: bool,
    /// Open the WebSocket over HTTP/2 (RFC 8441 extended CONNECT) when the `wss://` server offers `h2` and
    /// enables it; otherwise (or for `ws://`) fall back to an HTTP/1.1 upgrade. --verbose says which was used.
    #[arg(long)]
    pub http2: bool,
    /// Extra request header, `NAME:VALUE` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,
    /// Subprotocol to offer (repeatable, in order of preference).
    #[arg(short = 'p', long, value_name = "NAME")]
    pub subprotocol: Vec<String>,
    /// The Origin header.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// Ping the server after this many seconds without traffic; fail (exit 1) when nothing answers within
    /// another interval.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub ping_interval: Option<Duration>,
    /// Offer permessage-deflate (RFC 7692).
    #[arg(long)]
    pub deflate: bool,
    /// wss://: do not verify the server's certificate (testing only).
    #[arg(short = 'k', long, conflicts_with = "ca")]
    pub insecure: bool,
    /// wss://: trust only the CA certificate(s) in this PEM file (default: the web PKI roots).
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Print the handshake's outcome (subprotocol, extensions) on stderr, also in a pipe.
    #[arg(short, long)]
    pub verbose: bool,
    /// At the end of stdin: wait at most this long for the outstanding replies before closing (default 2;
    /// with --once, how long to wait for the reply, default 10).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub wait: Option<Duration>,
    /// Send all of stdin as one message (one trailing newline removed), print the first message received,
    /// close with 1000 and exit 0 (1 when no message came within --wait or the server closed first).
    #[arg(long, conflicts_with = "reconnect")]
    pub once: bool,
    /// When the connection drops (or cannot be made), connect again with exponential backoff and jitter
    /// (0.25 s doubling up to 30 s, reset after each successful connection), saying so on stderr. Lines
    /// typed meanwhile are sent after the reconnection. Ends at the end of stdin or Ctrl-C.
    #[arg(long)]
    pub reconnect: bool,
    /// Largest message accepted (bytes, or 64KiB, 16MiB...; "none" for no limit).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = crate::serve::parse_limit)]
    pub max_message_size: crate::serve::Limit,
    /// Largest frame accepted, as sent on the wire (same units; the message limit by default, see `wspc serve
    /// --help`).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = crate::serve::parse_limit)]
    pub max_frame_size: crate::serve::Limit,
}

use crate::relay::parse_secs;

/// One line of error on stderr and the exit status that goes with it.
pub(crate) fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("wspc: {msg}");
    ExitCode::from(code)
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

pub(crate) fn close_code_name(code: u16) -> &'static str {
    match code {
        1002 => "protocol error",
        1003 => "unsupported data",
        1007 => "invalid payload",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "extension required",
        1011 => "server error",
        1012 => "service restart",
        1013 => "try again later",
        _ => "",
    }
}

/// Maps a failed connection attempt to its exit status and message.
pub(crate) fn connect_error(url: &str, e: &wspc_io::Error) -> (u8, String) {
    use wspc_io::Error as E;
    match e {
        E::Url(s) => (EXIT_USAGE, format!("bad URL: {s}")),
        E::Io(io) => (EXIT_IO, format!("cannot connect to {url}: {io}")),
        E::Tls(s) => {
            let plain = matches!(
                s,
                wspc_io::TlsError::Rustls(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType))
            );
            let hint = if plain { " (does the server speak TLS on that port?)" } else { "" };
            (EXIT_TLS, format!("TLS error with {url}: {s}{hint}"))
        }
        E::HttpStatus { status, headers } => {
            let phrase = reason_phrase(*status);
            let location = headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!(" (Location: {v})"))
                .unwrap_or_default();
            (
                EXIT_HANDSHAKE,
                format!(
                    "handshake failed: {url} answered HTTP {status}{}{}{location} instead of 101 Switching Protocols",
                    if phrase.is_empty() { "" } else { " " },
                    phrase
                ),
            )
        }
        E::BadRequest { reason, .. } => (EXIT_HANDSHAKE, format!("handshake failed: {url}: {reason}")),
        E::HandshakeTimeout => (EXIT_HANDSHAKE, format!("handshake failed: no answer from {url} in time")),
        E::ConnectionReset | E::ConnectionClosed => {
            (EXIT_HANDSHAKE, format!("handshake failed: {url} closed the connection without answering"))
        }
        E::Ws(w) => (EXIT_HANDSHAKE, format!("handshake failed: {url}: {w}")),
        other => (EXIT_HANDSHAKE, format!("handshake failed: {url}: {other}")),
    }
}

/// A TLS client configuration that accepts any certificate (`--insecure`).
fn insecure_tls() -> Arc<rustls::ClientConfig> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = wspc_io::tls::provider();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth(),
    )
}

/// Builds the client options; `Err` is an exit status (the message was printed).
pub(crate) fn options(args: &ConnectArgs) -> Result<ClientOptions, ExitCode> {
    let mut config = Config::default().max_message_size(args.max_message_size.0).max_frame_size(args.max_frame_size.0);
    if args.deflate {
        config = config.deflate(true);
    }
    if let Some(iv) = args.ping_interval {
        if iv.is_zero() {
            return Err(fail(EXIT_USAGE, "--ping-interval must be more than 0"));
        }
        config = config.keepalive(iv, iv);
    }
    let mut opts = ClientOptions::default().config(config);
    for p in &args.subprotocol {
        opts = opts.subprotocol(p.clone());
    }
    for h in &args.headers {
        match h.split_once(':') {
            Some((n, v)) if !n.trim().is_empty() => opts = opts.header(n.trim(), v.trim()),
            _ => return Err(fail(EXIT_USAGE, format!("bad header {h:?}: expected NAME:VALUE"))),
        }
    }
    if let Some(o) = &args.origin {
        opts = opts.origin(o.clone());
    }
    if args.insecure {
        opts = opts.tls(insecure_tls());
    } else if let Some(path) = &args.ca {
        let pem =
            std::fs::read(path).map_err(|e| fail(EXIT_USAGE, format!("cannot read --ca {}: {e}", path.display())))?;
        let cfg = wspc_io::tls::client_config_with_ca(&pem)
            .map_err(|e| fail(EXIT_TLS, format!("--ca {}: {e}", path.display())))?;
        opts = opts.tls(cfg);
    }
    Ok(opts)
}

/// How the receiving side ended.
#[derive(Debug, Clone)]
pub(crate) enum End {
    /// Still open.
    Open,
    /// The close handshake finished; the peer's close frame (if any).
    Closed(Option<Option<CloseFrame>>),
    /// The connection failed.
    Failed(String),
}

/// Runs `wspc connect`.
pub fn run(args: ConnectArgs) -> Result<ExitCode, BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let code = rt.block_on(connect(args));
    // Do not wait for the stdin thread, which may be blocked in a read.
    rt.shutdown_background();
    Ok(code)
}

pub(crate) fn render(msg: &Message, binary: bool) -> Option<Vec<u8>> {
    let mut out = match msg {
        Message::Text(t) => t.as_bytes().to_vec(),
        Message::Binary(b) if binary => b.to_vec(),
        Message::Binary(b) => {
            let mut s = format!("<binary {} bytes", b.len());
            if !b.is_empty() {
                s.push(':');
                for x in b.iter().take(32) {
                    s.push_str(&format!(" {x:02x}"));
                }
                if b.len() > 32 {
                    s.push_str(" …");
                }
            }
            s.push('>');
            s.into_bytes()
        }
        _ => return None,
    };
    out.push(b'\n');
    Some(out)
}

/// How one connection ended.
pub(crate) enum Outcome {
    /// The connection could not be made: exit status and message.
    NotConnected(u8, String),
    /// It ended; `input_done`: at the end of stdin or by Ctrl-C (otherwise the server
    /// ended it, or it failed).
    Ended { end: End, input_done: bool },
}

async fn connect(args: ConnectArgs) -> ExitCode {
    let interactive = std::io::stdin().is_terminal();
    if let Err(e) = wspc_io::http::Target::parse(&args.url) {
        return fail(EXIT_USAGE, e);
    }
    let opts = match options(&args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if args.once {
        return crate::reconnect::once(&args, &opts).await;
    }
    let mut lines = stdin_lines();
    if args.reconnect {
        return crate::reconnect::run(&args, &opts, &mut lines, interactive).await;
    }
    match session(&args, &opts, &mut lines, interactive).await {
        Outcome::NotConnected(code, msg) => fail(code, msg),
        Outcome::Ended { end, .. } => exit_status(end),
    }
}

/// Stdin, line by line (without the newline), read by a thread.
fn stdin_lines() -> mpsc::Receiver<Vec<u8>> {
    let (line_tx, lines) = mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = std::io::BufReader::with_capacity(64 << 10, stdin.lock());
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if line_tx.blocking_send(line).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    eprintln!("wspc: reading stdin: {e}");
                    break;
                }
            }
        }
    });
    lines
}

/// Connects, over HTTP/2 when `--http2` asked for it and the server allows it.
pub(crate) async fn open(
    args: &ConnectArgs,
    opts: &ClientOptions,
) -> wspc_io::Result<(wspc_io::tokio::WebSocket<wspc_io::h2::Transport>, wspc_io::Response)> {
    let (ws, resp, _) = wspc_io::h2::connect_with(&args.url, opts, args.http2).await?;
    if args.verbose {
        let via = if ws.get_ref().is_http2() { "HTTP/2 (extended CONNECT)" } else { "HTTP/1.1" };
        eprintln!("protocol: {via}");
    }
    Ok((ws, resp))
}

/// Prints the connection's outcome to the user.
pub(crate) fn print_connected(
    args: &ConnectArgs,
    subprotocol: Option<&str>,
    resp: &wspc_io::Response,
    interactive: bool,
) {
    if interactive || args.verbose {
        eprintln!(
            "connected to {} (subprotocol: {}, extensions: {}){}",
            args.url,
            subprotocol.unwrap_or("none"),
            resp.headers().get("sec-websocket-extensions").and_then(|v| v.to_str().ok()).unwrap_or("none"),
            if interactive { "; type lines to send, Ctrl-D or Ctrl-C to close" } else { "" },
        );
    }
}

/// One connection: sends `lines`, prints what arrives, until the end of input (and the
/// replies), Ctrl-C, or the server's close.
pub(crate) async fn session(
    args: &ConnectArgs,
    opts: &ClientOptions,
    lines: &mut mpsc::Receiver<Vec<u8>>,
    interactive: bool,
) -> Outcome {
    let (ws, resp) = match open(args, opts).await {
        Ok(c) => c,
        Err(e) => {
            let (code, msg) = connect_error(&args.url, &e);
            return Outcome::NotConnected(code, msg);
        }
    };
    print_connected(args, ws.subprotocol(), &resp, interactive);
    let (mut rx, mut tx) = ws.split();

    // Receiver: prints messages, counts them, reports how the connection ended.
    let (count_tx, count_rx) = watch::channel(0usize);
    let (end_tx, mut end_rx) = watch::channel(End::Open);
    let binary = args.binary;
    let we_closed = Arc::new(AtomicBool::new(false));
    let we_closed2 = we_closed.clone();
    let reader = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        let mut n = 0usize;
        let mut peer_close = None;
        let end = loop {
            match rx.recv().await {
                Some(Ok(Message::Close(c))) => {
                    if interactive {
                        let by = if we_closed2.load(Ordering::Relaxed) {
                            "closed"
                        } else {
                            "the server closed the connection"
                        };
                        match &c {
                            Some(f) if f.reason.is_empty() => eprintln!("{by}: {}", f.code),
                            Some(f) => eprintln!("{by}: {} {}", f.code, f.reason),
                            None => eprintln!("{by} (no status code)"),
                        }
                    }
                    peer_close = Some(c);
                }
                Some(Ok(m)) => {
                    if let Some(bytes) = render(&m, binary) {
                        // A closed stdout (`| head`) ends the client like the end of input.
                        if out.write_all(&bytes).await.is_err() || out.flush().await.is_err() {
                            break End::Failed("stdout closed".into());
                        }
                        n += 1;
                        let _ = count_tx.send(n);
                    }
                }
                Some(Err(e)) => break End::Failed(e.to_string()),
                None => break End::Closed(peer_close),
            }
        };
        let _ = end_tx.send(end);
    });

    let mut sent = 0usize;
    let mut interrupted = false;
    let mut input_done = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    if tx.send(to_message(line, args.binary)).await.is_err() {
                        // The receiver reports why.
                        break;
                    }
                    sent += 1;
                }
                None => {
                    input_done = true;
                    break;
                }
            },
            _ = end_rx.changed() => break,
            _ = &mut ctrl_c => { interrupted = true; break; }
        }
    }

    // End of input: wait for the replies (or the server's close), then close with 1000.
    if matches!(*end_rx.borrow(), End::Open) && !interrupted {
        let mut count_rx = count_rx;
        let mut end_wait = end_rx.clone();
        let wait = args.wait.unwrap_or(DEFAULT_WAIT);
        let _ = tokio::time::timeout(wait, async {
            tokio::select! {
                _ = count_rx.wait_for(|n| *n >= sent) => {}
                _ = end_wait.changed() => {}
            }
        })
        .await;
        let got = *count_rx.borrow();
        if got < sent && matches!(*end_rx.borrow(), End::Open) && interactive {
            eprintln!("{got} of {sent} replies arrived within {wait:?}; closing");
        }
    }
    if matches!(*end_rx.borrow(), End::Open) {
        we_closed.store(true, Ordering::Relaxed);
        let _ = tx.close(Some(CloseFrame::new(1000, ""))).await;
        // The receiver sees the server's close (bounded by the close timeout).
        let _ = tokio::time::timeout(Duration::from_secs(6), end_rx.wait_for(|e| !matches!(e, End::Open))).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
    let end = end_rx.borrow().clone();
    Outcome::Ended { end, input_done: input_done || interrupted }
}

/// Input bytes as a message: binary, or text (invalid UTF-8 replaced).
pub(crate) fn to_message(bytes: Vec<u8>, binary: bool) -> Message {
    if binary {
        Message::binary(bytes)
    } else {
        Message::text(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// `--wait` without --once.
const DEFAULT_WAIT: Duration = Duration::from_secs(2);

/// The exit status for how the connection ended (an error is printed).
pub(crate) fn exit_status(end: End) -> ExitCode {
    match end {
        End::Open => fail(EXIT_FAILED, "the server did not finish the close handshake"),
        End::Closed(Some(Some(f))) if !matches!(f.code, 1000 | 1001) => fail(EXIT_FAILED, describe_close(&f)),
        End::Closed(_) => ExitCode::from(EXIT_OK),
        End::Failed(e) if e == "stdout closed" => ExitCode::from(EXIT_OK),
        End::Failed(e) => fail(EXIT_FAILED, format!("connection failed: {e}")),
    }
}

/// "the server closed the connection with 1011 (server error): reason".
pub(crate) fn describe_close(f: &CloseFrame) -> String {
    let name = close_code_name(f.code);
    let name = if name.is_empty() { String::new() } else { format!(" ({name})") };
    let reason = if f.reason.is_empty() { String::new() } else { format!(": {}", f.reason) };
    format!("the server closed the connection with {}{name}{reason}", f.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering() {
        assert_eq!(render(&Message::text("hé"), false).unwrap(), "hé\n".as_bytes());
        assert_eq!(render(&Message::binary(vec![1, 0xab]), false).unwrap(), b"<binary 2 bytes: 01 ab>\n");
        assert_eq!(render(&Message::binary(vec![]), false).unwrap(), b"<binary 0 bytes>\n");
        assert_eq!(render(&Message::binary(vec![7; 40]), true).unwrap().len(), 41);
        let long = String::from_utf8(render(&Message::binary(vec![0; 40]), false).unwrap()).unwrap();
        assert!(long.starts_with("<binary 40 bytes: 00 00") && long.ends_with(" …>\n"), "{long}");
        assert!(render(&Message::pong(vec![]), false).is_none());
    }

    #[test]
    fn errors_map_to_codes() {
        let url = "ws://h/";
        assert_eq!(connect_error(url, &wspc_io::Error::Url("x".into())).0, EXIT_USAGE);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(connect_error(url, &wspc_io::Error::Io(refused)).0, EXIT_IO);
        let (code, msg) = connect_error(url, &wspc_io::Error::HttpStatus { status: 404, headers: Default::default() });
        assert_eq!(code, EXIT_HANDSHAKE);
        assert!(msg.contains("HTTP 404 Not Found"), "{msg}");
        assert_eq!(connect_error(url, &wspc_io::Error::Tls(wspc_io::TlsError::Pem("bad".into()))).0, EXIT_TLS);
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("x").is_err());
        let f = CloseFrame::new(1013, "busy");
        assert_eq!(describe_close(&f), "the server closed the connection with 1013 (try again later): busy");
    }
}
