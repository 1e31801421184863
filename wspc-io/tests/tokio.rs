//! Tokio API over loopback TCP: echo through Stream/Sink and async fns, pieces, split
//! halves in two tasks, deflate, keepalive and the handshake timeout.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wspc_io::tokio::{accept_with, connect, connect_with, WebSocket};
use wspc_io::{Accept, ClientOptions, CloseFrame, Config, Error, Message, PieceKind, Request};

async fn echo(mut ws: WebSocket<TcpStream>) {
    while let Some(Ok(m)) = ws.recv().await {
        match m {
            m @ (Message::Text(_) | Message::Binary(_)) => ws.feed(m).await.unwrap(),
            Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = ws.close(None).await;
}

async fn echo_server(config: Config) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let config = config.clone();
            tokio::spawn(async move {
                let handler = |req: &Request| {
                    Ok(if wspc_io::http::subprotocols(req).any(|p| p == "chat") {
                        Accept::default().subprotocol("chat")
                    } else {
                        Accept::default()
                    })
                };
                if let Ok(ws) = accept_with(s, &config, handler).await {
                    echo(ws).await
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn echo_stream_and_sink() {
    let addr = echo_server(Config::default()).await;
    let opts = ClientOptions::default().subprotocol("chat");
    let (mut ws, resp) = connect_with(&format!("ws://{addr}/"), &opts).await.unwrap();
    assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), "chat");
    assert_eq!(ws.subprotocol(), Some("chat"));
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    // Sink: feed many, flush once.
    for i in 0..500 {
        SinkExt::feed(&mut ws, Message::binary(vec![i as u8; i])).await.unwrap();
    }
    SinkExt::flush(&mut ws).await.unwrap();
    for i in 0..500 {
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(vec![i as u8; i]));
    }
    let big = "x".repeat(5 << 20);
    ws.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(big));
    // Large multi-byte text in fragments cut inside code points (read straight into the
    // message, validated across the cuts), then a small message behind it.
    let big = "é€😀中κ".repeat(80_000);
    let bytes = big.as_bytes();
    let cuts = [0, 100_001, 100_002, 700_003, bytes.len()];
    for w in cuts.windows(2) {
        let last = w[1] == bytes.len();
        ws.send_fragment(true, bytes[w[0]..w[1]].to_vec(), last).await.unwrap();
    }
    ws.send(Message::binary(vec![9; 3])).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(big));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(vec![9; 3]));
    ws.send(Message::ping(vec![1, 2, 3])).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::pong(vec![1, 2, 3]));
    ws.close(Some(CloseFrame::new(1000, "done"))).await.unwrap();
    assert!(ws.is_closed());
    assert!(ws.recv().await.is_none());
}

#[tokio::test]
async fn peer_close_is_echoed_then_stream_ends() {
    let addr = echo_server(Config::default()).await;
    let (mut ws, _) = connect(&format!("ws://{addr}/")).await.unwrap();
    SinkExt::close(&mut ws).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::close(1000, ""));
    assert!(ws.next().await.is_none());
}

#[tokio::test]
async fn receive_in_pieces() {
    let addr = echo_server(Config::default()).await;
    let opts = ClientOptions::default().config(Config::default().receive_buffer_size(1024));
    let (mut ws, _) = connect_with(&format!("ws://{addr}/"), &opts).await.unwrap();
    let text = "ü".repeat(100_000);
    ws.send(Message::text(text.clone())).await.unwrap();
    let mut buf = Vec::new();
    let mut all = Vec::new();
    loop {
        let p = ws.recv_piece(&mut buf).await.unwrap();
        assert_eq!(p.kind, PieceKind::Text);
        assert!(buf.len() <= 1024);
        all.extend_from_slice(&buf);
        if p.last {
            break;
        }
    }
    assert_eq!(all, text.as_bytes());
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_in_two_tasks() {
    let addr = echo_server(Config::default()).await;
    let (ws, _) = connect(&format!("ws://{addr}/")).await.unwrap();
    let (mut rd, mut wr) = ws.split();
    const N: usize = 3000;
    let reader = tokio::spawn(async move {
        for i in 0..N {
            let m = rd.next().await.unwrap().unwrap();
            match m {
                Message::Text(t) => assert_eq!(t, format!("m{i}")),
                Message::Binary(b) => assert_eq!(b.len(), 100_000 + i),
                m => panic!("{m:?}"),
            }
        }
        assert_eq!(rd.recv().await.unwrap().unwrap(), Message::close(1000, ""));
        assert!(rd.recv().await.is_none());
        rd
    });
    for i in 0..N {
        let m = if i % 300 == 1 { Message::binary(vec![0; 100_000 + i]) } else { Message::text(format!("m{i}")) };
        wr.feed(m).await.unwrap();
    }
    wr.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    wr.close(Some(CloseFrame::new(1000, ""))).await.unwrap();
    let rd = tokio::time::timeout(Duration::from_secs(20), reader).await.unwrap().unwrap();
    let ws = rd.reunite(wr).ok().unwrap();
    assert!(ws.is_closed());
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn permessage_deflate_both_sides() {
    let addr = echo_server(Config::default().deflate(true)).await;
    let opts = ClientOptions::default().config(Config::default().deflate(true));
    let (mut ws, resp) = connect_with(&format!("ws://{addr}/"), &opts).await.unwrap();
    assert!(resp.headers()["sec-websocket-extensions"].to_str().unwrap().contains("permessage-deflate"));
    for i in 0..20 {
        let t = format!("{i} ").repeat(5000);
        ws.send(Message::text(t.clone())).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(t));
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn keepalive_times_out_when_peer_is_silent() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let ws = wspc_io::tokio::accept(s).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(ws);
    });
    let cfg = Config::default().keepalive(Duration::from_millis(200), Duration::from_millis(300));
    let (mut ws, _) = connect_with(&format!("ws://{addr}/"), &ClientOptions::default().config(cfg)).await.unwrap();
    let t = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(2), ws.recv()).await.unwrap();
    assert!(matches!(r, Some(Err(Error::KeepaliveTimeout))), "{r:?}");
    assert!(t.elapsed() >= Duration::from_millis(450));
}

#[tokio::test]
async fn keepalive_keeps_a_live_connection() {
    let addr = echo_server(Config::default()).await;
    let cfg = Config::default().keepalive(Duration::from_millis(100), Duration::from_millis(300));
    let (mut ws, _) = connect_with(&format!("ws://{addr}/"), &ClientOptions::default().config(cfg)).await.unwrap();
    let mut pongs = 0;
    let end = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Ok(Some(m)) = tokio::time::timeout_at(end, ws.recv()).await {
        if let Message::Pong(_) = m.unwrap() {
            pongs += 1;
        }
    }
    assert!(pongs >= 3, "{pongs}");
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn stalled_handshake_gets_408() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let cfg = Config::default().handshake_timeout(Duration::from_millis(300));
        accept_with(s, &cfg, |_: &Request| Ok(Accept::default())).await.err()
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(3), c.read_to_string(&mut out)).await.unwrap().unwrap();
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(matches!(server.await.unwrap(), Some(Error::HandshakeTimeout)));
}

#[tokio::test]
async fn wrong_version_gets_426() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let _ = wspc_io::tokio::accept(s).await;
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(3), c.read_to_string(&mut out)).await.unwrap().unwrap();
    assert!(out.starts_with("HTTP/1.1 426"), "{out}");
    assert!(out.contains("Sec-WebSocket-Version: 13"));
}

#[tokio::test]
async fn client_sees_http_errors() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let _ = accept_with(s, &Config::default(), |_: &Request| Err(wspc_io::reject(401, "who are you"))).await;
    });
    match connect(&format!("ws://{addr}/")).await {
        Err(Error::HttpStatus { status: 401, .. }) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("connected"),
    }
}

/// The default configuration, with permessage-deflate offered and accepted when `deflate`
/// (only then does it need the `deflate` feature).
fn config_with_deflate(deflate: bool) -> Config {
    #[cfg(feature = "deflate")]
    return Config::default().deflate(deflate);
    #[cfg(not(feature = "deflate"))]
    {
        assert!(!deflate, "built without the deflate feature");
        Config::default()
    }
}

/// Large and small messages alternating (large ones are read straight into the message,
/// and the header after one is read on its own), with and without permessage-deflate.
#[tokio::test]
async fn large_and_small_messages_alternate() {
    let modes: &[bool] = if cfg!(feature = "deflate") { &[false, true] } else { &[false] };
    for &deflate in modes {
        let addr = echo_server(config_with_deflate(deflate)).await;
        let opts = ClientOptions::default().config(config_with_deflate(deflate));
        let (mut ws, _) = connect_with(&format!("ws://{addr}/"), &opts).await.unwrap();
        let sizes = [1 << 20, 3, 65536, 0, 40_000, 200_000, 17, 1 << 20, 125, 70_000];
        for (i, &n) in sizes.iter().enumerate() {
            let body: Vec<u8> = (0..n).map(|j| (j * 7 + i) as u8).collect();
            let m = if i % 3 == 0 { Message::text("ü".repeat(n / 2)) } else { Message::binary(body) };
            SinkExt::feed(&mut ws, m).await.unwrap();
        }
        SinkExt::flush(&mut ws).await.unwrap();
        for (i, &n) in sizes.iter().enumerate() {
            let got = ws.recv().await.unwrap().unwrap();
            if i % 3 == 0 {
                assert_eq!(got, Message::text("ü".repeat(n / 2)), "message {i}");
            } else {
                let body: Vec<u8> = (0..n).map(|j| (j * 7 + i) as u8).collect();
                assert_eq!(got, Message::binary(body), "message {i}");
            }
        }
        ws.close(None).await.unwrap();
    }
}

/// The async accept hook: the handshake waits for the application's decision (here a
/// token checked after an await), which sees the client's `http::Request` headers; a
/// rejection is any `http::Response`, sent as is.
#[tokio::test]
async fn async_accept_hook_and_http_request_client() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let decide = |req: &Request| {
                    let token = req.headers().get("authorization").cloned();
                    let path = req.uri().path().to_string();
                    async move {
                        tokio::time::sleep(Duration::from_millis(20)).await; // a token lookup
                        if token.as_ref().is_some_and(|t| t == "Bearer good") && path == "/chat" {
                            Ok(Accept::default().header("x-user", "alice"))
                        } else {
                            let mut r = wspc_io::reject(401, "bad token");
                            r.headers_mut().insert("www-authenticate", "Bearer".parse().unwrap());
                            Err(r)
                        }
                    }
                };
                if let Ok(ws) = wspc_io::tokio::accept_async_with(s, &Config::default(), decide).await {
                    echo(ws).await
                }
            });
        }
    });
    let req =
        |token: &str| http::Request::get(format!("ws://{addr}/chat")).header("authorization", token).body(()).unwrap();
    let (mut ws, resp) = connect(req("Bearer good")).await.unwrap();
    assert_eq!(resp.headers().get("x-user").unwrap(), "alice");
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
    ws.close(None).await.unwrap();
    match connect(req("Bearer bad")).await {
        Err(Error::HttpStatus { status: 401, headers }) => {
            assert_eq!(headers.get("www-authenticate").unwrap(), "Bearer")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("connected with a bad token"),
    }
    // A Uri works as well as a &str.
    let uri: http::Uri = format!("ws://{addr}/other").parse().unwrap();
    assert!(matches!(connect(uri).await, Err(Error::HttpStatus { status: 401, .. })));
}

/// Shared `Bytes` payloads from a client (masked through the engine's send buffer) and
/// text from static strings: echoed intact, the shared bytes unchanged after the sends.
#[tokio::test]
async fn shared_payloads_round_trip() {
    let addr = echo_server(Config::default()).await;
    let (mut ws, _) = connect(format!("ws://{addr}/")).await.unwrap();
    let big = wspc_io::Bytes::from((0..300_000u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>());
    let small = wspc_io::Bytes::from_static(b"tiny");
    for b in [&big, &small, &big] {
        ws.feed(Message::Binary(b.clone().into())).await.unwrap();
    }
    ws.send(Message::text("static text")).await.unwrap();
    for b in [&big, &small, &big] {
        assert_eq!(ws.recv().await.unwrap().unwrap().as_bytes(), &b[..]);
    }
    let m = ws.recv().await.unwrap().unwrap();
    assert_eq!(m.as_text(), Some("static text"));
    assert_eq!(big[1], 7, "masking happened in the engine's buffer, not in the shared bytes");
    ws.close(None).await.unwrap();
}

/// Captures `tracing` events (their fields, as text) on the current thread.
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", f.name(), v));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut f = Fields(String::new());
        e.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Debug events say why an upgrade was refused and which close code ended a connection
/// (a limit hit: 1009).
#[tokio::test]
async fn tracing_events_for_refusals_and_limits() {
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Capture(events.clone()));
    let addr = echo_server(Config::default().max_message_size(Some(1000))).await;
    // Not an upgrade: refused with 426.
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    // Too large a message: the server fails the connection with 1009.
    let (mut ws, _) = connect(format!("ws://{addr}/")).await.unwrap();
    ws.send(Message::binary(vec![0; 5000])).await.unwrap();
    assert!(matches!(ws.recv().await, Some(Ok(Message::Close(Some(CloseFrame { code: 1009, .. }))))));
    let events = events.lock().unwrap().join("\n");
    assert!(events.contains("status=426") && events.contains("upgrade refused"), "{events}");
    assert!(events.contains("connection failed") && events.contains("close_code=1009"), "{events}");
    assert!(events.contains("code=1009") && events.contains("close frame received"), "{events}");
}

/// A masked client frame (FIN) with a short payload.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [9, 8, 7, 6];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// A server over a stream upgraded elsewhere ends its side right after the close handshake
/// (RFC 6455 §7.1.1), whoever closed first: it does not wait for the client's end of the
/// stream (a client waits for the server's), so neither `recv`'s `None` nor `close` takes
/// the close timeout.
#[tokio::test]
async fn an_upgraded_server_ends_the_stream_right_after_the_close_handshake() {
    let cfg = Config::default().close_timeout(Duration::from_secs(3));
    // The client closes.
    let (a, mut peer) = tokio::io::duplex(1 << 16);
    let mut ws = WebSocket::from_upgraded(a, wspc_io::wspc::Role::Server, &cfg, Vec::new()).unwrap();
    peer.write_all(&client_frame(0x8, &1000u16.to_be_bytes())).await.unwrap();
    let t = std::time::Instant::now();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::close(1000, ""));
    assert!(ws.recv().await.is_none());
    assert!(t.elapsed() < Duration::from_secs(1), "the server waited {:?} for the client's end", t.elapsed());
    // The client sees the echo, then the end of the stream (while it still holds its side).
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(1), peer.read_to_end(&mut got)).await.unwrap().unwrap();
    assert_eq!(got, [0x88, 0x02, 0x03, 0xe8]);
    // The server closes; the client answers and waits for the server's end.
    let (a, mut peer) = tokio::io::duplex(1 << 16);
    let mut ws = WebSocket::from_upgraded(a, wspc_io::wspc::Role::Server, &cfg, Vec::new()).unwrap();
    let client = tokio::spawn(async move {
        let mut close = [0u8; 4];
        peer.read_exact(&mut close).await.unwrap();
        assert_eq!(close, [0x88, 0x02, 0x03, 0xe9]);
        peer.write_all(&client_frame(0x8, &1001u16.to_be_bytes())).await.unwrap();
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{rest:?}");
        peer
    });
    let t = std::time::Instant::now();
    ws.close(Some(CloseFrame::new(1001, ""))).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "close took {:?}", t.elapsed());
    assert!(ws.is_closed());
    tokio::time::timeout(Duration::from_secs(1), client).await.unwrap().unwrap();
}
