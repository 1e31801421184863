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
