//! `Encoder::encode` (the encoder of `Handle::into_codec`, as wspc-io drives it): a whole
//! frame appended to the caller's buffer must be byte for byte what the queued path
//! (`send`, its `SendToNetwork` actions and completions) writes, move the message state the
//! same way, decode at the peer, and refuse what `send` refuses.

mod common;
use common::*;
use wspc::codec::frame::OpCode;
use wspc::{Action, ActionQueue, BufferType, Config, Error, Handle, Misuse, SendBuffer};

/// The sends both paths make, in order: messages, fragments, controls, sizes around the
/// 16-bit length boundary and above the send buffer.
fn script() -> Vec<(BufferType, Vec<u8>)> {
    vec![
        (BufferType::BinaryMessage, pattern(20, 1)),
        (BufferType::Utf8Fragment, "héllo ".as_bytes().to_vec()),
        (BufferType::PingPong, b"mid-message ping".to_vec()),
        (BufferType::Utf8Fragment, text(300, 2)),
        (BufferType::Utf8Message, "wörld €".as_bytes().to_vec()),
        (BufferType::UnsolicitedPong, Vec::new()),
        (BufferType::BinaryMessage, pattern(125, 3)),
        (BufferType::BinaryMessage, pattern(126, 4)),
        (BufferType::BinaryMessage, pattern(65_535, 5)),
        (BufferType::BinaryMessage, pattern(70_000, 6)),
        (BufferType::BinaryFragment, Vec::new()),
        (BufferType::BinaryMessage, Vec::new()),
        (BufferType::Utf8Message, text(5_000, 7)),
    ]
}

/// Sends one frame the queued way and returns the bytes written.
fn queued(h: &mut Handle, ty: BufferType, payload: &[u8]) -> Vec<u8> {
    h.send(ty, Some(SendBuffer::Data(payload.to_vec().into())), 7).unwrap();
    queued_rest(h)
}

fn compare_paths(a: Handle, mut b: Handle) {
    let (mut a, _) = a.into_codec().unwrap();
    for (i, (ty, payload)) in script().into_iter().enumerate() {
        let mut now = vec![0xAA; 3]; // appended after what is already there
        a.encode(ty, &payload, &mut now).unwrap();
        assert_eq!(&now[..3], &[0xAA; 3], "send {i} overwrote the caller's bytes");
        let q = queued(&mut b, ty, &payload);
        assert_eq!(now[3..], q[..], "send {i} ({ty:?}, {} bytes) differs from the queued path", payload.len());
    }
}

#[test]
fn server_frames_equal_the_queued_path() {
    compare_paths(open_server(Config::server()), open_server(Config::server()));
}

#[cfg(feature = "deflate")]
#[test]
fn compressed_frames_equal_the_queued_path_and_keep_the_context() {
    use wspc::deflate::DeflateConfig;
    let open = || {
        let cfg = |c: Config| c.deflate(Some(DeflateConfig { threshold: 0, ..DeflateConfig::default() }));
        let mut c = Handle::client(cfg(Config::client())).unwrap();
        let mut s = Handle::server(cfg(Config::server())).unwrap();
        handshake(&mut c, &mut s);
        assert!(s.deflate_params().is_some(), "deflate negotiated");
        s
    };
    compare_paths(open(), open());
}

#[test]
fn client_frames_are_masked_with_fresh_keys_and_decode_at_the_peer() {
    let (mut c, _) = open_client(Config::client()).into_codec().unwrap();
    let mut wire = Vec::new();
    let sent: Vec<_> = script().into_iter().filter(|(ty, _)| ty.is_data()).collect();
    for (ty, p) in &sent {
        c.encode(*ty, p, &mut wire).unwrap();
    }
    let frames = parse_stream(&wire, false);
    assert_eq!(frames.len(), sent.len());
    let keys: std::collections::HashSet<_> = frames.iter().map(|f| f.mask.expect("a client masks")).collect();
    assert!(keys.len() > sent.len() / 2, "mask keys are drawn per frame: {keys:?}");
    assert_eq!(frames[1].opcode, OpCode::Text);
    assert_eq!(frames[2].opcode, OpCode::Continuation, "the message state moved on after the fragment");

    let (server, err) = feed(open_server(Config::server()), &wire, 1000);
    assert!(err.is_none(), "{err:?}");
    let got = server.messages();
    let mut want: Vec<(BufferType, Vec<u8>)> = Vec::new();
    let mut joined: Option<(BufferType, Vec<u8>)> = None;
    for (ty, p) in sent {
        let acc = joined.get_or_insert_with(|| (ty, Vec::new()));
        acc.1.extend_from_slice(&p);
        if ty.is_message_end() {
            let (_, bytes) = joined.take().unwrap();
            want.push((BufferType::data(ty.is_text(), true), bytes));
        }
    }
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.0, w.0);
        assert!(g.1 == w.1, "payload of {} bytes differs", w.1.len());
    }
}

fn misuse(r: Result<(), Error>) -> Misuse {
    match r {
        Err(Error::Misuse(m)) => m,
        other => panic!("expected a misuse error, got {other:?}"),
    }
}

#[test]
fn refuses_what_send_refuses_and_writes_nothing() {
    let (mut e, _) = open_server(Config::server()).into_codec().unwrap();
    let mut out = Vec::new();
    assert!(matches!(misuse(e.encode_close(Some(1005), b"", &mut out)), Misuse::InvalidArgument(_)));
    assert!(matches!(misuse(e.encode(BufferType::PingPong, &[0; 126], &mut out)), Misuse::InvalidArgument(_)));
    e.encode(BufferType::Utf8Fragment, b"a", &mut out).unwrap();
    let before = out.len();
    assert!(matches!(misuse(e.encode(BufferType::BinaryMessage, b"b", &mut out)), Misuse::WrongState(_)));
    assert_eq!(out.len(), before, "a refused frame writes nothing");
    e.encode(BufferType::Utf8Message, b"end", &mut out).unwrap();
    e.encode_close(None, b"", &mut out).unwrap();
    assert!(matches!(misuse(e.encode(BufferType::BinaryMessage, b"x", &mut out)), Misuse::WrongState(_)));
    assert!(matches!(misuse(e.encode_close(None, b"", &mut out)), Misuse::WrongState(_)));
    e.encode(BufferType::PingPong, b"still allowed", &mut out).unwrap();
    let frames = parse_stream(&out, false);
    let ops: Vec<OpCode> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(ops, [OpCode::Text, OpCode::Continuation, OpCode::Close, OpCode::Ping]);
}

/// The queued path refuses a second send, and after an abort; the encoder has no queue.
#[test]
fn the_queue_refuses_while_a_send_is_pending_or_aborted() {
    let mut h = open_server(Config::server());
    h.send(BufferType::Utf8Message, Some(SendBuffer::Data(b"end".to_vec().into())), 0).unwrap();
    let again = h.send(BufferType::PingPong, None, 0);
    assert!(matches!(again, Err(Error::Misuse(Misuse::AlreadyPending))), "{again:?}");
    let _ = queued_rest(&mut h);
    h.abort();
    let late = h.send(BufferType::PingPong, None, 0);
    assert!(matches!(late, Err(Error::Misuse(Misuse::Aborted))), "{late:?}");
}

/// Drives an already queued send to its completion.
fn queued_rest(h: &mut Handle) -> Vec<u8> {
    let mut wire = Vec::new();
    loop {
        match h.get_action(ActionQueue::Send).unwrap() {
            Action::SendToNetwork { token, buffers, .. } => {
                for s in buffers.as_slices() {
                    wire.extend_from_slice(s);
                }
                let n = buffers.len();
                h.complete_action(token, n);
            }
            Action::IndicateSendComplete { token, .. } => {
                h.complete_action(token, 0);
                return wire;
            }
            a => panic!("unexpected action {a:?}"),
        }
    }
}
