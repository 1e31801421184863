//! `wspc serve --exec CMD`: one process per WebSocket.
//!
//! The command line is split into words with `shlex` (POSIX shell quoting) and the program
//! is started directly, without a shell: no word splitting surprises, no shell injection
//! through the configuration, and `sh -c '...'` when a shell is wanted. The process gets
//! `WSPC_PEER` (the client's address) and `WSPC_PATH` (the request target) in its
//! environment; its stderr is the server's.
//!
//! Ends: the process exits -> its stdout is sent to the end, then close 1000 with the exit
//! status as the reason. The client closes -> the process's stdin and stdout are closed;
//! it has `--exec-grace` to exit, then gets SIGTERM, then after another grace period is
//! killed. A failed connection or a server shutdown (close 1001) ends the process the same
//! way. On Unix each process leads its own process group and the signals go to the group,
//! so `sh -c 'a | b'` ends whole; a connection task dropped at the end of the shutdown
//! grace kills the group at once.

use crate::relay::{self, Framing, OutEnd};
use crate::stop::{Conns, Stop};
use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{Child, Command};
use tracing::{info, warn};
use wspc_io::tokio::WebSocket;
use wspc_io::CloseFrame;

/// The command to run for each connection.
#[derive(Debug)]
pub struct Exec {
    program: String,
    args: Vec<String>,
    framing: Framing,
    grace: Duration,
}

impl Exec {
    /// Splits `cmd` into a program and its arguments.
    pub fn parse(cmd: &str, binary: bool, grace: Duration) -> Result<Exec, String> {
        let words = shlex::split(cmd).ok_or_else(|| format!("--exec {cmd:?}: unbalanced quotes"))?;
        let Some((program, args)) = words.split_first() else {
            return Err("--exec needs a command".into());
        };
        let framing = if binary { Framing::Chunks } else { Framing::Lines };
        Ok(Exec { program: program.clone(), args: args.to_vec(), framing, grace })
    }

    /// The command, quoted back, for the log.
    pub fn describe(&self) -> String {
        let words = std::iter::once(&self.program).chain(&self.args).map(|w| w.as_str());
        shlex::try_join(words).unwrap_or_else(|_| self.program.clone())
    }

    /// Runs the process for one WebSocket until either ends.
    pub(crate) async fn run<S>(&self, ws: WebSocket<S>, peer: SocketAddr, path: &str, conns: &Conns)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut stop = Stop::new(conns);
        let mut cmd = Command::new(&self.program);
        #[cfg(unix)]
        cmd.process_group(0);
        let spawned = cmd
            .args(&self.args)
            .env("WSPC_PEER", peer.to_string())
            .env("WSPC_PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => Process(c),
            Err(e) => {
                warn!("peer={peer}: cannot start {:?}: {e}", self.program);
                let mut ws = ws;
                let _ = ws.close(Some(CloseFrame::new(1011, "cannot start the command"))).await;
                info!("closed peer={peer} code=1011 reason=\"cannot start the command\" by=server");
                return;
            }
        };
        let pid = child.0.id().unwrap_or(0);
        info!("exec peer={peer} pid={pid}");
        let (Some(stdin), Some(mut stdout)) = (child.0.stdin.take(), child.0.stdout.take()) else {
            unreachable!("both pipes were asked for")
        };
        let (mut rx, mut tx) = ws.split();
        let shutdown = || CloseFrame::new(1001, "server shutting down");
        let (client, frame) = {
            let inbound = relay::ws_to_writer(&mut rx, stdin, true);
            let outbound = async {
                let out = relay::reader_to_ws(&mut stdout, &mut tx, self.framing).await;
                if !matches!(out, OutEnd::Eof) {
                    return relay::close_after(peer, &out, String::new());
                }
                // Everything it printed is sent: the connection closes when it exits.
                match child.0.wait().await {
                    Ok(st) => CloseFrame::new(1000, describe_exit(&st)),
                    Err(e) => relay::close_after(peer, &OutEnd::ReadFailed(e), String::new()),
                }
            };
            tokio::select! {
                e = inbound => (Some(e), shutdown()),
                f = outbound => (None, f),
                _ = stop.stopped() => (None, shutdown()),
            }
        };
        // The process's stdin closed when `inbound` was dropped; now its stdout.
        drop(stdout);
        relay::finish(rx, tx, peer, client, frame).await;
        let status = terminate(&mut child, self.grace).await;
        info!(
            "exited peer={peer} pid={pid} {}",
            status.map(|s| describe_exit(&s)).unwrap_or_else(|| "(unknown)".into())
        );
    }
}

/// `exit status 0`, `killed by signal 15`.
fn describe_exit(st: &ExitStatus) -> String {
    if let Some(c) = st.code() {
        return format!("exit status {c}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(s) = st.signal() {
            return format!("killed by signal {s}");
        }
    }
    st.to_string()
}

/// A process started in its own process group (Unix). Dropped before it was reaped, it
/// kills the group; elsewhere tokio's `kill_on_drop` kills the process.
struct Process(Child);

impl Process {
    /// Sends `signal` to the process group. False once the process was reaped.
    #[cfg(unix)]
    fn signal_group(&self, signal: libc::c_int) -> bool {
        let Some(pid) = self.0.id() else { return false };
        // SAFETY: kill(2) on the group our child leads (`process_group(0)`); the child is not
        // reaped (`id` is Some), so its pid, which is the group id, cannot have been reused.
        unsafe { libc::kill(-(pid as libc::pid_t), signal) };
        true
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        #[cfg(unix)]
        self.signal_group(libc::SIGKILL);
    }
}

/// Waits `grace` for the process to exit, then asks it to (SIGTERM to its group; on other
/// systems it is killed), then kills the group after another `grace`.
async fn terminate(p: &mut Process, grace: Duration) -> Option<ExitStatus> {
    if let Ok(st) = tokio::time::timeout(grace, p.0.wait()).await {
        return st.ok();
    }
    #[cfg(unix)]
    if p.signal_group(libc::SIGTERM) {
        if let Ok(st) = tokio::time::timeout(grace, p.0.wait()).await {
            return st.ok();
        }
        p.signal_group(libc::SIGKILL);
    }
    let _ = p.0.start_kill();
    p.0.wait().await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_split_without_a_shell() {
        let e = Exec::parse("sh -c 'echo \"a b\"; cat'", false, Duration::ZERO).unwrap();
        assert_eq!(e.program, "sh");
        assert_eq!(e.args, ["-c", "echo \"a b\"; cat"]);
        assert_eq!(e.framing, Framing::Lines);
        let e = Exec::parse(r"tr a\ b x", true, Duration::ZERO).unwrap();
        assert_eq!(e.args, ["a b", "x"]);
        assert_eq!(e.framing, Framing::Chunks);
        assert!(Exec::parse("", false, Duration::ZERO).is_err());
        assert!(Exec::parse("echo 'open", false, Duration::ZERO).is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_process_ignoring_sigterm_is_killed() {
        let spawn = |sh: &str| Process(Command::new("sh").args(["-c", sh]).process_group(0).spawn().expect("sh"));
        let mut child = spawn("trap '' TERM; exec sleep 30");
        let t = std::time::Instant::now();
        let st = terminate(&mut child, Duration::from_millis(200)).await.expect("status");
        assert!(!st.success());
        assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
        let mut polite = spawn("exec sleep 30");
        let st = terminate(&mut polite, Duration::from_millis(100)).await.expect("status");
        assert_eq!(describe_exit(&st), "killed by signal 15");
    }
}
