//! One test per protocol violation: the error, its HRESULT, its close code, and the exact
//! byte at which it is found (bytes are fed one at a time).

mod common;
use common::*;
use wspc::hresult::{E_INVALID_PROTOCOL_FORMAT, E_INVALID_PROTOCOL_OPERATION};
use wspc::{Action, ActionQueue, BufferType, Config, Error, Handle, ProtocolError};

const FORMAT: i32 = E_INVALID_PROTOCOL_FORMAT;
const OPERATION: i32 = E_INVALID_PROTOCOL_OPERATION;

/// Feeds `bytes` one at a time and asserts that `want` is reported exactly when byte number
/// `at` (1-based) arrives, with `hresult` and `close`; then that feeding everything at once
/// fails the same way.
fn fails_at(
    mk: impl Fn() -> Handle,
    bytes: &[u8],
    want: ProtocolError,
    at: usize,
    hresult: i32,
    close: u16,
) -> Endpoint {
    let (e, err) = feed(mk(), bytes, 1);
    let (err, fed) = err.unwrap_or_else(|| panic!("no error for {bytes:02x?}; log {:?}", e.log));
    assert_eq!(err, Error::Protocol(want), "{bytes:02x?}");
    assert_eq!(fed, at, "{want:?} found after {fed} bytes, expected at byte {at}");
    assert_eq!(err.hresult(), hresult, "{want:?}");
    assert_eq!(err.close_code(), Some(close), "{want:?}");
    let (_, all) = feed(mk(), bytes, usize::MAX);
    assert_eq!(all.map(|x| x.0), Some(Error::Protocol(want)));
    e
}

fn client() -> Handle {
    open_client(Config::client())
}
fn server() -> Handle {
    open_server(Config::server())
}

#[test]
fn reserved_bits() {
    for b0 in [0xc1u8, 0xa1, 0x91, 0xf2, 0x89 | 0x20] {
        fails_at(client, &[b0, 0x00], ProtocolError::ReservedBits, 1, FORMAT, 1002);
        fails_at(server, &[b0, 0x80, 1, 2, 3, 4], ProtocolError::ReservedBits, 1, FORMAT, 1002);
    }
}

#[test]
fn reserved_opcodes() {
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        fails_at(client, &[0x80 | op, 0x00], ProtocolError::ReservedOpcode(op), 1, FORMAT, 1002);
        fails_at(server, &[0x80 | op, 0x80, 1, 2, 3, 4], ProtocolError::ReservedOpcode(op), 1, FORMAT, 1002);
    }
}

#[test]
fn control_frame_longer_than_125() {
    for op in [0x88u8, 0x89, 0x8a] {
        fails_at(client, &[op, 126, 0x00, 126], ProtocolError::ControlFrameTooLong, 2, FORMAT, 1002);
        fails_at(client, &[op, 127, 0, 0, 0, 0, 0, 0, 0, 126], ProtocolError::ControlFrameTooLong, 2, FORMAT, 1002);
    }
    // 125 is fine.
    let mut ok = frame(0x8a, &[7; 125], None);
    ok.extend(frame(0x82, b"x", None));
    let (e, err) = feed(client(), &ok, 1);
    assert!(err.is_none());
    assert_eq!(e.controls(), [(BufferType::PingPong, vec![7; 125], None)]);
}

#[test]
fn fragmented_control_frame() {
    for op in [0x08u8, 0x09, 0x0a] {
        fails_at(client, &[op, 0x00], ProtocolError::FragmentedControlFrame, 1, FORMAT, 1002);
    }
}

#[test]
fn continuation_without_a_message() {
    fails_at(client, &[0x80, 0x01, b'a'], ProtocolError::UnexpectedContinuation, 2, OPERATION, 1002);
    fails_at(server, &frame(0x00, b"a", Some(KEY)), ProtocolError::UnexpectedContinuation, 6, OPERATION, 1002);
    // Also after a finished message.
    let mut b = frame(0x81, b"ok", None);
    b.extend(frame(0x80, b"a", None));
    let e = fails_at(client, &b, ProtocolError::UnexpectedContinuation, 6, OPERATION, 1002);
    assert_eq!(e.messages(), [(BufferType::Utf8Message, b"ok".to_vec())]);
}

#[test]
fn new_message_inside_an_unfinished_one() {
    let mut b = frame(0x01, b"a", None);
    b.extend(frame(0x82, b"b", None));
    let e = fails_at(client, &b, ProtocolError::ExpectedContinuation, 5, OPERATION, 1002);
    assert_eq!(e.chunks(), [(BufferType::Utf8Fragment, 1)]);
    // Control frames may come in between; data may not.
    let mut b = frame(0x02, b"a", None);
    b.extend(frame(0x8a, b"p", None));
    b.extend(frame(0x01, b"b", None));
    let e = fails_at(client, &b, ProtocolError::ExpectedContinuation, 8, OPERATION, 1002);
    assert_eq!(e.controls(), [(BufferType::PingPong, b"p".to_vec(), None)]);
}

#[test]
fn one_byte_close_payload() {
    fails_at(client, &[0x88, 0x01, 0x03], ProtocolError::InvalidClosePayload, 3, FORMAT, 1002);
    fails_at(server, &frame(0x88, &[0x03], Some(KEY)), ProtocolError::InvalidClosePayload, 7, FORMAT, 1002);
}

#[test]
fn invalid_close_codes() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let b = frame(0x88, &code.to_be_bytes(), None);
        fails_at(client, &b, ProtocolError::InvalidCloseCode(code), 4, FORMAT, 1002);
        let b = frame(0x88, &[&code.to_be_bytes()[..], b"why"].concat(), Some(KEY));
        fails_at(server, &b, ProtocolError::InvalidCloseCode(code), 11, FORMAT, 1002);
    }
    for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999] {
        let (e, err) = feed(client(), &frame(0x88, &code.to_be_bytes(), None), 1);
        assert!(err.is_none(), "{code}: {err:?}");
        assert_eq!(e.controls(), [(BufferType::Close, vec![], Some(code))]);
    }
}

#[test]
fn invalid_utf8_in_text_is_found_at_the_first_bad_byte() {
    // (payload, 1-based index of the first byte that makes it invalid)
    let cases: [(&[u8], usize); 10] = [
        (b"ab\xffcd", 3),
        (b"\xc0\xaf", 1),
        (b"\xc1\xbf", 1),
        (b"ok\xf5\x80\x80\x80", 3),
        (b"\xed\xa0\x80", 2),     // surrogate
        (b"\xf4\x90\x80\x80", 2), // above U+10FFFF
        (b"\xe0\x80\xaf", 2),     // overlong
        (b"\xe2\x82A", 3),
        (b"\xf0\x9f\x98\x80\xf0\x9fx", 7),
        (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", 13),
    ];
    for (payload, bad) in cases {
        fails_at(client, &frame(0x81, payload, None), ProtocolError::InvalidUtf8, 2 + bad, FORMAT, 1007);
        fails_at(server, &frame(0x81, payload, Some(KEY)), ProtocolError::InvalidUtf8, 6 + bad, FORMAT, 1007);
        // The valid prefix was handed out before the error.
        let (e, _) = feed(client(), &frame(0x81, payload, None), 1);
        let got: Vec<u8> = e
            .log
            .iter()
            .filter_map(|x| if let Ev::Recv { data, .. } = x { Some(data.clone()) } else { None })
            .collect::<Vec<_>>()
            .concat();
        let valid = std::str::from_utf8(&payload[..bad - 1]).map(|s| s.len()).unwrap_or_else(|e| e.valid_up_to());
        assert_eq!(got, payload[..valid], "{payload:02x?}");
    }
}

#[test]
fn invalid_utf8_across_frames_and_chunks() {
    // A code point split by the peer's frames, then broken in the next frame.
    let mut b = frame(0x01, b"a\xe2\x82", None);
    let at = b.len() + 2 + 1;
    b.extend(frame(0x80, b"Abc", None));
    fails_at(client, &b, ProtocolError::InvalidUtf8, at, FORMAT, 1007);
    // ... and completed correctly: fine.
    let mut ok = frame(0x01, b"a\xe2\x82", None);
    ok.extend(frame(0x80, b"\xacbc", None));
    let (e, err) = feed(client(), &ok, 1);
    assert!(err.is_none());
    assert_eq!(e.messages(), [(BufferType::Utf8Message, "a€bc".as_bytes().to_vec())]);
    // A message that ends inside a code point fails at its last byte.
    let b = frame(0x81, b"ab\xf0\x9f\x98", None);
    fails_at(client, &b, ProtocolError::InvalidUtf8, b.len(), FORMAT, 1007);
    let mut b = frame(0x01, b"ab\xf0\x9f", None);
    b.extend(frame(0x80, b"", None));
    fails_at(client, &b, ProtocolError::InvalidUtf8, b.len(), FORMAT, 1007);
    // Across chunks: with a 256-byte receive buffer the message spans many reads, and the
    // bad byte sits far into it.
    let mut payload = text(1000, 3);
    payload[777] = 0xff;
    let b = frame(0x81, &payload, None);
    let small = || open_client(Config::client().receive_buffer_size(256).unwrap());
    let e = fails_at(small, &b, ProtocolError::InvalidUtf8, 4 + 778, FORMAT, 1007);
    let delivered: usize = e.chunks().iter().map(|c| c.1).sum();
    assert!((774..=777).contains(&delivered), "{delivered}");
    assert!(e.chunks().iter().all(|c| c.0 == BufferType::Utf8Fragment));
}

#[test]
fn utf8_checks_can_be_turned_off() {
    let cfg = || open_client(Config::client().disable_utf8_verification(true));
    let mut b = frame(0x81, b"\xff\xfe", None);
    b.extend(frame(0x88, b"\x03\xe8\xff", None));
    let (e, err) = feed(cfg(), &b, 1);
    assert!(err.is_none());
    assert_eq!(e.messages(), [(BufferType::Utf8Message, b"\xff\xfe".to_vec())]);
    assert_eq!(e.controls(), [(BufferType::Close, b"\xff".to_vec(), Some(1000))]);
}

#[test]
fn invalid_utf8_in_a_close_reason() {
    let b = frame(0x88, b"\x03\xe8ok\xff", None);
    fails_at(client, &b, ProtocolError::InvalidUtf8InCloseReason, b.len(), FORMAT, 1007);
    let b = frame(0x88, b"\x03\xe8\xe2\x82", Some(KEY));
    fails_at(server, &b, ProtocolError::InvalidUtf8InCloseReason, b.len(), FORMAT, 1007);
}

#[test]
fn unmasked_frame_to_a_server() {
    fails_at(server, &[0x81, 0x01, b'a'], ProtocolError::UnmaskedFrame, 2, FORMAT, 1002);
    fails_at(server, &[0x89, 0x00], ProtocolError::UnmaskedFrame, 2, FORMAT, 1002);
    // DisableMasking on a server accepts them (and masked ones too).
    let mut b = frame(0x81, b"plain", None);
    b.extend(frame(0x82, b"masked", Some(KEY)));
    let (e, err) = feed(open_server(Config::server().disable_masking(true)), &b, 1);
    assert!(err.is_none());
    assert_eq!(
        e.messages(),
        [(BufferType::Utf8Message, b"plain".to_vec()), (BufferType::BinaryMessage, b"masked".to_vec())]
    );
}

#[test]
fn masked_frame_to_a_client() {
    fails_at(client, &frame(0x81, b"a", Some(KEY)), ProtocolError::MaskedFrame, 6, FORMAT, 1002);
    fails_at(client, &frame(0x8a, b"", Some(KEY)), ProtocolError::MaskedFrame, 6, FORMAT, 1002);
    // DisableMasking does not make a client accept masked frames.
    let c = || open_client(Config::client().disable_masking(true));
    fails_at(c, &frame(0x82, b"a", Some([0; 4])), ProtocolError::MaskedFrame, 6, FORMAT, 1002);
}

#[test]
fn length_with_the_top_bit_set() {
    let b = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
    fails_at(client, &b, ProtocolError::LengthTopBitSet, 10, FORMAT, 1002);
    let b = [0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
    fails_at(server, &b, ProtocolError::LengthTopBitSet, 10, FORMAT, 1002);
}

#[test]
fn max_message_size_is_checked_from_the_header() {
    let c = || open_client(Config::client().max_message_size(Some(1000)));
    let at_limit = frame(0x82, &[0; 1000], None);
    assert!(feed(c(), &at_limit, 100).1.is_none());
    // The header of a 1001-byte frame is enough; no payload is needed.
    let b = [0x82, 126, 0x03, 0xe9];
    fails_at(c, &b, ProtocolError::MessageTooBig { limit: 1000 }, 4, FORMAT, 1009);
    // Over several frames: the frame whose header crosses the limit.
    let mut b = frame(0x02, &[1; 600], None);
    let at = b.len() + 4;
    b.extend(frame(0x80, &[2; 401], None));
    let e = fails_at(c, &b, ProtocolError::MessageTooBig { limit: 1000 }, at, FORMAT, 1009);
    assert_eq!(e.chunks().iter().map(|c| c.1).sum::<usize>(), 600);
    // The server side, with a huge declared length and no payload at all.
    let s = || open_server(Config::server().max_message_size(Some(1 << 20)));
    let b = [0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
    fails_at(s, &b, ProtocolError::MessageTooBig { limit: 1 << 20 }, 14, FORMAT, 1009);
}

#[test]
fn max_frame_size_is_checked_from_the_header() {
    let c = || open_client(Config::client().max_frame_size(Some(100)));
    fails_at(c, &[0x82, 101], ProtocolError::FrameTooBig { limit: 100 }, 2, FORMAT, 1009);
    // Many frames of 100 bytes each are fine: the limit is per frame.
    let mut b = Vec::new();
    for _ in 0..9 {
        b.extend(frame(0x00, &[0; 100], None));
    }
    b[0] = 0x02;
    b.extend(frame(0x80, &[0; 100], None));
    let (e, err) = feed(c(), &b, 64);
    assert!(err.is_none());
    assert_eq!(e.messages()[0].1.len(), 1000);
}

#[test]
fn max_fragments() {
    let c = || open_client(Config::client().max_fragments(Some(3)));
    let mut ok = frame(0x01, b"a", None);
    ok.extend(frame(0x00, b"b", None));
    ok.extend(frame(0x80, b"c", None));
    let (e, err) = feed(c(), &ok, 1);
    assert!(err.is_none());
    assert_eq!(e.messages(), [(BufferType::Utf8Message, b"abc".to_vec())]);
    let mut b = ok.clone();
    b[6] = 0x00; // the third frame is not final
    let at = b.len() + 2;
    b.extend(frame(0x80, b"d", None));
    fails_at(c, &b, ProtocolError::TooManyFragments { limit: 3 }, at, FORMAT, 1009);
}

#[test]
fn no_limits_accept_many_fragments_and_a_long_frame() {
    let c = || open_client(Config::client().max_fragments(None).max_message_size(None).max_frame_size(None));
    let mut b = frame(0x02, &[1; 10], None);
    for _ in 0..200 {
        b.extend(frame(0x00, &[2; 10], None));
    }
    b.extend(frame(0x80, &[3; 70_000], None));
    let (e, err) = feed(c(), &b, 4096);
    assert!(err.is_none());
    assert_eq!(e.messages()[0].1.len(), 10 + 200 * 10 + 70_000);
}

#[test]
fn a_protocol_error_is_sticky_until_abort() {
    let (mut e, err) = feed(client(), &[0x83, 0x00], 1);
    assert_eq!(err.unwrap().0, Error::Protocol(ProtocolError::ReservedOpcode(3)));
    for q in [ActionQueue::Receive, ActionQueue::All] {
        assert_eq!(e.h.get_action(q).unwrap_err(), Error::Protocol(ProtocolError::ReservedOpcode(3)));
    }
    assert_eq!(e.h.receive_half().error(), Some(ProtocolError::ReservedOpcode(3)));
    assert_eq!(e.h.receive(1).unwrap_err().hresult(), OPERATION);
    // The send side still works, so the application can send the close code.
    e.h.send(
        BufferType::Close,
        Some(wspc::SendBuffer::Close { status: ProtocolError::ReservedOpcode(3).close_code(), reason: "bad".into() }),
        2,
    )
    .unwrap();
    let a = e.h.get_action(ActionQueue::Send).unwrap();
    let Action::SendToNetwork { buffers, .. } = &a else { panic!("{:?}", a.kind()) };
    let f = parse_stream(&buffers.as_slices().concat(), false);
    assert_eq!(f[0].payload, [&[0x03, 0xea][..], b"bad"].concat());
    let t = a.token();
    e.h.complete_action(t, 13);
    let t = e.h.get_action(ActionQueue::Send).unwrap().token();
    e.h.complete_action(t, 0);
    // The receive that failed comes back as an empty completion after abort, then nothing.
    e.h.abort();
    let a = e.h.get_action(ActionQueue::All).unwrap();
    let Action::IndicateReceiveComplete { data, .. } = &a else { panic!("{:?}", a.kind()) };
    assert!(data.is_empty());
    let t = a.token();
    e.h.complete_action(t, 0);
    assert!(matches!(e.h.get_action(ActionQueue::All), Ok(Action::NoAction)));
}
