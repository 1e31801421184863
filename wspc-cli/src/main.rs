//! `wspc`: the command line of the wspc WebSocket stack.
//!
//! Each subcommand lives in its own module with a clap `Args` struct and a `run` function;
//! adding one is a variant in [`Command`] and an arm in `main`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod autobahn;
mod bench;
mod connect;
mod rooms;
mod serve;

/// wspc: tools around the wspc WebSocket engine.
#[derive(Parser, Debug)]
#[command(name = "wspc", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load-test a WebSocket echo server (ws:// only): throughput, latency, every echo checked.
    Bench(bench::BenchArgs),
    /// Run a WebSocket echo server (or a chat with --broadcast) with a demo page on GET /.
    Serve(serve::ServeArgs),
    /// Connect to a WebSocket server: stdin lines are sent, received messages are printed.
    Connect(connect::ConnectArgs),
    /// Run the Autobahn TestSuite client protocol against a fuzzing server (used by CI).
    AutobahnClient(autobahn::AutobahnArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Connect(args) => connect::run(args),
        Command::AutobahnClient(args) => autobahn::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wspc: {e}");
            ExitCode::from(2)
        }
    }
}

/// The error type of subcommands.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
