//! The decoder against the encoder: any split of the input, with or without direct reads,
//! gives the same messages; bad input gives the same error wherever it is cut.

use super::*;
use crate::{BufferType, Config, Handle, Header, OwnedHeader, ProtocolError};
use proptest::prelude::*;

/// What came out of a stream, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Msg(bool, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, Vec<u8>),
    Err(ProtocolError),
}

/// Feeds `wire` to `dec` in pieces of the sizes `cuts` gives (cycled), through one buffer
/// as a transport would; with `direct`, payload offered by `Event::Payload` is read straight
/// into the message instead. Returns everything decoded.
fn decode_all(dec: &mut Decoder, wire: &[u8], cuts: &[usize], direct: bool) -> Vec<Out> {
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut msg: Vec<u8> = Vec::new();
    let mut cut = cuts.iter().copied().cycle();
    let mut next_len = || cut.next().unwrap_or(usize::MAX).max(1);
    let mut appended = Vec::new();
    loop {
        // With `direct`, whole messages are also taken through the appending fast path.
        let d = if direct && msg.is_empty() {
            appended.clear();
            dec.decode_append(&mut buf, &mut appended)
        } else {
            dec.decode(&mut buf)
        };
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                // Sticky.
                assert_eq!(dec.decode(&mut buf), Err(e));
                out.push(Out::Err(e));
                return out;
            }
        };
        let mut more = false;
        match d.event {
            Event::NeedMore => more = true,
            Event::Payload(p) => {
                if direct && pos < wire.len() {
                    assert_eq!(d.consumed, buf.len(), "a direct offer comes with all input consumed");
                    buf.clear();
                    let n = (p.remaining as usize).min(next_len()).min(wire.len() - pos);
                    let mut part = wire[pos..pos + n].to_vec();
                    pos += n;
                    match dec.direct(&mut part) {
                        Ok(status) => {
                            msg.extend_from_slice(&part);
                            if status == DirectStatus::MessageEnd {
                                out.push(Out::Msg(p.text, std::mem::take(&mut msg)));
                            }
                        }
                        Err(crate::Error::Protocol(e)) => {
                            out.push(Out::Err(e));
                            return out;
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                    continue;
                }
                more = true;
            }
            Event::Data(c) if c.source == Source::Appended => {
                assert!(c.last);
                out.push(Out::Msg(c.text, appended[c.start..c.start + c.len].to_vec()));
            }
            Event::Data(c) => {
                msg.extend_from_slice(dec.chunk(&buf, &c));
                if c.text && dec.verifies_utf8() && c.last {
                    assert!(std::str::from_utf8(&msg).is_ok());
                }
                if c.last {
                    out.push(Out::Msg(c.text, std::mem::take(&mut msg)));
                    dec.release_inflated();
                }
            }
            Event::Ping { start, len } => out.push(Out::Ping(buf[start..start + len].to_vec())),
            Event::Pong { start, len } => out.push(Out::Pong(buf[start..start + len].to_vec())),
            Event::Close { code, start, len } => {
                out.push(Out::Close(code, buf[start..start + len].to_vec()));
                return out;
            }
        }
        buf.drain(..d.consumed);
        if more {
            if pos == wire.len() {
                return out;
            }
            let n = next_len().min(wire.len() - pos);
            buf.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
        }
    }
}

/// One item of a generated stream: a message in frames of the given sizes, or a control
/// frame.
#[derive(Clone, Debug)]
enum Item {
    Msg { text: bool, payload: Vec<u8>, frames: Vec<usize> },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn encode_all(enc: &mut Encoder, items: &[Item], close: Option<(u16, &[u8])>) -> (Vec<u8>, Vec<Out>) {
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for item in items {
        match item {
            Item::Msg { text, payload, frames } => {
                let mut at = 0;
                let mut sizes = frames.iter().copied();
                loop {
                    let n = sizes.next().unwrap_or(usize::MAX).min(payload.len() - at);
                    let last = at + n == payload.len();
                    enc.encode(BufferType::data(*text, last), &payload[at..at + n], &mut wire).unwrap();
                    at += n;
                    if last {
                        break;
                    }
                }
                want.push(Out::Msg(*text, payload.clone()));
            }
            Item::Ping(p) => {
                enc.encode(BufferType::PingPong, p, &mut wire).unwrap();
                want.push(Out::Ping(p.clone()));
            }
            Item::Pong(p) => {
                enc.encode(BufferType::UnsolicitedPong, p, &mut wire).unwrap();
                want.push(Out::Pong(p.clone()));
            }
        }
    }
    if let Some((code, reason)) = close {
        enc.encode_close(Some(code), reason, &mut wire).unwrap();
        want.push(Out::Close(code, reason.to_vec()));
        assert!(enc.encode(BufferType::BinaryMessage, b"x", &mut wire).is_err(), "no data after a close");
    }
    (wire, want)
}

/// A client encoder and a server decoder (and the reverse pair), negotiated through the
/// handshake, with permessage-deflate when `deflate`.
fn pair(deflate: bool) -> ((Encoder, Decoder), (Encoder, Decoder)) {
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    let (mut cc, mut sc) = (Config::client(), Config::server());
    #[cfg(feature = "deflate")]
    if deflate {
        use crate::deflate::{DeflateConfig, DeflatePolicy};
        let dc = DeflateConfig { threshold: 8, ..DeflateConfig::policy(DeflatePolicy::BestRatio) };
        cc = cc.deflate(Some(dc.clone()));
        sc = sc.deflate(Some(dc));
    }
    #[cfg(not(feature = "deflate"))]
    let _ = deflate;
    let mut client = Handle::client(cc).unwrap();
    let mut server = Handle::server(sc).unwrap();
    let mut req: Vec<OwnedHeader> = client.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "h".into() });
    let reqh: Vec<Header> = req.iter().map(OwnedHeader::as_header).collect();
    let resp: Vec<OwnedHeader> = server.begin_server_handshake(None, &[], &reqh).unwrap().to_vec();
    let resph: Vec<Header> = resp.iter().map(OwnedHeader::as_header).collect();
    client.end_client_handshake(&resph).unwrap();
    server.end_server_handshake().unwrap();
    (client.into_codec().unwrap(), server.into_codec().unwrap())
}

fn text_of(len: usize, seed: u8) -> Vec<u8> {
    let pieces = ["a", "ë", "€", "𝄞", "z", " "];
    let mut s = String::new();
    let mut i = seed as usize;
    while s.len() < len {
        s.push_str(pieces[i % pieces.len()]);
        i = i.wrapping_mul(7).wrapping_add(3);
    }
    s.into_bytes()
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (any::<bool>(), 0usize..3000, any::<u8>(), proptest::collection::vec(0usize..900, 0..4)).prop_map(
            |(text, len, seed, frames)| {
                let payload = if text { text_of(len, seed) } else { (0..len).map(|i| (i as u8) ^ seed).collect() };
                Item::Msg { text, payload, frames }
            }
        ),
        proptest::collection::vec(any::<u8>(), 0..126).prop_map(Item::Ping),
        proptest::collection::vec(any::<u8>(), 0..126).prop_map(Item::Pong),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_events(items in proptest::collection::vec(item(), 0..8),
                                       cuts in proptest::collection::vec(1usize..700, 1..6),
                                       deflate in any::<bool>(), direct in any::<bool>(), close in any::<bool>()) {
        let ((mut enc, _), (_, mut dec)) = pair(deflate);
        let (wire, want) = encode_all(&mut enc, &items, close.then_some((1000, &b"bye"[..])));
        let got = decode_all(&mut dec, &wire, &cuts, direct);
        prop_assert_eq!(&got, &want);
        // The other direction: server frames (unmasked) to a client decoder, whole.
        let ((_, mut cdec), (mut senc, _)) = pair(deflate);
        let (wire, want) = encode_all(&mut senc, &items, None);
        prop_assert_eq!(decode_all(&mut cdec, &wire, &[usize::MAX], direct), want);
    }

    #[test]
    fn invalid_text_fails_the_same_wherever_it_is_cut(len in 1usize..2000, at in any::<prop::sample::Index>(),
                                                     bad in prop_oneof![Just(0xffu8), Just(0x80), Just(0xc3)],
                                                     cuts in proptest::collection::vec(1usize..300, 1..4),
                                                     direct in any::<bool>(), frames in proptest::collection::vec(1usize..700, 0..3)) {
        let mut payload = text_of(len, 1);
        let i = at.index(payload.len());
        payload[i] = bad;
        if std::str::from_utf8(&payload).is_ok() {
            return Ok(());
        }
        let ((mut enc, _), (_, mut dec)) = pair(false);
        let (wire, _) = encode_all(&mut enc, &[Item::Msg { text: true, payload, frames }], None);
        let got = decode_all(&mut dec, &wire, &cuts, direct);
        prop_assert_eq!(got.last(), Some(&Out::Err(ProtocolError::InvalidUtf8)));
        prop_assert_eq!(got.len(), 1);
    }
}

/// The queued path (the Windows API, lending chunks of a 256-byte buffer) and the decoder
/// driven directly agree on a stream with everything in it.
#[test]
fn agrees_with_the_action_queue() {
    use crate::{Action, ActionQueue};
    let items = vec![
        Item::Msg { text: true, payload: text_of(1000, 3), frames: vec![300, 0, 500] },
        Item::Ping(b"p".to_vec()),
        Item::Msg { text: false, payload: vec![9; 70_000], frames: vec![] },
        Item::Pong(vec![]),
        Item::Msg { text: true, payload: vec![], frames: vec![] },
    ];
    let ((mut enc, _), _) = pair(false);
    let (wire, want) = encode_all(&mut enc, &items, Some((1001, b"away")));
    let mut server = Handle::server(Config::server().receive_buffer_size(256).unwrap()).unwrap();
    server.open_without_handshake().unwrap();
    let mut got = Vec::new();
    let (mut pos, mut msg) = (0, Vec::new());
    'outer: loop {
        server.receive(0).unwrap();
        loop {
            let a = server.get_action(ActionQueue::Receive).unwrap();
            let token = a.token();
            match a {
                Action::ReceiveFromNetwork { buffer, .. } => {
                    let n = buffer.len().min(wire.len() - pos).min(77);
                    buffer[..n].copy_from_slice(&wire[pos..pos + n]);
                    pos += n;
                    server.complete_action(token, n);
                }
                Action::SendToNetwork { buffers, .. } => {
                    let n = buffers.len();
                    server.complete_action(token, n);
                }
                Action::IndicateReceiveComplete { buffer_type, data, close_status, .. } => {
                    match buffer_type {
                        BufferType::PingPong => got.push(Out::Pong(data.to_vec())),
                        BufferType::Close => got.push(Out::Close(close_status.unwrap(), data.to_vec())),
                        ty => {
                            msg.extend_from_slice(data);
                            if ty.is_message_end() {
                                got.push(Out::Msg(ty.is_text(), std::mem::take(&mut msg)));
                            }
                        }
                    }
                    server.complete_action(token, 0);
                    if buffer_type == BufferType::Close {
                        break 'outer;
                    }
                    break;
                }
                a => panic!("{:?}", a.kind()),
            }
        }
    }
    // The queue answers the ping itself and reports no received ping.
    let want: Vec<Out> = want.into_iter().filter(|o| !matches!(o, Out::Ping(_))).collect();
    assert_eq!(got, want);
}

#[test]
fn protocol_errors_with_their_close_codes() {
    let mask = Some([1, 2, 3, 4]);
    let frame = |b0: u8, payload: &[u8], mask: Option<[u8; 4]>| {
        let mut v = vec![0u8; 14];
        let n = crate::codec::frame::encode_header(
            &mut v,
            b0 & 0x80 != 0,
            b0 & 0x40 != 0,
            match b0 & 0xf {
                0 => crate::codec::frame::OpCode::Continuation,
                1 => crate::codec::frame::OpCode::Text,
                2 => crate::codec::frame::OpCode::Binary,
                8 => crate::codec::frame::OpCode::Close,
                9 => crate::codec::frame::OpCode::Ping,
                _ => crate::codec::frame::OpCode::Pong,
            },
            mask,
            payload.len() as u64,
        );
        v.truncate(n);
        let at = v.len();
        v.extend_from_slice(payload);
        if let Some(k) = mask {
            crate::codec::mask::apply_mask(&mut v[at..], k, 0);
        }
        v
    };
    let cases: Vec<(Config, Vec<u8>, ProtocolError, u16)> = vec![
        (Config::server(), frame(0x82, b"x", None), ProtocolError::UnmaskedFrame, 1002),
        (Config::client(), frame(0x82, b"x", mask), ProtocolError::MaskedFrame, 1002),
        (Config::server(), frame(0x80, b"x", mask), ProtocolError::UnexpectedContinuation, 1002),
        (
            Config::server(),
            [frame(0x01, b"x", mask), frame(0x81, b"y", mask)].concat(),
            ProtocolError::ExpectedContinuation,
            1002,
        ),
        (Config::server(), frame(0xc2, b"x", mask), ProtocolError::ReservedBits, 1002),
        (Config::server(), frame(0x88, b"\x03", mask), ProtocolError::InvalidClosePayload, 1002),
        (Config::server(), frame(0x88, b"\x03\xed", mask), ProtocolError::InvalidCloseCode(1005), 1002),
        (Config::server(), frame(0x88, b"\x03\xe8\xff", mask), ProtocolError::InvalidUtf8InCloseReason, 1007),
        (Config::server(), frame(0x81, b"\xc3\x28", mask), ProtocolError::InvalidUtf8, 1007),
        (
            Config::server().max_message_size(Some(10)),
            [frame(0x02, &[0; 6], mask), frame(0x80, &[0; 6], mask)].concat(),
            ProtocolError::MessageTooBig { limit: 10 },
            1009,
        ),
        (
            Config::server().max_frame_size(Some(4)),
            frame(0x82, &[0; 5], mask),
            ProtocolError::FrameTooBig { limit: 4 },
            1009,
        ),
        (
            Config::server().max_fragments(Some(2)),
            [frame(0x02, b"a", mask), frame(0x00, b"b", mask), frame(0x80, b"c", mask)].concat(),
            ProtocolError::TooManyFragments { limit: 2 },
            1009,
        ),
    ];
    for (cfg, wire, err, code) in cases {
        for cut in [1, 2, 3, 1000] {
            let mut dec = Decoder::new(&cfg);
            let got = decode_all(&mut dec, &wire, &[cut], cut == 2);
            assert_eq!(got.last(), Some(&Out::Err(err)), "{err:?} cut {cut}");
            assert_eq!(err.close_code(), code);
        }
    }
}

#[test]
fn a_code_point_split_by_reads_is_held_back_and_direct_misuse_is_refused() {
    let ((mut enc, _), (_, mut dec)) = pair(false);
    let mut wire = Vec::new();
    enc.encode(BufferType::Utf8Message, "ab€".as_bytes(), &mut wire).unwrap();
    let hdr = 6;
    let mut buf = wire[..hdr + 3].to_vec(); // "ab" and the first byte of the euro sign
    let d = dec.decode(&mut buf).unwrap();
    let Event::Data(c) = d.event else { panic!("{d:?}") };
    assert_eq!((dec.chunk(&buf, &c), c.last), (&b"ab"[..], false));
    assert_eq!(d.consumed, hdr + 2, "the unfinished code point stays in the input");
    buf.drain(..d.consumed);
    assert_eq!(dec.decode(&mut buf).unwrap(), Decoded { consumed: 0, event: Event::NeedMore });
    assert!(dec.direct_offer().is_none(), "bytes of the frame are held back");
    assert!(dec.direct(&mut [0]).is_err());
    buf.extend_from_slice(&wire[hdr + 3..]);
    let d = dec.decode(&mut buf).unwrap();
    let Event::Data(c) = d.event else { panic!("{d:?}") };
    assert_eq!((dec.chunk(&buf, &c), c.last), ("€".as_bytes(), true));
}

#[test]
fn encoder_rules() {
    let mut enc = Encoder::new(&Config::server());
    let mut out = Vec::new();
    enc.encode(BufferType::Utf8Fragment, b"a", &mut out).unwrap();
    assert!(enc.in_message());
    assert!(enc.encode(BufferType::BinaryMessage, b"b", &mut out).is_err(), "text and binary mixed");
    enc.encode(BufferType::PingPong, b"between", &mut out).unwrap();
    assert!(enc.encode(BufferType::PingPong, &[0; 126], &mut out).is_err());
    enc.encode(BufferType::Utf8Message, b"b", &mut out).unwrap();
    assert!(enc.encode_close(Some(1005), b"", &mut out).is_err(), "1005 may not be sent");
    assert!(enc.encode_close(Some(1000), &[b'r'; 124], &mut out).is_err());
    enc.encode_close(Some(1000), b"done", &mut out).unwrap();
    assert!(enc.is_close_sent());
    assert!(enc.encode(BufferType::Utf8Message, b"late", &mut out).is_err());
    enc.encode(BufferType::UnsolicitedPong, b"", &mut out).unwrap();
    assert_eq!(
        out,
        [&[0x01, 1, b'a', 0x89, 7][..], b"between", &[0x80, 1, b'b', 0x88, 6, 0x03, 0xe8], b"done", &[0x8a, 0]]
            .concat()
    );
    // A client's frames are masked with a fresh key: the decoder takes them back.
    let mut c = Encoder::new(&Config::client());
    let mut wire = Vec::new();
    c.encode_close(Some(1001), b"x", &mut wire).unwrap();
    assert_eq!(wire[1], 0x80 | 3);
    let mut dec = Decoder::new(&Config::server());
    let d = dec.decode(&mut wire).unwrap();
    assert_eq!(d.event, Event::Close { code: 1001, start: 8, len: 1 });
    assert_eq!(&wire[8..9], b"x");
}

#[test]
fn codec_state_is_small() {
    // Every connection carries a decoder and an encoder. The decoder was 120 bytes (a
    // padded `Option<Message>`, a 16-byte `Option<ProtocolError>`, a 64-bit mask phase and
    // input count); the encoder 32 (a mask key pool of three padded fields).
    assert!(size_of::<Decoder>() <= 96, "Decoder is {} bytes", size_of::<Decoder>());
    assert!(size_of::<Encoder>() <= 24, "Encoder is {} bytes", size_of::<Encoder>());
}

#[test]
fn a_client_without_masking_writes_zero_keys() {
    let mut c = Encoder::new(&Config::client().disable_masking(true));
    assert!(c.is_client());
    let mut wire = Vec::new();
    c.encode(BufferType::BinaryMessage, b"ab", &mut wire).unwrap();
    c.encode(BufferType::BinaryMessage, b"cd", &mut wire).unwrap();
    assert_eq!(wire, [0x82, 0x82, 0, 0, 0, 0, b'a', b'b', 0x82, 0x82, 0, 0, 0, 0, b'c', b'd']);
    let mut s = Encoder::new(&Config::server());
    assert!(!s.is_client());
    wire.clear();
    s.encode(BufferType::BinaryMessage, b"ab", &mut wire).unwrap();
    assert_eq!(wire, [0x82, 2, b'a', b'b']);
}

#[test]
fn a_frame_split_at_every_offset_unmasks_with_the_right_key_phase() {
    // The mask's phase is kept modulo 4 across inputs and direct reads.
    let payload: Vec<u8> = (0..23u8).collect();
    let mut c = Encoder::new(&Config::client());
    let mut wire = Vec::new();
    c.encode(BufferType::BinaryMessage, &payload, &mut wire).unwrap();
    for split in 2..wire.len() {
        let mut dec = Decoder::new(&Config::server());
        let mut got = Vec::new();
        let mut buf = wire[..split].to_vec();
        let mut rest = &wire[split..];
        loop {
            let d = dec.decode(&mut buf).unwrap();
            if let Event::Data(ch) = d.event {
                got.extend_from_slice(dec.chunk(&buf, &ch));
                buf.drain(..d.consumed);
                if ch.last {
                    break;
                }
                continue;
            }
            buf.drain(..d.consumed);
            // Feed the next bytes one or three at a time.
            let k = rest.len().min(1 + split % 3);
            assert!(k > 0, "ran out of input at split {split}");
            buf.extend_from_slice(&rest[..k]);
            rest = &rest[k..];
        }
        assert_eq!(got, payload, "split at {split}");
    }
}
