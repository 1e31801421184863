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

mod echo_args;

use echo_args::{EchoArgs, Takes};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use wspc_io::tokio::WebSocket;
use wspc_io::{Accept, Config, Message, Request};

struct Opts {
    config: Config,
    subprotocol: Option<String>,
}

fn handler(opts: &Opts) -> impl FnOnce(&Request) -> Result<Accept, wspc_io::Reject> + '_ {
    move |req: &Request| echo_args::accept(opts.subprotocol.as_deref(), req)
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
    let args = EchoArgs::parse("echo_server", Takes { tls: true, threads: false });
    let tls = args.tls_config().map(wspc_io::tokio::tls_acceptor);
    let addr = args.addr;
    let opts = Arc::new(Opts { config: args.config, subprotocol: args.subprotocol });
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
