//! The io_uring server driver against the blocking client and raw TCP peers: echo of every
//! size (pipelined too), pings, close handshakes, refusals, limits, the handshake and
//! keepalive timeouts, a peer that never reads, several threads, deflate, shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use wspc_io::blocking;
use wspc_io::uring::{Conn, ConnId, Handler, Server, ShutdownHandle};
use wspc_io::{Accept, ClientOptions, CloseFrame, Config, Error, Message, Request};

/// What the test server reports to the test.
#[derive(Debug)]
enum Event {
    Open,
    Closed(std::result::Result<Option<CloseFrame>, String>),
}

struct Echo {
    events: mpsc::Sender<Event>,
}

impl Handler for Echo {
    fn accept(&mut self, req: &Request) -> Result<Accept, wspc_io::Reject> {
        match req.uri().path() {
            "/forbidden" => Err(wspc_io::reject(403, "no")),
            _ => {
                let mut a = Accept::default().header("X-Test", "yes");
                if wspc_io::http::subprotocols(req).any(|p| p == "chat") {
                    a = a.subprotocol("chat");
                }
                Ok(a)
            }
        }
    }

    fn on_open(&mut self, _conn: &mut Conn<'_>) {
        let _ = self.events.send(Event::Open);
    }

    fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message) {
        match msg {
            Message::Text(t) if t.as_str() == "close-me" => conn.close(Some(CloseFrame::new(4001, "asked"))),
            // Holds the loop, so that what the peer sends meanwhile piles up in the socket.
            Message::Text(t) if t.as_str() == "hold" => thread::sleep(Duration::from_millis(300)),
            Message::Text(t) if t.as_str() == "twice" => {
                // Two replies to one message, the first large: the second waits its turn.
                conn.send(Message::binary(vec![1u8; 100_000])).unwrap();
                conn.send(Message::text("second")).unwrap();
            }
            m @ (Message::Text(_) | Message::Binary(_)) => conn.send(m).unwrap(),
            _ => {}
        }
    }

    fn on_close(&mut self, _id: ConnId, result: wspc_io::Result<Option<CloseFrame>>) {
        let _ = self.events.send(Event::Closed(result.map_err(|e| e.to_string())));
    }
}

struct Running {
    addr: String,
    stop: ShutdownHandle,
    events: mpsc::Receiver<Event>,
    thread: Option<thread::JoinHandle<wspc_io::Result<()>>>,
}

impl Running {
    fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    fn next_event(&self) -> Event {
        self.events.recv_timeout(Duration::from_secs(10)).expect("an event from the server")
    }

    fn closed(&self) -> std::result::Result<Option<CloseFrame>, String> {
        loop {
            if let Event::Closed(r) = self.next_event() {
                return r;
            }
        }
    }

    fn stop(mut self) {
        self.stop.shutdown();
        self.thread.take().unwrap().join().unwrap().unwrap();
    }
}

fn start(config: Config, threads: usize) -> Running {
    let server = Server::bind("127.0.0.1:0", config, threads).expect("io_uring server");
    let addr = server.local_addr().to_string();
    let stop = server.shutdown_handle();
    let (tx, events) = mpsc::channel();
    let thread = thread::spawn(move || server.run(|| Echo { events: tx.clone() }));
    Running { addr, stop, events, thread: Some(thread) }
}

#[test]
fn echo_every_size_pings_and_close() {
    let srv = start(Config::default(), 1);
    let opts = ClientOptions::default().subprotocol("other").subprotocol("chat");
    let (mut ws, resp) = blocking::connect_with(format!("ws://{}/path?q=1", srv.addr), &opts).unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(ws.subprotocol(), Some("chat"));
    assert_eq!(resp.headers().get("x-test").and_then(|v| v.to_str().ok()), Some("yes"));
    assert!(matches!(srv.next_event(), Event::Open));
    ws.send(Message::text("héllo")).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("héllo"));
    for n in [0usize, 1, 125, 126, 65_535, 65_536, 100_000, 300_000, 3 << 20] {
        let big: Vec<u8> = (0..n as u32).map(|i| (i * 7) as u8).collect();
        ws.send(Message::binary(big.clone())).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::binary(big), "{n} bytes");
    }
    let text = "é€😀中κ".repeat(50_000);
    let bytes = text.as_bytes();
    let cuts = [0, 100_001, 100_002, 500_003, bytes.len()];
    for w in cuts.windows(2) {
        ws.send_fragment(true, bytes[w[0]..w[1]].to_vec(), w[1] == bytes.len()).unwrap();
    }
    assert_eq!(ws.recv().unwrap(), Message::text(text));
    ws.send(Message::ping(b"p".to_vec())).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::pong(b"p".to_vec()));
    // Pipelined: many messages in one write, of mixed sizes, answered in order.
    for i in 0..300 {
        let m = if i % 50 == 7 { Message::binary(vec![i as u8; 70_000]) } else { Message::text(format!("m{i}")) };
        ws.feed(m).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..300 {
        let m = if i % 50 == 7 { Message::binary(vec![i as u8; 70_000]) } else { Message::text(format!("m{i}")) };
        assert_eq!(ws.recv().unwrap(), m, "message {i}");
    }
    ws.send(Message::text("twice")).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::binary(vec![1u8; 100_000]));
    assert_eq!(ws.recv().unwrap(), Message::text("second"));
    ws.close(Some(CloseFrame::new(4000, "bye"))).unwrap();
    assert!(ws.is_closed());
    assert_eq!(srv.closed(), Ok(Some(CloseFrame::new(4000, "bye"))));
    srv.stop();
}

#[test]
fn the_server_closes_on_request() {
    let srv = start(Config::default(), 1);
    let (mut ws, _) = blocking::connect(srv.url()).unwrap();
    ws.send(Message::text("close-me")).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::close(4001, "asked"));
    // The client's reply completes the handshake; the server reports the peer's frame.
    assert_eq!(srv.closed(), Ok(Some(CloseFrame::new(4001, "asked"))));
    srv.stop();
}

#[test]
fn refusals_get_their_status() {
    let srv = start(Config::default(), 1);
    let r = blocking::connect(format!("ws://{}/forbidden", srv.addr));
    assert!(matches!(r, Err(Error::HttpStatus { status: 403, .. })), "{r:?}");
    let mut c = TcpStream::connect(&srv.addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert!(out.starts_with(b"HTTP/1.1 426"), "{}", String::from_utf8_lossy(&out));
    let mut c = TcpStream::connect(&srv.addr).unwrap();
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000));
    let _ = c.write_all(big.as_bytes());
    let mut out = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.read_to_end(&mut out);
    assert!(out.starts_with(b"HTTP/1.1 431"), "{}", String::from_utf8_lossy(&out));
    srv.stop();
}

#[test]
fn bytes_right_behind_the_request_are_kept() {
    let srv = start(Config::default(), 1);
    let mut c = TcpStream::connect(&srv.addr).unwrap();
    let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    req.extend_from_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    req.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    c.write_all(&req).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(out.starts_with(b"HTTP/1.1 101"));
    assert_eq!(&out[head_end..], &[0x81, 2, b'h', b'i', 0x88, 2, 0x03, 0xe8]);
    srv.stop();
}

#[test]
fn oversized_messages_fail_with_1009() {
    let srv = start(Config::default().max_message_size(Some(1000)), 1);
    let (mut ws, _) = blocking::connect(srv.url()).unwrap();
    ws.send(Message::binary(vec![0u8; 2000])).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::close(1009, ""));
    assert!(srv.closed().is_err());
    srv.stop();
}

#[test]
fn a_stalled_handshake_gets_408() {
    let srv = start(Config::default().handshake_timeout(Duration::from_millis(300)), 1);
    let t = Instant::now();
    let mut c = TcpStream::connect(&srv.addr).unwrap();
    // Slowloris: a byte at a time, never finishing the head.
    for b in b"GET / HTTP/1.1\r\nHost: x\r\n" {
        if c.write_all(&[*b]).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(out.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&out));
    srv.stop();
}

#[test]
fn keepalive_fails_a_silent_peer_and_pings_a_live_one() {
    let cfg = Config::default().keepalive(Duration::from_millis(150), Duration::from_millis(200));
    let srv = start(cfg, 1);
    // A live client that only reads answers the pings (its reader does) and stays open
    // well past the keepalive's interval and timeout.
    let (ws, _) = blocking::connect(srv.url()).unwrap();
    let (mut rd, mut wr) = ws.split().unwrap();
    // (The pings are answered inside `recv`, not handed out.)
    let reader = thread::spawn(move || match rd.recv().unwrap() {
        Message::Text(t) => t,
        m => panic!("unexpected {m:?}"),
    });
    thread::sleep(Duration::from_millis(900));
    wr.send(Message::text("still here")).unwrap();
    assert_eq!(reader.join().unwrap(), "still here");
    wr.close(None).unwrap();
    assert!(srv.closed().is_ok());
    // A raw peer that completes the handshake and then says nothing is cut off.
    let mut c = TcpStream::connect(&srv.addr).unwrap();
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let t = Instant::now();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let dt = t.elapsed();
    assert!(dt >= Duration::from_millis(300) && dt < Duration::from_secs(3), "{dt:?}");
    // The 101, then the keepalive ping (an empty ping frame) before the end.
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&out[head_end..], &[0x89, 0]);
    assert!(matches!(srv.closed(), Err(e) if e.contains("keepalive")));
    srv.stop();
}

#[test]
fn a_peer_that_never_reads_is_held_back_and_cut_off() {
    let cfg =
        Config::default().keepalive(Duration::from_millis(300), Duration::from_millis(300)).write_buffer_size(64 << 10);
    let srv = start(cfg, 1);
    let (ws, _) = blocking::connect(srv.url()).unwrap();
    let mut tcp = match ws.get_ref() {
        blocking::MaybeTlsStream::Plain(t) => t.try_clone().unwrap(),
        _ => unreachable!("ws://"),
    };
    tcp.set_write_timeout(Some(Duration::from_millis(1500))).unwrap();
    // 64 KiB binary frames, masked with a zero key, sent and never read back.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(65_536u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.resize(frame.len() + 65_536, 0xab);
    let t = Instant::now();
    let mut sent = 0usize;
    while t.elapsed() < Duration::from_secs(10) {
        match tcp.write_all(&frame) {
            Ok(()) => sent += frame.len(),
            Err(_) => break,
        }
    }
    // The server stopped taking input (bounded by its pause threshold, the socket
    // buffers both ways and the write buffer), then cut the connection off.
    assert!(sent < 64 << 20, "the server kept reading: {sent} bytes");
    assert!(srv.closed().is_err());
    srv.stop();
}

#[test]
fn several_threads_share_the_port() {
    let srv = start(Config::default(), 3);
    let addr = srv.addr.clone();
    let clients: Vec<_> = (0..12)
        .map(|i| {
            let url = format!("ws://{addr}/");
            thread::spawn(move || {
                let (mut ws, _) = blocking::connect(url).unwrap();
                for j in 0..50 {
                    let m = Message::text(format!("{i}:{j}"));
                    ws.send(m.clone()).unwrap();
                    assert_eq!(ws.recv().unwrap(), m);
                }
                ws.close(None).unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    srv.stop();
}

#[test]
fn permessage_deflate_echo() {
    let srv = start(Config::default().deflate(true), 1);
    let opts = ClientOptions::default().config(Config::default().deflate(true));
    let (mut ws, resp) = blocking::connect_with(srv.url(), &opts).unwrap();
    assert!(resp.headers().get("sec-websocket-extensions").is_some());
    let text = "compressible text ".repeat(10_000);
    for _ in 0..3 {
        ws.send(Message::text(text.clone())).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::text(text.clone()));
    }
    ws.close(None).unwrap();
    srv.stop();
}

#[test]
fn shutdown_closes_every_connection_with_1001() {
    let srv = start(Config::default(), 2);
    let mut clients: Vec<_> = (0..4).map(|_| blocking::connect(srv.url()).unwrap().0).collect();
    for ws in &mut clients {
        ws.send(Message::text("hi")).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::text("hi"));
    }
    let (done_tx, done_rx) = mpsc::channel();
    let Running { stop, thread, events, .. } = srv;
    stop.shutdown();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            thread::spawn(move || {
                let m = ws.recv().unwrap();
                let _ = ws.recv();
                m
            })
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), Message::close(1001, "server shutting down"));
    }
    thread::spawn(move || done_tx.send(thread.unwrap().join().unwrap().is_ok()).unwrap());
    assert!(done_rx.recv_timeout(Duration::from_secs(5)).unwrap(), "run returned Ok");
    drop(events);
}

#[cfg(feature = "tls")]
#[test]
fn wss_echo_and_close() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let tls = wspc_io::tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let server = Server::bind("127.0.0.1:0", Config::default(), 1).unwrap().tls(tls);
    let port = server.local_addr().port();
    let stop = server.shutdown_handle();
    let (tx, events) = mpsc::channel();
    let thread = thread::spawn(move || server.run(|| Echo { events: tx.clone() }));
    let srv = Running { addr: format!("127.0.0.1:{port}"), stop, events, thread: Some(thread) };
    let opts = ClientOptions::default().tls(wspc_io::tls::client_config_with_ca(cert.as_bytes()).unwrap());
    let url = format!("wss://localhost:{port}/secure");
    for _ in 0..2 {
        let (mut ws, resp) = blocking::connect_with(&url, &opts).unwrap();
        assert_eq!(resp.status(), 101);
        ws.send(Message::text("secret")).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::text("secret"));
        let big: Vec<u8> = (0..(2u32 << 20)).map(|i| (i * 13) as u8).collect();
        ws.send(Message::binary(big.clone())).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::binary(big));
        for i in 0..200 {
            ws.feed(Message::text(format!("t{i}"))).unwrap();
        }
        ws.flush().unwrap();
        for i in 0..200 {
            assert_eq!(ws.recv().unwrap(), Message::text(format!("t{i}")));
        }
        ws.close(Some(CloseFrame::new(1000, "done"))).unwrap();
        assert_eq!(srv.closed(), Ok(Some(CloseFrame::new(1000, "done"))));
    }
    // A refusal goes through TLS too.
    let r = blocking::connect_with(format!("wss://localhost:{port}/forbidden"), &opts);
    assert!(matches!(r, Err(Error::HttpStatus { status: 403, .. })), "{r:?}");
    srv.stop();
}

/// A ping on an idle connection is answered at once: the automatic pong is output that no
/// application callback produced, and it must still be sent at the end of the loop turn.
#[test]
fn a_ping_on_an_idle_connection_gets_its_pong() {
    let srv = start(Config::default(), 1);
    let (mut ws, _) = blocking::connect(format!("ws://{}/", srv.addr)).unwrap();
    assert!(matches!(srv.next_event(), Event::Open));
    for payload in [&b""[..], b"p", &[7u8; 125]] {
        let t = std::time::Instant::now();
        ws.send(Message::ping(payload.to_vec())).unwrap();
        assert_eq!(ws.recv().unwrap(), Message::pong(payload.to_vec()));
        // Not held back until some later event (a timer, another message) flushes it.
        assert!(t.elapsed() < std::time::Duration::from_millis(500), "pong after {:?}", t.elapsed());
    }
    ws.close(None).unwrap();
    srv.stop();
}

#[test]
fn large_messages_pipelined_and_a_peer_gone_inside_one() {
    // Large payloads are received straight into their messages; several in flight at
    // once, between small messages and pings, come back whole and in order.
    let srv = start(Config::default(), 1);
    let (mut ws, _) = blocking::connect(srv.url()).unwrap();
    let sizes = [1usize << 20, 5, 700_000, 3 << 20, 64 << 10, 200_000];
    let msg = |i: usize, n: usize| Message::binary((0..n).map(|k| (k * 31 + i) as u8).collect::<Vec<u8>>());
    for round in 0..3 {
        for (i, &n) in sizes.iter().enumerate() {
            ws.feed(msg(round * 10 + i, n)).unwrap();
            if i == 2 {
                ws.feed(Message::ping(b"in between".to_vec())).unwrap();
            }
        }
        ws.flush().unwrap();
        for (i, &n) in sizes.iter().enumerate() {
            assert_eq!(ws.recv().unwrap(), msg(round * 10 + i, n), "round {round}, message {i}");
            if i == 2 {
                assert_eq!(ws.recv().unwrap(), Message::pong(b"in between".to_vec()));
            }
        }
    }
    ws.close(None).unwrap();
    assert!(srv.closed().is_ok());

    // A peer that announces 4 MiB, sends part of it, and goes away while the server is
    // receiving the rest into the message: the connection ends with an error, once.
    let mut raw = raw_upgrade(&srv.addr);
    let len = 4u64 << 20;
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&vec![0u8; 600_000]);
    raw.write_all(&frame).unwrap();
    thread::sleep(Duration::from_millis(200));
    drop(raw);
    assert!(matches!(srv.next_event(), Event::Open));
    assert!(srv.closed().is_err(), "a stream that ended inside a frame is an error");
    srv.stop();
}

#[test]
fn a_message_larger_than_a_turn_takes_comes_back_whole() {
    // Large payloads are read a bounded amount (2 MiB) per loop turn, the rest on the next
    // turns. The server is held first, and the payload is written raw (mask key 0, no
    // masking work in this test's client), so that turns find more than they may take.
    let srv = start(Config::default().max_message_size(Some(64 << 20)), 1);
    let mut raw = raw_upgrade(&srv.addr);
    let len: u64 = 48 << 20;
    let mut w = raw.try_clone().unwrap();
    let writer = thread::spawn(move || {
        w.write_all(&[0x81, 0x84, 0, 0, 0, 0]).unwrap();
        w.write_all(b"hold").unwrap();
        let mut frame = vec![0x82, 0x80 | 127];
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        w.write_all(&frame).unwrap();
        let chunk = vec![0xa5u8; 1 << 20];
        for _ in 0..(len >> 20) {
            w.write_all(&chunk).unwrap();
        }
    });
    let mut echo_head = [0u8; 10];
    raw.read_exact(&mut echo_head).unwrap();
    assert_eq!(echo_head[..2], [0x82, 127]);
    assert_eq!(u64::from_be_bytes(echo_head[2..].try_into().unwrap()), len);
    let mut left = len as usize;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = raw.read(&mut buf[..left.min(1 << 20)]).unwrap();
        assert!(n > 0 && buf[..n].iter().all(|&b| b == 0xa5));
        left -= n;
    }
    writer.join().unwrap();
    srv.stop();
}

#[test]
fn the_server_ends_the_stream_right_after_the_close_handshake() {
    // RFC 6455 §7.1.1: the server closes the TCP connection first, as soon as the close
    // frames are exchanged, not when its close timeout (a minute here) runs out.
    let srv = start(Config::default().close_timeout(Duration::from_secs(60)), 1);
    let mut raw = raw_upgrade(&srv.addr);
    // A text message, then a close with 1000 (mask key 0).
    raw.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i', 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match raw.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("no end of stream after {:?} ({e}); got {got:?}", t.elapsed()),
        }
    }
    assert_eq!(got, [0x81, 0x02, b'h', b'i', 0x88, 0x02, 0x03, 0xe8]);
    assert!(matches!(srv.closed(), Ok(Some(f)) if f.code == 1000));
    drop(raw);
    srv.stop();
}

/// A raw TCP connection upgraded to WebSocket, its `101` head read to the last byte (a
/// byte at a time: frames may follow it).
fn raw_upgrade(addr: &str) -> TcpStream {
    let mut raw = TcpStream::connect(addr).unwrap();
    write!(
        raw,
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8];
        raw.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    raw
}
