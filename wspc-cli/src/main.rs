//! `wspc`: the command line of the wspc WebSocket stack.
//!
//! Each subcommand lives in its own module with a clap `Args` struct and a `run` function;
//! adding one is a variant in [`Command`] and an arm in `main`.

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

mod autobahn;
// The load generator is an epoll loop: Linux only. serve and connect build everywhere.
#[cfg(target_os = "linux")]
mod bench;
mod connect;
mod exec;
mod meta;
mod reconnect;
mod relay;
mod rooms;
mod serve;
mod serve_h2;
#[cfg(target_os = "linux")]
mod serve_uring;
mod stop;
mod tcp_bridge;

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
    #[cfg(target_os = "linux")]
    Bench(bench::BenchArgs),
    /// Run a WebSocket server with a demo page on GET /: echo, chat (--broadcast), a process per connection
    /// (--exec) or a bridge to a TCP service (--to-tcp).
    Serve(serve::ServeArgs),
    /// Connect to a WebSocket server: stdin lines are sent, received messages are printed.
    Connect(connect::ConnectArgs),
    /// Run the Autobahn TestSuite client protocol against a fuzzing server (used by CI).
    AutobahnClient(autobahn::AutobahnArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    Completions(meta::CompletionsArgs),
    /// Print the manual page (roff) on stdout, or write one per subcommand into a directory.
    Man(meta::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(target_os = "linux")]
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Connect(args) => connect::run(args),
        Command::AutobahnClient(args) => autobahn::run(args),
        Command::Completions(args) => meta::completions(args, Cli::command()),
        Command::Man(args) => meta::man(args, Cli::command()),
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
