//! tokio-tungstenite's `echo-server` example, ported to wspc-io: every connection's
//! messages are forwarded back to it.
//!
//!     cargo run --example tt_echo_server 127.0.0.1:12345
//!     cargo run --example tt_client ws://127.0.0.1:12345/

use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = TcpListener::bind(&addr).await.expect("Failed to bind");
    println!("Listening on: {addr}");
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(accept_connection(stream));
    }
    Ok(())
}

async fn accept_connection(stream: TcpStream) {
    let peer = stream.peer_addr().expect("connected streams should have a peer address");
    let ws = wspc_io::tokio::accept(stream).await.expect("Error during the websocket handshake occurred");
    println!("New WebSocket connection: {peer}");
    let (read, write) = ws.split();
    read.forward(write).await.expect("Failed to forward messages");
}
