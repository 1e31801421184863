//! Unit tests of the tokio connection: what an idle connection holds, reads that meet
//! frames at every boundary.

use super::*;
use crate::{Accept, Request};
use ::tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use std::task::Waker;

/// A masked client frame (`0x81`: text, `0x82`: binary) carrying `payload`.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = match payload.len() {
        n if n < 126 => vec![opcode, 0x80 | n as u8],
        n if n < 65536 => vec![opcode, 0x80 | 126, (n >> 8) as u8, n as u8],
        n => [vec![opcode, 0x80 | 127], (n as u64).to_be_bytes().to_vec()].concat(),
    };
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Polls the server for a message once, with a waker that does nothing.
fn poll_once(ws: &mut WebSocket<DuplexStream>) -> Poll<Option<Result<Message>>> {
    let mut cx = Context::from_waker(Waker::noop());
    ws.inner.poll_next_msg(&mut cx)
}

fn server() -> (WebSocket<DuplexStream>, DuplexStream) {
    let (a, b) = duplex(1 << 20);
    (WebSocket::from_upgraded(a, wspc::Role::Server, &Config::default(), Vec::new()).unwrap(), b)
}

#[test]
fn the_futures_a_connection_waits_in_are_a_few_words() {
    use std::mem::size_of_val;
    let word = size_of::<usize>();
    let (mut ws, _peer) = server();
    // The task of an idle connection carries `recv`'s future: one pointer.
    assert_eq!(size_of_val(&ws.recv()), word);
    // `feed`: the pointer and the message.
    assert!(size_of_val(&ws.feed(Message::text("x"))) <= word + size_of::<Option<Message>>());
    assert!(size_of_val(&ws.close(None)) <= word + size_of::<Option<Option<CloseFrame>>>());
    // The handshake's state is on the heap: the caller's task holds one pointer for it.
    let (a, _b) = duplex(64);
    let config = Config::default();
    let fut = accept_with(a, &config, |_: &Request| Ok(Accept::default()));
    assert_eq!(size_of_val(&fut), word);
}

#[::tokio::test]
async fn a_connection_waiting_for_data_holds_no_buffer_and_still_receives() {
    let (mut ws, mut peer) = server();
    assert!(poll_once(&mut ws).is_pending());
    assert!(!ws.inner.c.s.holds_recv_buffer(), "waiting for data without a receive buffer");
    assert!(!ws.inner.c.s.holds_send_buffers());
    // Data arrives: it is read (into a buffer taken again) and delivered whole.
    peer.write_all(&client_frame(0x81, b"hello")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hello"));
    // Idle again after traffic, with an echo written: nothing held either.
    ws.send(Message::binary(b"echo".to_vec())).await.unwrap();
    assert!(poll_once(&mut ws).is_pending());
    assert!(!ws.inner.c.s.holds_recv_buffer());
    assert!(!ws.inner.c.s.holds_send_buffers(), "the write buffers go back while idle");
    let mut got = [0u8; 6];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"\x82\x04echo");
    // Two messages in one write, then silence: both come out, in order.
    let mut two = client_frame(0x82, b"one");
    two.extend(client_frame(0x82, b"two"));
    peer.write_all(&two).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(b"one".to_vec()));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(b"two".to_vec()));
    assert!(poll_once(&mut ws).is_pending());
    assert!(!ws.inner.c.s.holds_recv_buffer());
}

#[::tokio::test]
async fn bytes_read_past_the_http_head_are_delivered_then_freed() {
    let (a, mut peer) = duplex(1 << 16);
    let mut leftover = client_frame(0x81, b"first");
    leftover.extend(client_frame(0x82, b"second"));
    let mut ws = WebSocket::from_upgraded(a, wspc::Role::Server, &Config::default(), leftover).unwrap();
    assert!(ws.inner.c.s.holds_prefix());
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("first"));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(b"second".to_vec()));
    assert!(poll_once(&mut ws).is_pending());
    assert!(!ws.inner.c.s.holds_prefix(), "the leftover bytes are freed once handed on");
    peer.write_all(&client_frame(0x81, b"third")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("third"));
    // Without leftover bytes there is nothing to keep.
    let (ws, _peer) = server();
    assert!(!ws.inner.c.s.holds_prefix());
}

#[::tokio::test]
async fn a_partial_frame_keeps_its_buffer_until_the_rest_arrives() {
    let (mut ws, mut peer) = server();
    let f = client_frame(0x81, b"split across reads");
    // Half a frame header (2 of its 6 bytes and 1 of the mask key) stays in the engine.
    peer.write_all(&f[..3]).await.unwrap();
    assert!(poll_once(&mut ws).is_pending());
    assert!(ws.inner.c.s.holds_recv_buffer(), "the header's first bytes stay buffered");
    // Payload bytes that arrive are handed on (the buffer empties between frames' pieces).
    peer.write_all(&f[3..9]).await.unwrap();
    assert!(poll_once(&mut ws).is_pending());
    peer.write_all(&f[9..]).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("split across reads"));
    assert!(poll_once(&mut ws).is_pending());
    assert!(!ws.inner.c.s.holds_recv_buffer());
}

#[::tokio::test]
async fn frames_right_behind_a_large_payload_arrive_in_order() {
    let (mut ws, mut peer) = server();
    let big = |n: usize, seed: u32| -> Vec<u8> { (0..n as u32).map(|i| (i * 7 + seed) as u8).collect() };
    // A direct read of a large payload also takes what follows it: here a ping, a small
    // text and the first bytes of the next large frame; then the same with a small frame
    // cut inside its header, and a large message with nothing behind it.
    let mut wire = client_frame(0x82, &big(200_000, 1));
    wire.extend(client_frame(0x89, b"ping"));
    wire.extend(client_frame(0x81, b"small"));
    wire.extend(client_frame(0x82, &big(150_000, 2)));
    wire.extend(client_frame(0x81, "é".repeat(30_000).as_bytes()));
    let mut tail = client_frame(0x82, &big(3, 3));
    tail.extend(client_frame(0x82, &big(100_000, 4)));
    peer.write_all(&wire).await.unwrap();
    peer.write_all(&tail[..20]).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(200_000, 1)));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("small"));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(150_000, 2)));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("é".repeat(30_000)));
    peer.write_all(&tail[20..]).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(3, 3)));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big(100_000, 4)));
    assert!(poll_once(&mut ws).is_pending());
    // The ping was answered by the engine (not handed out), its pong written.
    ws.flush().await.unwrap();
    let mut pong = [0u8; 6];
    peer.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"\x8a\x04ping");
}

#[::tokio::test]
async fn a_large_frame_that_stalls_mid_payload_holds_no_engine_buffer() {
    let (mut ws, mut peer) = server();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let f = client_frame(0x82, &big);
    // The header and a first part: the rest of the payload is read into the message.
    peer.write_all(&f[..100_000]).await.unwrap();
    for _ in 0..4 {
        assert!(poll_once(&mut ws).is_pending());
    }
    assert!(!ws.inner.c.s.holds_recv_buffer(), "a stalled payload read holds no engine buffer");
    // The rest, then a small message in the same write: both come out whole, in order.
    let mut rest = f[100_000..].to_vec();
    rest.extend(client_frame(0x81, b"after"));
    peer.write_all(&rest).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("after"));
    assert!(poll_once(&mut ws).is_pending());
    assert!(!ws.inner.c.s.holds_recv_buffer());
}

#[test]
fn the_state_around_the_session_stays_small() {
    // An idle connection's heap block: the stream, the session and, around them, the
    // keepalive, the close deadline and phase, the timer and the subprotocol (176 bytes
    // before the life cycle moved into `Conn`; no larger since).
    let around = size_of::<driver::Inner<::tokio::net::TcpStream>>() - size_of::<Session>();
    assert!(around <= 176, "{around} bytes around the session");
}
