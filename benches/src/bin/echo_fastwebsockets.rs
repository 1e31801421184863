//! Echo server on fastwebsockets (single-threaded tokio runtime), written from its documented
//! API: `WebSocket::after_handshake` (the upgrade is done by `wspc_benches::upgrade`, since
//! the crate's own helper needs hyper), the settings of its example, a `FragmentCollector`
//! for whole messages, `read_frame` / `write_frame`. 64 MiB message limit, TCP_NODELAY.

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listener = wspc_benches::listener(&wspc_benches::addr_arg());
    loop {
        let Ok((mut s, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            if wspc_benches::upgrade(&mut s).await.is_none() {
                return;
            }
            let mut ws = WebSocket::after_handshake(s, Role::Server);
            ws.set_writev(false);
            ws.set_auto_close(true);
            ws.set_auto_pong(true);
            ws.set_max_message_size(64 << 20);
            let mut ws = FragmentCollector::new(ws);
            loop {
                let Ok(frame) = ws.read_frame().await else { return };
                match frame.opcode {
                    OpCode::Close => return,
                    OpCode::Text | OpCode::Binary => {}
                    _ => continue,
                }
                if ws.write_frame(frame).await.is_err() {
                    return;
                }
            }
        });
    }
}
