//! End-to-end tests of `wspc serve` and `wspc connect` (and `wspc bench` against `serve`):
//! every test runs the binary.
#![cfg(unix)] // the helpers signal the server

mod cli_support;

use cli_support::{connect, free_port, run_wspc, Server};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

#[test]
fn serve_and_connect_echo_lines_in_a_pipe() {
    let srv = Server::start(&[]);
    let input = "hello\nhéllo wörld — Ωμέγα — 日本語 — 🎉🚀\n\ntab\tseparated\n";
    let out = connect(&srv.ws_url(), &[], input.as_bytes());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, input.as_bytes(), "stderr: {}", out.stderr);
    assert!(out.stderr.is_empty(), "a pipe run prints nothing on stderr: {}", out.stderr);
    srv.wait_log("closed peer=", "code=1000");
    assert!(srv.log().contains("path=/ subprotocol=none"), "{}", srv.log());
}

#[test]
fn last_line_without_newline_and_many_lines() {
    let srv = Server::start(&[]);
    let mut input = String::new();
    for i in 0..300 {
        input.push_str(&format!("line {i} {}\n", "x".repeat(i)));
    }
    input.push_str("no newline at the end");
    let out = connect(&srv.ws_url(), &[], input.as_bytes());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{input}\n"));
}

#[test]
fn binary_mode_sends_and_prints_raw_bytes() {
    let srv = Server::start(&[]);
    let input: &[u8] = b"\x00\x01\xff raw\nsecond\n";
    let out = connect(&srv.ws_url(), &["--binary"], input);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(out.stdout, input);
}

#[test]
fn bad_url_exits_2_with_one_line() {
    for url in ["ftp://example.com/", "ws://:80/", "ws://127.0.0.1:99999/", "not a url"] {
        let out = connect(url, &[], b"");
        assert_eq!(out.code, Some(2), "{url}: {}", out.stderr);
        assert!(out.stderr.starts_with("wspc: bad URL"), "{url}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let out = connect("ws://127.0.0.1:9/", &["-H", "no colon"], b"");
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("NAME:VALUE"), "{}", out.stderr);
}

#[test]
fn refused_connection_exits_3() {
    let port = free_port();
    let out = connect(&format!("ws://127.0.0.1:{port}/"), &[], b"hi\n");
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.starts_with("wspc: cannot connect to"), "{}", out.stderr);
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// A one-shot TCP server answering every connection with `reply` (after reading the request head).
fn fake_server(reply: &'static [u8]) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            let _ = s.write_all(reply);
        }
    });
    addr.to_string()
}

#[test]
fn handshake_failure_exits_4_with_the_status() {
    let addr =
        fake_server(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n");
    let out = connect(&format!("ws://{addr}/missing"), &[], b"hi\n");
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.starts_with("wspc: handshake failed"), "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 404 Not Found"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // Not an HTTP server at all.
    let addr = fake_server(b"SSH-2.0-OpenSSH_9.2p1\r\n\r\n");
    let out = connect(&format!("ws://{addr}/"), &[], b"hi\n");
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.starts_with("wspc: handshake failed"), "{}", out.stderr);
}

#[test]
fn tls_to_a_plain_server_exits_5() {
    let srv = Server::start(&[]);
    let out = connect(&format!("wss://{}/", srv.addr), &[], b"hi\n");
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(out.stderr.starts_with("wspc: TLS error"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn wss_with_ca_insecure_and_untrusted() {
    for io in ["tokio", "uring"] {
        wss_on(io);
    }
}

fn wss_on(io: &str) {
    let dir = cli_support::temp_dir("tls");
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let srv = Server::start(&["--tls-cert", cert_arg, "--tls-key", key_arg, "--io", io]);
    assert!(srv.log().contains("wss://"), "{}", srv.log());
    // The driver asked for serves TLS itself (no fallback to tokio).
    assert_eq!(srv.log().contains("io_uring, "), io == "uring", "{}", srv.log());
    let url = format!("wss://localhost:{}/", srv.port());

    let out = connect(&url, &["--ca", cert_path.to_str().unwrap()], "sécurisé\n".as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "sécurisé\n".as_bytes());

    let out = connect(&url, &["--insecure"], b"any cert\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, b"any cert\n");

    // The web PKI roots do not know this certificate.
    let out = connect(&url, &[], b"x\n");
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(out.stderr.contains("TLS error"), "{}", out.stderr);

    // The page over https://, to a client offering h2 and http/1.1 by ALPN: tokio chooses
    // h2 (its page then comes over HTTP/2), io_uring http/1.1.
    let ca = cert.pem().into_bytes();
    let (alpn, _) = https_get(&srv.addr, &ca, &[b"h2", b"http/1.1"], "");
    let want: &[u8] = if io == "uring" { b"http/1.1" } else { b"h2" };
    assert_eq!(alpn.as_deref(), Some(want), "{io}");
    let (alpn, page) = https_get(&srv.addr, &ca, &[b"http/1.1"], "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n") && page.contains("<title>wspc demo"), "{io}: {page}");
    // A client offering HTTP/2 gets it from tokio (RFC 8441); io_uring offers only
    // http/1.1 by ALPN, so the same client falls back to an HTTP/1.1 upgrade.
    let out = connect(&url, &["--http2", "-v", "--ca", cert_arg], "über h2?\n".as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "über h2?\n".as_bytes());
    let expect = if io == "uring" { "protocol: HTTP/1.1" } else { "protocol: HTTP/2 (extended CONNECT)" };
    assert!(out.stderr.contains(expect), "{io}: {}", out.stderr);
    srv.wait_count("connected peer=", 3);
}

/// A TLS connection to `addr` (certificate name `localhost`, trusting `ca_pem`) offering
/// `alpn`: the protocol the server chose, and its answer to `request` (nothing is read
/// when the request is empty).
fn https_get(addr: &str, ca_pem: &[u8], alpn: &[&[u8]], request: &str) -> (Option<Vec<u8>>, String) {
    let mut cfg = (*wspc_io::tls::client_config_with_ca(ca_pem).unwrap()).clone();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
    }
    let alpn = tls.conn.alpn_protocol().map(|p| p.to_vec());
    let mut out = Vec::new();
    if !request.is_empty() {
        tls.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 16 << 10];
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                // The server may end the TCP stream without close_notify after the answer.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("reading the answer: {e}"),
            }
        }
    }
    (alpn, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn broadcast_reaches_every_client() {
    let srv = Server::start(&["--broadcast"]);
    let mut clients: Vec<cli_support::Client> =
        (0..3).map(|_| cli_support::Client::start(&srv.ws_url(), &[])).collect();
    srv.wait_count("connected peer=", 3);
    clients[0].send_line("from A: héllo");
    for c in clients.iter_mut() {
        assert_eq!(c.next_chat_line(), "from A: héllo");
    }
    clients[2].send_line("from C");
    for c in clients.iter_mut() {
        assert_eq!(c.next_chat_line(), "from C");
    }
    for c in clients {
        let out = c.finish();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    srv.wait_count("closed peer=", 3);
}

#[test]
fn bench_against_serve_reports_zero_errors() {
    let srv = Server::start(&[]);
    let out = run_wspc(
        &["bench", &srv.ws_url(), "--duration", "1", "--connections", "4", "--json", "--quiet"],
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench --json prints JSON");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["messages"].as_u64().unwrap() > 0, "{report}");
}

fn http_get(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn get_slash_serves_the_demo_page_and_other_paths_404() {
    let srv = Server::start(&[]);
    let page = http_get(&srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html; charset=utf-8\r\n"));
    let body = &page[page.find("\r\n\r\n").unwrap() + 4..];
    let len: usize = page.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().trim().parse().unwrap();
    assert_eq!(body.len(), len);
    assert!(body.contains("<title>wspc demo"), "{body}");
    assert!(!body.contains("https://cdn") && !body.contains("<script src"), "self-contained");
    for id in ["url", "message", "binsize", "closecode", "closereason"] {
        assert!(body.contains(&format!("<label for=\"{id}\"")), "a label for #{id}");
    }

    let head = http_get(&srv.addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");
    let missing = http_get(&srv.addr, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
    let post = http_get(&srv.addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    // An upgrade request without a key: wspc-io answers it.
    let bad = http_get(&srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");

    // The same port still speaks WebSocket.
    let out = connect(&srv.ws_url(), &[], b"still here\n");
    assert_eq!(out.stdout, b"still here\n", "{}", out.stderr);
    srv.wait_log("http peer=", "GET /nope 404");
}

#[test]
fn ctrl_c_closes_connections_with_1001_and_exits_0() {
    let mut srv = Server::start(&[]);
    let mut c = cli_support::Client::start(&srv.ws_url(), &[]);
    srv.wait_count("connected peer=", 1);
    c.send_line("before shutdown");
    assert_eq!(c.next_line(), "before shutdown");
    srv.interrupt();
    let code = srv.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", srv.log());
    assert!(srv.log().contains("code=1001"), "{}", srv.log());
    // The client saw the server's 1001 (going away) and ends normally without waiting for stdin.
    let out = c.wait_exit_without_closing_stdin(Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn subprotocol_is_selected_and_logged() {
    let srv = Server::start(&["--subprotocol", "chat", "--subprotocol", "superchat"]);
    let out = connect(&srv.ws_url(), &["--subprotocol", "other", "--subprotocol", "superchat"], b"x\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    srv.wait_log("connected peer=", "subprotocol=superchat");
}

#[test]
fn deflate_is_accepted_by_default_and_can_be_refused() {
    let srv = Server::start(&[]);
    let line = "compress me ".repeat(2000);
    let input = format!("{line}\nshort\n");
    let out = connect(&format!("{}chat?room=1", srv.ws_url()), &["--deflate", "--verbose"], input.as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
    assert!(out.stderr.contains("extensions: permessage-deflate"), "{}", out.stderr);
    srv.wait_log("connected peer=", "path=/chat?room=1");

    // Not offered: not used.
    let out = connect(&srv.ws_url(), &["-v"], b"x\n");
    assert!(out.stderr.contains("extensions: none"), "{}", out.stderr);

    let srv = Server::start(&["--no-deflate"]);
    let out = connect(&srv.ws_url(), &["--deflate", "-v"], input.as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
    assert!(out.stderr.contains("extensions: none"), "{}", out.stderr);
}

#[test]
fn message_limit_closes_with_1009_and_the_client_exits_1() {
    let srv = Server::start(&["--max-message-size", "100"]);
    let out = connect(&srv.ws_url(), &[], format!("{}\n", "y".repeat(200)).as_bytes());
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("closed the connection with 1009 (message too big)"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    srv.wait_log("closed peer=", "code=1009");
}

#[test]
fn help_documents_the_exit_codes() {
    let out = run_wspc(&["connect", "--help"], b"", Duration::from_secs(10));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in
        ["Exit status", "2  usage error or bad URL", "3  connection refused", "4  WebSocket handshake", "5  TLS"]
    {
        assert!(help.contains(needle), "{needle:?} missing in:\n{help}");
    }
    let out = run_wspc(&["serve", "--help"], b"", Duration::from_secs(10));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--broadcast", "--tls-cert", "--max-message-size", "1001", "127.0.0.1:9001"] {
        assert!(help.contains(needle), "{needle:?} missing in:\n{help}");
    }
    let out = run_wspc(&["--help"], b"", Duration::from_secs(10));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["serve", "connect", "bench", "autobahn-client"] {
        assert!(help.contains(needle), "{needle:?} missing in:\n{help}");
    }
}

#[test]
fn serve_reports_a_busy_address() {
    let srv = Server::start(&[]);
    let out = run_wspc(&["serve", &srv.addr], b"", Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("cannot listen on"), "{}", out.stderr);
}

#[test]
fn a_port_held_by_a_server_with_threads_is_busy_for_another() {
    // Both sides share the port with SO_REUSEPORT among their own threads; a second server
    // must still be told that the address is in use rather than share it.
    let srv = Server::start(&["--threads", "2"]);
    for threads in ["1", "2"] {
        let out = run_wspc(&["serve", &srv.addr, "--threads", threads], b"", Duration::from_secs(10));
        assert_eq!(out.code, Some(1), "--threads {threads}: {}", out.stderr);
        assert!(out.stderr.contains("cannot listen on"), "{}", out.stderr);
    }
}

/// A seccomp filter for the child's `pre_exec` that makes `io_uring_setup` fail with EPERM
/// (as a container's profile does) and allows every other system call.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn deny_io_uring_setup() -> std::io::Result<()> {
    // The classic BPF program, over `struct seccomp_data` (the call's number at offset 0,
    // the architecture at offset 4): a call of another architecture, whose numbers mean
    // something else, is allowed.
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        op(LD_W_ABS, 0, 0, 4),
        op(JEQ_K, 0, 3, ARCH),
        op(LD_W_ABS, 0, 0, 0),
        op(JEQ_K, 0, 1, libc::SYS_io_uring_setup as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut libc::sock_filter };
    // SAFETY: prctl with integer arguments only; it changes this (child) process's flags.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `prog` points to `filter`, both alive for the call; the kernel copies the
    // program. seccomp(2) takes (operation, flags, pointer to the program).
    let r =
        unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog as *const libc::sock_fprog) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[test]
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn io_uring_denied_warns_once_and_serves_on_tokio() {
    use std::os::unix::process::CommandExt;
    let args = ["--io", "uring", "--threads", "2"];
    // Allowed, the same command serves on io_uring: what the filter changes is the driver.
    let allowed = Server::start(&args);
    assert!(allowed.log().contains("io_uring, 2 threads"), "{}", allowed.log());
    drop(allowed);

    let srv = Server::start_with("127.0.0.1:0", &args, |cmd| {
        // SAFETY: the closure runs in the child between fork and exec; it only makes two
        // system calls (prctl, seccomp) on data of its own stack, nothing that allocates
        // or takes a lock.
        unsafe { cmd.pre_exec(deny_io_uring_setup) };
    });
    let log = srv.log();
    assert_eq!(log.matches("io_uring cannot be used here").count(), 1, "{log}");
    assert!(log.contains("serving on tokio"), "{log}");
    assert!(!log.contains("io_uring, "), "{log}");
    assert!(log.contains("(echo") && log.contains(", 2 threads)"), "{log}");
    for i in 0..3 {
        let line = format!("still echoing {i}\n");
        let out = connect(&srv.ws_url(), &[], line.as_bytes());
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert_eq!(out.stdout, line.as_bytes());
    }
    srv.wait_count("closed peer=", 3);
    assert_eq!(srv.log().matches("io_uring cannot be used here").count(), 1, "{}", srv.log());
}

#[test]
fn threads_each_accept_and_ctrl_c_closes_every_connection() {
    // Both drivers: io_uring and tokio (the default).
    for io in ["uring", "tokio"] {
        threads_and_ctrl_c(io);
    }
}

fn threads_and_ctrl_c(io: &str) {
    let mut srv = Server::start(&["--threads", "3", "--io", io]);
    assert!(srv.log().contains(", 3 threads)"), "{}", srv.log());
    // Enough connections that the kernel's spread puts some on every thread (a connection
    // lives on the thread that accepted it; shutdown has to reach all of them).
    let mut clients: Vec<cli_support::Client> =
        (0..12).map(|_| cli_support::Client::start(&srv.ws_url(), &[])).collect();
    srv.wait_count("connected peer=", 12);
    // The threads start after the "listening on" line: count them once clients are in.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", srv.pid())).unwrap().count();
    assert!(tasks >= 3, "{tasks} threads");
    for (i, c) in clients.iter_mut().enumerate() {
        c.send_line(&format!("line {i}"));
        assert_eq!(c.next_line(), format!("line {i}"));
    }
    srv.interrupt();
    assert_eq!(srv.wait_exit(Duration::from_secs(10)), Some(0), "{}", srv.log());
    assert_eq!(srv.log().matches("code=1001").count(), 12, "{}", srv.log());
    if io == "tokio" {
        assert!(srv.log().contains("closing 12 connection(s) with 1001"), "{}", srv.log());
    }
    for c in clients {
        let out = c.wait_exit_without_closing_stdin(Duration::from_secs(10));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
}
