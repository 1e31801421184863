//! The command line of the echo server examples (`echo_server`, `echo_server_blocking`,
//! `echo_server_uring`), parsed in one place so that they take the same arguments the same
//! way (the interop and Autobahn scripts, the soak and the benchmark run them in turn):
//!
//! `ADDR [--deflate | --no-deflate] [--deflate-policy P] [--subprotocol P]`, plus
//! `--cert PEM --key PEM` and `--threads N` for the servers that take them.

// Each example uses the part it needs.
#![allow(dead_code)]

use wspc_io::{Accept, Config, DeflateConfig, DeflatePolicy, Request};

/// The options a server takes beyond the common ones.
#[derive(Clone, Copy, Default)]
pub struct Takes {
    /// `--cert PEM --key PEM`: `wss://`.
    pub tls: bool,
    /// `--threads N`.
    pub threads: bool,
}

/// What the command line asked for.
pub struct EchoArgs {
    /// Where to listen (default `127.0.0.1:9001`).
    pub addr: String,
    /// The connection settings: permessage-deflate accepted unless `--no-deflate`, with
    /// the `--deflate-policy` given, compressing every message.
    pub config: Config,
    /// The subprotocol to choose when a client offers it.
    pub subprotocol: Option<String>,
    /// `--cert` and `--key` (both or neither).
    pub tls: Option<(String, String)>,
    /// `--threads N` (1 unless given).
    pub threads: usize,
}

impl EchoArgs {
    /// Parses the process's arguments for `program`; prints the usage and exits with 2 on
    /// an argument it does not take.
    pub fn parse(program: &str, takes: Takes) -> EchoArgs {
        let usage = || -> ! {
            eprintln!(
                "usage: {program} ADDR [--deflate|--no-deflate] [--deflate-policy lean|balanced|best-ratio] [--subprotocol P]{}{}",
                if takes.tls { " [--cert PEM --key PEM]" } else { "" },
                if takes.threads { " [--threads N]" } else { "" },
            );
            std::process::exit(2)
        };
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
                "--cert" if takes.tls => cert = args.next(),
                "--key" if takes.tls => key = args.next(),
                "--threads" if takes.threads => {
                    threads = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).expect("--threads N")
                }
                _ if addr.is_none() => addr = Some(a),
                _ => usage(),
            }
        }
        let tls = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                eprintln!("--cert and --key go together");
                std::process::exit(2);
            }
        };
        // Compress every message (threshold 0): Autobahn's fuzzing client mishandles short
        // uncompressed text on a permessage-deflate connection.
        let deflate = deflate.then(|| DeflateConfig { threshold: 0, ..DeflateConfig::policy(policy) });
        EchoArgs {
            addr: addr.unwrap_or_else(|| "127.0.0.1:9001".into()),
            config: Config::default().deflate_config(deflate),
            subprotocol,
            tls,
            threads,
        }
    }

    /// The TLS configuration of `--cert`/`--key`, if given; exits with 1 when they cannot
    /// be used.
    #[cfg(feature = "tls")]
    pub fn tls_config(&self) -> Option<std::sync::Arc<rustls::ServerConfig>> {
        let (c, k) = self.tls.as_ref()?;
        Some(wspc_io::tls::server_config_from_pem_files(c, k).unwrap_or_else(|e| {
            eprintln!("TLS: {e}");
            std::process::exit(1)
        }))
    }
}

/// Accepts an upgrade, choosing `subprotocol` when the client offers it.
pub fn accept(subprotocol: Option<&str>, req: &Request) -> Result<Accept, wspc_io::Reject> {
    let mut a = Accept::default();
    if let Some(p) = subprotocol {
        if wspc_io::http::subprotocols(req).any(|o| o == p) {
            a = a.subprotocol(p);
        }
    }
    Ok(a)
}
