//! `wspc connect --once` (a one-shot probe) and `wspc connect --reconnect` (a client that
//! outlives server restarts).

use crate::connect::{
    connect_error, describe_close, exit_status, fail, print_connected, render, session, to_message, ConnectArgs, End,
    Outcome, EXIT_FAILED, EXIT_USAGE,
};
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use wspc_io::{ClientOptions, CloseFrame, Message};

/// `--wait` with --once.
const ONCE_WAIT: Duration = Duration::from_secs(10);
/// The first reconnection delay.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// The longest reconnection delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// `--once`: all of stdin as one message, the first message received on stdout.
pub async fn once(args: &ConnectArgs, opts: &ClientOptions) -> ExitCode {
    let limit = args.max_message_size.0.unwrap_or(u64::MAX);
    let mut input = Vec::new();
    if let Err(e) = tokio::io::stdin().take(limit.saturating_add(1)).read_to_end(&mut input).await {
        return fail(EXIT_USAGE, format!("reading stdin: {e}"));
    }
    if input.len() as u64 > limit {
        return fail(EXIT_USAGE, format!("stdin is larger than --max-message-size ({limit} bytes)"));
    }
    if input.last() == Some(&b'\n') {
        input.pop();
    }
    let (mut ws, resp) = match crate::connect::open(args, opts).await {
        Ok(c) => c,
        Err(e) => {
            let (code, msg) = connect_error(&args.url, &e);
            return fail(code, msg);
        }
    };
    print_connected(args, ws.subprotocol(), &resp, false);
    let wait = args.wait.unwrap_or(ONCE_WAIT);
    let reply = tokio::time::timeout(wait, async {
        ws.send(to_message(input, args.binary)).await.map_err(|e| End::Failed(e.to_string()))?;
        loop {
            match ws.recv().await {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => return Ok(m),
                Some(Ok(Message::Close(c))) => return Err(End::Closed(Some(c))),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(End::Failed(e.to_string())),
                None => return Err(End::Closed(None)),
            }
        }
    })
    .await;
    match reply {
        Ok(Ok(m)) => {
            let _ = ws.close(Some(CloseFrame::new(1000, ""))).await;
            let bytes = render(&m, args.binary).expect("a data message");
            let mut out = tokio::io::stdout();
            let _ = out.write_all(&bytes).await;
            let _ = out.flush().await;
            ExitCode::SUCCESS
        }
        Ok(Err(End::Closed(Some(Some(f))))) if !matches!(f.code, 1000 | 1001) => fail(EXIT_FAILED, describe_close(&f)),
        Ok(Err(End::Closed(_))) => fail(EXIT_FAILED, "the server closed the connection without replying"),
        Ok(Err(end)) => exit_status(end),
        Err(_) => {
            let _ = ws.close(Some(CloseFrame::new(1000, ""))).await;
            fail(EXIT_FAILED, format!("no reply within {wait:?}"))
        }
    }
}

/// `--reconnect`: sessions until the end of input (or Ctrl-C), reconnecting in between.
pub async fn run(
    args: &ConnectArgs,
    opts: &ClientOptions,
    lines: &mut mpsc::Receiver<Vec<u8>>,
    interactive: bool,
) -> ExitCode {
    let mut backoff = Backoff::new();
    let mut args = args.clone();
    loop {
        let why = match session(&args, opts, lines, interactive).await {
            // A bad URL or option does not get better by retrying.
            Outcome::NotConnected(EXIT_USAGE, msg) => return fail(EXIT_USAGE, msg),
            Outcome::NotConnected(_, msg) => msg,
            Outcome::Ended { end, input_done: true } => return exit_status(end),
            Outcome::Ended { end, input_done: false } => {
                // It was connected: start again from the shortest delay.
                backoff = Backoff::new();
                match end {
                    End::Closed(Some(Some(f))) => describe_close(&f),
                    End::Closed(_) => "the server closed the connection".into(),
                    End::Failed(e) => format!("connection failed: {e}"),
                    End::Open => "the connection ended".into(),
                }
            }
        };
        // From now on each successful connection is reported ("connected to ...").
        args.verbose = true;
        let delay = backoff.next_delay();
        eprintln!("wspc: {why}; reconnecting in {:.1}s", delay.as_secs_f64());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        }
    }
}

/// Exponential backoff with jitter: the n-th delay is drawn from [d/2, d] where d doubles
/// from [`BACKOFF_FIRST`] up to [`BACKOFF_MAX`].
struct Backoff {
    ceiling: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { ceiling: BACKOFF_FIRST }
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.ceiling;
        self.ceiling = (self.ceiling * 2).min(BACKOFF_MAX);
        d / 2 + d.mul_f64(random_unit() / 2.0)
    }
}

/// A number in [0, 1) from the standard library's random hash keys (no RNG crate for one
/// jitter value per reconnection).
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new();
        let mut ceiling = BACKOFF_FIRST;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..12 {
            let d = b.next_delay();
            assert!(d >= ceiling / 2 && d <= ceiling, "{d:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
            seen.insert(d);
            ceiling = (ceiling * 2).min(BACKOFF_MAX);
        }
        assert_eq!(b.ceiling, BACKOFF_MAX);
        assert!(seen.len() > 6, "jitter varies the delays: {seen:?}");
        let r: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(r.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(r.iter().any(|&x| x < 0.5) && r.iter().any(|&x| x >= 0.5));
    }
}
