//! The receive queue never says `NoAction` while a receive is queued (what .NET's receive
//! operation relies on), on split halves, step by step: a pong due while the send half is
//! in the middle of a frame waits (the newest ping wins) and goes out when that frame ends,
//! from whichever queue asks first; a pong due while the send half has a one-action frame
//! out is lent at once; a pong completed with 0 bytes (as .NET does after its close) breaks
//! nothing; abort drops a waiting pong.

mod common;
use common::*;
use wspc::codec::frame::OpCode;
use wspc::{Action, BufferType, Config, ReceiveHalf, SendBuffer, SendHalf};

const PING: u8 = 0x89;

/// A client split into halves, with a 64-byte send buffer (frames of more than ~50 bytes
/// take several actions).
fn client() -> (SendHalf, ReceiveHalf) {
    open_client(Config::client().send_buffer_size(64).unwrap()).split().unwrap()
}

/// The next receive-queue action, which must not be `NoAction`; reads come from `inbox`.
/// Returns the bytes of a `SendToNetwork` (completed in full), or `None` after a read or
/// a completion.
fn recv_step(r: &mut ReceiveHalf, inbox: &mut Vec<u8>, out: &mut Vec<u8>) -> Option<BufferType> {
    let a = r.get_action().unwrap();
    let t = a.token();
    match a {
        Action::NoAction => panic!("NoAction on the receive queue while a receive is queued"),
        Action::ReceiveFromNetwork { buffer, .. } => {
            let n = inbox.len().min(buffer.len());
            buffer[..n].copy_from_slice(&inbox[..n]);
            inbox.drain(..n);
            r.complete_action(t, n);
            None
        }
        Action::SendToNetwork { buffers, buffer_type, context, .. } => {
            assert_eq!((buffer_type, context), (BufferType::UnsolicitedPong, None));
            let n = buffers.len();
            buffers.as_slices().iter().for_each(|b| out.extend_from_slice(b));
            r.complete_action(t, n);
            Some(BufferType::UnsolicitedPong)
        }
        Action::IndicateReceiveComplete { buffer_type, .. } => {
            r.complete_action(t, 0);
            Some(buffer_type)
        }
        other => panic!("{:?} on the receive queue", other.kind()),
    }
}

/// Takes one send-queue action and writes it to `wire` in full.
fn send_step(s: &mut SendHalf, wire: &mut Vec<u8>) -> (wspc::ActionKind, Option<usize>) {
    let a = s.get_action(2).unwrap();
    let t = a.token();
    let kind = a.kind();
    match a {
        Action::SendToNetwork { buffers, context, .. } => {
            let n = buffers.len();
            buffers.as_slices().iter().for_each(|b| wire.extend_from_slice(b));
            s.complete_action(t, n);
            (kind, context)
        }
        Action::IndicateSendComplete { context, .. } => {
            s.complete_action(t, 0);
            (kind, Some(context))
        }
        _ => (kind, None),
    }
}

#[test]
fn a_pong_due_mid_frame_waits_and_the_send_half_writes_it_at_the_frame_end() {
    let (mut s, mut r) = client();
    let mut wire = Vec::new();
    s.send(BufferType::BinaryMessage, Some(SendBuffer::Data(pattern(500, 1).into())), 7).unwrap();
    assert_eq!(send_step(&mut s, &mut wire).0, wspc::ActionKind::SendToNetwork);

    // Two pings arrive while the frame is half written, then a data message.
    let mut inbox = [frame(PING, b"one", None), frame(PING, b"two", None), frame(0x82, b"data", None)].concat();
    r.receive(1).unwrap();
    let mut pongs_recv = Vec::new();
    // The pongs wait; the receive goes on to the data (reads and the completion).
    while recv_step(&mut r, &mut inbox, &mut pongs_recv) != Some(BufferType::BinaryMessage) {}
    assert!(pongs_recv.is_empty(), "a pong was lent in the middle of a frame");
    assert!(matches!(r.get_action().unwrap(), Action::NoAction), "the receive is over");

    // The send half finishes its frame, then writes the newest ping's pong before its
    // completion.
    let mut kinds = Vec::new();
    loop {
        let (k, ctx) = send_step(&mut s, &mut wire);
        kinds.push((k, ctx));
        if k == wspc::ActionKind::IndicateSendComplete {
            break;
        }
    }
    let frames = parse_stream(&wire, false);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!((frames[0].opcode, frames[0].payload.clone()), (OpCode::Binary, pattern(500, 1)));
    assert_eq!((frames[1].opcode, frames[1].payload.as_slice()), (OpCode::Pong, &b"two"[..]));
    assert!(frames[1].mask.is_some(), "a client's pong is masked");
    let pong_action = kinds.iter().rev().nth(1).unwrap();
    assert_eq!(*pong_action, (wspc::ActionKind::SendToNetwork, None), "the pong carries no context");
    // Nothing else is owed.
    r.receive(2).unwrap();
    let a = r.get_action().unwrap();
    assert!(matches!(a, Action::ReceiveFromNetwork { .. }), "{:?}", a.kind());
}

#[test]
fn a_pong_goes_on_the_receive_queue_when_the_frame_ended_first() {
    let (mut s, mut r) = client();
    let mut wire = Vec::new();
    s.send(BufferType::BinaryMessage, Some(SendBuffer::Data(pattern(300, 2).into())), 7).unwrap();
    send_step(&mut s, &mut wire);
    let mut inbox = [frame(PING, b"p", None), frame(0x82, b"x", None)].concat();
    r.receive(1).unwrap();
    let mut pongs = Vec::new();
    assert_eq!(recv_step(&mut r, &mut inbox, &mut pongs), None); // the ping: its pong waits
                                                                 // The send half writes the rest of its frame (4-byte length, mask key, 300 bytes).
    while wire.len() < 2 + 2 + 4 + 300 {
        assert_eq!(send_step(&mut s, &mut wire), (wspc::ActionKind::SendToNetwork, Some(7)));
    }
    // The receive queue asks first: it lends the pong, then goes on to the data.
    assert_eq!(recv_step(&mut r, &mut inbox, &mut pongs), Some(BufferType::UnsolicitedPong));
    assert_eq!(recv_step(&mut r, &mut inbox, &mut pongs), Some(BufferType::BinaryMessage));
    // So the send half has no pong to write: just its completion.
    assert_eq!(send_step(&mut s, &mut wire), (wspc::ActionKind::IndicateSendComplete, Some(7)));
    let frames = parse_stream(&[wire, pongs].concat(), false);
    assert_eq!(frames.iter().map(|f| f.opcode).collect::<Vec<_>>(), [OpCode::Binary, OpCode::Pong]);
    assert_eq!(frames[1].payload, b"p");
}

#[test]
fn a_one_action_frame_does_not_hold_the_pong() {
    let (mut s, mut r) = client();
    // 20 bytes fit in one action with the header: the frame is whole.
    s.send(BufferType::BinaryMessage, Some(SendBuffer::Data(pattern(20, 3).into())), 7).unwrap();
    let a = s.get_action(2).unwrap();
    let t = a.token();
    let Action::SendToNetwork { buffers, .. } = a else { panic!("{:?}", a.kind()) };
    let data: Vec<u8> = buffers.as_slices().concat();

    // While that action is out, a ping: its pong is lent at once (callers write whole
    // actions one after the other, so it cannot land inside the data frame).
    let mut inbox = frame(PING, b"now", None);
    r.receive(1).unwrap();
    let mut pong = Vec::new();
    assert_eq!(recv_step(&mut r, &mut inbox, &mut pong), None);
    assert_eq!(recv_step(&mut r, &mut inbox, &mut pong), Some(BufferType::UnsolicitedPong));
    s.complete_action(t, data.len());
    let frames = parse_stream(&[data, pong].concat(), false);
    assert_eq!(frames.iter().map(|f| f.opcode).collect::<Vec<_>>(), [OpCode::Binary, OpCode::Pong]);
    assert_eq!(frames[1].payload, b"now");
}

#[test]
fn a_pong_dropped_with_0_bytes_after_the_close_breaks_nothing() {
    let (mut s, mut r) = client();
    let mut wire = Vec::new();
    s.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: "bye".into() }), 7).unwrap();
    while send_step(&mut s, &mut wire).0 != wspc::ActionKind::IndicateSendComplete {}
    let mut inbox = [frame(PING, b"late", None), frame(0x88, &1000u16.to_be_bytes(), None)].concat();
    r.receive(1).unwrap();
    let mut dropped = 0;
    loop {
        let a = r.get_action().unwrap();
        let t = a.token();
        match a {
            Action::ReceiveFromNetwork { buffer, .. } => {
                let n = inbox.len().min(buffer.len());
                buffer[..n].copy_from_slice(&inbox[..n]);
                inbox.drain(..n);
                r.complete_action(t, n);
            }
            Action::SendToNetwork { .. } => {
                dropped += 1;
                r.complete_action(t, 0); // .NET does not write pongs after its close
            }
            Action::IndicateReceiveComplete { buffer_type, close_status, .. } => {
                assert_eq!((buffer_type, close_status), (BufferType::Close, Some(1000)));
                r.complete_action(t, 0);
                break;
            }
            Action::NoAction => panic!("NoAction before the close arrived"),
            other => panic!("{:?}", other.kind()),
        }
    }
    assert_eq!(dropped, 1);
    assert!(r.is_close_received());
    // The stream was not cut: the send half still writes control frames.
    s.send(BufferType::UnsolicitedPong, None, 8).unwrap();
    assert_eq!(send_step(&mut s, &mut wire), (wspc::ActionKind::SendToNetwork, Some(8)));
    let frames = parse_stream(&wire, false);
    assert_eq!(frames.iter().map(|f| f.opcode).collect::<Vec<_>>(), [OpCode::Close, OpCode::Pong]);
}

#[test]
fn abort_drops_a_waiting_pong_and_drains() {
    let (mut s, mut r) = client();
    let mut wire = Vec::new();
    s.send(BufferType::BinaryMessage, Some(SendBuffer::Data(pattern(400, 4).into())), 7).unwrap();
    send_step(&mut s, &mut wire);
    let mut inbox = frame(PING, b"x", None);
    r.receive(1).unwrap();
    let mut pongs = Vec::new();
    assert_eq!(recv_step(&mut r, &mut inbox, &mut pongs), None); // read the ping: pong waits
    let a = r.get_action().unwrap();
    let t = a.token();
    assert!(matches!(a, Action::ReceiveFromNetwork { .. }), "{:?}", a.kind());
    r.complete_action(t, 0);
    s.abort();
    // Send queue, one slot: the completion, then nothing (no pong after an abort).
    let a = s.get_action(1).unwrap();
    let t = a.token();
    assert!(matches!(a, Action::IndicateSendComplete { .. }), "{:?}", a.kind());
    s.complete_action(t, 0);
    assert!(matches!(s.get_action(1).unwrap(), Action::NoAction));
    // Receive queue: the cancelled receive, then nothing.
    let a = r.get_action().unwrap();
    let t = a.token();
    assert!(matches!(a, Action::IndicateReceiveComplete { .. }), "{:?}", a.kind());
    r.complete_action(t, 0);
    assert!(matches!(r.get_action().unwrap(), Action::NoAction));
    assert!(pongs.is_empty());
}
