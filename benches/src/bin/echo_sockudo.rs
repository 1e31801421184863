//! Echo server on sockudo-ws (single-threaded tokio runtime), written from its documented
//! API: its `simple_echo` pattern (`WebSocketStream::server`, then `next` and `send` back data
//! messages), its own handshake helpers, default `Config` (64 MiB message limit, write
//! corking), TCP_NODELAY.

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
use sockudo_ws::{Config, Message, WebSocketStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads the upgrade request and answers it with sockudo-ws's helpers.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Option<()> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if s.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        if let Some((req, _)) = parse_request(&buf).ok()? {
            let resp = build_response(&generate_accept_key(req.key), None, None);
            s.write_all(&resp).await.ok()?;
            return Some(());
        }
    }
}

/// The echo loop of sockudo-ws's `simple_echo` example.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(s: S) {
    let mut ws = WebSocketStream::server(s, Config::default());
    while let Some(Ok(m)) = ws.next().await {
        match m {
            m @ (Message::Text(_) | Message::Binary(_)) => {
                if ws.send(m).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            _ => {}
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listener = wspc_benches::listener(&wspc_benches::addr_arg());
    loop {
        let Ok((mut s, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            if handshake(&mut s).await.is_some() {
                echo(s).await;
            }
        });
    }
}
