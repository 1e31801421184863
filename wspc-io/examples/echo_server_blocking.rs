//! Blocking echo server (one thread per connection).
//!
//! Usage: `echo_server_blocking ADDR [--deflate | --no-deflate] [--subprotocol P]`
//!
//! Echoes every text and binary message (up to 64 MiB), answers pings, echoes the
//! close code. permessage-deflate is accepted when a client offers it unless
//! `--no-deflate` is given (`--deflate` is the default, kept for symmetry).
//! Prints `listening on ADDR` once bound.

use std::io::Write;
use std::net::TcpListener;
use wspc_io::{blocking, Accept, Config, DeflateConfig, DeflatePolicy, Message, Request};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut deflate = true;
    let mut policy = DeflatePolicy::default();
    let mut subprotocol: Option<String> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--deflate" => deflate = true,
            "--no-deflate" => deflate = false,
            "--deflate-policy" => policy = args.next().unwrap_or_default().parse().expect("--deflate-policy"),
            "--subprotocol" => subprotocol = args.next(),
            _ if addr.is_none() => addr = Some(a),
            _ => {
                eprintln!("usage: echo_server_blocking ADDR [--deflate|--no-deflate] [--deflate-policy lean|balanced|best-ratio] [--subprotocol P]");
                std::process::exit(2);
            }
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:9001".into());
    // Compress every message (threshold 0): Autobahn's fuzzing client mishandles short
    // uncompressed text on a permessage-deflate connection.
    let deflate = deflate.then(|| DeflateConfig { threshold: 0, ..DeflateConfig::policy(policy) });
    let config = Config::default().deflate_config(deflate);
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("bind {addr}: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", listener.local_addr().expect("bound"));
    std::io::stdout().flush().ok();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let config = config.clone();
        let subprotocol = subprotocol.clone();
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let handler = |req: &Request| {
                let mut a = Accept::default();
                if let Some(p) = &subprotocol {
                    if wspc_io::http::subprotocols(req).any(|o| o == p) {
                        a = a.subprotocol(p.clone());
                    }
                }
                Ok(a)
            };
            let mut ws = match blocking::accept_with(stream, &config, handler) {
                Ok(ws) => ws,
                Err(e) => {
                    eprintln!("handshake: {e}");
                    return;
                }
            };
            loop {
                match ws.recv() {
                    // `feed` queues the echo; `recv` flushes before it blocks on a read,
                    // so a burst of messages is answered with one write.
                    Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                        if ws.feed(m).is_err() {
                            break;
                        }
                    }
                    Ok(Message::Close(_)) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let _ = ws.flush();
        });
    }
}
