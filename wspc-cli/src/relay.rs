//! `wspc serve --exec` and `--to-tcp`: each WebSocket is relayed to a byte stream (a
//! process's stdin/stdout, a TCP connection). This module holds the options, the choice
//! made before the upgrade (a free process slot, a TCP connection), and the two pumps
//! both modes share; [`crate::exec`] and [`crate::tcp_bridge`] decide how a connection
//! ends.
//!
//! Back-pressure: each pump waits on the side it writes to before it reads more from the
//! other. A process or TCP peer that does not read leaves WebSocket data in the kernel's
//! socket buffers (the client's sends then block); a WebSocket client that does not read
//! fills wspc-io's write buffer, which stops the reads from the process or TCP side. Per
//! connection the relay itself holds one received piece (at most the receive buffer,
//! 64 KiB: messages are taken with `recv_piece`, never whole), one read chunk and at most
//! one line of [`LINE_MAX`] bytes, plus wspc-io's bounded write buffer.

use crate::exec::Exec;
use crate::stop::Conns;
use crate::tcp_bridge::TcpTarget;
use clap::Args;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};
use wspc_io::tokio::{ReadHalf, WebSocket, WriteHalf};
use wspc_io::{CloseFrame, Message, Piece, PieceKind, Reject};

/// The most bytes read from a process or TCP connection at once (one binary message at most).
pub const CHUNK: usize = 64 << 10;
/// The longest line sent as one text message; a longer line goes out in messages of this
/// size (cut between characters).
pub const LINE_MAX: usize = 64 << 10;

/// The relay options of `wspc serve` (flattened into its arguments).
#[derive(Args, Debug, Clone)]
pub struct RelayArgs {
    /// Run CMD for every WebSocket: messages go to its stdin (text messages followed by a newline, binary
    /// messages raw), each line of its stdout comes back as a text message. CMD is split like a shell
    /// would split words (quotes, backslashes) but not run by a shell: write `sh -c '...'` for pipes,
    /// redirections or variables. Its stderr goes to the server's stderr. Programs that buffer a piped stdout
    /// need line buffering to answer each message at once (`stdbuf -oL CMD`, `sed -u`, `python3 -u`).
    /// Anyone who can reach the server can run CMD: listen on loopback (the default) or put
    /// the server behind something that authenticates.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["broadcast", "to_tcp"], help_heading = "Relay")]
    pub exec: Option<String>,
    /// With --exec: send the process's stdout as binary messages of the bytes as they are read (up to 64 KiB
    /// each) instead of one text message per line.
    #[arg(long, requires = "exec", help_heading = "Relay")]
    pub binary: bool,
    /// With --exec: after the client closed (its stdin closed), how long the process may take to exit
    /// before it gets SIGTERM, and then again before it is killed.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_secs, help_heading = "Relay")]
    pub exec_grace: Duration,
    /// Bridge every WebSocket to a new TCP connection to HOST:PORT: payloads are written to it as bytes,
    /// bytes read come back as binary messages; either side closing closes the other.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "broadcast", help_heading = "Relay")]
    pub to_tcp: Option<String>,
    /// Most concurrent --exec processes (or --to-tcp connections). An upgrade beyond it is refused with
    /// HTTP 503 before any process starts.
    #[arg(long, value_name = "N", default_value = "64", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Relay")]
    pub max_processes: u32,
}

/// Parses seconds (`2`, `0.5`, `3s`).
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let t = s.trim().trim_end_matches('s');
    match t.parse::<f64>() {
        Ok(v) if (0.0..1e9).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("not a number of seconds: {s:?}")),
    }
}

/// What a server relays its WebSockets to.
pub struct Relay {
    target: Target,
    slots: Arc<Semaphore>,
    max: u32,
}

enum Target {
    Exec(Exec),
    Tcp(TcpTarget),
}

/// A connection's reservation, taken before the upgrade.
pub struct Prepared {
    to: PreparedTarget,
    _slot: OwnedSemaphorePermit,
}

enum PreparedTarget {
    Exec,
    Tcp(TcpStream),
}

impl Relay {
    /// The relay the options ask for (`Ok(None)`: none, echo or broadcast).
    pub fn from_args(args: &RelayArgs) -> Result<Option<Relay>, String> {
        let target = match (&args.exec, &args.to_tcp) {
            (Some(cmd), _) => Target::Exec(Exec::parse(cmd, args.binary, args.exec_grace)?),
            (None, Some(addr)) => Target::Tcp(TcpTarget::parse(addr)?),
            (None, None) => return Ok(None),
        };
        Ok(Some(Relay {
            target,
            slots: Arc::new(Semaphore::new(args.max_processes as usize)),
            max: args.max_processes,
        }))
    }

    /// For the "listening on" line.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Exec(e) => format!("exec {}", e.describe()),
            Target::Tcp(t) => format!("bridged to tcp://{}", t.addr),
        }
    }

    /// Before the upgrade: a free slot (503 otherwise) and, for `--to-tcp`, the TCP
    /// connection (502 when it cannot be made within `timeout`).
    pub async fn prepare(&self, peer: SocketAddr, timeout: Duration) -> Result<Prepared, Reject> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            warn!("refused peer={peer}: {} relays already running (--max-processes)", self.max);
            return Err(wspc_io::reject(503, "too many connections, try again later\n"));
        };
        let to = match &self.target {
            Target::Exec(_) => PreparedTarget::Exec,
            Target::Tcp(t) => PreparedTarget::Tcp(t.connect(peer, timeout).await?),
        };
        Ok(Prepared { to, _slot: slot })
    }

    /// Relays an upgraded WebSocket until either side ends it (or shutdown).
    pub(crate) async fn run<S>(&self, p: Prepared, ws: WebSocket<S>, peer: SocketAddr, path: &str, conns: &Conns)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match (&self.target, p.to) {
            (Target::Exec(e), PreparedTarget::Exec) => e.run(ws, peer, path, conns).await,
            (Target::Tcp(_), PreparedTarget::Tcp(tcp)) => crate::tcp_bridge::run(tcp, ws, peer, conns).await,
            _ => unreachable!("prepared by the same relay"),
        }
    }
}

/// How the WebSocket-to-stream pump ended.
#[derive(Debug)]
pub enum InEnd {
    /// The client's close frame arrived (its echo is sent).
    Closed(Option<CloseFrame>),
    /// The connection failed.
    Failed(wspc_io::Error),
}

/// How the stream-to-WebSocket pump ended.
#[derive(Debug)]
pub enum OutEnd {
    /// The stream ended (end of file, FIN); everything read was sent.
    Eof,
    /// Reading the stream failed.
    ReadFailed(std::io::Error),
    /// Sending on the WebSocket failed.
    WsFailed(wspc_io::Error),
}

/// Writes every received message to `w` (text messages followed by a newline when
/// `newline_after_text`) piece by piece. When `w` fails (the process closed its stdin,
/// the TCP peer reset), further data is dropped until the client closes. `w` is dropped
/// on return: a process's stdin closes, a TCP write half sends FIN.
pub async fn ws_to_writer<S, W>(rx: &mut ReadHalf<S>, w: W, newline_after_text: bool) -> InEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut w = Some(w);
    let mut buf = Vec::new();
    loop {
        let (text, last) = match rx.recv_piece(&mut buf).await {
            Ok(Piece { kind: PieceKind::Close(c), .. }) => return InEnd::Closed(c),
            Ok(Piece { kind: PieceKind::Pong, .. }) => continue,
            Ok(Piece { kind, last }) => (kind == PieceKind::Text, last),
            Err(e) => return InEnd::Failed(e),
        };
        if let Some(out) = &mut w {
            let newline = newline_after_text && text && last;
            let written = async {
                out.write_all(&buf).await?;
                if newline {
                    out.write_all(b"\n").await?;
                }
                std::io::Result::Ok(())
            };
            if written.await.is_err() {
                w = None;
            }
        }
    }
}

/// How [`reader_to_ws`] turns bytes into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One text message per line (without its newline; invalid UTF-8 replaced).
    Lines,
    /// One binary message per read (up to [`CHUNK`] bytes).
    Chunks,
}

/// Sends what `r` yields as messages until it ends. Waits on the WebSocket's write buffer
/// before each read, so a client that does not read stops the reads.
pub async fn reader_to_ws<S, R>(r: &mut R, tx: &mut WriteHalf<S>, framing: Framing) -> OutEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; CHUNK];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return OutEnd::ReadFailed(e),
        };
        let sent = match framing {
            Framing::Chunks => tx.send(Message::binary(buf[..n].to_vec())).await,
            Framing::Lines => feed_lines(&mut line, &buf[..n], tx).await,
        };
        if let Err(e) = sent {
            return OutEnd::WsFailed(e);
        }
    }
    if !line.is_empty() {
        if let Err(e) = tx.send(text_message(&line)).await {
            return OutEnd::WsFailed(e);
        }
    }
    OutEnd::Eof
}

/// Queues a text message for every line completed by `data` (what is left waits in
/// `line`; a line reaching [`LINE_MAX`] goes out in pieces), then flushes.
async fn feed_lines<S>(line: &mut Vec<u8>, mut data: &[u8], tx: &mut WriteHalf<S>) -> wspc_io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while !data.is_empty() {
        let room = LINE_MAX - line.len();
        let (take, complete) = match data.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (data.len().min(room), false),
        };
        line.extend_from_slice(&data[..take]);
        data = &data[take..];
        if complete {
            line.pop();
            tx.feed(text_message(line)).await?;
            line.clear();
        } else if line.len() == LINE_MAX {
            let cut = utf8_cut(line);
            tx.feed(text_message(&line[..cut])).await?;
            line.drain(..cut);
        }
    }
    tx.flush().await
}

fn text_message(bytes: &[u8]) -> Message {
    Message::text(String::from_utf8_lossy(bytes).into_owned())
}

/// The longest prefix of `b` that does not end inside a UTF-8 sequence (all of `b` when
/// its end is not an incomplete sequence; invalid bytes are not this function's concern).
pub fn utf8_cut(b: &[u8]) -> usize {
    let n = b.len();
    for back in 1..=n.min(4) {
        let c = b[n - back];
        if c & 0xC0 == 0x80 {
            continue;
        }
        let need = match c {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if back < need { n - back } else { n };
    }
    n
}

/// Ends a relayed connection and logs how: after the client's close or failure
/// (`client`), or with the server's `frame`. Waits for the close handshake within the close
/// timeout.
pub async fn finish<S>(rx: ReadHalf<S>, tx: WriteHalf<S>, peer: SocketAddr, client: Option<InEnd>, frame: CloseFrame)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(mut ws) = rx.reunite(tx) else { unreachable!("halves of one split") };
    match client {
        Some(InEnd::Closed(c)) => {
            let _ = ws.close(None).await;
            let (code, reason) = c.map(|c| (c.code, c.reason)).unwrap_or((1005, String::new()));
            info!("closed peer={peer} code={code} reason={reason:?} by=client");
        }
        Some(InEnd::Failed(e)) => {
            let _ = ws.close(None).await;
            info!("closed peer={peer} code=1006 error=\"{e}\"");
        }
        None => {
            let (code, reason) = (frame.code, frame.reason.clone());
            let _ = ws.close(Some(frame)).await;
            info!("closed peer={peer} code={code} reason={reason:?} by=server");
        }
    }
}

/// The close frame for a stream-side end: 1000 after end of file, 1011 after a failure
/// (logged).
pub fn close_after(peer: SocketAddr, end: &OutEnd, eof_reason: String) -> CloseFrame {
    match end {
        OutEnd::Eof => CloseFrame::new(1000, eof_reason),
        OutEnd::ReadFailed(e) => {
            warn!("peer={peer}: relay failed: reading: {e}");
            CloseFrame::new(1011, "relay failed")
        }
        OutEnd::WsFailed(e) => {
            warn!("peer={peer}: relay failed: sending: {e}");
            CloseFrame::new(1011, "relay failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_between_characters() {
        assert_eq!(utf8_cut(b"abc"), 3);
        assert_eq!(utf8_cut("aé".as_bytes()), 3);
        assert_eq!(utf8_cut(&"aé".as_bytes()[..2]), 1);
        let euro = "€".as_bytes();
        assert_eq!(utf8_cut(&[b'x', euro[0], euro[1]]), 1);
        let emoji = "🎉".as_bytes();
        assert_eq!(utf8_cut(&[b'x', emoji[0], emoji[1], emoji[2]]), 1);
        assert_eq!(utf8_cut(&[b'x', emoji[0], emoji[1], emoji[2], emoji[3]]), 5);
        assert_eq!(utf8_cut(b""), 0);
        assert_eq!(utf8_cut(&[0x80, 0x80, 0x80, 0x80, 0x80]), 5);
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_secs("3s"), Ok(Duration::from_secs(3)));
        assert!(parse_secs("-1").is_err());
    }
}
