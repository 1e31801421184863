//! Echo server on io_uring (Linux): the same server as `echo_server`, on the completion
//! driver (`wspc_io::uring`) instead of tokio.
//!
//! Usage: `echo_server_uring ADDR [--deflate | --no-deflate] [--deflate-policy P]
//! [--subprotocol P] [--cert PEM --key PEM] [--threads N]`
//!
//! Echoes every text and binary message (up to 64 MiB), answers pings, echoes the close
//! code. permessage-deflate is accepted when a client offers it unless `--no-deflate` is
//! given. Prints `listening on ADDR` once bound. One thread by default (like the other
//! servers of the benchmark suite); `--threads N` runs N, each with its own ring and
//! `SO_REUSEPORT` listener. SIGINT or SIGTERM closes every connection with 1001 and exits.
//! With `--cert`/`--key` it serves `wss://` (rustls driven from the ring).

use wspc_io::uring::{Conn, Handler, Server};
use wspc_io::{Accept, Config, DeflateConfig, DeflatePolicy, Message, Request};

struct Echo {
    subprotocol: Option<String>,
}

impl Handler for Echo {
    fn accept(&mut self, req: &Request) -> Result<Accept, wspc_io::Reject> {
        let mut a = Accept::default();
        if let Some(p) = &self.subprotocol {
            if wspc_io::http::subprotocols(req).any(|o| o == p) {
                a = a.subprotocol(p.clone());
            }
        }
        Ok(a)
    }

    fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message) {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            // Queued: the replies of one loop turn go out in one write per connection.
            let _ = conn.send(msg);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut deflate = true;
    let mut policy = DeflatePolicy::default();
    let mut subprotocol = None;
    let mut threads = 1usize;
    let (mut cert, mut key) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--deflate" => deflate = true,
            "--no-deflate" => deflate = false,
            "--deflate-policy" => policy = args.next().unwrap_or_default().parse().expect("--deflate-policy"),
            "--subprotocol" => subprotocol = args.next(),
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).expect("--threads N"),
            "--cert" => cert = args.next(),
            "--key" => key = args.next(),
            _ if addr.is_none() => addr = Some(a),
            _ => {
                eprintln!("usage: echo_server_uring ADDR [--deflate|--no-deflate] [--deflate-policy lean|balanced|best-ratio] [--subprotocol P] [--cert PEM --key PEM] [--threads N]");
                std::process::exit(2);
            }
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:9001".into());
    // Compress every message (threshold 0), as `echo_server` does.
    let deflate = deflate.then(|| DeflateConfig { threshold: 0, ..DeflateConfig::policy(policy) });
    let config = Config::default().deflate_config(deflate);
    let mut server = Server::bind(&addr, config, threads).unwrap_or_else(|e| {
        eprintln!("bind {addr}: {e}");
        std::process::exit(1)
    });
    match (cert, key) {
        (Some(c), Some(k)) => {
            let cfg = wspc_io::tls::server_config_from_pem_files(c, k).unwrap_or_else(|e| {
                eprintln!("TLS: {e}");
                std::process::exit(1)
            });
            server = server.tls(cfg);
        }
        (None, None) => {}
        _ => {
            eprintln!("--cert and --key go together");
            std::process::exit(2);
        }
    }
    println!("listening on {}", server.local_addr());
    // SIGINT and SIGTERM: close every connection with 1001, then exit.
    if let Err(e) = server.stop_on_signals() {
        eprintln!("signals: {e}");
    }
    let r = server.run(|| Echo { subprotocol: subprotocol.clone() });
    if let Err(e) = r {
        eprintln!("server: {e}");
        std::process::exit(1);
    }
}
