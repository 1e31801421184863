//! Echo server on tokio-websockets (single-threaded tokio runtime), written from its
//! documented API: `ServerBuilder::accept`, then the loop of its README (`next`, `send` back
//! data messages). 64 MiB payload limit, TCP_NODELAY.

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::{Limits, ServerBuilder};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listener = wspc_benches::listener(&wspc_benches::addr_arg());
    loop {
        let Ok((s, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let builder = ServerBuilder::new().limits(Limits::default().max_payload_len(Some(64 << 20)));
            let Ok((_request, mut ws)) = builder.accept(s).await else { return };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    return;
                }
            }
        });
    }
}
