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

mod echo_args;

use echo_args::{EchoArgs, Takes};
use wspc_io::uring::{Conn, Handler, Server};
use wspc_io::{Accept, Message, Request};

struct Echo {
    subprotocol: Option<String>,
}

impl Handler for Echo {
    fn accept(&mut self, req: &Request) -> Result<Accept, wspc_io::Reject> {
        echo_args::accept(self.subprotocol.as_deref(), req)
    }

    fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message) {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            // Queued: the replies of one loop turn go out in one write per connection.
            let _ = conn.send(msg);
        }
    }
}

fn main() {
    let args = EchoArgs::parse("echo_server_uring", Takes { tls: true, threads: true });
    let tls = args.tls_config();
    let addr = args.addr;
    let mut server = Server::bind(&addr, args.config, args.threads).unwrap_or_else(|e| {
        eprintln!("bind {addr}: {e}");
        std::process::exit(1)
    });
    if let Some(cfg) = tls {
        server = server.tls(cfg);
    }
    println!("listening on {}", server.local_addr());
    // SIGINT and SIGTERM: close every connection with 1001, then exit.
    if let Err(e) = server.stop_on_signals() {
        eprintln!("signals: {e}");
    }
    let subprotocol = args.subprotocol;
    let r = server.run(|| Echo { subprotocol: subprotocol.clone() });
    if let Err(e) = r {
        eprintln!("server: {e}");
        std::process::exit(1);
    }
}
