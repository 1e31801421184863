//! `Config::deliver_pings` (Rust-only, off by default): a received ping is handed out as an
//! `IndicateReceiveComplete { buffer_type: PingPong, ping: true }` with its payload, after
//! its automatic pong had its turn; nothing else changes (the pong goes exactly as without
//! the option, the newest ping wins while a frame of the send half is half written, and a
//! ping between the fragments of a message does not disturb the message).

mod common;
use common::*;
use wspc::codec::frame::OpCode;
use wspc::{Action, BufferType, Config, ReceiveHalf, SendBuffer};

const PING: u8 = 0x89;

/// What the receive queue did, in order.
#[derive(Debug, PartialEq, Eq)]
enum Ev {
    /// An automatic pong was written (its bytes went to the wire).
    Pong,
    /// A receive completed: (type, ping, data).
    Got(BufferType, bool, Vec<u8>),
}

/// Runs receives, reading at most `step` bytes at a time, until a read finds `inbox`
/// consumed (or no receive is left to queue); returns what happened and the bytes written.
fn drain_by(r: &mut ReceiveHalf, mut inbox: Vec<u8>, step: usize) -> (Vec<Ev>, Vec<u8>) {
    let (mut evs, mut wire) = (Vec::new(), Vec::new());
    loop {
        if !r.is_pending() {
            if inbox.is_empty() && r.buffered() == 0 {
                return (evs, wire);
            }
            r.receive(0).unwrap();
        }
        let a = r.get_action().unwrap();
        let t = a.token();
        match a {
            Action::ReceiveFromNetwork { buffer, .. } => {
                let n = inbox.len().min(buffer.len()).min(step);
                if n == 0 {
                    return (evs, wire);
                }
                buffer[..n].copy_from_slice(&inbox[..n]);
                inbox.drain(..n);
                r.complete_action(t, n);
            }
            Action::SendToNetwork { buffers, buffer_type, context, .. } => {
                assert_eq!((buffer_type, context), (BufferType::UnsolicitedPong, None));
                let n = buffers.len();
                buffers.as_slices().iter().for_each(|b| wire.extend_from_slice(b));
                r.complete_action(t, n);
                evs.push(Ev::Pong);
            }
            Action::IndicateReceiveComplete { buffer_type, data, ping, .. } => {
                evs.push(Ev::Got(buffer_type, ping, data.to_vec()));
                r.complete_action(t, 0);
            }
            other => panic!("{:?} on the receive queue", other.kind()),
        }
    }
}

fn drain(r: &mut ReceiveHalf, inbox: Vec<u8>) -> (Vec<Ev>, Vec<u8>) {
    drain_by(r, inbox, usize::MAX)
}

fn got(ty: BufferType, ping: bool, data: &[u8]) -> Ev {
    Ev::Got(ty, ping, data.to_vec())
}

/// A fragmented text message with a ping between its frames, then a binary message and
/// another ping.
fn stream(mask: Option<[u8; 4]>) -> Vec<u8> {
    [
        frame(0x01, b"hel", mask),
        frame(PING, b"between", mask),
        frame(0x80, b"lo", mask),
        frame(0x82, b"data", mask),
        frame(PING, b"", mask),
    ]
    .concat()
}

#[test]
fn off_by_default_pings_are_answered_and_not_shown() {
    let (_, mut r) = open_client(Config::client()).split().unwrap();
    let (evs, wire) = drain(&mut r, stream(None));
    use BufferType::*;
    assert_eq!(
        evs,
        [
            got(Utf8Fragment, false, b"hel"),
            Ev::Pong,
            got(Utf8Message, false, b"lo"),
            got(BinaryMessage, false, b"data"),
            Ev::Pong
        ]
    );
    let pongs = parse_stream(&wire, false);
    assert_eq!(pongs.iter().map(|f| f.payload.as_slice()).collect::<Vec<_>>(), [&b"between"[..], b""]);
}

#[test]
fn pings_are_handed_out_in_order_after_their_pong() {
    for (server, mask) in [(false, None), (true, Some(KEY))] {
        let h = if server {
            open_server(Config::server().deliver_pings(true))
        } else {
            open_client(Config::client().deliver_pings(true))
        };
        let (_, mut r) = h.split().unwrap();
        let (evs, wire) = drain(&mut r, stream(mask));
        use BufferType::*;
        assert_eq!(
            evs,
            [
                got(Utf8Fragment, false, b"hel"),
                Ev::Pong,
                got(PingPong, true, b"between"),
                got(Utf8Message, false, b"lo"),
                got(BinaryMessage, false, b"data"),
                Ev::Pong,
                got(PingPong, true, b""),
            ],
            "server: {server}"
        );
        // Each ping answered exactly once, with its payload.
        let pongs = parse_stream(&wire, false);
        assert!(pongs.iter().all(|f| f.opcode == OpCode::Pong && f.mask.is_some() != server));
        assert_eq!(pongs.iter().map(|f| f.payload.as_slice()).collect::<Vec<_>>(), [&b"between"[..], b""]);
    }
}

#[test]
fn a_received_pong_is_not_a_ping() {
    let (_, mut r) = open_client(Config::client().deliver_pings(true)).split().unwrap();
    let (evs, wire) = drain(&mut r, frame(0x8a, b"pong", None));
    assert_eq!(evs, [got(BufferType::PingPong, false, b"pong")]);
    assert!(wire.is_empty());
}

#[test]
fn a_ping_arriving_one_byte_at_a_time_is_handed_out_whole() {
    let (_, mut r) = open_client(Config::client().deliver_pings(true)).split().unwrap();
    let bytes = [frame(PING, &pattern(125, 4), None), frame(0x82, b"x", None)].concat();
    let (evs, wire) = drain_by(&mut r, bytes, 1);
    assert_eq!(
        evs,
        [Ev::Pong, got(BufferType::PingPong, true, &pattern(125, 4)), got(BufferType::BinaryMessage, false, b"x")]
    );
    assert_eq!(parse_stream(&wire, false)[0].payload, pattern(125, 4));
}

/// While the send half is in the middle of a frame the pongs wait (the newest ping wins,
/// as without the option), and every ping is still handed out, in order.
#[test]
fn pings_are_handed_out_while_their_pong_waits_for_the_send_half() {
    let (mut s, mut r) =
        open_client(Config::client().send_buffer_size(64).unwrap().deliver_pings(true)).split().unwrap();
    let mut wire = Vec::new();
    s.send(BufferType::BinaryMessage, Some(SendBuffer::Data(pattern(500, 1).into())), 7).unwrap();
    let send_step = |s: &mut wspc::SendHalf, wire: &mut Vec<u8>| {
        let a = s.get_action(2).unwrap();
        let t = a.token();
        match a {
            Action::SendToNetwork { buffers, .. } => {
                let n = buffers.len();
                buffers.as_slices().iter().for_each(|b| wire.extend_from_slice(b));
                s.complete_action(t, n);
                false
            }
            Action::IndicateSendComplete { .. } => {
                s.complete_action(t, 0);
                true
            }
            other => panic!("{:?} on the send queue", other.kind()),
        }
    };
    assert!(!send_step(&mut s, &mut wire));
    let inbox = [frame(PING, b"one", None), frame(PING, b"two", None), frame(0x82, b"data", None)].concat();
    let (evs, pongs) = drain(&mut r, inbox);
    use BufferType::*;
    assert_eq!(evs, [got(PingPong, true, b"one"), got(PingPong, true, b"two"), got(BinaryMessage, false, b"data")]);
    assert!(pongs.is_empty(), "a pong was lent in the middle of a frame");
    while !send_step(&mut s, &mut wire) {}
    let frames = parse_stream(&wire, false);
    assert_eq!(frames.iter().map(|f| f.opcode).collect::<Vec<_>>(), [OpCode::Binary, OpCode::Pong]);
    assert_eq!(frames[1].payload, b"two");
}
