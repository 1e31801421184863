//! Blocking echo server (one thread per connection).
//!
//! Usage: `echo_server_blocking ADDR [--deflate | --no-deflate] [--subprotocol P]`
//!
//! Echoes every text and binary message (up to 64 MiB), answers pings, echoes the
//! close code. permessage-deflate is accepted when a client offers it unless
//! `--no-deflate` is given (`--deflate` is the default, kept for symmetry).
//! Prints `listening on ADDR` once bound.

mod echo_args;

use echo_args::{EchoArgs, Takes};
use std::io::Write;
use std::net::TcpListener;
use wspc_io::{blocking, Message, Request};

fn main() {
    let args = EchoArgs::parse("echo_server_blocking", Takes::default());
    let (addr, config, subprotocol) = (args.addr, args.config, args.subprotocol);
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
            let handler = |req: &Request| echo_args::accept(subprotocol.as_deref(), req);
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
