//! Echo server on tokio-tungstenite (single-threaded tokio runtime), written from its
//! documented API: `accept_async_with_config`, then the read half forwarded into the write
//! half as in the crate's echo example (data messages only). 64 MiB message and frame
//! limits, TCP_NODELAY.

use futures_util::{future, StreamExt, TryStreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listener = wspc_benches::listener(&wspc_benches::addr_arg());
    loop {
        let Ok((s, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let config = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(s, Some(config)).await else { return };
            let (write, read) = ws.split();
            let _ = read.try_filter(|m| future::ready(m.is_text() || m.is_binary())).forward(write).await;
        });
    }
}
