//! WebSockets over HTTP/2 (RFC 8441): wspc's client against wspc's server on one TLS port
//! that serves both HTTP/2 and HTTP/1.1 (ALPN decides).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use wspc_io::h2::{self as wh2, H2Connection, Incoming, ServerConnection};
use wspc_io::tokio::WebSocket;
use wspc_io::{tls, Accept, ClientOptions, Config, Error, Message, Reject, Request};

struct Server {
    port: u16,
    ca: String,
    /// WebSockets accepted over HTTP/2 and over HTTP/1.1.
    h2: Arc<AtomicUsize>,
    h1: Arc<AtomicUsize>,
    /// Server WebSockets that ended with an error (not a close).
    aborted: Arc<AtomicUsize>,
}

fn handler(req: &Request) -> Result<Accept, Reject> {
    if req.uri().path() == "/forbidden" {
        return Err(wspc_io::reject(403, "no"));
    }
    let mut a = Accept::default();
    if wspc_io::http::subprotocols(req).any(|p| p == "chat") {
        a = a.subprotocol("chat");
    }
    Ok(a)
}

async fn echo<S>(mut ws: WebSocket<S>, aborted: Arc<AtomicUsize>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.recv().await {
            Some(Ok(m)) => {
                if m.is_data() && ws.send(m).await.is_err() {
                    break;
                }
            }
            Some(Err(_)) => {
                aborted.fetch_add(1, Ordering::SeqCst);
                break;
            }
            None => break,
        }
    }
}

/// A TLS listener with a fresh certificate for localhost (ALPN: h2 and http/1.1, or only
/// http/1.1): the listener, its port, the acceptor and the certificate's PEM.
async fn tls_listener(h2: bool) -> (TcpListener, u16, tokio_rustls::TlsAcceptor, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let base = tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let cfg = if h2 { wh2::server_config_h2(&base) } else { base };
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port, wspc_io::tokio::tls_acceptor(cfg), cert)
}

/// An echo server; `h2` false: ALPN offers only http/1.1.
async fn server(h2: bool, config: Config) -> Server {
    let (l, port, acceptor, cert) = tls_listener(h2).await;
    let (n2, n1) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c2, c1) = (n2.clone(), n1.clone());
    let aborted = Arc::new(AtomicUsize::new(0));
    let ab = aborted.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let (acceptor, config, c2, c1) = (acceptor.clone(), config.clone(), c2.clone(), c1.clone());
            let ab = ab.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    if let Ok(ws) = wspc_io::tokio::accept_with(tls, &config, handler).await {
                        c1.fetch_add(1, Ordering::SeqCst);
                        echo(ws, ab).await;
                    }
                    return;
                }
                let mut conn = ServerConnection::handshake(tls, &config).await.unwrap();
                while let Some(Ok(inc)) = conn.accept().await {
                    match inc {
                        Incoming::WebSocket(r) => {
                            let mute = r.target() == "/mute";
                            if let Ok(ws) = r.accept_with(&config, handler) {
                                if mute {
                                    // Never reads, so never answers a close.
                                    tokio::spawn(async move {
                                        tokio::time::sleep(Duration::from_secs(30)).await;
                                        drop(ws);
                                    });
                                    continue;
                                }
                                c2.fetch_add(1, Ordering::SeqCst);
                                tokio::spawn(echo(ws, ab.clone()));
                            }
                        }
                        Incoming::Http(r) => r.respond(404, &[], "not here\n").unwrap(),
                    }
                }
            });
        }
    });
    Server { port, ca: cert, h2: n2, h1: n1, aborted }
}

fn opts(s: &Server) -> ClientOptions {
    ClientOptions::default().tls(tls::client_config_with_ca(s.ca.as_bytes()).unwrap())
}

async fn h2_connection(s: &Server) -> H2Connection {
    let (ws, _, conn) = wh2::connect_with(&format!("wss://localhost:{}/first", s.port), &opts(s), true).await.unwrap();
    assert!(ws.get_ref().is_http2());
    drop(ws);
    conn.expect("an HTTP/2 connection")
}

fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100000001b3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_websockets_on_one_connection_echo_checksummed_messages() {
    let s = server(true, Config::default()).await;
    let conn = h2_connection(&s).await;
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let (conn, o) = (conn.clone(), opts(&s));
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = conn.open_websocket(&format!("/ws{i}"), &o).await.unwrap();
            let mut sent = 0u64;
            let mut got = 0u64;
            for j in 0..20u64 {
                let len = 1 + ((i * 7919 + j * 104729) % 40_000) as usize;
                let data: Vec<u8> = (0..len).map(|k| (k as u64 ^ i ^ j) as u8).collect();
                sent = sent.wrapping_add(checksum(&data));
                ws.send(Message::binary(data)).await.unwrap();
                let m = ws.recv().await.unwrap().unwrap();
                got = got.wrapping_add(checksum(m.as_bytes()));
            }
            assert_eq!(sent, got, "stream {i}");
            ws.close(None).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.h2.load(Ordering::SeqCst), 101);
    assert_eq!(s.h1.load(Ordering::SeqCst), 0);
}

/// Round trips of 16 KiB messages on 10 WebSockets of `conn`; the slowest one's time.
async fn round_trips(conn: &H2Connection, o: &ClientOptions) -> Duration {
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (conn, o) = (conn.clone(), o.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = conn.open_websocket(&format!("/rt{i}"), &o).await.unwrap();
            let t = Instant::now();
            for _ in 0..50 {
                ws.send(Message::binary(vec![7u8; 16 << 10])).await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap().as_bytes().len(), 16 << 10);
            }
            let d = t.elapsed();
            ws.close(None).await.unwrap();
            d
        }));
    }
    let mut worst = Duration::ZERO;
    for t in tasks {
        worst = worst.max(t.await.unwrap());
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_stalls_only_its_own_stream() {
    let s = server(true, Config::default()).await;
    let conn = h2_connection(&s).await;
    let o = opts(&s);
    let baseline = round_trips(&conn, &o).await;

    // A WebSocket that sends but never reads: the server's echoes fill its stream window,
    // the server's echo task waits, stops reading, and then this side's sends wait too.
    let (mut stalled, _) = conn.open_websocket("/stalled", &o).await.unwrap();
    let mut pushed = 0usize;
    let stuck = loop {
        let send = stalled.send(Message::binary(vec![1u8; 64 << 10]));
        match tokio::time::timeout(Duration::from_millis(500), send).await {
            Ok(r) => {
                r.unwrap();
                pushed += 64 << 10;
                assert!(pushed < 64 << 20, "the stalled stream never pushed back");
            }
            Err(_) => break pushed,
        }
    };
    // Bounded by the two stream windows and the buffers in between (not the 64 MiB limit).
    assert!(stuck <= 8 << 20, "pushed {stuck} bytes before back-pressure");

    let with_stall = round_trips(&conn, &o).await;
    eprintln!("10 x 50 round trips: {baseline:?} alone, {with_stall:?} beside a stalled stream ({stuck} bytes in it)");
    // Loose: the machine is shared, so only a collapse (a stalled connection) fails.
    assert!(with_stall < baseline * 10 + Duration::from_secs(2), "{with_stall:?} vs {baseline:?}");
    drop(stalled);
}

#[tokio::test]
async fn negotiation_matches_http1_and_rejections_get_their_status() {
    let s = server(true, Config::default().deflate(true)).await;
    let conn = h2_connection(&s).await;
    let o = opts(&s).subprotocol("other").subprotocol("chat").config(Config::default().deflate(true));
    let (mut ws, resp) = conn.open_websocket("/sub", &o).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(ws.subprotocol(), Some("chat"));
    // permessage-deflate, offered and enabled on both sides: negotiated as over HTTP/1.1.
    assert!(resp
        .headers()
        .get("sec-websocket-extensions")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|e| e.starts_with("permessage-deflate")));
    ws.send(Message::text("é€😀".repeat(1000))).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("é€😀".repeat(1000)));
    ws.close(None).await.unwrap();

    match conn.open_websocket("/forbidden", &opts(&s)).await {
        Err(Error::HttpStatus { status: 403, .. }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn limits_apply_over_http2_as_over_http1() {
    let s = server(true, Config::default().max_message_size(Some(1000))).await;
    let conn = h2_connection(&s).await;
    let (mut ws, _) = conn.open_websocket("/limit", &opts(&s)).await.unwrap();
    ws.send(Message::binary(vec![0u8; 5000])).await.unwrap();
    match ws.recv().await {
        Some(Ok(Message::Close(Some(c)))) => assert_eq!(c.code, 1009),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connect_falls_back_to_http1_without_h2() {
    let s = server(false, Config::default()).await;
    let (mut ws, resp, conn) =
        wh2::connect_with(&format!("wss://localhost:{}/plain", s.port), &opts(&s), true).await.unwrap();
    assert!(conn.is_none());
    assert_eq!(resp.status(), 101);
    assert!(!ws.get_ref().is_http2());
    ws.send(Message::text("over 1.1")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("over 1.1"));
    ws.close(None).await.unwrap();
    assert_eq!((s.h1.load(Ordering::SeqCst), s.h2.load(Ordering::SeqCst)), (1, 0));
}

#[tokio::test]
async fn a_reset_stream_aborts_the_websocket() {
    let s = server(true, Config::default()).await;
    // A hand-driven extended CONNECT, then RST_STREAM(CANCEL) instead of a close.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let cfg = wh2::client_config_h2(&opts(&s));
    let tls = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await.unwrap();
    let (send, conn) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let req = http::Request::builder()
        .method("CONNECT")
        .uri(format!("https://localhost:{}/reset", s.port))
        .extension(h2::ext::Protocol::from("websocket"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    // h2 sends the request only once the server's SETTINGS allowed extended CONNECT.
    let t = Instant::now();
    let (resp, mut stream) = loop {
        match send.send_request(req.clone(), false) {
            Ok(r) => break r,
            Err(_) if t.elapsed() < Duration::from_secs(5) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(resp.await.unwrap().status(), 200);
    stream.send_reset(h2::Reason::CANCEL);
    let t = Instant::now();
    while s.aborted.load(Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "the server's WebSocket did not end with an error");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn keepalive_and_close_timeout_work_over_http2() {
    // A client that never reads does not answer pings: the server's keepalive ends it.
    let s = server(true, Config::default().keepalive(Duration::from_millis(100), Duration::from_millis(200))).await;
    let conn = h2_connection(&s).await;
    let (_silent, _) = conn.open_websocket("/silent", &opts(&s)).await.unwrap();
    let t = Instant::now();
    while s.aborted.load(Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "the keepalive did not end the silent WebSocket");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A close the peer never answers ends after the close timeout.
    let s = server(true, Config::default()).await;
    let conn = h2_connection(&s).await;
    let cfg = Config::default().close_timeout(Duration::from_millis(300));
    let (mut ws, _) = conn.open_websocket("/mute", &opts(&s).config(cfg)).await.unwrap();
    let t = Instant::now();
    let _ = ws.close(None).await;
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(3), "close took {took:?}");
}

#[tokio::test]
async fn connect_falls_back_when_h2_lacks_the_setting() {
    // An HTTP/2 server without SETTINGS_ENABLE_CONNECT_PROTOCOL (the h2 crate's default), and
    // HTTP/1.1 WebSockets for connections that did not choose h2.
    let (l, port, acceptor, cert) = tls_listener(true).await;
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let tls = acceptor.accept(tcp).await.unwrap();
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    let mut conn = h2::server::handshake(tls).await.unwrap();
                    while let Some(Ok((_, mut respond))) = conn.accept().await {
                        let resp = http::Response::builder().status(404).body(()).unwrap();
                        let _ = respond.send_response(resp, true);
                    }
                } else if let Ok(ws) = wspc_io::tokio::accept(tls).await {
                    echo(ws, Arc::new(AtomicUsize::new(0))).await;
                }
            });
        }
    });
    let o = ClientOptions::default().tls(tls::client_config_with_ca(cert.as_bytes()).unwrap());
    let (mut ws, resp, conn) = wh2::connect_with(&format!("wss://localhost:{port}/"), &o, true).await.unwrap();
    assert!(conn.is_none() && !ws.get_ref().is_http2());
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("fallback")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("fallback"));
    ws.close(None).await.unwrap();
}
