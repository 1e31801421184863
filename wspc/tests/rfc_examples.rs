//! The example frames of RFC 6455 §5.7, byte for byte, in both directions.

mod common;
use common::*;
use wspc::codec::frame::OpCode;
use wspc::codec::mask::apply_mask;
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Payload, SendBuffer};

const HELLO_UNMASKED: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const HELLO_MASKED: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
const HEL: [u8; 5] = [0x01, 0x03, 0x48, 0x65, 0x6c];
const LO: [u8; 4] = [0x80, 0x02, 0x6c, 0x6f];
const PING_UNMASKED: [u8; 7] = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const PONG_MASKED: [u8; 11] = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

fn binary_256() -> Vec<u8> {
    pattern(256, 256)
}
fn binary_64k() -> Vec<u8> {
    pattern(65536, 65536)
}

/// Everything a server sends for one `send`, as separate `SendToNetwork` byte strings.
fn server_sends(s: &mut Handle, ty: BufferType, buffer: Option<SendBuffer>) -> Vec<Vec<u8>> {
    s.send(ty, buffer, 9).unwrap();
    let mut writes = Vec::new();
    loop {
        let a = s.get_action(ActionQueue::Send).unwrap();
        let tok = a.token();
        match a {
            Action::SendToNetwork { buffers, buffer_type, context, .. } => {
                assert_eq!((buffer_type, context), (ty, Some(9)));
                let mut w = Vec::new();
                for b in buffers.as_slices() {
                    w.extend_from_slice(b);
                }
                s.complete_action(tok, w.len());
                writes.push(w);
            }
            Action::IndicateSendComplete { buffer_type, context, .. } => {
                assert_eq!((buffer_type, context), (ty, 9));
                s.complete_action(tok, 0);
                assert!(matches!(s.get_action(ActionQueue::All).unwrap(), Action::NoAction));
                return writes;
            }
            other => panic!("unexpected {:?}", other.kind()),
        }
    }
}

#[test]
fn the_mask_key_turns_hello_into_the_rfc_bytes() {
    let mut p = b"Hello".to_vec();
    apply_mask(&mut p, KEY, 0);
    assert_eq!(p, HELLO_MASKED[6..]);
    assert_eq!(frame(0x81, b"Hello", Some(KEY)), HELLO_MASKED);
    assert_eq!(frame(0x81, b"Hello", None), HELLO_UNMASKED);
}

// ---- server encoding: unmasked frames, byte-exact ----

#[test]
fn server_encodes_single_frame_unmasked_text() {
    let mut s = open_server(Config::server());
    assert_eq!(server_sends(&mut s, BufferType::Utf8Message, Some(SendBuffer::Data("Hello".into()))), [HELLO_UNMASKED]);
}

#[test]
fn server_encodes_fragmented_unmasked_text() {
    let mut s = open_server(Config::server());
    assert_eq!(server_sends(&mut s, BufferType::Utf8Fragment, Some(SendBuffer::Data("Hel".into()))), [HEL.to_vec()]);
    assert_eq!(server_sends(&mut s, BufferType::Utf8Message, Some(SendBuffer::Data("lo".into()))), [LO.to_vec()]);
}

#[test]
fn server_encodes_unmasked_ping() {
    let mut s = open_server(Config::server());
    assert_eq!(server_sends(&mut s, BufferType::PingPong, Some(SendBuffer::Data("Hello".into()))), [PING_UNMASKED]);
}

#[test]
fn server_encodes_256_and_64k_binary() {
    let mut s = open_server(Config::server());
    let data = binary_256();
    let w = server_sends(&mut s, BufferType::BinaryMessage, Some(SendBuffer::Data(data.clone().into())));
    let mut want = vec![0x82, 0x7e, 0x01, 0x00];
    want.extend_from_slice(&data);
    assert_eq!(w.concat(), want);
    assert_eq!(w.len(), 1, "header and zero-copy payload in one action");

    let data = binary_64k();
    let w = server_sends(&mut s, BufferType::BinaryMessage, Some(SendBuffer::Data(data.clone().into())));
    let mut want = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    want.extend_from_slice(&data);
    assert_eq!(w.concat(), want);
}

#[test]
fn server_decodes_the_masked_examples() {
    let mut bytes = HELLO_MASKED.to_vec();
    bytes.extend_from_slice(&PONG_MASKED);
    let (e, err) = feed(open_server(Config::server()), &bytes, usize::MAX);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        e.log,
        [
            Ev::Read { ctx: 501, n: 22 },
            Ev::Recv { ty: BufferType::Utf8Message, ctx: 501, data: b"Hello".to_vec(), close: None },
            Ev::Recv { ty: BufferType::PingPong, ctx: 502, data: b"Hello".to_vec(), close: None },
        ]
    );
}

#[test]
fn server_decodes_masked_fragments_and_binary() {
    let mut bytes = frame(0x01, b"Hel", Some(KEY));
    bytes.extend(frame(0x80, b"lo", Some(KEY)));
    bytes.extend(frame(0x82, &binary_256(), Some(KEY)));
    let (e, err) = feed(open_server(Config::server()), &bytes, usize::MAX);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(e.messages(), [(BufferType::Utf8Message, b"Hello".to_vec()), (BufferType::BinaryMessage, binary_256())]);
    assert_eq!(
        e.chunks(),
        [(BufferType::Utf8Fragment, 3), (BufferType::Utf8Message, 2), (BufferType::BinaryMessage, 256)]
    );
}

// ---- client decoding of the unmasked examples ----

#[test]
fn client_decodes_every_unmasked_example() {
    let mut bytes = HELLO_UNMASKED.to_vec();
    bytes.extend_from_slice(&HEL);
    bytes.extend_from_slice(&LO);
    let mut b256 = vec![0x82, 0x7e, 0x01, 0x00];
    b256.extend(binary_256());
    bytes.extend(&b256);
    let mut b64k = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    b64k.extend(binary_64k());
    bytes.extend(&b64k);
    for step in [1, 7, 100, usize::MAX] {
        let (e, err) = feed(open_client(Config::client()), &bytes, step);
        assert!(err.is_none(), "step {step}: {err:?}");
        assert_eq!(
            e.messages(),
            [
                (BufferType::Utf8Message, b"Hello".to_vec()),
                (BufferType::Utf8Message, b"Hello".to_vec()),
                (BufferType::BinaryMessage, binary_256()),
                (BufferType::BinaryMessage, binary_64k()),
            ],
            "step {step}"
        );
        assert!(e.chunks().iter().all(|&(_, n)| n <= 4096));
    }
}

#[test]
fn client_answers_the_unmasked_ping_with_a_masked_pong() {
    let (e, err) = feed(open_client(Config::client()), &PING_UNMASKED, usize::MAX);
    assert!(err.is_none());
    // The ping completes no receive; the pong goes out on the receive queue, without context.
    assert_eq!(e.log.len(), 2, "{:?}", e.log);
    assert_eq!(e.log[0], Ev::Read { ctx: 501, n: 7 });
    let Ev::Send { ty, ctx, bytes, bufs } = &e.log[1] else { panic!("{:?}", e.log[1]) };
    assert_eq!((*ty, *ctx, *bufs), (BufferType::UnsolicitedPong, None, 1));
    assert_eq!(&bytes[..2], &[0x8a, 0x85]);
    let f = parse_stream(bytes, false);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].opcode, f[0].payload.as_slice()), (OpCode::Pong, &b"Hello"[..]));
    assert!(e.read_pending(), "the receive is still waiting for data");
}

// ---- client encoding: masked frames decode to the same payload ----

fn client_writes(c: &mut Handle, ty: BufferType, buffer: Option<SendBuffer>) -> Vec<u8> {
    c.send(ty, buffer, 3).unwrap();
    let mut w = Vec::new();
    loop {
        let a = c.get_action(ActionQueue::Send).unwrap();
        let tok = a.token();
        match a {
            Action::SendToNetwork { buffers, .. } => {
                let n = buffers.len();
                buffers.as_slices().iter().for_each(|b| w.extend_from_slice(b));
                c.complete_action(tok, n);
            }
            Action::IndicateSendComplete { .. } => {
                c.complete_action(tok, 0);
                return w;
            }
            other => panic!("unexpected {:?}", other.kind()),
        }
    }
}

#[test]
fn client_frames_decode_to_the_rfc_payloads() {
    let mut c = open_client(Config::client());
    let w = client_writes(&mut c, BufferType::Utf8Message, Some(SendBuffer::Data("Hello".into())));
    assert_eq!(w.len(), HELLO_MASKED.len());
    assert_eq!(&w[..2], &HELLO_MASKED[..2]);
    let f = parse_stream(&w, false);
    assert_eq!((f[0].fin, f[0].opcode, f[0].payload.as_slice()), (true, OpCode::Text, &b"Hello"[..]));
    assert!(f[0].mask.is_some());
    // A real server decodes it to the same payload.
    let (e, err) = feed(open_server(Config::server()), &w, usize::MAX);
    assert!(err.is_none());
    assert_eq!(e.messages(), [(BufferType::Utf8Message, b"Hello".to_vec())]);

    let mut all = client_writes(&mut c, BufferType::Utf8Fragment, Some(SendBuffer::Data("Hel".into())));
    all.extend(client_writes(&mut c, BufferType::Utf8Message, Some(SendBuffer::Data("lo".into()))));
    all.extend(client_writes(&mut c, BufferType::BinaryMessage, Some(SendBuffer::Data(binary_256().into()))));
    all.extend(client_writes(&mut c, BufferType::BinaryMessage, Some(SendBuffer::Data(binary_64k().into()))));
    let f = parse_stream(&all, false);
    let heads: Vec<(bool, OpCode, usize)> = f.iter().map(|f| (f.fin, f.opcode, f.payload.len())).collect();
    assert_eq!(
        heads,
        [
            (false, OpCode::Text, 3),
            (true, OpCode::Continuation, 2),
            (true, OpCode::Binary, 256),
            (true, OpCode::Binary, 65536)
        ]
    );
    assert_eq!(&all[..2], &[0x01, 0x83]);
    assert_eq!(&all[9..11], &[0x80, 0x82]);
    assert_eq!(f[2].payload, binary_256());
    assert_eq!(f[3].payload, binary_64k());
    // The length encodings of the RFC, with the MASK bit.
    let b256 = &all[(2 + 4 + 3) + (2 + 4 + 2)..];
    assert_eq!(&b256[..4], &[0x82, 0xfe, 0x01, 0x00]);
    let b64k = &b256[4 + 4 + 256..];
    assert_eq!(&b64k[..10], &[0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0]);
    // Every frame has its own fresh key.
    let keys: Vec<_> = f.iter().map(|f| f.mask.unwrap()).collect();
    assert!(keys.windows(2).all(|w| w[0] != w[1]), "{keys:x?}");
}

#[test]
fn zero_mask_client_frames_are_byte_exact() {
    // DisableMasking: MASK bit set, all-zero key, payload unchanged.
    let mut c = open_client(Config::client().disable_masking(true));
    let w = client_writes(&mut c, BufferType::Utf8Message, Some(SendBuffer::Data("Hello".into())));
    assert_eq!(w, [0x81, 0x85, 0, 0, 0, 0, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let w = client_writes(&mut c, BufferType::PingPong, Some(SendBuffer::Data("Hello".into())));
    assert_eq!(w, [0x89, 0x85, 0, 0, 0, 0, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let w = client_writes(&mut c, BufferType::UnsolicitedPong, None);
    assert_eq!(w, [0x8a, 0x80, 0, 0, 0, 0]);
}

#[test]
fn server_sends_pong_and_close_byte_exact() {
    let mut s = open_server(Config::server());
    assert_eq!(
        server_sends(&mut s, BufferType::UnsolicitedPong, Some(SendBuffer::Data(Payload::from("Hello")))),
        [vec![0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]]
    );
    assert_eq!(
        server_sends(&mut s, BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: "bye".into() })),
        [vec![0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']]
    );
}
