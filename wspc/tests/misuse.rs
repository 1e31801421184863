//! Calls the engine refuses, with their HRESULTs; the allocated-buffer property and the
//! rule that every lent pointer lies inside it (or the caller's own memory).

mod common;
use common::*;
use wspc::hresult::{E_INVALIDARG, E_INVALID_PROTOCOL_OPERATION};
use wspc::{
    Action, ActionQueue, BufferType, Config, Error, Handle, Misuse, Payload, Property, Role, SendBuffer,
    ALLOCATED_BUFFER_OVERHEAD,
};

const OPERATION: i32 = E_INVALID_PROTOCOL_OPERATION;

#[test]
fn a_second_outstanding_send_or_receive() {
    let mut c = open_client(Config::client());
    c.send_data(BufferType::BinaryMessage, "one", 1).unwrap();
    let e = c.send_data(BufferType::BinaryMessage, "two", 2).unwrap_err();
    assert_eq!((e.clone(), e.hresult()), (Error::Misuse(Misuse::AlreadyPending), OPERATION));
    assert_eq!(c.send(BufferType::PingPong, None, 3).unwrap_err().hresult(), OPERATION);
    c.receive(4).unwrap();
    let e = c.receive(5).unwrap_err();
    assert_eq!((e.clone(), e.hresult()), (Error::Misuse(Misuse::AlreadyPending), OPERATION));
    // The first ones are unaffected: the send still carries "one" with context 1.
    let a = c.get_action(ActionQueue::Send).unwrap();
    let Action::SendToNetwork { context, buffers, .. } = &a else { panic!("{:?}", a.kind()) };
    assert_eq!(*context, Some(1));
    assert_eq!(parse_stream(&buffers.as_slices().concat(), false)[0].payload, b"one");
}

#[test]
fn session_calls_before_the_handshake() {
    let mut c = Handle::client(Config::client()).unwrap();
    let mut s = Handle::server(Config::server()).unwrap();
    for h in [&mut c, &mut s] {
        let e = h.send_data(BufferType::Utf8Message, "x", 1).unwrap_err();
        assert_eq!(e.hresult(), OPERATION);
        assert!(matches!(e, Error::Misuse(Misuse::WrongState(_))));
        assert_eq!(h.receive(1).unwrap_err().hresult(), OPERATION);
        assert_eq!(h.get_action(ActionQueue::All).unwrap_err().hresult(), OPERATION);
    }
    // A client between begin and end is not open either.
    c.begin_client_handshake(&[], &[], &[]).unwrap();
    assert_eq!(c.send_data(BufferType::Utf8Message, "x", 1).unwrap_err().hresult(), OPERATION);
    assert_eq!(c.begin_client_handshake(&[], &[], &[]).unwrap_err().hresult(), OPERATION);
    assert_eq!(c.end_server_handshake().unwrap_err().hresult(), OPERATION);
    // Wrong-role handshake calls.
    assert_eq!(s.begin_client_handshake(&[], &[], &[]).unwrap_err().hresult(), OPERATION);
    assert_eq!(c.begin_server_handshake(None, &[], &[]).unwrap_err().hresult(), OPERATION);
    assert_eq!(s.end_client_handshake(&[]).unwrap_err().hresult(), OPERATION);
    // `split` needs an open handle too.
    assert_eq!(Handle::client(Config::client()).unwrap().split().err().unwrap().hresult(), OPERATION);
}

#[test]
fn data_after_close_sent_and_receive_after_close_received() {
    let mut p = Pair::default_pair();
    p.c.h.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: Payload::EMPTY }), 1).unwrap();
    p.run().unwrap();
    for ty in [BufferType::Utf8Message, BufferType::BinaryFragment] {
        let e = p.c.h.send_data(ty, "late", 2).unwrap_err();
        assert_eq!((e.hresult(), matches!(e, Error::Misuse(Misuse::WrongState(_)))), (OPERATION, true));
    }
    assert_eq!(p.c.h.send(BufferType::Close, None, 3).unwrap_err().hresult(), OPERATION);
    // Pings and pongs are still allowed.
    p.c.h.send(BufferType::UnsolicitedPong, None, 4).unwrap();
    p.run().unwrap();
    assert!(p.s.h.receive_half().is_close_received());
    let e = p.s.h.receive(5).unwrap_err();
    assert_eq!((e.hresult(), matches!(e, Error::Misuse(Misuse::WrongState(_)))), (OPERATION, true));
    // The server can still send data (its side is open) until its own close.
    p.s.outgoing.push_back((BufferType::BinaryMessage, b"bye".to_vec()));
    p.run().unwrap();
    assert_eq!(p.c.messages(), [(BufferType::BinaryMessage, b"bye".to_vec())]);
}

#[test]
fn bad_arguments_to_send_and_get_action() {
    let mut c = open_client(Config::client());
    assert_eq!(c.send(BufferType::Utf8Message, None, 1).unwrap_err().hresult(), E_INVALIDARG);
    assert_eq!(c.get_action_with_slots(ActionQueue::All, 0).unwrap_err().hresult(), E_INVALIDARG);
    assert_eq!(c.send_half().get_action(0).unwrap_err().hresult(), E_INVALIDARG);
    // Text and binary mixed in one fragmented message.
    c.send_data(BufferType::Utf8Fragment, "a", 1).unwrap();
    for _ in 0..2 {
        let t = c.get_action(ActionQueue::Send).unwrap().token();
        c.complete_action(t, 7);
    }
    let e = c.send_data(BufferType::BinaryMessage, "b", 2).unwrap_err();
    assert_eq!(e.hresult(), OPERATION);
    c.send_data(BufferType::Utf8Message, "b", 3).unwrap();
    // A caller receive buffer must not be empty.
    // SAFETY: the pointer is null, which the engine refuses before using it.
    let e = unsafe { c.receive_into(std::ptr::null_mut(), 10, 4) }.unwrap_err();
    assert_eq!(e.hresult(), E_INVALIDARG);
}

#[test]
fn bad_properties() {
    let cases: [(Property, bool); 10] = [
        (Property::ReceiveBufferSize(255), false),
        (Property::ReceiveBufferSize(256), true),
        (Property::ReceiveBufferSize(65536), true),
        (Property::ReceiveBufferSize(0), false),
        (Property::SendBufferSize(15), false),
        (Property::SendBufferSize(16), true),
        (Property::SendBufferSize(u32::MAX), false),
        (Property::KeepaliveInterval(30000), false),
        (Property::SupportedVersions, false),
        (Property::DisableMasking(true), true),
    ];
    for role in [Role::Client, Role::Server] {
        for (p, ok) in cases {
            let r = Config::from_properties(role, &[p]);
            match (r, ok) {
                (Ok(_), true) => {}
                (Err(e), false) => {
                    assert_eq!(e.hresult(), E_INVALIDARG, "{p:?}");
                    assert!(matches!(e, Error::Misuse(Misuse::InvalidProperty(_))), "{p:?}");
                }
                (r, _) => panic!("{p:?}: {r:?}"),
            }
        }
    }
    // A good property followed by a bad one fails as a whole.
    let r = Config::from_properties(Role::Client, &[Property::ReceiveBufferSize(1024), Property::SendBufferSize(1)]);
    assert_eq!(r.unwrap_err().hresult(), E_INVALIDARG);
    // The role of the configuration must match the handle.
    assert_eq!(Handle::client(Config::server()).err().unwrap().hresult(), E_INVALIDARG);
    assert_eq!(Handle::server(Config::client()).err().unwrap().hresult(), E_INVALIDARG);
    // Properties take effect: a 256-byte receive buffer lends 256-byte reads.
    let cfg = Config::from_properties(Role::Client, &[Property::ReceiveBufferSize(256)]).unwrap();
    let mut c = open_client(cfg);
    c.receive(1).unwrap();
    let a = c.get_action(ActionQueue::Receive).unwrap();
    let Action::ReceiveFromNetwork { buffer, .. } = a else { panic!() };
    assert_eq!(buffer.len(), 256);
}

/// 8-byte-aligned memory for an allocated buffer.
struct Mem(Vec<u64>);
impl Mem {
    fn new(len: usize) -> Self {
        Mem(vec![0; len.div_ceil(8) + 1])
    }
    fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr().cast()
    }
    fn range(&self, len: usize) -> (usize, usize) {
        (self.0.as_ptr() as usize, self.0.as_ptr() as usize + len)
    }
}

#[test]
fn allocated_buffer_too_small_or_misaligned() {
    let cfg = Config::client().receive_buffer_size(1024).unwrap().send_buffer_size(512).unwrap();
    let need = 1024 + 512 + ALLOCATED_BUFFER_OVERHEAD;
    assert_eq!(cfg.allocated_buffer_needed(), need);
    let mut m = Mem::new(need + 8);
    // SAFETY: `m` outlives every configuration and handle made from it in this test.
    unsafe {
        let e = cfg.clone().allocated_buffer(m.ptr(), need - 1).unwrap_err();
        assert_eq!(e.hresult(), E_INVALIDARG);
        let e = cfg.clone().allocated_buffer(m.ptr().add(1), need).unwrap_err();
        assert_eq!(e.hresult(), E_INVALIDARG);
        let e = cfg.clone().allocated_buffer(m.ptr().add(4), need).unwrap_err();
        assert_eq!(e.hresult(), E_INVALIDARG);
        let e = cfg.clone().allocated_buffer(std::ptr::null_mut(), need).unwrap_err();
        assert_eq!(e.hresult(), E_INVALIDARG);
        assert!(cfg.clone().allocated_buffer(m.ptr(), need).is_ok());
        assert!(cfg.clone().allocated_buffer(m.ptr().add(8), need).is_ok());
    }
}

#[test]
fn every_lent_pointer_lies_in_the_allocated_buffer_or_the_callers_payload() {
    for (recv, send, masking) in [(256u32, 16u32, true), (4096, 4096, true), (1024, 100, false)] {
        let need = |r: u32, s: u32| (r + s) as usize + ALLOCATED_BUFFER_OVERHEAD;
        let (cn, sn) = (need(recv, send), need(recv, 16));
        let mut cm = Mem::new(cn);
        let mut sm = Mem::new(sn);
        let ccfg = Config::client().receive_buffer_size(recv).unwrap().send_buffer_size(send).unwrap();
        let ccfg = ccfg.disable_masking(!masking);
        let scfg = Config::server().receive_buffer_size(recv).unwrap().disable_masking(!masking);
        // SAFETY: `cm` and `sm` outlive the pair, which is dropped at the end of the loop body.
        let (ccfg, scfg) =
            unsafe { (ccfg.allocated_buffer(cm.ptr(), cn).unwrap(), scfg.allocated_buffer(sm.ptr(), sn).unwrap()) };
        let mut p = Pair::new(ccfg, scfg);
        p.c.allowed.push(cm.range(cn));
        p.s.allowed.push(sm.range(sn));
        let mut sizes = vec![0usize, 1, 15, 16, 125, 126, 200, 1000, 5000, 70000];
        sizes.extend([3, 300]);
        for (i, n) in sizes.iter().enumerate() {
            let ty = if i % 2 == 0 { BufferType::BinaryMessage } else { BufferType::Utf8Message };
            let body = if ty.is_text() { text(*n, i as u64) } else { pattern(*n, i as u64) };
            for e in [&mut p.c, &mut p.s] {
                let v = body.clone();
                e.allowed.push((v.as_ptr() as usize, v.as_ptr() as usize + v.len()));
                e.outgoing.push_back((ty, v));
            }
        }
        p.run().unwrap();
        p.c.h.send(BufferType::PingPong, Some(SendBuffer::Data("ping".into())), 1).unwrap();
        p.s.h.send(BufferType::PingPong, None, 1).unwrap();
        p.run().unwrap();
        p.c.h.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: "bye".into() }), 2).unwrap();
        p.run().unwrap();
        p.s.h.send(BufferType::Close, None, 2).unwrap();
        p.run().unwrap();
        assert_eq!(p.c.messages().len(), sizes.len());
        assert_eq!(p.s.messages().len(), sizes.len());
        assert_eq!(p.c.controls().last().unwrap().2, Some(1005));
        assert_eq!(p.s.controls().last().unwrap().2, Some(1000));
        // The automatic pongs were sent from the allocated buffer too.
        assert!(p.c.log.iter().any(|e| matches!(e, Ev::Send { ctx: None, .. })));
    }
}

#[test]
fn a_caller_receive_buffer_gets_the_data() {
    let mut p = Pair::default_pair();
    p.c.auto_receive = false;
    p.s.outgoing.push_back((BufferType::Utf8Message, text(250, 1)));
    p.run().unwrap();
    let mut mine = [0u8; 100];
    let range = (mine.as_ptr() as usize, mine.as_ptr() as usize + 100);
    let mut got = Vec::new();
    let mut types = Vec::new();
    loop {
        // SAFETY: `mine` is not touched until the receive completes (below).
        unsafe { p.c.h.receive_into(mine.as_mut_ptr(), mine.len(), 9) }.unwrap();
        loop {
            let a = p.c.h.get_action(ActionQueue::Receive).unwrap();
            let t = a.token();
            match a {
                Action::ReceiveFromNetwork { buffer, .. } => {
                    let n = buffer.len().min(p.c.inbox.len());
                    for b in &mut buffer[..n] {
                        *b = p.c.inbox.pop_front().unwrap();
                    }
                    p.c.h.complete_action(t, n);
                }
                Action::IndicateReceiveComplete { data, buffer_type, .. } => {
                    check_ptr(&[range], "caller receive", data);
                    assert!(data.len() <= 100);
                    got.extend_from_slice(data);
                    types.push(buffer_type);
                    p.c.h.complete_action(t, 0);
                    break;
                }
                other => panic!("{:?}", other.kind()),
            }
        }
        if types.last() == Some(&BufferType::Utf8Message) {
            break;
        }
    }
    assert_eq!(got, text(250, 1));
    assert!(types.len() >= 3);
    assert!(types[..types.len() - 1].iter().all(|t| *t == BufferType::Utf8Fragment));
}
