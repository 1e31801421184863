//! Blocking API over loopback TCP: echo, pieces, split halves, deflate, keepalive, bad
//! requests and the handshake timeout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};
use wspc_io::blocking::{self, WebSocket};
use wspc_io::{Accept, ClientOptions, CloseFrame, Config, Error, Message, PieceKind, Request};

/// Starts a server thread that runs `f` on each of `n` accepted streams.
fn server<F>(n: usize, f: F) -> (String, thread::JoinHandle<()>)
where
    F: Fn(TcpStream) + Send + Sync + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = thread::spawn(move || {
        let f = std::sync::Arc::new(f);
        let mut hs = Vec::new();
        for s in l.incoming().take(n) {
            let f = f.clone();
            hs.push(thread::spawn(move || f(s.unwrap())));
        }
        for h in hs {
            h.join().unwrap();
        }
    });
    (addr, h)
}

fn echo(mut ws: WebSocket<TcpStream>) {
    loop {
        match ws.recv() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.feed(m).unwrap(),
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = ws.close(None);
}

fn echo_server(n: usize, config: Config) -> (String, thread::JoinHandle<()>) {
    server(n, move |s| {
        let ws = blocking::accept_with(s, &config, |req: &Request| {
            let mut a = Accept::default().header("X-Test", "yes");
            if wspc_io::http::subprotocols(req).any(|p| p == "chat") {
                a = a.subprotocol("chat");
            }
            Ok(a)
        })
        .unwrap();
        echo(ws)
    })
}

#[test]
fn echo_text_binary_ping_close() {
    let (addr, h) = echo_server(1, Config::default());
    let opts = ClientOptions::default().subprotocol("other").subprotocol("chat").origin("http://test");
    let (mut ws, resp) = blocking::connect_with(format!("ws://{addr}/path?q=1"), &opts).unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(ws.subprotocol(), Some("chat"));
    assert_eq!(resp.headers().get("x-test").and_then(|v| v.to_str().ok()), Some("yes"));
    ws.send(Message::text("héllo")).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("héllo"));
    let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::binary(big));
    let big = "é€😀中κ".repeat(50_000);
    let bytes = big.as_bytes();
    let cuts = [0, 100_001, 100_002, 500_003, bytes.len()];
    for w in cuts.windows(2) {
        ws.send_fragment(true, bytes[w[0]..w[1]].to_vec(), w[1] == bytes.len()).unwrap();
    }
    assert_eq!(ws.recv().unwrap(), Message::text(big));
    ws.send(Message::ping(b"p".to_vec())).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::pong(b"p".to_vec()));
    // Corked: several messages, one flush.
    for i in 0..100 {
        ws.feed(Message::text(format!("m{i}"))).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..100 {
        assert_eq!(ws.recv().unwrap(), Message::text(format!("m{i}")));
    }
    ws.close(Some(CloseFrame::new(4000, "bye"))).unwrap();
    assert!(ws.is_closed());
    assert!(matches!(ws.recv(), Err(Error::ConnectionClosed)));
    h.join().unwrap();
}

#[test]
fn receive_in_pieces() {
    let (addr, h) = echo_server(1, Config::default());
    let cfg = Config::default().receive_buffer_size(4096);
    let (mut ws, _) = blocking::connect_with(format!("ws://{addr}/"), &ClientOptions::default().config(cfg)).unwrap();
    let big = vec![7u8; 1 << 20];
    ws.send(Message::binary(big)).unwrap();
    let mut buf = Vec::new();
    let (mut total, mut pieces) = (0, 0);
    loop {
        let p = ws.recv_piece(&mut buf).unwrap();
        assert_eq!(p.kind, PieceKind::Binary);
        assert!(buf.len() <= 4096);
        assert!(buf.iter().all(|&b| b == 7));
        total += buf.len();
        pieces += 1;
        if p.last {
            break;
        }
    }
    assert_eq!(total, 1 << 20);
    assert!(pieces >= 256);
    ws.close(None).unwrap();
    h.join().unwrap();
}

#[test]
fn split_halves_from_two_threads() {
    let (addr, h) = echo_server(1, Config::default());
    let (ws, _) = blocking::connect(format!("ws://{addr}/")).unwrap();
    let (mut rd, mut wr) = ws.split().unwrap();
    const N: usize = 2000;
    let reader = thread::spawn(move || {
        for i in 0..N {
            match rd.recv().unwrap() {
                Message::Text(t) => assert_eq!(t, format!("message {i}")),
                Message::Binary(b) => assert_eq!(b.len(), 70_000 + i),
                m => panic!("unexpected {m:?}"),
            }
        }
        assert!(matches!(rd.recv().unwrap(), Message::Close(Some(CloseFrame { code: 1000, .. }))));
    });
    for i in 0..N {
        if i % 100 == 7 {
            wr.send(Message::binary(vec![1; 70_000 + i])).unwrap();
        } else {
            wr.feed(Message::text(format!("message {i}"))).unwrap();
        }
    }
    wr.flush().unwrap();
    // Close only once every echo is in (the reader checks all of them first).
    thread::sleep(Duration::from_millis(50));
    wr.close(Some(CloseFrame::new(1000, ""))).unwrap();
    reader.join().unwrap();
    h.join().unwrap();
}

#[cfg(feature = "deflate")]
#[test]
fn permessage_deflate_both_sides() {
    let (addr, h) = echo_server(1, Config::default().deflate(true));
    let opts = ClientOptions::default().config(Config::default().deflate(true));
    let (mut ws, resp) = blocking::connect_with(format!("ws://{addr}/"), &opts).unwrap();
    assert!(resp.headers()["sec-websocket-extensions"].to_str().unwrap().contains("permessage-deflate"));
    let text = "compress me ".repeat(10_000);
    for _ in 0..3 {
        ws.send(Message::text(text.clone())).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::text(text.clone()));
    }
    ws.send(Message::binary(vec![0u8; 3 << 20])).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::binary(vec![0u8; 3 << 20]));
    ws.close(None).unwrap();
    h.join().unwrap();
}

#[test]
fn limits_fail_with_1009() {
    let (addr, h) = echo_server(1, Config::default().max_message_size(Some(1000)));
    let (mut ws, _) = blocking::connect(format!("ws://{addr}/")).unwrap();
    ws.send(Message::binary(vec![0u8; 2000])).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::close(1009, ""));
    h.join().unwrap();
}

#[test]
fn keepalive_times_out_when_peer_is_silent() {
    // The server completes the handshake, then neither reads nor answers.
    let (addr, h) = server(1, |s| {
        let ws = blocking::accept(s).unwrap();
        thread::sleep(Duration::from_millis(1500));
        drop(ws);
    });
    let cfg = Config::default().keepalive(Duration::from_millis(200), Duration::from_millis(300));
    let (mut ws, _) = blocking::connect_with(format!("ws://{addr}/"), &ClientOptions::default().config(cfg)).unwrap();
    let t = Instant::now();
    assert!(matches!(ws.recv(), Err(Error::KeepaliveTimeout)));
    let dt = t.elapsed();
    assert!(dt >= Duration::from_millis(450) && dt < Duration::from_millis(1400), "{dt:?}");
    h.join().unwrap();
}

#[test]
fn write_timeout_cuts_a_peer_that_stops_reading() {
    // The server sends 64 KiB messages to a client that never reads: once the socket
    // buffers are full, a write makes no progress and must fail within the write timeout
    // instead of pinning the thread forever.
    let (tx, rx) = std::sync::mpsc::channel();
    let (addr, h) = server(1, move |s| {
        let cfg = Config::default().write_timeout(Some(Duration::from_millis(300)));
        let mut ws = blocking::accept_with(s, &cfg, |_: &Request| Ok(Accept::default())).unwrap();
        let msg = vec![7u8; 64 << 10];
        let mut sent = 0usize;
        let err = loop {
            match ws.send(Message::binary(msg.clone())) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100_000, "never blocked");
        };
        tx.send((sent, err)).unwrap();
    });
    let (ws, _) = blocking::connect(format!("ws://{addr}/")).unwrap();
    let (sent, err) = rx.recv_timeout(Duration::from_secs(20)).expect("the server's send returned");
    assert!(matches!(err, Error::WriteTimeout), "{err:?} after {sent} messages");
    assert!(sent > 0);
    drop(ws);
    h.join().unwrap();
}

#[test]
fn keepalive_pings_are_answered() {
    let (addr, h) = echo_server(1, Config::default());
    let cfg = Config::default().keepalive(Duration::from_millis(100), Duration::from_millis(500));
    let (mut ws, _) = blocking::connect_with(format!("ws://{addr}/"), &ClientOptions::default().config(cfg)).unwrap();
    let t = Instant::now();
    let mut pongs = 0;
    while t.elapsed() < Duration::from_millis(700) {
        if let Message::Pong(_) = ws.recv().unwrap() {
            pongs += 1;
        }
    }
    assert!(pongs >= 3, "{pongs}");
    ws.close(None).unwrap();
    h.join().unwrap();
}

/// Sends raw bytes to a fresh server and returns its whole answer.
fn raw_exchange(config: Config, request: &[u8], wait: Duration) -> (String, Option<Error>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (addr, h) = server(1, move |s| {
        let r = blocking::accept_with(s, &config, |req: &Request| {
            if req.uri().path() == "/forbidden" {
                Err(wspc_io::reject(403, "no"))
            } else {
                Ok(Accept::default())
            }
        });
        tx.send(r.err()).unwrap();
    });
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(request).unwrap();
    thread::sleep(wait);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    h.join().unwrap();
    (String::from_utf8_lossy(&out).into_owned(), rx.recv().unwrap())
}

fn status(resp: &str) -> u16 {
    resp.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

const GOOD: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn bad_requests_get_the_right_status() {
    let z = Duration::ZERO;
    let (r, _) = raw_exchange(Config::default(), b"garbage\r\n\r\n", z);
    assert_eq!(status(&r), 400, "{r}");
    let (r, _) = raw_exchange(Config::default(), format!("{}\r\n", GOOD.replace("GET", "POST")).as_bytes(), z);
    assert_eq!(status(&r), 405, "{r}");
    let req = format!("{}\r\n", GOOD.replace("Version: 13", "Version: 8"));
    let (r, _) = raw_exchange(Config::default(), req.as_bytes(), z);
    assert_eq!(status(&r), 426, "{r}");
    assert!(r.contains("Sec-WebSocket-Version: 13"), "{r}");
    let req = format!("{}\r\n", GOOD.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""));
    let (r, _) = raw_exchange(Config::default(), req.as_bytes(), z);
    assert_eq!(status(&r), 400, "{r}");
    let req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let (r, _) = raw_exchange(Config::default(), req.as_bytes(), z);
    assert_eq!(status(&r), 426, "{r}");
    let req = format!("{GOOD}X-Big: {}\r\n\r\n", "a".repeat(20_000));
    let (r, _) = raw_exchange(Config::default(), req.as_bytes(), z);
    assert_eq!(status(&r), 431, "{r}");
    let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
    let (r, _) = raw_exchange(Config::default(), format!("{GOOD}{many}\r\n").as_bytes(), z);
    assert_eq!(status(&r), 431, "{r}");
    let req = format!("{}\r\n", GOOD.replace("GET /", "GET /forbidden"));
    let (r, e) = raw_exchange(Config::default(), req.as_bytes(), z);
    assert_eq!(status(&r), 403, "{r}");
    assert!(matches!(e, Some(Error::Rejected(403))));
    let req = format!("{}\r\n", GOOD.replace("HTTP/1.1", "HTTP/1.0"));
    let (r, _) = raw_exchange(Config::default(), req.as_bytes(), z);
    assert_eq!(status(&r), 400, "{r}");
}

#[test]
fn stalled_handshake_times_out() {
    let cfg = Config::default().handshake_timeout(Duration::from_millis(300));
    let t = Instant::now();
    let (r, e) = raw_exchange(cfg, b"GET / HTTP/1.1\r\nHost: x\r\n", Duration::ZERO);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(status(&r), 408, "{r}");
    assert!(matches!(e, Some(Error::HandshakeTimeout)));
}

#[test]
fn bytes_right_behind_the_request_are_kept() {
    let (addr, h) = echo_server(1, Config::default());
    let mut c = TcpStream::connect(&addr).unwrap();
    // Request and a masked text frame "hi" in one write.
    let mut req = format!("{GOOD}\r\n").into_bytes();
    req.extend_from_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    req.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    c.write_all(&req).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(out.starts_with(b"HTTP/1.1 101"));
    assert_eq!(&out[head_end..], &[0x81, 2, b'h', b'i', 0x88, 2, 0x03, 0xe8]);
    h.join().unwrap();
}

#[test]
fn fragmented_send_arrives_whole() {
    let (addr, h) = echo_server(1, Config::default());
    let (mut ws, _) = blocking::connect(format!("ws://{addr}/")).unwrap();
    ws.send_fragment(true, b"one ".to_vec(), false).unwrap();
    ws.send_fragment(true, b"two ".to_vec(), false).unwrap();
    ws.send(Message::ping(vec![9])).unwrap();
    ws.send_fragment(true, "three ✓".as_bytes().to_vec(), true).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::pong(vec![9]));
    assert_eq!(ws.recv().unwrap(), Message::text("one two three ✓"));
    ws.close(None).unwrap();
    h.join().unwrap();
}

/// A client that is still sending an oversized head when the server refuses it (431): the
/// refusal lingers (reads and drops what keeps coming, until 100 ms of silence), so the
/// client's writes do not meet a reset and it reads the 431 and a clean end of stream.
#[test]
fn a_refused_upgrade_lingers_so_the_client_sees_the_refusal() {
    let (addr, h) = server(1, |s| {
        let r = blocking::accept_with(s, &Config::default(), |_: &Request| Ok(Accept::default()));
        assert!(matches!(r, Err(Error::BadRequest { status: 431, .. })), "{r:?}");
    });
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let line = format!("X-Junk: {}\r\n", "j".repeat(1000));
    for _ in 0..20 {
        c.write_all(line.as_bytes()).unwrap();
    }
    // The server has refused by now; the client keeps sending for a while.
    for i in 0..20 {
        thread::sleep(Duration::from_millis(20));
        let r = c.write_all(&line.as_bytes()[..500]);
        assert!(r.is_ok(), "write {i} after the refusal: {r:?}");
    }
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let r = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 431 "), "{text:?}");
    assert!(r.is_ok(), "the refusal ended with {r:?} instead of a clean end of stream");
    h.join().unwrap();
}
