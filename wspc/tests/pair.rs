//! An in-memory client/server pair (two handles joined by byte pipes, like the Windows
//! sample), with assertions on the exact sequence of actions each side sees.

mod common;
use common::*;
use wspc::codec::frame::OpCode;
use wspc::hresult::*;
use wspc::{
    handshake::accept_key, Action, ActionKind, ActionQueue, BufferType, Config, Error, Handle, Misuse, OwnedHeader,
    Payload, SendBuffer,
};

fn data(p: impl Into<Payload>) -> Option<SendBuffer> {
    Some(SendBuffer::Data(p.into()))
}

fn is_no_action(r: wspc::Result<Action<'_>>) -> bool {
    matches!(r, Ok(Action::NoAction))
}

#[test]
fn handshake_headers_follow_the_spec() {
    let mut c = Handle::client(Config::client()).unwrap();
    let mut s = Handle::server(Config::server()).unwrap();
    let req = c.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    let names: Vec<&str> = req.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Connection", "Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version"]);
    assert_eq!(header(&req, "Connection"), Some("Upgrade"));
    assert_eq!(header(&req, "Upgrade"), Some("websocket"));
    assert_eq!(header(&req, "Sec-WebSocket-Version"), Some("13"));
    let key = header(&req, "Sec-WebSocket-Key").unwrap().to_string();
    assert_eq!(key.len(), 24);
    assert!(!c.is_open());
    // Session calls before the handshake ends fail.
    assert_eq!(c.receive(1).unwrap_err().hresult(), E_INVALID_PROTOCOL_OPERATION);

    let mut full = req.clone();
    full.push(OwnedHeader { name: "Host".into(), value: "example.com".into() });
    let resp = s.begin_server_handshake(None, &[], &hdrs(&full)).unwrap().to_vec();
    let names: Vec<&str> = resp.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Connection", "Upgrade", "Sec-WebSocket-Accept"]);
    assert_eq!(header(&resp, "Sec-WebSocket-Accept"), Some(accept_key(key.as_bytes()).as_str()));
    // The output stays owned by the handle until the handshake ends (the sample passes it to
    // the client before ending the server handshake).
    assert_eq!(s.handshake_headers().unwrap(), &resp[..]);
    let r = c.end_client_handshake(&hdrs(&resp)).unwrap();
    assert_eq!((r.subprotocol, r.extensions.len()), (None, 0));
    assert!(c.is_open());
    assert!(!s.is_open());
    // A server session call ends the server handshake implicitly.
    s.receive(1).unwrap();
    assert!(s.is_open());
    assert!(s.handshake_headers().is_none());
}

#[test]
fn hello_world_both_ways_like_the_windows_sample() {
    let mut p = Pair::default_pair();
    p.c.auto_receive = false;
    p.s.auto_receive = false;
    // Client: send "Hello World".
    p.c.h.send_data(BufferType::Utf8Message, "Hello World", 7).unwrap();
    p.c.pump().unwrap();
    assert_eq!(tags(&p.c.log), ["send:Utf8Message:17", "sent:Utf8Message"]);
    let Ev::Send { ctx, bytes, bufs, .. } = &p.c.log[0] else { unreachable!() };
    assert_eq!((*ctx, *bufs), (Some(7), 1));
    assert_eq!(&bytes[..2], &[0x81, 0x8b]);
    assert_eq!(p.c.log[1], Ev::SendDone { ty: BufferType::Utf8Message, ctx: 7, close: None });
    p.transfer();
    // Server: receive it.
    p.s.h.receive(8).unwrap();
    p.s.recv_ctx = 8;
    p.s.pump().unwrap();
    assert_eq!(
        p.s.log,
        [
            Ev::Read { ctx: 8, n: 17 },
            Ev::Recv { ty: BufferType::Utf8Message, ctx: 8, data: b"Hello World".to_vec(), close: None }
        ]
    );
    // Server to client, binary, one unmasked buffer.
    p.s.h.send_data(BufferType::BinaryMessage, b"Hello World".to_vec(), 9).unwrap();
    p.s.pump().unwrap();
    let mut want = vec![0x82, 0x0b];
    want.extend_from_slice(b"Hello World");
    assert_eq!(p.s.log[2], Ev::Send { ty: BufferType::BinaryMessage, ctx: Some(9), bytes: want, bufs: 1 });
    assert_eq!(p.s.log[3], Ev::SendDone { ty: BufferType::BinaryMessage, ctx: 9, close: None });
    assert_eq!(p.s.reclaimed, [b"Hello World".to_vec()], "the owned payload comes back");
    p.transfer();
    p.c.h.receive(10).unwrap();
    p.c.recv_ctx = 10;
    p.c.pump().unwrap();
    assert_eq!(tags(&p.c.log[2..]), ["read:13", "recv:BinaryMessage:11"]);
    assert_eq!(p.c.messages(), [(BufferType::BinaryMessage, b"Hello World".to_vec())]);
}

#[test]
fn text_and_binary_both_ways() {
    let mut p = Pair::default_pair();
    let msgs = [
        (BufferType::Utf8Message, text(1, 1)),
        (BufferType::BinaryMessage, pattern(0, 2)),
        (BufferType::Utf8Message, text(0, 3)),
        (BufferType::BinaryMessage, pattern(125, 4)),
        (BufferType::Utf8Message, text(126, 5)),
        (BufferType::BinaryMessage, pattern(4000, 6)),
        (BufferType::Utf8Message, text(70000, 7)),
    ];
    p.c.outgoing.extend(msgs.iter().cloned());
    p.s.outgoing.extend(msgs.iter().cloned());
    p.run().unwrap();
    assert_eq!(p.s.messages(), msgs);
    assert_eq!(p.c.messages(), msgs);
    // Send completions come in order, with the contexts given.
    let done: Vec<usize> =
        p.c.log.iter().filter_map(|e| if let Ev::SendDone { ctx, .. } = e { Some(*ctx) } else { None }).collect();
    assert_eq!(done, (1000..1007).collect::<Vec<_>>());
    assert_eq!(p.c.reclaimed.len(), 7);
    // Only the 125+ byte server payloads needed a second (zero-copy) buffer: the header buffer
    // holds 16 bytes.
    let bufs: Vec<usize> =
        p.s.log.iter().filter_map(|e| if let Ev::Send { bufs, .. } = e { Some(*bufs) } else { None }).collect();
    assert_eq!(bufs, [1, 1, 1, 2, 2, 2, 2]);
}

#[test]
fn a_masking_client_sends_large_payloads_in_send_buffer_pieces() {
    let mut c = Handle::client(Config::client().send_buffer_size(256).unwrap()).unwrap();
    let mut s = Handle::server(Config::server()).unwrap();
    handshake(&mut c, &mut s);
    let mut p = Pair::from_handles(c, s);
    p.c.outgoing.push_back((BufferType::BinaryMessage, pattern(1000, 9)));
    p.run().unwrap();
    // 8-byte header (2 + 2 length + 4 key) plus 248 payload bytes, then 256-byte pieces.
    let sends: Vec<String> = tags(&p.c.log).into_iter().filter(|t| t.starts_with("send")).collect();
    assert_eq!(
        sends,
        ["send:BinaryMessage:256", "send:BinaryMessage:256", "send:BinaryMessage:256", "send:BinaryMessage:240"]
    );
    assert_eq!(p.s.messages(), [(BufferType::BinaryMessage, pattern(1000, 9))]);
}

#[test]
fn a_message_ten_times_the_receive_buffer_arrives_in_chunks() {
    let mut p = Pair::default_pair();
    let big = pattern(40960, 10);
    let moved = big.clone();
    let ptr = moved.as_ptr() as usize;
    p.s.outgoing.push_back((BufferType::BinaryMessage, moved));
    p.run().unwrap();
    // The server lends its header and then the caller's own payload (zero copy).
    let Ev::Send { bytes, bufs, .. } = &p.s.log[0] else { panic!("{:?}", p.s.log) };
    assert_eq!((*bufs, &bytes[..4]), (2, &[0x82, 0x7e, 0xa0, 0x00][..]));
    assert_eq!(p.s.send_ptrs[0][1], ptr);
    assert_eq!(p.s.reclaimed[0].as_ptr() as usize, ptr);
    // The client reads at most 4096 bytes at a time and hands out each chunk as it comes.
    let mut want = vec!["read:4096".to_string(), "recv:BinaryFragment:4092".into()];
    for _ in 0..9 {
        want.push("read:4096".into());
        want.push("recv:BinaryFragment:4096".into());
    }
    want.push("read:4".into());
    want.push("recv:BinaryMessage:4".into());
    assert_eq!(tags(&p.c.log), want);
    assert_eq!(p.c.messages(), [(BufferType::BinaryMessage, big)]);
    // Each chunk completed its own receive.
    let ctxs: Vec<usize> =
        p.c.log.iter().filter_map(|e| if let Ev::Recv { ctx, .. } = e { Some(*ctx) } else { None }).collect();
    assert_eq!(ctxs, (501..512).collect::<Vec<_>>());
}

#[test]
fn ping_is_answered_on_the_receive_queue_and_the_pong_completes_a_receive() {
    let mut p = Pair::default_pair();
    p.c.auto_receive = false;
    p.s.auto_receive = false;
    p.c.h.send(BufferType::PingPong, None, 1).unwrap();
    p.c.pump().unwrap();
    assert_eq!(tags(&p.c.log), ["send:PingPong:6", "sent:PingPong"]);
    p.transfer();

    // The server's receive sees the ping and queues a pong on the receive queue.
    p.s.h.receive(2).unwrap();
    let a = p.s.h.get_action(ActionQueue::Receive).unwrap();
    let Action::ReceiveFromNetwork { token, buffer, context } = a else { panic!("{:?}", a.kind()) };
    assert_eq!(context, 2);
    let n = p.s.inbox.len();
    for (i, b) in p.s.inbox.drain(..).enumerate() {
        buffer[i] = b;
    }
    p.s.h.complete_action(token, n);
    // Nothing for the send queue: the pong belongs to the receive queue.
    assert!(is_no_action(p.s.h.get_action(ActionQueue::Send)));
    let a = p.s.h.get_action_with_slots(ActionQueue::Receive, 1).unwrap();
    let Action::SendToNetwork { token, buffer_type, context, buffers } = a else { panic!("{:?}", a.kind()) };
    assert_eq!(
        (buffer_type, context, buffers.as_slices()),
        (BufferType::UnsolicitedPong, None, &[&[0x8a, 0x00][..]][..])
    );
    // While the pong is being written, the send queue must not start a frame.
    p.s.h.send_data(BufferType::BinaryMessage, "x", 3).unwrap();
    assert!(is_no_action(p.s.h.get_action(ActionQueue::Send)));
    p.s.h.complete_action(token, 2);
    p.s.out.extend_from_slice(&[0x8a, 0x00]);
    // The ping did not complete the receive: it asks for more data.
    let a = p.s.h.get_action(ActionQueue::Receive).unwrap();
    assert_eq!(a.kind(), ActionKind::ReceiveFromNetwork);
    let tok = a.token();
    // Now the send goes out.
    let a = p.s.h.get_action(ActionQueue::Send).unwrap();
    assert_eq!(a.kind(), ActionKind::SendToNetwork);
    let t2 = a.token();
    p.s.h.complete_action(t2, 3);
    let t3 = p.s.h.get_action(ActionQueue::Send).unwrap().token();
    p.s.h.complete_action(t3, 0);
    p.s.h.complete_action(tok, 0); // cancel the receive
    p.transfer();

    // The pong completes the client's receive as PingPong.
    p.c.h.receive(4).unwrap();
    p.c.recv_ctx = 4;
    p.c.pump().unwrap();
    assert_eq!(
        p.c.log[2..],
        [Ev::Read { ctx: 4, n: 2 }, Ev::Recv { ty: BufferType::PingPong, ctx: 4, data: vec![], close: None }]
    );
}

#[test]
fn pings_with_payload_and_unsolicited_pongs_through_the_pair() {
    let mut p = Pair::default_pair();
    p.c.h.send(BufferType::PingPong, data("abc"), 1).unwrap();
    p.run().unwrap();
    p.s.h.send(BufferType::UnsolicitedPong, None, 2).unwrap();
    p.run().unwrap();
    assert_eq!(
        tags(&p.s.log),
        ["read:9", "send:UnsolicitedPong:5", "send:UnsolicitedPong:2", "sent:UnsolicitedPong"],
        "the automatic pong (no context) then the application's pong"
    );
    assert!(matches!(&p.s.log[1], Ev::Send { ctx: None, .. }));
    assert!(matches!(&p.s.log[2], Ev::Send { ctx: Some(2), .. }));
    // The client receives its echoed pong then the unsolicited one, both as PingPong.
    assert_eq!(p.c.controls(), [(BufferType::PingPong, b"abc".to_vec(), None), (BufferType::PingPong, vec![], None)]);
}

#[test]
fn close_started_by_the_client_without_status() {
    let mut p = Pair::default_pair();
    p.c.h.send(BufferType::Close, None, 1).unwrap();
    p.run().unwrap();
    assert_eq!(tags(&p.c.log), ["send:Close:6", "sent:Close"]);
    assert_eq!(p.s.log[1], Ev::Recv { ty: BufferType::Close, ctx: 501, data: vec![], close: Some(1005) });
    // Only control frames after a close was sent.
    let e = p.c.h.send_data(BufferType::BinaryMessage, "x", 2).unwrap_err();
    assert_eq!(e.hresult(), E_INVALID_PROTOCOL_OPERATION);
    p.c.h.send(BufferType::PingPong, None, 3).unwrap();
    p.run().unwrap();
    // The server has no receive after the close, so the ping stays unread (pull only).
    assert_eq!(p.s.inbox.len(), 6);
    // The server answers with status and reason.
    p.s.h.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: "done".into() }), 4).unwrap();
    p.run().unwrap();
    assert_eq!(p.c.controls(), [(BufferType::Close, b"done".to_vec(), Some(1000))]);
    assert_eq!(p.s.log.last(), Some(&Ev::SendDone { ty: BufferType::Close, ctx: 4, close: Some(1000) }));
    // Both sides are done: no receive after a close was received.
    assert_eq!(p.c.h.receive(5).unwrap_err().hresult(), E_INVALID_PROTOCOL_OPERATION);
    assert_eq!(p.s.h.receive(5).unwrap_err().hresult(), E_INVALID_PROTOCOL_OPERATION);
    assert!(p.c.h.receive_half().is_close_received() && p.c.h.send_half().is_close_sent());
    assert!(p.s.h.receive_half().is_close_received() && p.s.h.send_half().is_close_sent());
}

#[test]
fn close_started_by_the_server_with_status_and_reason() {
    let mut p = Pair::default_pair();
    let reason = "é".repeat(61) + "x"; // 123 bytes, the longest allowed
    assert_eq!(reason.len(), 123);
    p.s.outgoing.push_back((BufferType::BinaryMessage, b"last words".to_vec()));
    p.run().unwrap();
    p.s.h.send(BufferType::Close, Some(SendBuffer::Close { status: 1001, reason: reason.clone().into() }), 1).unwrap();
    p.run().unwrap();
    let frames = parse_stream(&p.s.wire, false);
    assert_eq!(frames.last().unwrap().opcode, OpCode::Close);
    assert_eq!(frames.last().unwrap().payload[..2], [0x03, 0xe9]);
    // Data sent before the close is delivered before it.
    assert_eq!(tags(&p.c.log), ["read:12", "recv:BinaryMessage:10", "read:127", "recv:Close:1001:123"]);
    assert_eq!(p.c.controls(), [(BufferType::Close, reason.into_bytes(), Some(1001))]);
    // The client may still send data until it sends its own close.
    p.c.outgoing.push_back((BufferType::Utf8Message, b"still here".to_vec()));
    p.run().unwrap();
    p.c.h.send(BufferType::Close, Some(SendBuffer::Close { status: 1001, reason: Payload::EMPTY }), 2).unwrap();
    p.run().unwrap();
    assert_eq!(p.s.messages(), [(BufferType::Utf8Message, b"still here".to_vec())]);
    assert_eq!(p.s.controls(), [(BufferType::Close, vec![], Some(1001))]);
}

#[test]
fn close_arguments_are_checked() {
    let mut c = open_client(Config::client());
    for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let e = c.send(BufferType::Close, Some(SendBuffer::Close { status: bad, reason: Payload::EMPTY }), 1);
        assert_eq!(e.unwrap_err().hresult(), E_INVALIDARG, "{bad}");
    }
    let long = "x".repeat(124);
    let e = c.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: long.into() }), 1);
    assert_eq!(e.unwrap_err().hresult(), E_INVALIDARG);
    let e = c.send(BufferType::Close, Some(SendBuffer::Data("x".into())), 1);
    assert_eq!(e.unwrap_err().hresult(), E_INVALIDARG);
    let e = c.send(BufferType::PingPong, Some(SendBuffer::Data(vec![0; 126].into())), 1);
    assert_eq!(e.unwrap_err().hresult(), E_INVALIDARG);
    // A refused send leaves nothing queued.
    assert!(!c.send_half().is_pending());
    assert!(!c.send_half().is_close_sent());
}

#[test]
fn abort_returns_pending_operations_then_no_action() {
    let mut c = open_client(Config::client());
    let big = pattern(10000, 11);
    c.send_data(BufferType::BinaryMessage, big, 1).unwrap();
    // One piece of the frame is written, the rest is pending.
    let a = c.get_action(ActionQueue::Send).unwrap();
    assert_eq!(a.kind(), ActionKind::SendToNetwork);
    let (t, n) = (a.token(), if let Action::SendToNetwork { buffers, .. } = &a { buffers.len() } else { 0 });
    assert_eq!(n, 4096);
    c.complete_action(t, n);
    c.receive(2).unwrap();
    c.abort();
    assert!(c.is_aborted());
    // New work is refused.
    assert_eq!(c.send_data(BufferType::BinaryMessage, "x", 3).unwrap_err(), Error::Misuse(Misuse::Aborted));
    assert_eq!(c.receive(3).unwrap_err().hresult(), E_INVALID_PROTOCOL_OPERATION);
    // Drain the .NET way: one slot, send queue first, then the receive queue.
    let a = c.get_action_with_slots(ActionQueue::Send, 1).unwrap();
    let Action::IndicateSendComplete { token, buffer_type, context, payload, .. } = a else { panic!("{:?}", a.kind()) };
    assert_eq!((buffer_type, context, payload.len()), (BufferType::BinaryMessage, 1, 10000));
    c.complete_action(token, 0);
    assert!(is_no_action(c.get_action_with_slots(ActionQueue::Send, 1)));
    let a = c.get_action_with_slots(ActionQueue::Receive, 1).unwrap();
    let Action::IndicateReceiveComplete { token, context, data, .. } = a else { panic!("{:?}", a.kind()) };
    assert_eq!((context, data.len()), (2, 0));
    c.complete_action(token, 0);
    for q in [ActionQueue::Send, ActionQueue::Receive, ActionQueue::All] {
        assert!(is_no_action(c.get_action(q)));
    }
    c.abort(); // repeatable
    assert!(is_no_action(c.get_action(ActionQueue::All)));
}

#[test]
fn abort_during_a_read_completes_after_the_read() {
    let mut p = Pair::default_pair();
    p.c.pump().unwrap();
    assert!(p.c.read_pending());
    p.c.h.abort();
    p.c.cancel_pending_read();
    p.c.pump().unwrap();
    assert_eq!(tags(&p.c.log), ["read:0", "recv:BinaryMessage:0"]);
    assert!(is_no_action(p.c.h.get_action(ActionQueue::All)));
    // Abort before the handshake has no effect.
    let mut fresh = Handle::client(Config::client()).unwrap();
    fresh.abort();
    assert!(!fresh.is_aborted());
}

#[test]
fn a_send_cancelled_by_zero_bytes_is_clean() {
    let mut s = open_server(Config::server());
    s.send_data(BufferType::Utf8Message, "Hello World", 1).unwrap();
    let t = s.get_action(ActionQueue::Send).unwrap().token();
    s.complete_action(t, 0);
    let a = s.get_action(ActionQueue::Send).unwrap();
    let Action::IndicateSendComplete { token, context, .. } = a else { panic!("{:?}", a.kind()) };
    assert_eq!(context, 1);
    s.complete_action(token, 0);
    assert!(is_no_action(s.get_action(ActionQueue::All)));
    // Nothing reached the wire, so the stream is intact and the next send works.
    s.send_data(BufferType::Utf8Message, "again", 2).unwrap();
    let a = s.get_action(ActionQueue::Send).unwrap();
    let Action::SendToNetwork { buffers, .. } = &a else { panic!() };
    assert_eq!(buffers.as_slices().concat(), [&[0x81, 0x05][..], b"again"].concat());
}

#[test]
fn a_send_cancelled_by_a_short_count_breaks_the_stream() {
    let mut s = open_server(Config::server());
    s.send_data(BufferType::Utf8Message, "Hello World", 1).unwrap();
    let t = s.get_action(ActionQueue::Send).unwrap().token();
    s.complete_action(t, 5);
    let a = s.get_action(ActionQueue::Send).unwrap();
    assert_eq!(a.kind(), ActionKind::IndicateSendComplete);
    let t = a.token();
    s.complete_action(t, 0);
    // Part of a frame went out: nothing else may be written.
    let e = s.send_data(BufferType::Utf8Message, "x", 2).unwrap_err();
    assert_eq!(e.hresult(), E_INVALID_PROTOCOL_OPERATION);
}

#[test]
fn a_fragmented_send_cancelled_cleanly_keeps_the_message_state() {
    let mut s = open_server(Config::server());
    s.send_data(BufferType::Utf8Fragment, "ab", 1).unwrap();
    let t = s.get_action(ActionQueue::Send).unwrap().token();
    s.complete_action(t, 4);
    let t = s.get_action(ActionQueue::Send).unwrap().token();
    s.complete_action(t, 0);
    // The continuation is cancelled before any byte: the message is still open, so binary
    // data may not start and a text continuation may.
    s.send_data(BufferType::Utf8Message, "cd", 2).unwrap();
    let t = s.get_action(ActionQueue::Send).unwrap().token();
    s.complete_action(t, 0);
    let t = s.get_action(ActionQueue::Send).unwrap().token();
    s.complete_action(t, 0);
    assert_eq!(s.send_data(BufferType::BinaryMessage, "x", 3).unwrap_err().hresult(), E_INVALID_PROTOCOL_OPERATION);
    s.send_data(BufferType::Utf8Message, "cd", 4).unwrap();
    let a = s.get_action(ActionQueue::Send).unwrap();
    let Action::SendToNetwork { buffers, .. } = &a else { panic!() };
    assert_eq!(buffers.as_slices().concat(), [0x80, 0x02, b'c', b'd']);
}

#[test]
fn a_receive_cancelled_by_zero_bytes() {
    let mut p = Pair::default_pair();
    p.c.pump().unwrap();
    assert!(p.c.cancel_pending_read());
    p.c.auto_receive = false;
    p.c.pump().unwrap();
    // One empty buffer with the pending data type (no message: BinaryMessage).
    assert_eq!(
        p.c.log,
        [Ev::Read { ctx: 501, n: 0 }, Ev::Recv { ty: BufferType::BinaryMessage, ctx: 501, data: vec![], close: None }]
    );
    // The connection still works afterwards.
    p.c.log.clear();
    p.c.auto_receive = true;
    p.s.outgoing.push_back((BufferType::Utf8Message, b"after".to_vec()));
    p.run().unwrap();
    assert_eq!(p.c.messages(), [(BufferType::Utf8Message, b"after".to_vec())]);
}

#[test]
fn a_receive_cancelled_inside_a_text_message_reports_a_text_fragment() {
    let mut e = Endpoint::new(open_server(Config::server()));
    e.inbox.extend(frame(0x01, b"abc", Some(KEY)));
    e.pump().unwrap();
    assert!(e.cancel_pending_read());
    e.auto_receive = false;
    e.pump().unwrap();
    assert_eq!(tags(&e.log), ["read:9", "recv:Utf8Fragment:3", "read:0", "recv:Utf8Fragment:0"]);
    // Feeding the rest finishes the message.
    e.auto_receive = true;
    e.inbox.extend(frame(0x80, b"def", Some(KEY)));
    e.pump().unwrap();
    assert_eq!(e.messages(), [(BufferType::Utf8Message, b"abcdef".to_vec())]);
}

#[test]
fn one_buffer_slot_sends_header_then_payload() {
    let mut p = Pair::default_pair();
    p.s.slots = 1;
    p.s.queue = ActionQueue::Send;
    p.s.auto_receive = false;
    p.s.outgoing.push_back((BufferType::BinaryMessage, pattern(300, 12)));
    p.run().unwrap();
    assert_eq!(tags(&p.s.log), ["send:BinaryMessage:4", "send:BinaryMessage:300", "sent:BinaryMessage"]);
    assert_eq!(p.c.messages(), [(BufferType::BinaryMessage, pattern(300, 12))]);
}

#[test]
fn queues_take_turns_under_all() {
    let mut p = Pair::default_pair();
    p.s.auto_receive = false;
    p.c.outgoing.push_back((BufferType::BinaryMessage, b"to server".to_vec()));
    p.run().unwrap();
    // The client had both a read and a send ready and handed out both before waiting.
    assert_eq!(tags(&p.c.log), ["send:BinaryMessage:15", "sent:BinaryMessage"]);
    assert!(p.c.read_pending());
    // Completing NoAction and stale tokens is harmless.
    let stale = wspc::ActionToken::from_raw(12345);
    p.c.h.complete_action(wspc::ActionToken::NONE, 0);
    p.c.h.complete_action(stale, 7);
    assert!(p.c.read_pending());
    p.s.outgoing.push_back((BufferType::BinaryMessage, b"to client".to_vec()));
    p.run().unwrap();
    assert_eq!(p.c.messages(), [(BufferType::BinaryMessage, b"to client".to_vec())]);
}

#[test]
fn empty_messages_are_delivered() {
    // Regression: an empty final frame used to leave the receive waiting for payload that
    // never came, until the buffer filled up and the receive failed.
    let mut bytes = frame(0x81, b"", None);
    bytes.extend(frame(0x82, b"", None));
    bytes.extend(frame(0x01, b"", None));
    bytes.extend(frame(0x00, b"", None));
    bytes.extend(frame(0x80, b"", None));
    bytes.extend(frame(0x82, b"after", None));
    for step in [1, 2, usize::MAX] {
        let (e, err) = feed(open_client(Config::client()), &bytes, step);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            e.messages(),
            [
                (BufferType::Utf8Message, vec![]),
                (BufferType::BinaryMessage, vec![]),
                (BufferType::Utf8Message, vec![]),
                (BufferType::BinaryMessage, b"after".to_vec())
            ],
            "step {step}"
        );
        assert_eq!(
            e.chunks()[..3],
            [(BufferType::Utf8Message, 0), (BufferType::BinaryMessage, 0), (BufferType::Utf8Message, 0)]
        );
    }
}
