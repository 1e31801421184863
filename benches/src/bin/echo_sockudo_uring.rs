//! Echo server on sockudo-ws over its io_uring transport (feature `io-uring`: tokio-uring's
//! runtime, `UringStream`), as its `io_uring` module documents: accept on a tokio-uring
//! listener, wrap the socket in `UringStream`, then the same handshake and echo loop as
//! `echo_sockudo`. Default `Config`, TCP_NODELAY.

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
use sockudo_ws::io_uring::UringStream;
use sockudo_ws::{Config, Message, WebSocketStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn connection(tcp: tokio_uring::net::TcpStream) -> Option<()> {
    let _ = tcp.set_nodelay(true);
    let mut s = UringStream::new(tcp);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if s.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        if let Some((req, _)) = parse_request(&buf).ok()? {
            let resp = build_response(&generate_accept_key(req.key), None, None);
            s.write_all(&resp).await.ok()?;
            s.flush().await.ok()?;
            break;
        }
    }
    let mut ws = WebSocketStream::server(s, Config::default());
    while let Some(Ok(m)) = ws.next().await {
        match m {
            m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m).await.ok()?,
            Message::Close(_) => return Some(()),
            _ => {}
        }
    }
    Some(())
}

fn main() {
    let addr: std::net::SocketAddr = wspc_benches::addr_arg().parse().expect("ADDR must be ip:port");
    tokio_uring::start(async move {
        let listener = tokio_uring::net::TcpListener::bind(addr).expect("bind");
        wspc_benches::announce(&addr);
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            tokio_uring::spawn(connection(tcp));
        }
    });
}
