//! Echo throughput of N WebSockets multiplexed on one HTTP/2 connection (RFC 8441) against
//! N WebSockets on N HTTP/1.1 connections, both over TLS to the same in-process wspc
//! server, in interleaved rounds; prints a Markdown section (used by
//! `benches/http2_ratio.sh`, which puts it in BENCHMARKS.md).
//!
//! Usage: h2_ratio [--conns 16] [--size 1024] [--depth 4] [--secs 2] [--rounds 5]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use wspc_io::h2::{self as wh2, Incoming, ServerConnection};
use wspc_io::tokio::WebSocket;
use wspc_io::{tls, ClientOptions, Config, Message};

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) {
    while let Some(Ok(m)) = ws.recv().await {
        if m.is_data() && ws.feed(m).await.is_err() {
            break;
        }
    }
}

/// Messages echoed per second by `ws` together, `depth` in flight each, for `secs`.
async fn measure<S>(sockets: Vec<WebSocket<S>>, size: usize, depth: usize, secs: f64) -> f64
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let msg: Vec<u8> = (0..size).map(|k| (k + i) as u8).collect();
            for _ in 0..depth {
                ws.feed(Message::binary(msg.clone())).await.unwrap();
            }
            ws.flush().await.unwrap();
            let mut n = 0u64;
            while Instant::now() < end {
                let m = ws.recv().await.unwrap().unwrap();
                assert_eq!(m.as_bytes(), &msg[..], "echo differs");
                n += 1;
                ws.send(Message::binary(msg.clone())).await.unwrap();
            }
            done.fetch_add(n, Ordering::Relaxed);
            let _ = ws.close(None).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let conns = arg(&args, "--conns", 16.0) as usize;
    let size = arg(&args, "--size", 1024.0) as usize;
    let depth = arg(&args, "--depth", 4.0) as usize;
    let secs = arg(&args, "--secs", 2.0);
    let rounds = arg(&args, "--rounds", 5.0) as usize;

    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let base = tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let acceptor = wspc_io::tokio::tls_acceptor(wh2::server_config_h2(&base));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let config = Config::default();
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    if let Ok(ws) = wspc_io::tokio::accept_with(tls, &config, |_: &_| Ok(Default::default())).await {
                        echo(ws).await;
                    }
                    return;
                }
                let mut conn = ServerConnection::handshake(tls, &config).await.unwrap();
                while let Some(Ok(inc)) = conn.accept().await {
                    if let Incoming::WebSocket(r) = inc {
                        if let Ok(ws) = r.accept_with(&config, |_: &_| Ok(Default::default())) {
                            tokio::spawn(echo(ws));
                        }
                    }
                }
            });
        }
    });
    let opts = ClientOptions::default().tls(tls::client_config_with_ca(cert.as_bytes()).unwrap());
    let url = format!("wss://localhost:{port}/");

    let mut ratios = Vec::new();
    let mut rows = Vec::new();
    for round in 0..rounds {
        let mut h2 = 0.0;
        let mut h1 = 0.0;
        // Interleaved: the order alternates from round to round.
        for which in if round % 2 == 0 { [true, false] } else { [false, true] } {
            if which {
                let (first, _, conn) = wh2::connect_with(&url, &opts, true).await.unwrap();
                let conn = conn.expect("h2");
                let mut v = vec![first];
                for _ in 1..conns {
                    v.push(conn.open_websocket("/", &opts).await.unwrap().0.into_transport());
                }
                h2 = measure(v, size, depth, secs).await;
            } else {
                let mut v = Vec::new();
                for _ in 0..conns {
                    v.push(wh2::connect_with(&url, &opts, false).await.unwrap().0);
                }
                h1 = measure(v, size, depth, secs).await;
            }
        }
        rows.push(format!("| {} | {:.0} | {:.0} | {:.2} |", round + 1, h2, h1, h2 / h1));
        ratios.push(h2 / h1);
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = sorted[sorted.len() / 2];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!("## WebSockets over HTTP/2 vs HTTP/1.1 (RFC 8441)");
    println!();
    println!(
        "Generated by `benches/http2_ratio.sh` (`wspc-io/examples/h2_ratio.rs`): {conns} WebSockets multiplexed \
         on one TLS HTTP/2 connection against {conns} WebSockets on {conns} TLS HTTP/1.1 connections, to the \
         same in-process wspc echo server (tokio, 2 worker threads, client and server in one process); {size} B \
         binary messages, {depth} in flight per WebSocket, every echo checked; {secs} s per measurement, \
         {rounds} rounds, the two transports alternating which goes first."
    );
    println!();
    println!(
        "**Ratio h2 / HTTP/1.1 (messages per second): median {median:.2}, spread {:.2}–{:.2}.** The machine was \
         loaded (2 cores shared with other builds; load average at the end {}), so the rates are noisy; only the \
         ratio of interleaved rounds is meaningful.",
        sorted[0],
        sorted[sorted.len() - 1],
        load.join(" ")
    );
    println!();
    println!("| round | h2 msg/s | HTTP/1.1 msg/s | ratio |");
    println!("|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
}
