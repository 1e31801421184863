//! hyper 1.x server: a page on `/` and an echo WebSocket on `/ws` on one port
//! (permessage-deflate accepted when offered, negotiated by wspc).
//!
//! Usage: `hyper_echo ADDR [--subprotocol P]`. Prints `listening on ADDR` once bound.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use wspc_io::hyper::{upgrade, UpgradedIo};
use wspc_io::tokio::WebSocket;
use wspc_io::{Accept, Config};

type Body = Full<Bytes>;

async fn route(mut req: Request<Incoming>, subprotocol: Arc<Option<String>>) -> Result<Response<Body>, hyper::Error> {
    match req.uri().path() {
        "/" => Ok(Response::new(Body::from(include_str!("echo_page.html")))),
        "/ws" => {
            let mut accept = Accept::default();
            if let Some(p) = subprotocol.as_deref() {
                if wspc_io::http::subprotocols(&req).any(|o| o == p) {
                    accept = accept.subprotocol(p);
                }
            }
            Ok(match upgrade(&mut req, accept, &Config::default().deflate(true)) {
                Ok((response, upgrading)) => {
                    tokio::spawn(async move {
                        match upgrading.await {
                            Ok(ws) => echo(ws).await,
                            Err(e) => eprintln!("upgrade: {e}"),
                        }
                    });
                    response
                }
                Err(refused) => refused.response,
            })
        }
        _ => {
            let mut r = Response::new(Body::from("not found\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            Ok(r)
        }
    }
}

async fn echo(mut ws: WebSocket<UpgradedIo>) {
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
    let subprotocol = Arc::new(args.iter().position(|a| a == "--subprotocol").and_then(|i| args.get(i + 1)).cloned());
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap_or_else(|e| {
        eprintln!("bind {addr}: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", listener.local_addr().expect("bound"));
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let subprotocol = subprotocol.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| route(req, subprotocol.clone()));
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
            if let Err(e) = conn.with_upgrades().await {
                eprintln!("connection: {e}");
            }
        });
    }
}
