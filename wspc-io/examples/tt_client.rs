//! tokio-tungstenite's `client` example, ported to wspc-io: what is read on stdin is sent
//! to the server (in binary messages), what arrives is written to stdout.
//!
//!     cargo run --example tt_client ws://127.0.0.1:12345/

use futures_util::{future, pin_mut, stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wspc_io::Message;

#[tokio::main]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| panic!("this program requires at least one argument"));
    let (ws, _) = wspc_io::tokio::connect(url).await.expect("Failed to connect");
    println!("WebSocket handshake has been successfully completed");
    let (read, write) = ws.split();
    let stdin = stream::unfold(tokio::io::stdin(), |mut stdin| async move {
        let mut buf = vec![0; 1024];
        let n = stdin.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        buf.truncate(n);
        Some((Ok(Message::binary(buf)), stdin))
    });
    let stdin_to_ws = stdin.forward(write);
    let ws_to_stdout = read.for_each(|message| async {
        tokio::io::stdout().write_all(message.unwrap().as_bytes()).await.unwrap();
    });
    pin_mut!(stdin_to_ws, ws_to_stdout);
    future::select(stdin_to_ws, ws_to_stdout).await;
}
