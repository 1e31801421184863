//! After a warm-up, a tokio server echoing messages allocates nothing per message: the
//! engine's buffers come back from per-thread pools after each idle wait, received message
//! vectors are reclaimed once their echo is sent, and the write buffer is pooled. A counting
//! global allocator watches the server's calls (its own test binary, so nothing else counts).

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};
use wspc_io::tokio::WebSocket;
use wspc_io::Config;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocations, counting};

/// A masked client binary frame carrying `payload`.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let key = [0x9e, 0x37, 0x79, 0xb9];
    let mut f = vec![0x82];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

fn server_header_len(n: usize) -> usize {
    match n {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
}

/// The peer sends `frame`; the server receives it and echoes it (then, if `park`, waits
/// for more once, so that it parks); the peer reads the echo into `echo`. Returns the
/// server's allocations meanwhile when `measure`, else 0.
async fn echo_once(
    ws: &mut WebSocket<tokio::io::DuplexStream>,
    peer: &mut tokio::io::DuplexStream,
    frame: &[u8],
    echo: &mut [u8],
    measure: bool,
    park: bool,
) -> usize {
    peer.write_all(frame).await.unwrap();
    let before = allocations();
    counting(measure);
    let msg = ws.recv().await.unwrap().unwrap();
    ws.feed(msg).await.unwrap();
    ws.flush().await.unwrap();
    if park {
        poll_idle(ws).await;
    }
    counting(false);
    let during = allocations() - before;
    peer.read_exact(echo).await.unwrap();
    during
}

#[tokio::test]
async fn steady_echo_allocates_nothing_per_message() {
    for size in [20usize, 1024, 70_000] {
        let (a, mut peer) = duplex(1 << 20);
        let mut ws = WebSocket::from_upgraded(a, wspc::Role::Server, &Config::default(), Vec::new()).unwrap();
        let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let frame = client_frame(&payload);
        let mut echo = vec![0u8; server_header_len(size) + size];
        let rounds = 300;
        let mut during = 0;
        for round in 0..rounds {
            during += echo_once(&mut ws, &mut peer, &frame, &mut echo, round >= 100, false).await;
            assert_eq!(&echo[server_header_len(size)..], &payload[..], "size {size} round {round}");
        }
        assert_eq!(during, 0, "{size}-byte messages: {during} allocations in {} echoes", rounds - 100);
    }
}

/// Polls `ws` for a message once (it has none waiting: the connection parks, giving back
/// its buffers, as a server's idle connections do between messages).
async fn poll_idle(ws: &mut WebSocket<tokio::io::DuplexStream>) {
    use futures_util::StreamExt;
    use std::future::Future;
    let mut next = ws.next();
    let r = std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut next).poll(cx))).await;
    assert!(r.is_pending(), "no message was waiting");
}

/// Many connections taking turns, each parked between its messages: the buffers one gives
/// back serve the next, so the echo still allocates nothing.
#[tokio::test]
async fn connections_parked_between_messages_allocate_nothing_per_message() {
    for size in [20usize, 1024] {
        let mut conns = Vec::new();
        for _ in 0..20 {
            let (a, peer) = duplex(1 << 20);
            conns
                .push((WebSocket::from_upgraded(a, wspc::Role::Server, &Config::default(), Vec::new()).unwrap(), peer));
        }
        let payload: Vec<u8> = (0..size).map(|i| (i * 3) as u8).collect();
        let frame = client_frame(&payload);
        let mut echo = vec![0u8; server_header_len(size) + size];
        let mut during = 0;
        for round in 0..60 {
            for (ws, peer) in conns.iter_mut() {
                poll_idle(ws).await;
                during += echo_once(ws, peer, &frame, &mut echo, round >= 20, true).await;
                assert_eq!(&echo[server_header_len(size)..], &payload[..], "size {size} round {round}");
            }
        }
        assert_eq!(during, 0, "{size}-byte messages over 20 parked connections: {during} allocations in 800 echoes");
    }
}

/// One `Bytes` sent to many connections (a broadcast): each send takes a reference, small
/// messages are encoded straight into the write buffer and large ones written from the
/// shared memory, so the fan-out allocates nothing per peer.
#[tokio::test]
async fn shared_bytes_fan_out_allocates_nothing_per_peer() {
    use wspc_io::{Bytes, Message};
    for size in [20usize, 70_000] {
        let mut conns = Vec::new();
        for _ in 0..8 {
            let (a, peer) = duplex(1 << 20);
            conns
                .push((WebSocket::from_upgraded(a, wspc::Role::Server, &Config::default(), Vec::new()).unwrap(), peer));
        }
        let payload: Vec<u8> = (0..size).map(|i| (i * 5) as u8).collect();
        let shared = Bytes::from(payload.clone());
        let mut got = vec![0u8; server_header_len(size) + size];
        let mut during = 0;
        for round in 0..40 {
            for (ws, peer) in conns.iter_mut() {
                let before = allocations();
                counting(round >= 10);
                ws.send(Message::Binary(shared.clone().into())).await.unwrap();
                counting(false);
                during += allocations() - before;
                peer.read_exact(&mut got).await.unwrap();
                assert_eq!(&got[server_header_len(size)..], &payload[..], "size {size} round {round}");
            }
        }
        assert_eq!(during, 0, "{size}-byte shared messages: {during} allocations in 240 sends");
    }
}

/// A masked client ping carrying `payload` (at most 125 bytes).
fn client_ping(payload: &[u8]) -> Vec<u8> {
    let mut f = client_frame(payload);
    f[0] = 0x89;
    f
}

/// Pings between the messages: answered without allocating, whether or not they are
/// handed to the application. With `deliver_pings`, the ping's payload arrives in a pooled
/// vector; an application that sends it on (here: echoes it as a binary message) gives it
/// back, so steady traffic still allocates nothing. (One that drops it frees it, and the
/// pool replaces it with one allocation.)
#[tokio::test]
async fn pings_between_messages_allocate_nothing() {
    use wspc_io::Message;
    for deliver in [false, true] {
        let (a, mut peer) = duplex(1 << 20);
        let config = Config::default().deliver_pings(deliver);
        let mut ws = WebSocket::from_upgraded(a, wspc::Role::Server, &config, Vec::new()).unwrap();
        let payload: Vec<u8> = (0..100).map(|i| (i * 11) as u8).collect();
        let input = [client_ping(b"are you there"), client_frame(&payload)].concat();
        // The pong (2 + 13 bytes), the echoed ping payload when delivered, the echo.
        let reply = 15 + if deliver { 2 + 13 } else { 0 } + 2 + payload.len();
        let mut got = vec![0u8; reply];
        let mut during = 0;
        for round in 0..300 {
            peer.write_all(&input).await.unwrap();
            let before = allocations();
            counting(round >= 100);
            loop {
                let msg = ws.recv().await.unwrap().unwrap();
                let data = msg.is_data();
                match msg {
                    Message::Ping(p) => ws.feed(Message::Binary(p)).await.unwrap(),
                    m => ws.feed(m).await.unwrap(),
                }
                if data {
                    break;
                }
            }
            ws.flush().await.unwrap();
            counting(false);
            during += allocations() - before;
            peer.read_exact(&mut got).await.unwrap();
            assert_eq!(&got[..15], b"\x8a\x0dare you there", "deliver {deliver} round {round}");
            assert_eq!(&got[reply - payload.len()..], &payload[..], "deliver {deliver} round {round}");
        }
        assert_eq!(during, 0, "deliver {deliver}: {during} allocations in 200 rounds of a ping and a message");
    }
}

/// The counter is installed and counts (so a 0 above means no allocation, not no counting).
#[test]
fn the_counter_counts() {
    counting(true);
    let before = allocations();
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
    let after = allocations();
    counting(false);
    drop(v);
    assert!(after > before, "an allocation was not counted");
}
