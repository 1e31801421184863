//! `wspc serve --to-tcp HOST:PORT`: every WebSocket bridged to its own TCP connection.
//!
//! The TCP connection is made before the upgrade: when it fails (refused, unreachable, no
//! answer within the handshake timeout) the client gets HTTP 502 instead of a WebSocket
//! that would close at once, and no process or socket is left behind. Then payloads of
//! text and binary messages are written to it as bytes, bytes read from it come back as
//! binary messages. The client's close sends FIN to the TCP side; the TCP side's FIN (or
//! reset) closes the WebSocket with 1000 (1011 after a read error).

use crate::relay::{self, Framing};
use crate::stop::{Conns, Stop};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{info, warn};
use wspc_io::tokio::WebSocket;
use wspc_io::{CloseFrame, Reject};

/// Where to connect.
#[derive(Debug)]
pub struct TcpTarget {
    /// `HOST:PORT`, resolved at each connection.
    pub addr: String,
}

impl TcpTarget {
    /// Checks the `HOST:PORT` form (the name is resolved when a client connects).
    pub fn parse(addr: &str) -> Result<TcpTarget, String> {
        match addr.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => {
                Ok(TcpTarget { addr: addr.to_string() })
            }
            _ => Err(format!("--to-tcp {addr:?}: expected HOST:PORT")),
        }
    }

    /// Connects for `peer`; 502 when that fails.
    pub async fn connect(&self, peer: SocketAddr, timeout: Duration) -> Result<TcpStream, Reject> {
        let err = match tokio::time::timeout(timeout, TcpStream::connect(&self.addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        warn!("refused peer={peer}: cannot connect to {}: {err}", self.addr);
        Err(wspc_io::reject(502, "cannot reach the TCP service\n"))
    }
}

/// Bridges `ws` and `tcp` until either side closes (or shutdown).
pub(crate) async fn run<S>(tcp: TcpStream, ws: WebSocket<S>, peer: SocketAddr, conns: &Conns)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stop = Stop::new(conns);
    let (mut tcp_rx, tcp_tx) = tcp.into_split();
    let (mut rx, mut tx) = ws.split();
    info!("bridging peer={peer} to {}", tcp_rx.peer_addr().map(|a| a.to_string()).unwrap_or_default());
    let shutdown = || CloseFrame::new(1001, "server shutting down");
    let (client, frame) = tokio::select! {
        // Returning drops the TCP write half: FIN.
        e = relay::ws_to_writer(&mut rx, tcp_tx, false) => (Some(e), shutdown()),
        o = relay::reader_to_ws(&mut tcp_rx, &mut tx, Framing::Chunks) => (None, relay::close_after(peer, &o, String::new())),
        _ = stop.stopped() => (None, shutdown()),
    };
    drop(tcp_rx);
    relay::finish(rx, tx, peer, client, frame).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(TcpTarget::parse("localhost:5900").unwrap().addr, "localhost:5900");
        assert!(TcpTarget::parse("[::1]:22").is_ok());
        for bad in ["localhost", ":80", "h:0", "h:port", "h:70000"] {
            assert!(TcpTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
