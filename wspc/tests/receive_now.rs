//! `receive_now`: taking whole buffered messages in one step must deliver exactly what the
//! queued path delivers, in the same order with the control frames between them, and must
//! leave every frame it does not take (and every protocol error) to the queued path.

mod common;
use common::*;
use wspc::{Action, ActionQueue, BufferType, Config, Error, Handle, ProtocolError};

/// What a reader saw: whole messages (type, payload) and pongs, in order.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Msg(BufferType, Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

/// Reads `wire` into `h`, `step` bytes per read; with `shortcut`, tries `receive_now`
/// before every queued receive. Returns what arrived, how many messages came through the
/// shortcut, and the error that stopped the reader, if any.
fn read_all(h: Handle, wire: &[u8], step: usize, shortcut: bool) -> (Vec<Got>, usize, Option<Error>) {
    read_all_mode(h, wire, step, shortcut, false)
}

/// `read_all`, and with `fill` the reader also reads into `read_space` (no queued receive)
/// whenever the engine offers it.
fn read_all_mode(
    mut h: Handle,
    wire: &[u8],
    step: usize,
    shortcut: bool,
    fill: bool,
) -> (Vec<Got>, usize, Option<Error>) {
    let mut got = Vec::new();
    let mut pos = 0;
    let mut pending = false;
    let mut assembly: Vec<u8> = Vec::new();
    let mut fast = 0;
    loop {
        if shortcut && !pending {
            let mut v = b"junk".to_vec();
            v.clear();
            if let Some(ty) = h.receive_now(&mut v) {
                got.push(Got::Msg(ty, v));
                fast += 1;
                continue;
            }
            assert!(v.is_empty(), "a declined shortcut leaves the vector as it was");
            if fill && pos < wire.len() {
                if let Some(space) = h.read_space() {
                    let n = step.min(space.len()).min(wire.len() - pos);
                    space[..n].copy_from_slice(&wire[pos..pos + n]);
                    pos += n;
                    h.commit_read(n);
                    continue;
                }
            }
        }
        if !pending {
            if h.receive(0).is_err() {
                return (got, fast, None);
            }
            pending = true;
        }
        let action = match h.get_action(ActionQueue::Receive) {
            Ok(a) => a,
            Err(e) => return (got, fast, Some(e)),
        };
        match action {
            Action::ReceiveFromNetwork { token, buffer, .. } => {
                let n = step.min(buffer.len()).min(wire.len() - pos);
                buffer[..n].copy_from_slice(&wire[pos..pos + n]);
                pos += n;
                h.complete_action(token, n);
                if n == 0 {
                    return (got, fast, None);
                }
            }
            Action::SendToNetwork { token, buffers, .. } => {
                let n = buffers.len();
                h.complete_action(token, n);
            }
            Action::IndicateReceiveComplete { token, buffer_type, data, close_status, .. } => {
                match buffer_type {
                    BufferType::PingPong => got.push(Got::Pong(data.to_vec())),
                    BufferType::Close => got.push(Got::Close(close_status)),
                    ty => {
                        assembly.extend_from_slice(data);
                        if ty.is_message_end() {
                            got.push(Got::Msg(ty, std::mem::take(&mut assembly)));
                        }
                    }
                }
                h.complete_action(token, 0);
                pending = false;
                if buffer_type == BufferType::Close {
                    return (got, fast, None);
                }
            }
            Action::NoAction => return (got, fast, None),
            a => panic!("unexpected {a:?}"),
        }
    }
}

/// A stream mixing everything a server reads: small and large messages, text with
/// multi-byte characters, fragments, pings and pongs between them, empty messages, a close.
fn stream(mask: bool) -> Vec<u8> {
    let m = |i: u8| if mask { Some([i, 0x5a, i ^ 0x33, 0xc4]) } else { None };
    let mut w = Vec::new();
    for i in 0..40u8 {
        let n = (i as usize * 37) % 300;
        w.extend(frame(0x82, &pattern(n, i as u64), m(i)));
        w.extend(frame(0x81, &text(n + 3, i as u64), m(i + 1)));
        if i % 5 == 0 {
            w.extend(frame(0x89, b"ping", m(i + 2)));
            w.extend(frame(0x01, "frag-ü".as_bytes(), m(i + 3)));
            w.extend(frame(0x8a, b"pong between fragments", m(i + 4)));
            w.extend(frame(0x80, "-end €".as_bytes(), m(i + 5)));
        }
        if i % 7 == 0 {
            w.extend(frame(0x82, &[], m(i)));
        }
        if i % 14 == 0 {
            w.extend(frame(0x82, &pattern(70_000, 9), m(i))); // larger than the buffer
        }
    }
    w.extend(frame(0x88, &1000u16.to_be_bytes(), m(99)));
    w
}

#[test]
fn delivers_what_the_queued_path_delivers() {
    for (mask, open) in [(true, open_server as fn(Config) -> Handle), (false, open_client)] {
        let cfg = if mask { Config::server() } else { Config::client() };
        let wire = stream(mask);
        for step in [13, 300, 4096, 1 << 20] {
            let (want, fast0, e0) = read_all(open(cfg.clone()), &wire, step, false);
            let (got, fast, e1) = read_all(open(cfg.clone()), &wire, step, true);
            let (filled, fast2, e2) = read_all_mode(open(cfg.clone()), &wire, step, true, true);
            assert!(e0.is_none() && e1.is_none() && e2.is_none(), "{e0:?} {e1:?} {e2:?}");
            assert_eq!(filled, want, "read_space: mask {mask}, step {step}");
            assert!(fast2 >= fast, "reading without a queued receive leaves more whole messages");
            assert_eq!(fast0, 0);
            assert_eq!(got, want, "mask {mask}, step {step}");
            assert_eq!(want.last(), Some(&Got::Close(Some(1000))));
            if step >= 300 {
                assert!(fast > 40, "most small messages take the shortcut (step {step}: {fast})");
            }
        }
    }
}

/// The queued path's error for `wire`, with and without the shortcut: the same one.
fn same_error(h: impl Fn() -> Handle, wire: &[u8]) -> Error {
    let (g2, _, e2) = read_all_mode(h(), wire, 4096, true, true);
    let (g0, _, e0) = read_all(h(), wire, 4096, false);
    assert_eq!(g0, g2);
    assert_eq!(format!("{e0:?}"), format!("{e2:?}"));
    let (g1, fast, e1) = read_all(h(), wire, 4096, true);
    assert_eq!(g0, g1);
    let (e0, e1) = (e0.expect("the stream is invalid"), e1.expect("the stream is invalid"));
    assert_eq!(format!("{e0:?}"), format!("{e1:?}"));
    assert_eq!(fast, 1, "the second good message came through the shortcut, the bad frame did not");
    e1
}

#[test]
fn leaves_bad_frames_to_the_queued_path() {
    // The first good message arrives through the queued receive that read it, the second
    // through the shortcut; the bad frame after them must reach the queued path.
    let good = [frame(0x82, b"fine", Some(KEY)), frame(0x81, "fïne".as_bytes(), Some(KEY))].concat();
    type Check = fn(&Error) -> bool;
    let cases: Vec<(Vec<u8>, Config, Check)> = vec![
        ([good.clone(), frame(0x81, b"ok \xc3\x28 bad", Some(KEY))].concat(), Config::server(), |e| {
            matches!(e, Error::Protocol(ProtocolError::InvalidUtf8))
        }),
        ([good.clone(), frame(0x82, b"unmasked", None)].concat(), Config::server(), |e| {
            matches!(e, Error::Protocol(ProtocolError::UnmaskedFrame))
        }),
        ([good.clone(), frame(0xc2, b"rsv1 without deflate", Some(KEY))].concat(), Config::server(), |e| {
            matches!(e, Error::Protocol(_))
        }),
        ([good.clone(), frame(0x83, b"reserved opcode", Some(KEY))].concat(), Config::server(), |e| {
            matches!(e, Error::Protocol(_))
        }),
        (
            [good.clone(), frame(0x82, &[7; 600], Some(KEY))].concat(),
            Config::server().max_message_size(Some(500)),
            |e| matches!(e, Error::Protocol(ProtocolError::MessageTooBig { .. })),
        ),
    ];
    for (wire, cfg, check) in cases {
        let e = same_error(|| open_server(cfg.clone()), &wire);
        assert!(check(&e), "{e:?}");
    }
}

#[test]
fn declines_while_a_receive_is_queued_or_a_frame_is_partial() {
    let mut h = open_server(Config::server());
    let first = frame(0x82, b"hello", Some(KEY));
    let second = frame(0x82, b"world", Some(KEY));
    let mut v = Vec::new();
    h.receive(0).unwrap();
    assert_eq!(h.receive_now(&mut v), None, "nothing buffered");
    match h.get_action(ActionQueue::Receive).unwrap() {
        Action::ReceiveFromNetwork { token, buffer, .. } => {
            buffer[..first.len()].copy_from_slice(&first);
            buffer[first.len()..first.len() + 3].copy_from_slice(&second[..3]);
            h.complete_action(token, first.len() + 3);
        }
        a => panic!("{a:?}"),
    }
    assert_eq!(h.receive_now(&mut v), None, "a receive is queued");
    match h.get_action(ActionQueue::Receive).unwrap() {
        Action::IndicateReceiveComplete { token, data, buffer_type, .. } => {
            assert_eq!((buffer_type, data), (BufferType::BinaryMessage, &b"hello"[..]));
            h.complete_action(token, 0);
        }
        a => panic!("{a:?}"),
    }
    assert_eq!(h.receive_now(&mut v), None, "only part of a header is buffered");
    assert!(v.is_empty());
    // The queued path carries on from the same bytes.
    h.receive(0).unwrap();
    match h.get_action(ActionQueue::Receive).unwrap() {
        Action::ReceiveFromNetwork { token, buffer, .. } => {
            buffer[..second.len() - 3].copy_from_slice(&second[3..]);
            h.complete_action(token, second.len() - 3);
        }
        a => panic!("{a:?}"),
    }
    match h.get_action(ActionQueue::Receive).unwrap() {
        Action::IndicateReceiveComplete { token, data, buffer_type, .. } => {
            assert_eq!((buffer_type, data), (BufferType::BinaryMessage, &b"world"[..]));
            h.complete_action(token, 0);
        }
        a => panic!("{a:?}"),
    }
}

#[test]
fn read_space_only_when_nothing_is_buffered_or_outstanding() {
    let mut h = open_server(Config::server());
    let ping = frame(0x89, b"p", Some(KEY));
    let data = frame(0x82, b"data", Some(KEY));
    h.commit_read(5); // no read open: ignored
    let space = h.read_space().expect("idle and empty");
    space[..ping.len()].copy_from_slice(&ping);
    space[ping.len()..ping.len() + data.len()].copy_from_slice(&data);
    assert!(h.read_space().is_none(), "one read at a time");
    assert!(matches!(h.get_action(ActionQueue::Receive).unwrap(), Action::NoAction));
    h.commit_read(ping.len() + data.len());
    h.commit_read(7); // already committed: ignored
    let mut v = Vec::new();
    assert_eq!(h.receive_now(&mut v), None, "a ping comes first");
    assert!(h.read_space().is_none(), "the buffered ping must be answered before waiting for more");
    h.receive(0).unwrap();
    assert!(h.read_space().is_none(), "a receive is queued");
    let pong = match h.get_action(ActionQueue::Receive).unwrap() {
        Action::SendToNetwork { token, buffers, .. } => {
            let n = buffers.len();
            h.complete_action(token, n);
            n
        }
        a => panic!("{a:?}"),
    };
    assert_eq!(pong, 3);
    match h.get_action(ActionQueue::Receive).unwrap() {
        Action::IndicateReceiveComplete { token, data, buffer_type, .. } => {
            assert_eq!((buffer_type, data), (BufferType::BinaryMessage, &b"data"[..]));
            h.complete_action(token, 0);
            let space = h.read_space().expect("all handed out");
            space[0] = 0x82;
            h.complete_action(token, 0); // a stale completion does not end the read
            assert!(h.read_space().is_none(), "the read is still open");
            h.commit_read(0);
        }
        a => panic!("{a:?}"),
    }
    assert!(h.receive_half().release_buffer(), "nothing buffered after an empty read");
    assert!(!h.receive_half().holds_buffer());
    assert!(h.read_space().is_some(), "the buffer comes back");
}
