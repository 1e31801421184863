//! axum server: a page on `/` and an echo WebSocket on `/ws` (permessage-deflate accepted
//! when offered, negotiated by wspc).
//!
//! Usage: `axum_echo ADDR [--subprotocol P]`. Prints `listening on ADDR` once bound.

use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::get;
use axum::Router;
use wspc_io::axum::{WebSocket, WebSocketUpgrade};
use wspc_io::Config;

async fn ws(upgrade: WebSocketUpgrade, State(subprotocol): State<Option<String>>) -> Response {
    upgrade.config(Config::default().deflate(true)).protocols(subprotocol).on_upgrade(echo)
}

async fn echo(mut ws: WebSocket) {
    // `feed` queues the echo; `recv` flushes before it waits for more input.
    while let Some(Ok(m)) = ws.recv().await {
        if m.is_close() || (m.is_data() && ws.feed(m).await.is_err()) {
            break;
        }
    }
    let _ = ws.close(None).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:9001".into());
    let subprotocol = args.iter().position(|a| a == "--subprotocol").and_then(|i| args.get(i + 1)).cloned();
    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("echo_page.html")) }))
        .route("/ws", get(ws))
        .with_state(subprotocol);
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap_or_else(|e| {
        eprintln!("bind {addr}: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", listener.local_addr().expect("bound"));
    axum::serve(listener, app).await.expect("serve");
}
