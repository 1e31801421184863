//! End-to-end tests of `wspc serve --exec` and `--to-tcp`, and of `wspc connect --once` and
//! `--reconnect`, and of the generated completions and manual pages: every test runs the
//! binary (clients are wspc-io's tokio client, or `wspc connect`).
#![cfg(unix)]

mod cli_support;

use cli_support::{connect, run_wspc, Client, Server};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use wspc_io::tokio::{MaybeTlsStream, WebSocket};
use wspc_io::{CloseFrame, Message};

/// The most the server may hold at its peak while 128 MiB flow through one relay, bytes.
/// Measured at about 12 MiB (idle server about 6 MiB); buffering the flood would take
/// more than 128 MiB.
#[cfg(target_os = "linux")]
const PEAK_RSS_BOUND: u64 = 32 << 20;
/// The bytes pushed through a relay in the flood tests.
#[cfg(target_os = "linux")]
const FLOOD: usize = 128 << 20;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn client(srv: &Server) -> WebSocket<MaybeTlsStream> {
    wspc_io::tokio::connect(&srv.ws_url()).await.expect("connect").0
}

/// Receives until the close frame: the data messages' bytes and the close frame.
async fn drain(ws: &mut WebSocket<MaybeTlsStream>) -> (Vec<u8>, Option<CloseFrame>) {
    let mut data = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.recv()).await.expect("no message within 20 s") {
            Some(Ok(Message::Close(c))) => return (data, c),
            Some(Ok(m)) => data.extend_from_slice(m.as_bytes()),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn exec_cat_echoes_lines() {
    let srv = Server::start(&["--exec", "cat"]);
    let input = "hello\nhéllo wörld — 日本語 🎉\n\nlast\n";
    let out = connect(&srv.ws_url(), &[], input.as_bytes());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
    srv.wait_log("exited peer=", "exit status 0");
}

#[test]
fn exec_process_exit_closes_with_1000_after_its_output() {
    let srv = Server::start(&["--exec", "sh -c 'read l; echo \"got $l\"; echo \"$WSPC_PATH\"; exit 3'"]);
    rt().block_on(async {
        let url = format!("ws://{}/some/path?q=1", srv.addr);
        let (mut ws, _) = wspc_io::tokio::connect(&url).await.unwrap();
        ws.send(Message::text("ping")).await.unwrap();
        let (data, close) = drain(&mut ws).await;
        assert_eq!(data, b"got ping/some/path?q=1");
        let close = close.expect("a close frame");
        assert_eq!((close.code, close.reason.as_str()), (1000, "exit status 3"));
    });
    srv.wait_log("closed peer=", "code=1000 reason=\"exit status 3\" by=server");
}

#[test]
fn exec_binary_sends_raw_chunks() {
    let srv = Server::start(&["--exec", "head -c 300000 /dev/zero", "--binary"]);
    rt().block_on(async {
        let mut ws = client(&srv).await;
        let mut total = 0;
        loop {
            match ws.recv().await.expect("open").unwrap() {
                Message::Binary(b) => {
                    assert!(b.len() <= 64 << 10 && b.iter().all(|&x| x == 0));
                    total += b.len();
                }
                Message::Close(c) => {
                    assert_eq!(c.unwrap().code, 1000);
                    break;
                }
                m => panic!("unexpected {m:?}"),
            }
        }
        assert_eq!(total, 300_000);
    });
}

#[test]
fn exec_client_close_ends_the_process_after_the_grace_period() {
    // `sh` ignores SIGTERM here: the server has to kill it.
    let srv = Server::start(&["--exec", "sh -c 'trap \"\" TERM; exec sleep 30'", "--exec-grace", "0.3"]);
    let t = Instant::now();
    rt().block_on(async {
        let mut ws = client(&srv).await;
        ws.close(Some(CloseFrame::new(1000, "bye"))).await.unwrap();
    });
    srv.wait_log("exited peer=", "killed by signal 9");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(srv.log().contains("code=1000 reason=\"bye\" by=client"), "{}", srv.log());
}

#[test]
#[cfg(target_os = "linux")] // reads /proc
fn exec_ends_a_whole_pipeline() {
    let alive = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x0036.125\x00"))
    };
    let srv = Server::start(&["--exec", "sh -c 'sleep 36.125 | cat'", "--exec-grace", "0.2"]);
    rt().block_on(async {
        let mut ws = client(&srv).await;
        srv.wait_log("exec peer=", "pid=");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !alive() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(alive(), "the pipeline did not start");
        ws.close(None).await.unwrap();
    });
    srv.wait_log("exited peer=", "killed by signal 15");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(), "a member of the pipeline outlived the connection");
}

#[test]
fn exec_over_the_process_limit_is_refused_with_503() {
    let srv = Server::start(&["--exec", "sleep 30", "--max-processes", "1", "--exec-grace", "0"]);
    let mut first = Client::start(&srv.ws_url(), &[]);
    srv.wait_log("exec peer=", "pid=");
    let out = connect(&srv.ws_url(), &[], b"x\n");
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 503"), "{}", out.stderr);
    first.send_line("x");
    drop(first);
    // The slot comes back when the first connection ends.
    srv.wait_log("exited peer=", "signal");
    let out = run_wspc(&["connect", "--once", "--wait", "0.5", &srv.ws_url()], b"x", Duration::from_secs(20));
    assert!(out.stderr.contains("no reply within"), "{}", out.stderr);
}

/// A TCP server in a thread running `handle` for each connection; its address.
fn tcp_server(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let handle = std::sync::Arc::new(handle);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let h = handle.clone();
            std::thread::spawn(move || h(s));
        }
    });
    addr
}

/// Deterministic bytes that do not repeat within 16 MiB (a multiplicative hash of the offset).
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(0x9E37_79B1) >> 24) as u8 ^ (i >> 16) as u8).collect()
}

#[test]
fn to_tcp_moves_16_mib_both_ways_and_propagates_closes() {
    let (eof_tx, eof_rx) = std::sync::mpsc::channel();
    let echo = tcp_server(move |mut s| {
        let mut buf = vec![0u8; 32 << 10];
        let mut n = 0usize;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    n += k;
                    if s.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = eof_tx.send(n);
    });
    let srv = Server::start(&["--to-tcp", &echo]);
    let data = pattern(16 << 20);
    rt().block_on(async {
        let (mut rx, mut tx) = client(&srv).await.split();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            // Text and binary messages of varied sizes: all are bytes to the TCP side.
            let mut off = 0;
            let mut i = 0usize;
            while off < sent.len() {
                let len = [1, 1000, 65536, 200_000, 7][i % 5].min(sent.len() - off);
                let chunk = sent[off..off + len].to_vec();
                let m = match String::from_utf8(chunk) {
                    Ok(t) => Message::text(t),
                    Err(e) => Message::binary(e.into_bytes()),
                };
                tx.send(m).await.unwrap();
                off += len;
                i += 1;
            }
            tx
        });
        let mut got = Vec::with_capacity(data.len());
        while got.len() < data.len() {
            match rx.recv().await.expect("open").unwrap() {
                Message::Binary(b) => got.extend_from_slice(&b),
                m => panic!("unexpected {m:?}"),
            }
        }
        assert!(got == data, "the echoed 16 MiB differ");
        let mut tx = writer.await.unwrap();
        tx.close(Some(CloseFrame::new(1000, ""))).await.unwrap();
        assert!(matches!(rx.recv().await, Some(Ok(Message::Close(Some(c)))) if c.code == 1000));
    });
    // The client's close reached the TCP side as FIN.
    let n = eof_rx.recv_timeout(Duration::from_secs(10)).expect("the TCP side saw FIN");
    assert_eq!(n, 16 << 20);

    // The other way: the TCP side's FIN closes the WebSocket with 1000, after its data.
    let hello = tcp_server(|mut s| {
        let _ = s.write_all(b"hello from tcp");
    });
    let srv = Server::start(&["--to-tcp", &hello]);
    rt().block_on(async {
        let mut ws = client(&srv).await;
        let (data, close) = drain(&mut ws).await;
        assert_eq!(data, b"hello from tcp");
        assert_eq!(close.unwrap().code, 1000);
    });
}

#[test]
fn to_tcp_unreachable_is_refused_with_502() {
    let port = cli_support::free_port();
    let srv = Server::start(&["--to-tcp", &format!("127.0.0.1:{port}")]);
    let out = connect(&srv.ws_url(), &[], b"x\n");
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 502"), "{}", out.stderr);
}

#[cfg(target_os = "linux")]
/// Floods `srv` with [`FLOOD`] bytes in 1 MiB messages while the other side reads only
/// after a second; expects `reply` back, and a bounded peak.
fn flood_in(srv: &Server, reply: &[u8]) {
    let before = srv.peak_rss();
    rt().block_on(async {
        let (mut rx, mut tx) = client(srv).await.split();
        let writer = tokio::spawn(async move {
            let chunk = vec![0x5au8; 1 << 20];
            for _ in 0..FLOOD / chunk.len() {
                tx.send(Message::binary(chunk.clone())).await.unwrap();
            }
            tx
        });
        let m = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a reply").unwrap().unwrap();
        assert_eq!(m.as_bytes(), reply);
        writer.await.unwrap();
    });
    let peak = srv.peak_rss();
    eprintln!("peak RSS: {} KiB before, {} KiB after {} MiB in", before >> 10, peak >> 10, FLOOD >> 20);
    assert!(peak < PEAK_RSS_BOUND, "the server peaked at {peak} bytes relaying {FLOOD} bytes");
}

#[cfg(target_os = "linux")]
/// The client reads nothing for a second while [`FLOOD`] bytes are pushed at it, then
/// reads them all; the server's peak stays bounded.
fn flood_out(srv: &Server) {
    rt().block_on(async {
        let mut ws = client(srv).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (data, close) = drain(&mut ws).await;
        assert_eq!(data.len(), FLOOD);
        assert_eq!(close.unwrap().code, 1000);
    });
    let peak = srv.peak_rss();
    eprintln!("peak RSS: {} KiB after {} MiB out", peak >> 10, FLOOD >> 20);
    assert!(peak < PEAK_RSS_BOUND, "the server peaked at {peak} bytes relaying {FLOOD} bytes");
}

#[test]
#[cfg(target_os = "linux")] // reads /proc
fn exec_flood_is_held_back_not_buffered() {
    let srv = Server::start(&["--exec", "sh -c 'sleep 1; head -c 134217728 | wc -c'"]);
    flood_in(&srv, format!("{FLOOD}").as_bytes());
    let srv = Server::start(&["--exec", "head -c 134217728 /dev/zero", "--binary"]);
    flood_out(&srv);
}

#[test]
#[cfg(target_os = "linux")] // reads /proc
fn to_tcp_flood_is_held_back_not_buffered() {
    let slow = tcp_server(|mut s| {
        std::thread::sleep(Duration::from_secs(1));
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0usize;
        while n < FLOOD {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(k) => n += k,
            }
        }
        let _ = s.write_all(format!("{n}").as_bytes());
    });
    let srv = Server::start(&["--to-tcp", &slow]);
    flood_in(&srv, format!("{FLOOD}").as_bytes());
    let fast = tcp_server(|mut s| {
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..FLOOD >> 20 {
            if s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let srv = Server::start(&["--to-tcp", &fast]);
    flood_out(&srv);
}

#[test]
fn connect_once_prints_exactly_one_reply() {
    let srv = Server::start(&["--exec", "sh -c 'read l; echo \"got $l\"; echo second; exec sleep 5'"]);
    let out = run_wspc(&["connect", "--once", &srv.ws_url()], b"a b\n", Duration::from_secs(20));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got a b\n");
    // Against a server that closes without a reply: exit 1.
    let srv = Server::start(&["--exec", "true"]);
    let out = run_wspc(&["connect", "--once", &srv.ws_url()], b"x", Duration::from_secs(20));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("without replying"), "{}", out.stderr);
}

#[test]
fn connect_reconnect_survives_a_server_restart() {
    let srv = Server::start(&[]);
    let addr = srv.addr.clone();
    let mut c = Client::start(&srv.ws_url(), &["--reconnect"]);
    c.send_line("one");
    assert_eq!(c.next_line(), "one");
    drop(srv);
    std::thread::sleep(Duration::from_millis(300));
    let _srv = Server::start_at(&addr, &[]);
    c.send_line("two");
    assert_eq!(c.next_line(), "two");
    let out = c.finish();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("reconnecting in"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("connected to ws://{addr}/")), "{}", out.stderr);
}

#[test]
fn completions_and_man_pages_cover_the_new_options() {
    for (shell, marker) in [("bash", "_wspc()"), ("zsh", "#compdef wspc"), ("fish", "complete -c wspc")] {
        let out = run_wspc(&["completions", shell], b"", Duration::from_secs(10));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {marker:?} missing");
        assert!(script.contains("to-tcp") && script.contains("reconnect"), "{shell}: options missing");
    }
    let out = run_wspc(&["completions", "tcsh"], b"", Duration::from_secs(10));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = run_wspc(&["man"], b"", Duration::from_secs(10));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".ie") && page.contains(".TH wspc 1") && page.contains("completions"), "{page}");
    let dir = cli_support::temp_dir("man");
    let out = run_wspc(&["man", "--dir", dir.to_str().unwrap()], b"", Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let serve = std::fs::read_to_string(dir.join("wspc-serve.1")).expect("wspc-serve.1");
    assert!(serve.contains("exec") && serve.contains("max\\-processes"), "{serve}");
    assert!(dir.join("wspc-connect.1").exists() && dir.join("wspc.1").exists());
    let _ = std::fs::remove_dir_all(dir);
}
