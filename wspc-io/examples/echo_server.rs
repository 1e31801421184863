//! Tokio echo server.
//!
//! Usage: `echo_server ADDR [--deflate | --no-deflate] [--subprotocol P] [--cert PEM --key PEM]`
//!
//! Echoes every text and binary message (up to 64 MiB), answers pings, echoes the close
//! code. permessage-deflate is accepted when a client offers it unless `--no-deflate` is
//! given (`--deflate` is the default). With `--cert`/`--key` it serves `wss://`.
//! Prints `listening on ADDR` once bound. Runs on one thread (tokio's current-thread
//! runtime), like the other servers of the benchmark suite; run one process per core to use
//! more.

use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use wspc_io::tokio::WebSocket;
use wspc_io::{Accept, Config, DeflateConfig, DeflatePolicy, Message, Request};

struct Opts {
    config: Config,
    subprotocol: Option<String>,
}

fn handler(opts: &Opts) -> impl FnOnce(&Request) -> Result<Accept, wspc_io::Reject> + '_ {
    move |req: &Request| {
        let mut a = Accept::default();
        if let Some(p) = &opts.subprotocol {
            if wspc_io::http::subprotocols(req).any(|o| o == p) {
                a = a.subprotocol(p.clone());
            }
        }
        Ok(a)
    }
}

async fn echo<S>(mut ws: WebSocket<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let m = match ws.recv().await {
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => m,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        // `feed` queues the echo; `recv` flushes before it waits for more input, so a
        // burst of messages is answered with one write.
        if ws.feed(m).await.is_err() {
            break;
        }
    }
    let _ = ws.close(None).await;
}

async fn serve_tls(tcp: TcpStream, opts: Arc<Opts>, acc: tokio_rustls::TlsAcceptor) {
    let ws = match wspc_io::tokio::accept_tls_with(tcp, &acc, &opts.config, handler(&opts)).await {
        Ok(ws) => ws,
        Err(e) => return eprintln!("handshake: {e}"),
    };
    echo(ws).await
}

async fn serve(tcp: TcpStream, opts: Arc<Opts>) {
    let ws = match wspc_io::tokio::accept_with(tcp, &opts.config, handler(&opts)).await {
        Ok(ws) => ws,
        Err(e) => return eprintln!("handshake: {e}"),
    };
    echo(ws).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut deflate = true;
    let mut policy = DeflatePolicy::default();
    let mut subprotocol = None;
    let (mut cert, mut key) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--deflate" => deflate = true,
            "--no-deflate" => deflate = false,
            "--deflate-policy" => policy = args.next().unwrap_or_default().parse().expect("--deflate-policy"),
            "--subprotocol" => subprotocol = args.next(),
            "--cert" => cert = args.next(),
            "--key" => key = args.next(),
            _ if addr.is_none() => addr = Some(a),
            _ => {
                eprintln!("usage: echo_server ADDR [--deflate|--no-deflate] [--deflate-policy lean|balanced|best-ratio] [--subprotocol P] [--cert PEM --key PEM]");
                std::process::exit(2);
            }
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:9001".into());
    // Compress every message (threshold 0): Autobahn's fuzzing client mishandles short
    // uncompressed text on a permessage-deflate connection.
    let deflate = deflate.then(|| DeflateConfig { threshold: 0, ..DeflateConfig::policy(policy) });
    let config = Config::default().deflate_config(deflate);
    let tls = match (cert, key) {
        (Some(c), Some(k)) => {
            let cfg = wspc_io::tls::server_config_from_pem_files(c, k).unwrap_or_else(|e| {
                eprintln!("TLS: {e}");
                std::process::exit(1)
            });
            Some(wspc_io::tokio::tls_acceptor(cfg))
        }
        (None, None) => None,
        _ => {
            eprintln!("--cert and --key go together");
            std::process::exit(2);
        }
    };
    let opts = Arc::new(Opts { config, subprotocol });
    let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
        eprintln!("bind {addr}: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", listener.local_addr().expect("bound"));
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        // A task per connection, of its own type for TLS: a TLS connection's state (rustls
        // and its buffers) is many times the size of a plain one's.
        match &tls {
            Some(acc) => tokio::spawn(serve_tls(tcp, opts.clone(), acc.clone())),
            None => tokio::spawn(serve(tcp, opts.clone())),
        };
    }
}
