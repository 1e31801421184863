//! hyper 1.x and axum upgrades: a wspc client against a hyper server and an axum router
//! with permessage-deflate negotiated and in force (a compressible message is fewer bytes
//! on the wire than its length), the subprotocol selected, refusals answered.

use axum::routing::get;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use wspc_io::{Accept, ClientOptions, Config, Message};

/// A stream that counts the bytes read from it.
struct Counting(TcpStream, Arc<AtomicUsize>);

impl AsyncRead for Counting {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.0).poll_read(cx, buf);
        self.1.fetch_add(buf.filled().len() - before, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counting {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

async fn echo(mut ws: wspc_io::tokio::WebSocket<wspc_io::hyper::UpgradedIo>) {
    while let Some(Ok(m)) = ws.recv().await {
        if m.is_data() && ws.send(m).await.is_err() {
            break;
        }
    }
}

async fn hyper_route(mut req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let mut accept = Accept::default().header("x-server", "hyper");
    if wspc_io::http::subprotocols(&req).any(|p| p == "chat") {
        accept = accept.subprotocol("chat");
    }
    if req.uri().path() == "/private" {
        return Ok(wspc_io::reject(403, "private").map(Full::from));
    }
    Ok(match wspc_io::hyper::upgrade(&mut req, accept, &Config::default().deflate(true)) {
        Ok((response, upgrading)) => {
            assert_eq!(upgrading.subprotocol(), Some("chat"));
            tokio::spawn(async move { echo(upgrading.await.unwrap()).await });
            response
        }
        Err(refused) => refused.response,
    })
}

async fn hyper_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(hyper_route));
                let _ = conn.with_upgrades().await;
            });
        }
    });
    addr
}

async fn axum_server() -> std::net::SocketAddr {
    async fn ws(upgrade: wspc_io::axum::WebSocketUpgrade) -> axum::response::Response {
        let upgrade = upgrade.config(Config::default().deflate(true)).protocols(["chat"]).header("x-server", "axum");
        assert_eq!(upgrade.selected_protocol(), Some("chat"));
        upgrade.on_upgrade(echo)
    }
    let app = axum::Router::new().route("/ws", get(ws));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Connects with deflate and "chat", checks the negotiation, then echoes a compressible
/// message and a binary one and counts the bytes read.
async fn deflate_echo(addr: std::net::SocketAddr, path: &str, server: &str) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let read = Arc::new(AtomicUsize::new(0));
    let opts = ClientOptions::default().subprotocol("chat").config(Config::default().deflate(true));
    let url = format!("ws://{addr}{path}");
    let (mut ws, resp) = wspc_io::tokio::client_handshake(Counting(tcp, read.clone()), &url, &opts).await.unwrap();
    let ext = resp.headers().get("sec-websocket-extensions").unwrap().to_str().unwrap();
    assert!(ext.starts_with("permessage-deflate"), "{ext}");
    assert_eq!(resp.headers().get("x-server").unwrap(), server);
    assert_eq!(ws.subprotocol(), Some("chat"));
    let text: String = (0..20_000).map(|i| format!("line {} of the same text\n", i % 50)).collect();
    let before = read.load(Ordering::Relaxed);
    ws.send(Message::text(text.clone())).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(text.clone()));
    let wire = read.load(Ordering::Relaxed) - before;
    assert!(wire < text.len() / 20, "{wire} bytes on the wire for {} bytes of text", text.len());
    ws.send(Message::binary(vec![7u8; 3000])).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(vec![7u8; 3000]));
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn hyper_upgrade_negotiates_deflate_and_subprotocol() {
    deflate_echo(hyper_server().await, "/ws", "hyper").await;
}

#[tokio::test]
async fn axum_upgrade_negotiates_deflate_and_subprotocol() {
    deflate_echo(axum_server().await, "/ws", "axum").await;
}

#[tokio::test]
async fn refusals_are_http_responses() {
    let addr = hyper_server().await;
    let e = wspc_io::tokio::connect(format!("ws://{addr}/private")).await.unwrap_err();
    assert!(matches!(e, wspc_io::Error::HttpStatus { status: 403, .. }), "{e:?}");
    // A plain GET (no upgrade) to the hyper route and to the axum extractor: 426.
    for addr in [addr, axum_server().await] {
        let url: hyper::Uri = format!("http://{addr}/ws").parse().unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get(url).header("host", "x").body(http_body_util::Empty::<Bytes>::new()).unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 426);
        assert_eq!(resp.headers().get("sec-websocket-version").unwrap(), "13");
    }
}
