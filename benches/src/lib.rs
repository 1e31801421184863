//! Shared bits of the benchmark binaries: the address argument, the `listening on` line, and a
//! minimal HTTP upgrade for servers whose library takes a stream after the handshake.

use std::io::Write;

/// The listen address: the first argument, default `127.0.0.1:9001`.
pub fn addr_arg() -> String {
    std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_string())
}

/// Prints `listening on ADDR` (what run.sh waits for) and flushes.
pub fn announce(addr: &std::net::SocketAddr) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// Reads an HTTP upgrade request and answers `101` (RFC 6455 §4.2.2). Used for
/// fastwebsockets, whose own upgrade helper needs hyper. The client sends nothing after its
/// request until it has the response, so no bytes are lost.
pub async fn upgrade(s: &mut tokio::net::TcpStream) -> Option<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    let mut have = 0;
    let key = loop {
        if have == buf.len() {
            return None;
        }
        let n = s.read(&mut buf[have..]).await.ok()?;
        if n == 0 {
            return None;
        }
        have += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(_) = req.parse(&buf[..have]).ok()? {
            let key = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))?.value;
            break wspc::handshake::accept_key(key.trim_ascii());
        }
    };
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {key}\r\n\r\n"
    );
    s.write_all(resp.as_bytes()).await.ok()
}

/// Listen size for servers that must take 10,000 idle connections quickly.
pub const BACKLOG: u32 = 4096;

/// A tokio listener with a deep backlog.
pub fn listener(addr: &str) -> tokio::net::TcpListener {
    let addr: std::net::SocketAddr = addr.parse().expect("ADDR must be ip:port");
    let sock =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }.expect("socket");
    sock.set_reuseaddr(true).expect("SO_REUSEADDR");
    sock.bind(addr).expect("bind");
    let l = sock.listen(BACKLOG).expect("listen");
    announce(&l.local_addr().expect("local address"));
    l
}
