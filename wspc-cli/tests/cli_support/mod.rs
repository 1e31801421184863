//! Helpers for the end-to-end tests: run `wspc` with a timeout, a `wspc serve` on a free
//! port (its log collected), interactive `wspc connect` clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn wspc() -> &'static str {
    env!("CARGO_BIN_EXE_wspc")
}

/// What a finished run left.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Stdout bytes.
    pub stdout: Vec<u8>,
    /// Stderr text.
    pub stderr: String,
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `wspc ARGS` with `stdin` as its input (then closed); panics after `timeout`.
pub fn run_wspc(args: &[&str], stdin: &[u8], timeout: Duration) -> Output {
    let mut child = Command::new(wspc())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wspc");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    let Some(status) = wait_child(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
        panic!("wspc {args:?} did not finish within {timeout:?}; stderr: {stderr}");
    };
    let _ = writer.join();
    Output {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

/// `wspc connect EXTRA... URL` fed with `stdin`; `--wait 20` unless EXTRA has a `--wait`
/// (the client stops waiting as soon as every echo is in: this only matters on a loaded
/// machine).
pub fn connect(url: &str, extra: &[&str], stdin: &[u8]) -> Output {
    let mut args = vec!["connect"];
    if !extra.contains(&"--wait") {
        args.extend_from_slice(&["--wait", "20"]);
    }
    args.extend_from_slice(extra);
    args.push(url);
    run_wspc(&args, stdin, Duration::from_secs(30))
}

/// A port nobody listens on (just released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let d = std::env::temp_dir().join(format!("wspc-cli-test-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running `wspc serve 127.0.0.1:0 ARGS...`; killed on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the server and waits for its "listening on" line.
    pub fn start(args: &[&str]) -> Server {
        Self::start_at("127.0.0.1:0", args)
    }

    /// Starts the server on `addr` and waits for its "listening on" line.
    pub fn start_at(addr: &str, args: &[&str]) -> Server {
        Self::start_with(addr, args, |_| {})
    }

    /// Starts the server on `addr`, its command first given to `setup` (a `pre_exec`, say),
    /// and waits for its "listening on" line.
    pub fn start_with(addr: &str, args: &[&str], setup: impl FnOnce(&mut Command)) -> Server {
        let mut cmd = Command::new(wspc());
        cmd.arg("serve")
            .arg(addr)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        let mut child = cmd.spawn().expect("spawn wspc serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                {
                    let mut g = l2.lock().unwrap();
                    g.push_str(&line);
                    g.push('\n');
                }
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").trim_end_matches(':').to_string();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("wspc serve {args:?} did not listen: {}", log.lock().unwrap());
            }
        };
        Server { child, addr, log }
    }

    /// `ws://ADDR/`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_until(&self, what: &str, f: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if f(&self.log()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server log never showed {what}:\n{}", self.log());
    }

    /// Waits for a log line containing both `a` and `b`.
    pub fn wait_log(&self, a: &str, b: &str) {
        self.wait_until(&format!("{a:?} with {b:?}"), |log| log.lines().any(|l| l.contains(a) && l.contains(b)));
    }

    /// Waits for `n` log lines containing `needle`.
    pub fn wait_count(&self, needle: &str, n: usize) {
        self.wait_until(&format!("{n} x {needle:?}"), |log| log.lines().filter(|l| l.contains(needle)).count() >= n);
    }

    /// The server's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
        let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmHWM value");
        kib << 10
    }

    /// Sends SIGINT (what Ctrl-C sends).
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
    }

    /// Waits for the exit; the exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let st =
            wait_child(&mut self.child, timeout).unwrap_or_else(|| panic!("server still running:\n{}", self.log()));
        // Let the log reader catch up with the last lines.
        std::thread::sleep(Duration::from_millis(100));
        st.code()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `wspc connect` whose stdin stays open: lines are sent one by one and its stdout read
/// line by line.
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Client {
    /// `wspc connect EXTRA... URL`.
    pub fn start(url: &str, extra: &[&str]) -> Client {
        let mut child = Command::new(wspc())
            .arg("connect")
            .args(extra)
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wspc connect");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(reader(child.stderr.take().unwrap()));
        Client { stdin: child.stdin.take(), child, lines, stderr }
    }

    /// Sends one line.
    pub fn send_line(&mut self, s: &str) {
        let w = self.stdin.as_mut().expect("stdin open");
        w.write_all(format!("{s}\n").as_bytes()).unwrap();
        w.flush().unwrap();
    }

    /// The next line printed that is not a room's presence message.
    pub fn next_chat_line(&mut self) -> String {
        loop {
            let l = self.next_line();
            if !l.starts_with("{\"wspc\":\"presence\"") {
                return l;
            }
        }
    }

    /// The next line printed (10 s at most).
    pub fn next_line(&mut self) -> String {
        self.lines.recv_timeout(Duration::from_secs(10)).expect("a line from wspc connect within 10 s")
    }

    fn collect(&mut self, timeout: Duration) -> Output {
        let status = wait_child(&mut self.child, timeout);
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let stderr = String::from_utf8_lossy(&self.stderr.take().unwrap().join().unwrap()).into_owned();
        let status = status.unwrap_or_else(|| panic!("wspc connect did not exit within {timeout:?}; stderr: {stderr}"));
        Output { code: status.code(), stdout: Vec::new(), stderr }
    }

    /// Closes stdin and waits for the exit.
    pub fn finish(mut self) -> Output {
        self.stdin = None;
        self.collect(Duration::from_secs(15))
    }

    /// Waits for the exit with stdin still open.
    pub fn wait_exit_without_closing_stdin(mut self, timeout: Duration) -> Output {
        self.collect(timeout)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
