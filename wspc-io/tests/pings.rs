//! `Config::deliver_pings`: with it, `recv` (tokio and blocking, whole and split) returns
//! each received ping as `Message::Ping` with its payload, in order with the messages
//! around it, and the engine answers it exactly once; without it, pings are answered and
//! not shown. A peer written by hand sends masked client frames to a server.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};
use wspc_io::{Config, Message, PieceKind};

/// Collects what `$next` yields up to and including the close.
macro_rules! until_close {
    ($next:expr) => {{
        let mut got = Vec::new();
        loop {
            let m: Message = $next;
            let close = m.is_close();
            got.push(m);
            if close {
                break got;
            }
        }
    }};
}

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A masked client frame (payload under 126 bytes).
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0, 0x80 | payload.len() as u8];
    f.extend_from_slice(&KEY);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    f
}

/// A text message in two frames with a ping between them, a binary message, an empty
/// ping, then a close.
fn stream() -> Vec<u8> {
    [
        frame(0x01, b"hel"),
        frame(0x89, b"between"),
        frame(0x80, b"lo"),
        frame(0x82, b"data"),
        frame(0x89, b""),
        frame(0x88, &1000u16.to_be_bytes()),
    ]
    .concat()
}

/// What the server's `recv` must return for [`stream`].
fn expected(deliver: bool) -> Vec<Message> {
    let mut v = vec![Message::text("hello"), Message::binary(b"data".to_vec())];
    if deliver {
        v.insert(0, Message::ping(b"between".to_vec()));
        v.push(Message::ping(Vec::new()));
    }
    v.push(Message::close(1000, ""));
    v
}

/// The server's unmasked frames in `wire`: (opcode, payload).
fn frames(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while wire.len() >= 2 {
        assert_eq!(wire[1] & 0x80, 0, "a server frame is not masked");
        let n = (wire[1] & 0x7f) as usize;
        assert!(n < 126 && wire.len() >= 2 + n, "unexpected frame in {wire:?}");
        out.push((wire[0] & 0x0f, wire[2..2 + n].to_vec()));
        wire = &wire[2 + n..];
    }
    assert!(wire.is_empty(), "a truncated frame");
    out
}

/// Exactly one pong per ping, with its payload, before the close reply.
fn check_wire(wire: &[u8]) {
    let f = frames(wire);
    assert_eq!(f, [(0xa, b"between".to_vec()), (0xa, Vec::new()), (0x8, 1000u16.to_be_bytes().to_vec())]);
}

#[tokio::test]
async fn tokio_recv_returns_pings_only_when_asked() {
    for (deliver, split) in [(false, false), (true, false), (true, true)] {
        let (a, mut peer) = duplex(1 << 16);
        let config = Config::default().deliver_pings(deliver);
        let mut ws = wspc_io::tokio::WebSocket::from_upgraded(a, wspc::Role::Server, &config, Vec::new()).unwrap();
        peer.write_all(&stream()).await.unwrap();
        let got = if split {
            let (mut r, w) = ws.split();
            let got = until_close!(r.recv().await.unwrap().unwrap());
            drop(w);
            got
        } else {
            let got = until_close!(ws.recv().await.unwrap().unwrap());
            drop(ws);
            got
        };
        assert_eq!(got, expected(deliver), "deliver {deliver}, split {split}");
        let mut wire = Vec::new();
        peer.read_to_end(&mut wire).await.unwrap();
        check_wire(&wire);
    }
}

#[tokio::test]
async fn tokio_pieces_include_pings_when_asked() {
    let (a, mut peer) = duplex(1 << 16);
    let config = Config::default().deliver_pings(true);
    let mut ws = wspc_io::tokio::WebSocket::from_upgraded(a, wspc::Role::Server, &config, Vec::new()).unwrap();
    peer.write_all(&stream()).await.unwrap();
    let mut buf = Vec::new();
    let mut got = Vec::new();
    loop {
        let p = ws.recv_piece(&mut buf).await.unwrap();
        let close = matches!(p.kind, PieceKind::Close(_));
        got.push((p.kind, p.last, buf.clone()));
        if close {
            break;
        }
    }
    let kinds: Vec<_> = got.iter().map(|(k, l, b)| (k.clone(), *l, b.as_slice())).collect();
    assert_eq!(
        kinds,
        [
            (PieceKind::Text, false, &b"hel"[..]),
            (PieceKind::Ping, true, b"between"),
            (PieceKind::Text, true, b"lo"),
            (PieceKind::Binary, true, b"data"),
            (PieceKind::Ping, true, b""),
            (PieceKind::Close(Some(wspc_io::CloseFrame::new(1000, ""))), true, b""),
        ]
    );
    drop(ws);
    let mut wire = Vec::new();
    peer.read_to_end(&mut wire).await.unwrap();
    check_wire(&wire);
}

#[test]
fn blocking_recv_returns_pings_only_when_asked() {
    for (deliver, split) in [(false, false), (true, false), (true, true)] {
        let (a, mut peer) = UnixStream::pair().unwrap();
        let config = Config::default().deliver_pings(deliver);
        let mut ws = wspc_io::blocking::WebSocket::from_upgraded(a, wspc::Role::Server, &config, Vec::new()).unwrap();
        peer.write_all(&stream()).unwrap();
        let got = if split {
            let (mut r, w) = ws.split().unwrap();
            let got = until_close!(r.recv().unwrap());
            drop((r, w));
            got
        } else {
            let got = until_close!(ws.recv().unwrap());
            drop(ws);
            got
        };
        assert_eq!(got, expected(deliver), "deliver {deliver}, split {split}");
        let mut wire = Vec::new();
        peer.read_to_end(&mut wire).unwrap();
        check_wire(&wire);
    }
}
