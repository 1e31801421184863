//! Raw TCP reflector (single-threaded tokio runtime): every byte read is written back. The
//! ceiling for the WebSocket servers: `wspc bench --raw` sends masked frames and expects them
//! back unchanged. TCP_NODELAY, 64 KiB reads.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listener = wspc_benches::listener(&wspc_benches::addr_arg());
    loop {
        let Ok((mut s, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}
