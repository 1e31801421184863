//! An idle receive side can give its buffer back and take it again when data comes.
use wspc::{Action, ActionQueue, BufferType, Config, Handle};

mod common;

fn pair() -> (Handle, Handle) {
    let mut c = Handle::client(Config::client()).unwrap();
    let mut s = Handle::server(Config::server()).unwrap();
    common::handshake(&mut c, &mut s);
    (c, s)
}

fn send(c: &mut Handle, msg: &'static str) -> Vec<u8> {
    let mut wire = Vec::new();
    c.send_data(BufferType::Utf8Message, msg, 0).unwrap();
    loop {
        let a = c.get_action(ActionQueue::Send).unwrap();
        let t = a.token();
        match a {
            Action::SendToNetwork { buffers, .. } => {
                let n = buffers.len();
                buffers.as_slices().iter().for_each(|b| wire.extend_from_slice(b));
                c.complete_action(t, n);
            }
            Action::IndicateSendComplete { .. } => {
                c.complete_action(t, 0);
                return wire;
            }
            other => panic!("{:?}", other.kind()),
        }
    }
}

/// Receives one message from `wire`, reading at most `chunk` bytes per read.
fn recv(s: &mut Handle, wire: &mut Vec<u8>, chunk: usize) -> Vec<u8> {
    s.receive(0).unwrap();
    loop {
        let a = s.get_action(ActionQueue::Receive).unwrap();
        let t = a.token();
        match a {
            Action::ReceiveFromNetwork { buffer, .. } => {
                let n = chunk.min(wire.len()).min(buffer.len());
                buffer[..n].copy_from_slice(&wire[..n]);
                wire.drain(..n);
                s.complete_action(t, n);
            }
            Action::IndicateReceiveComplete { data, .. } => {
                let d = data.to_vec();
                s.complete_action(t, 0);
                return d;
            }
            other => panic!("{:?}", other.kind()),
        }
    }
}

#[test]
fn idle_receive_side_releases_and_reacquires_its_buffer() {
    let (mut c, mut s) = pair();
    assert!(!s.receive_half().holds_buffer(), "no buffer before the first read");
    let mut wire = send(&mut c, "one");
    wire.extend(send(&mut c, "two"));
    assert_eq!(recv(&mut s, &mut wire, 1 << 20), b"one");
    assert!(s.receive_half().holds_buffer());
    // "two" is still buffered: the buffer must stay.
    assert!(!s.receive_half().release_buffer());
    assert_eq!(recv(&mut s, &mut wire, 1 << 20), b"two");
    assert!(s.receive_half().release_buffer());
    assert!(!s.receive_half().holds_buffer());
    assert!(!s.receive_half().release_buffer(), "nothing left to release");
    // A message split across the release point: half a frame buffered keeps the buffer.
    let mut wire = send(&mut c, "three");
    s.receive(0).unwrap();
    let a = s.get_action(ActionQueue::Receive).unwrap();
    let t = a.token();
    let Action::ReceiveFromNetwork { buffer, .. } = a else { panic!("expected a read") };
    buffer[..4].copy_from_slice(&wire[..4]);
    wire.drain(..4);
    s.complete_action(t, 4);
    assert!(!s.receive_half().release_buffer(), "a partial frame is buffered");
    loop {
        let a = s.get_action(ActionQueue::Receive).unwrap();
        let t = a.token();
        match a {
            Action::ReceiveFromNetwork { buffer, .. } => {
                let n = wire.len().min(buffer.len());
                buffer[..n].copy_from_slice(&wire[..n]);
                wire.drain(..n);
                s.complete_action(t, n);
            }
            Action::IndicateReceiveComplete { data, .. } => {
                assert_eq!(data, b"three");
                s.complete_action(t, 0);
                break;
            }
            other => panic!("{:?}", other.kind()),
        }
    }
    assert!(s.receive_half().release_buffer());
}

/// Takes the next action, which must be a read, and returns its token without completing it.
fn read_action(s: &mut Handle) -> wspc::ActionToken {
    let a = s.get_action(ActionQueue::Receive).unwrap();
    let t = a.token();
    assert!(matches!(a, Action::ReceiveFromNetwork { .. }), "expected a read, got {:?}", a.kind());
    t
}

fn fill(s: &mut Handle, wire: &mut Vec<u8>, n: usize) {
    let a = s.get_action(ActionQueue::Receive).unwrap();
    let t = a.token();
    let Action::ReceiveFromNetwork { buffer, .. } = a else { panic!("expected a read, got {:?}", a.kind()) };
    let n = n.min(wire.len()).min(buffer.len());
    buffer[..n].copy_from_slice(&wire[..n]);
    wire.drain(..n);
    s.complete_action(t, n);
}

fn deliver(s: &mut Handle) -> (BufferType, Vec<u8>) {
    let a = s.get_action(ActionQueue::Receive).unwrap();
    let t = a.token();
    let Action::IndicateReceiveComplete { buffer_type, data, .. } = a else {
        panic!("expected a delivery, got {:?}", a.kind())
    };
    let out = (buffer_type, data.to_vec());
    s.complete_action(t, 0);
    out
}

#[test]
fn a_read_in_flight_with_nothing_buffered_is_withdrawn_and_its_token_goes_stale() {
    let (mut c, mut s) = pair();
    s.receive(0).unwrap();
    let stale = read_action(&mut s);
    assert!(s.receive_half().holds_buffer());
    // The transport had nothing: withdraw the read and give the buffer back.
    assert!(s.receive_half().release_buffer());
    assert!(!s.receive_half().holds_buffer());
    // A completion with the withdrawn read's token is ignored, whatever its count: were it
    // taken, 7 bytes of whatever the buffer held would be parsed (or 0 would cancel).
    s.complete_action(stale, 7);
    s.complete_action(stale, 0);
    assert_eq!(s.receive_half().buffered(), 0);
    let mut wire = send(&mut c, "hello, world");
    // The next action is a new read (with a new token) in a buffer taken again.
    let fresh = read_action(&mut s);
    assert_ne!(fresh, stale);
    assert!(s.receive_half().holds_buffer());
    // The stale token does not complete the new read either.
    s.complete_action(stale, 7);
    assert_eq!(s.receive_half().buffered(), 0);
    // Withdraw that one too, then deliver the bytes in pieces, completing the stale tokens
    // in between: the message arrives whole and in order.
    assert!(s.receive_half().release_buffer());
    fill(&mut s, &mut wire, 3);
    s.complete_action(stale, 1);
    s.complete_action(fresh, 1);
    fill(&mut s, &mut wire, 1 << 20);
    assert_eq!(deliver(&mut s), (BufferType::Utf8Message, b"hello, world".to_vec()));
    // The engine goes on normally: another message, through another withdraw cycle.
    s.receive(0).unwrap();
    read_action(&mut s);
    assert!(s.receive_half().release_buffer());
    let mut wire = send(&mut c, "again");
    fill(&mut s, &mut wire, 1 << 20);
    assert_eq!(deliver(&mut s), (BufferType::Utf8Message, b"again".to_vec()));
}

#[test]
fn a_read_in_flight_behind_a_partial_frame_is_not_withdrawn() {
    let (mut c, mut s) = pair();
    let mut wire = send(&mut c, "partial frame");
    s.receive(0).unwrap();
    fill(&mut s, &mut wire, 5);
    // Five bytes of the frame are buffered and a read for the rest is in flight: the
    // buffer holds data, so neither the buffer nor the read may go.
    let a = s.get_action(ActionQueue::Receive).unwrap();
    let t = a.token();
    let Action::ReceiveFromNetwork { buffer, .. } = a else { panic!("expected a read") };
    let n = wire.len();
    buffer[..n].copy_from_slice(&wire);
    assert!(!s.receive_half().release_buffer(), "a partial frame is buffered");
    assert!(s.receive_half().holds_buffer());
    // The read is still valid: completing it delivers the message.
    s.complete_action(t, n);
    assert_eq!(deliver(&mut s), (BufferType::Utf8Message, b"partial frame".to_vec()));
}

#[test]
fn a_caller_allocated_buffer_is_never_released_nor_its_read_withdrawn() {
    let mut c = Handle::client(Config::client()).unwrap();
    let cfg = Config::server().receive_buffer_size(4096).unwrap();
    let mut mem = vec![0u8; cfg.allocated_buffer_needed()];
    // SAFETY: `mem` outlives the handle and is used by nothing else.
    let cfg = unsafe { cfg.allocated_buffer(mem.as_mut_ptr(), mem.len()) }.unwrap();
    let mut s = Handle::server(cfg).unwrap();
    common::handshake(&mut c, &mut s);
    let mut wire = send(&mut c, "kept");
    s.receive(0).unwrap();
    let a = s.get_action(ActionQueue::Receive).unwrap();
    let t = a.token();
    let Action::ReceiveFromNetwork { buffer, .. } = a else { panic!("expected a read") };
    let n = wire.len();
    buffer[..n].copy_from_slice(&wire);
    wire.clear();
    assert!(!s.receive_half().release_buffer());
    s.complete_action(t, n);
    assert_eq!(deliver(&mut s), (BufferType::Utf8Message, b"kept".to_vec()));
    drop(s);
    drop(mem);
}

/// Takes the next send action, a write, and copies its bytes (the action stays open).
fn write_action(s: &mut Handle) -> (wspc::ActionToken, Vec<u8>) {
    let a = s.get_action(ActionQueue::Send).unwrap();
    let t = a.token();
    let Action::SendToNetwork { buffers, .. } = a else { panic!("expected a write") };
    let mut wire = Vec::new();
    buffers.as_slices().iter().for_each(|b| wire.extend_from_slice(b));
    (t, wire)
}

#[test]
fn the_send_buffer_is_released_while_no_send_is_queued() {
    let (mut c, mut s) = pair();
    assert!(!s.send_half().holds_buffer(), "no send buffer before the first send");
    s.send_data(BufferType::BinaryMessage, vec![7u8; 10], 0).unwrap();
    let (t, wire) = write_action(&mut s);
    let n = wire.len();
    assert!(s.send_half().holds_buffer());
    assert!(!s.send_half().release_buffer(), "a send is in progress");
    s.complete_action(t, n);
    let a = s.get_action(ActionQueue::Send).unwrap();
    let t = a.token();
    assert!(matches!(a, Action::IndicateSendComplete { .. }));
    s.complete_action(t, 0);
    assert!(s.send_half().release_buffer());
    assert!(!s.send_half().holds_buffer());
    // The client gets the frame intact, and the next send works again.
    let mut got = wire.clone();
    assert_eq!(recv(&mut c, &mut got, 1 << 20), vec![7u8; 10]);
    s.send_data(BufferType::BinaryMessage, vec![8u8; 3], 0).unwrap();
    let (t, mut wire) = write_action(&mut s);
    let n = wire.len();
    s.complete_action(t, n);
    assert_eq!(recv(&mut c, &mut wire, 1 << 20), vec![8u8; 3]);
}
