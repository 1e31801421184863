//! Direct payload reads (`direct_payload` / `complete_direct`, Rust-only): messages arrive
//! partly as chunks from the receive buffer and partly read straight into caller memory,
//! unmasked with the right offset, validated as one UTF-8 stream, under the same limits;
//! direct reads are refused while the engine has anything of its own to do.

mod common;
use common::*;
use proptest::prelude::*;
use wspc::{Action, ActionQueue, BufferType, Config, DirectStatus, Error, Handle, Misuse, ProtocolError};

/// What a drive over a byte stream produced.
#[derive(Debug, Default)]
struct Outcome {
    /// Data messages: (text, bytes).
    messages: Vec<(bool, Vec<u8>)>,
    /// Close status codes received.
    closes: Vec<u16>,
    /// Automatic pongs written.
    pongs: usize,
    error: Option<Error>,
    /// Payload bytes given to `complete_direct` / handed out in chunks.
    direct_bytes: usize,
    chunk_bytes: usize,
}

/// Feeds `wire` to `h`: engine reads of at most `read` bytes; whenever `direct_payload`
/// allows it and `direct > 0`, direct reads of at most `direct` bytes instead (the bytes
/// are copied to a fresh vector, standing in for caller memory), even while a
/// `ReceiveFromNetwork` is outstanding (it is filled afterwards).
fn drive(h: &mut Handle, wire: &[u8], read: usize, direct: usize) -> Outcome {
    drive_with(h, wire, read, direct, true)
}

/// `drive`; `while_reading`: also read directly while a `ReceiveFromNetwork` is
/// outstanding (otherwise only between actions, so that more arrives in chunks).
fn drive_with(h: &mut Handle, wire: &[u8], read: usize, direct: usize, while_reading: bool) -> Outcome {
    let mut out = Outcome::default();
    let mut pos = 0;
    let mut cur: Vec<u8> = Vec::new();
    let mut posted = false;
    let mut parked: Option<(wspc::ActionToken, *mut u8, usize)> = None;
    loop {
        if direct > 0 && (while_reading || parked.is_none()) {
            if let Some(d) = h.direct_payload() {
                assert!(d.remaining > 0);
                let n = (direct as u64).min(d.remaining).min((wire.len() - pos) as u64) as usize;
                if n == 0 {
                    break;
                }
                let mut mem = wire[pos..pos + n].to_vec();
                pos += n;
                out.direct_bytes += n;
                match h.complete_direct(&mut mem) {
                    Ok(st) => {
                        cur.extend_from_slice(&mem);
                        match st {
                            DirectStatus::Partial { remaining } => assert_eq!(remaining, d.remaining - n as u64),
                            DirectStatus::FrameEnd => assert!(!d.last && d.remaining == n as u64),
                            DirectStatus::MessageEnd => {
                                assert!(d.last && d.remaining == n as u64);
                                out.messages.push((d.text, std::mem::take(&mut cur)));
                            }
                        }
                    }
                    Err(e) => {
                        out.error = Some(e);
                        break;
                    }
                }
                continue;
            }
        }
        if let Some((token, ptr, len)) = parked.take() {
            let n = read.min(len).min(wire.len() - pos);
            if n == 0 {
                break;
            }
            // SAFETY: the engine lent `ptr..ptr+len` for this read until it is completed,
            // which happens just below; direct reads never touch the receive buffer.
            unsafe { std::ptr::copy_nonoverlapping(wire[pos..].as_ptr(), ptr, n) };
            pos += n;
            h.complete_action(token, n);
            continue;
        }
        if !posted {
            if h.receive(0).is_err() {
                break;
            }
            posted = true;
        }
        let (token, n) = match h.get_action(ActionQueue::Receive) {
            Err(e) => {
                out.error = Some(e);
                break;
            }
            Ok(Action::NoAction) => break,
            Ok(Action::ReceiveFromNetwork { token, buffer, .. }) => {
                parked = Some((token, buffer.as_mut_ptr(), buffer.len()));
                continue;
            }
            Ok(Action::SendToNetwork { token, buffers, .. }) => {
                out.pongs += 1;
                (token, buffers.len())
            }
            Ok(Action::IndicateReceiveComplete { token, buffer_type, data, close_status, .. }) => {
                posted = false;
                match buffer_type {
                    BufferType::Close => out.closes.push(close_status.unwrap()),
                    BufferType::PingPong => {}
                    ty => {
                        cur.extend_from_slice(data);
                        out.chunk_bytes += data.len();
                        if ty.is_message_end() {
                            out.messages.push((ty.is_text(), std::mem::take(&mut cur)));
                        }
                    }
                }
                (token, 0)
            }
            Ok(other) => panic!("unexpected {:?}", other.kind()),
        };
        h.complete_action(token, n);
    }
    out
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Frames of one message: `payload` split at `cuts` (payload offsets), text or binary.
fn message_frames(text: bool, payload: &[u8], cuts: &[usize], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(payload.len())).collect();
    bounds.push(payload.len());
    bounds.sort_unstable();
    let mut wire = Vec::new();
    let mut at = 0;
    for (i, &b) in bounds.iter().enumerate() {
        let op = if i > 0 {
            0x0
        } else if text {
            0x1
        } else {
            0x2
        };
        let fin = if i + 1 == bounds.len() { 0x80 } else { 0 };
        wire.extend_from_slice(&frame(fin | op, &payload[at..b], mask));
        at = b;
    }
    wire
}

/// A server (peer frames masked) or a client (unmasked) handle, with `cfg` applied.
fn handle(masked: bool, big_buffer: bool) -> Handle {
    let size = if big_buffer { 65536 } else { 256 };
    if masked {
        open_server(Config::server().receive_buffer_size(size).unwrap())
    } else {
        open_client(Config::client().receive_buffer_size(size).unwrap())
    }
}

fn mask_of(masked: bool) -> Option<[u8; 4]> {
    masked.then_some(KEY)
}

#[test]
fn a_message_mixes_chunks_and_direct_parts_over_several_frames() {
    // Multi-byte characters everywhere, frame cuts inside code points.
    let s = "é€😀中κ".repeat(300);
    let cuts = [1001, 1002, 2500];
    assert!(!s.is_char_boundary(1001) && !s.is_char_boundary(2500));
    let payload = s.into_bytes();
    for masked in [true, false] {
        for text in [true, false] {
            let mut wire = message_frames(text, &payload, &cuts, mask_of(masked));
            // The next message arrives normally behind it.
            wire.extend_from_slice(&frame(0x82, b"next", mask_of(masked)));
            for (read, direct) in [(7, 1), (7, 2), (13, 5), (300, 3), (1, 1000), (64, 4096)] {
                let mut h = handle(masked, false);
                let o = drive_with(&mut h, &wire, read, direct, false);
                assert_eq!(o.error, None, "masked {masked} text {text} read {read} direct {direct}");
                assert_eq!(o.messages, vec![(text, payload.clone()), (false, b"next".to_vec())], "read {read}");
                assert!(o.direct_bytes > 0 && o.chunk_bytes > 4, "both paths: {} {}", o.direct_bytes, o.chunk_bytes);
                assert_eq!(o.direct_bytes + o.chunk_bytes, payload.len() + 4);
            }
        }
    }
}

#[test]
fn header_reads_then_direct_payloads() {
    // Reads of exactly a header: the engine's next read stays outstanding while the whole
    // payload is read directly, then takes the next header.
    for masked in [true, false] {
        let payload = pattern(5000, 3);
        let mut wire = message_frames(false, &payload, &[2000], mask_of(masked));
        wire.extend_from_slice(&message_frames(true, "κ€".repeat(900).as_bytes(), &[], mask_of(masked)));
        let mut h = handle(masked, true);
        let hdr = if masked { 8 } else { 4 };
        let o = drive(&mut h, &wire, hdr, 1 << 20);
        assert_eq!(o.error, None);
        assert_eq!(o.messages, vec![(false, payload), (true, "κ€".repeat(900).into_bytes())]);
        assert_eq!(o.chunk_bytes, 0);
        assert!(!h.receive_half().in_frame());
    }
}

#[test]
fn direct_payload_reports_the_frame() {
    let payload = b"hello, direct world".to_vec();
    let wire = message_frames(true, &payload, &[5], Some(KEY));
    let mut h = handle(true, false);
    // Feed the first frame header and 2 payload bytes.
    h.receive(0).unwrap();
    assert_eq!(h.direct_payload(), None, "no frame yet");
    let t = match h.get_action(ActionQueue::Receive).unwrap() {
        Action::ReceiveFromNetwork { token, buffer, .. } => {
            buffer[..8].copy_from_slice(&wire[..8]);
            token
        }
        other => panic!("{:?}", other.kind()),
    };
    assert_eq!(h.direct_payload(), None, "a read is in flight");
    h.complete_action(t, 8);
    let t = match h.get_action(ActionQueue::Receive).unwrap() {
        Action::IndicateReceiveComplete { token, data, buffer_type, .. } => {
            assert_eq!((data, buffer_type), (&b"he"[..], BufferType::Utf8Fragment));
            token
        }
        other => panic!("{:?}", other.kind()),
    };
    assert_eq!(h.direct_payload(), None, "a chunk is lent out");
    h.complete_action(t, 0);
    let d = h.direct_payload().expect("payload left, nothing buffered");
    assert_eq!((d.remaining, d.text, d.last), (3, true, false));
    // More than the frame holds is refused, and changes nothing.
    let mut too_much = wire[8..12].to_vec();
    assert!(matches!(h.complete_direct(&mut too_much), Err(Error::Misuse(Misuse::InvalidArgument(_)))));
    let mut part = wire[8..10].to_vec();
    assert_eq!(h.complete_direct(&mut part).unwrap(), DirectStatus::Partial { remaining: 1 });
    assert_eq!(part, b"ll");
    let mut last = wire[10..11].to_vec();
    assert_eq!(h.complete_direct(&mut last).unwrap(), DirectStatus::FrameEnd);
    assert_eq!(last, b"o");
    assert_eq!(h.direct_payload(), None, "between frames");
    let mut none = [0u8; 1];
    assert!(matches!(h.complete_direct(&mut none), Err(Error::Misuse(Misuse::WrongState(_)))));
    // The rest through get_action (the receive posted earlier was completed).
    let o = drive(&mut h, &wire[11..], 1000, 0);
    assert_eq!(o.error, None);
    assert_eq!(o.messages, vec![(true, b", direct world".to_vec())]);
}

#[test]
fn refused_while_a_split_code_point_is_buffered() {
    // "€" (3 bytes) split by the read: its first byte stays buffered, so no direct read.
    let payload = "ab€cdefgh".as_bytes().to_vec();
    let wire = frame(0x81, &payload, Some(KEY));
    let mut h = handle(true, false);
    h.receive(0).unwrap();
    let t = match h.get_action(ActionQueue::Receive).unwrap() {
        Action::ReceiveFromNetwork { token, buffer, .. } => {
            buffer[..9].copy_from_slice(&wire[..9]);
            token
        }
        other => panic!("{:?}", other.kind()),
    };
    h.complete_action(t, 9);
    let t = match h.get_action(ActionQueue::Receive).unwrap() {
        Action::IndicateReceiveComplete { token, data, .. } => {
            assert_eq!(data, b"ab");
            token
        }
        other => panic!("{:?}", other.kind()),
    };
    h.complete_action(t, 0);
    assert_eq!(h.receive_half().buffered(), 1);
    assert_eq!(h.direct_payload(), None);
    let o = drive(&mut h, &wire[9..], 2, 1);
    assert_eq!(o.error, None);
    assert_eq!(o.messages, vec![(true, "€cdefgh".as_bytes().to_vec())]);
    assert!(o.direct_bytes > 0, "direct resumes once the code point is handed out");
}

#[test]
fn invalid_utf8_in_a_direct_part_fails_with_1007() {
    for masked in [true, false] {
        // A bad byte in the middle, a truncated code point at the end, an overlong form.
        let mut bad_mid = ["a".repeat(20), "é€".repeat(50)].concat().into_bytes();
        bad_mid[81] = 0xff;
        let mut truncated = "κ".repeat(40).into_bytes();
        truncated.push(0xe2);
        truncated.push(0x82);
        let overlong = [b"abc".repeat(20), vec![0xc0, 0xaf]].concat();
        for payload in [bad_mid, truncated, overlong] {
            for cuts in [vec![], vec![10]] {
                let wire = message_frames(true, &payload, &cuts, mask_of(masked));
                let mut h = handle(masked, false);
                let hdr = if masked { 6 } else { 2 };
                let o = drive(&mut h, &wire, hdr + 4, 1000);
                assert!(o.direct_bytes > 0, "{o:?} masked {masked} cuts {cuts:?}");
                let e = o.error.expect("invalid UTF-8 found");
                assert_eq!(e, Error::Protocol(ProtocolError::InvalidUtf8));
                assert_eq!(e.close_code(), Some(1007));
                assert!(o.messages.is_empty());
                // The receive side stays failed.
                assert_eq!(h.direct_payload(), None);
                let _ = h.receive(0);
                assert_eq!(h.get_action(ActionQueue::Receive).err(), Some(Error::Protocol(ProtocolError::InvalidUtf8)));
            }
        }
    }
}

#[test]
fn invalid_utf8_is_still_found_after_a_direct_part() {
    // The direct part ends inside a code point, the chunk that follows breaks it.
    let mut payload = "a".repeat(100).into_bytes();
    payload.extend_from_slice(&[0xe2, 0x82]);
    payload.extend_from_slice(b"xyz");
    let wire = message_frames(true, &payload, &[101], Some(KEY));
    let mut h = handle(true, false);
    let o = drive(&mut h, &wire, 6, 1000);
    assert_eq!(o.error, Some(Error::Protocol(ProtocolError::InvalidUtf8)));
}

#[test]
fn limits_are_enforced_from_the_headers() {
    // A 300-byte frame under a 200-byte message limit never becomes a direct read.
    let cfg = Config::server().receive_buffer_size(256).unwrap().max_message_size(Some(200));
    let mut h = open_server(cfg);
    let wire = frame(0x82, &pattern(300, 1), Some(KEY));
    let o = drive(&mut h, &wire, 1000, 1000);
    assert_eq!(o.error, Some(Error::Protocol(ProtocolError::MessageTooBig { limit: 200 })));
    assert_eq!(o.direct_bytes, 0);
    // Two frames whose sum is over the limit: the first is read directly, the second's
    // header fails.
    let cfg = Config::server().receive_buffer_size(256).unwrap().max_message_size(Some(200));
    let mut h = open_server(cfg);
    let wire = message_frames(false, &pattern(300, 1), &[150], Some(KEY));
    let o = drive(&mut h, &wire, 20, 1000);
    assert_eq!(o.error, Some(Error::Protocol(ProtocolError::MessageTooBig { limit: 200 })));
    assert_eq!(o.direct_bytes + o.chunk_bytes, 150);
    assert!(o.direct_bytes > 0);
    // Frame size and fragment limits likewise.
    let cfg = Config::server().receive_buffer_size(256).unwrap().max_fragments(Some(2));
    let mut h = open_server(cfg);
    let wire = message_frames(false, &pattern(300, 1), &[100, 200], Some(KEY));
    let o = drive(&mut h, &wire, 20, 1000);
    assert_eq!(o.error, Some(Error::Protocol(ProtocolError::TooManyFragments { limit: 2 })));
    assert_eq!(o.direct_bytes + o.chunk_bytes, 200);
}

#[test]
fn control_frames_between_direct_frames() {
    // A ping between two fragments: its pong is sent through get_action, not skipped.
    let payload = pattern(3000, 9);
    let mut wire = frame(0x02, &payload[..1000], Some(KEY));
    wire.extend_from_slice(&frame(0x89, b"ping", Some(KEY)));
    wire.extend_from_slice(&frame(0x80, &payload[1000..], Some(KEY)));
    wire.extend_from_slice(&frame(0x88, &[0x03, 0xe8], Some(KEY)));
    for read in [6, 7, 100] {
        let mut h = handle(true, false);
        let o = drive(&mut h, &wire, read, 333);
        assert_eq!(o.error, None);
        assert_eq!(o.messages, vec![(false, payload.clone())]);
        assert_eq!(o.pongs, 1);
        assert_eq!(o.closes, vec![1000]);
        assert!(o.direct_bytes > 0);
    }
}

#[test]
fn empty_frames_and_messages() {
    // An empty final frame after a direct one ends the message through get_action.
    let payload = pattern(100, 4);
    let mut wire = frame(0x02, &payload, Some(KEY));
    wire.extend_from_slice(&frame(0x80, &[], Some(KEY)));
    wire.extend_from_slice(&frame(0x81, &[], Some(KEY)));
    let mut h = handle(true, false);
    let o = drive(&mut h, &wire, 10, 1000);
    assert_eq!(o.error, None);
    assert_eq!(o.messages, vec![(false, payload), (true, vec![])]);
    assert_eq!((o.chunk_bytes, o.direct_bytes), (4, 96));
}

#[cfg(feature = "deflate")]
#[test]
fn refused_for_compressed_messages() {
    use wspc::deflate::DeflateConfig;
    let c = Config::client().deflate(Some(DeflateConfig::default()));
    let s = Config::server().receive_buffer_size(256).unwrap().deflate(Some(DeflateConfig::default()));
    let mut p = Pair::new(c, s);
    let msg = pattern(4000, 5);
    p.c.outgoing.push_back((BufferType::BinaryMessage, msg.clone()));
    while p.c.pump().unwrap() {}
    let wire = std::mem::take(&mut p.c.out);
    assert_ne!(wire[0] & 0x40, 0, "the client compressed it");
    let o = drive(&mut p.s.h, &wire, 10, 1000);
    assert_eq!(o.error, None);
    assert_eq!(o.messages, vec![(false, msg)]);
    assert_eq!(o.direct_bytes, 0);
}

#[test]
fn refused_after_abort() {
    let wire = frame(0x82, &pattern(500, 2), Some(KEY));
    let mut h = handle(true, false);
    let o = drive(&mut h, &wire[..20], 20, 1);
    assert_eq!(o.chunk_bytes, 12);
    assert!(h.direct_payload().is_some());
    h.abort();
    assert_eq!(h.direct_payload(), None);
}

fn arb_message() -> impl Strategy<Value = (bool, Vec<u8>, Vec<usize>)> {
    (any::<bool>(), 0usize..3000, any::<u64>(), prop::collection::vec(0usize..3000, 0..4))
        .prop_map(|(t, len, seed, cuts)| (t, if t { text(len, seed) } else { pattern(len, seed) }, cuts))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn round_trips_with_any_mix_of_reads(
        msgs in prop::collection::vec(arb_message(), 1..5),
        masked in any::<bool>(),
        big in any::<bool>(),
        read in 1usize..400,
        direct in 0usize..700,
        while_reading in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        for (t, m, cuts) in &msgs {
            wire.extend_from_slice(&message_frames(*t, m, cuts, mask_of(masked)));
        }
        let mut h = handle(masked, big);
        let o = drive_with(&mut h, &wire, read, direct, while_reading);
        prop_assert_eq!(o.error, None);
        let want: Vec<(bool, Vec<u8>)> = msgs.into_iter().map(|(t, m, _)| (t, m)).collect();
        prop_assert_eq!(o.messages, want);
        if direct == 0 {
            prop_assert_eq!(o.direct_bytes, 0);
        }
    }
}
