//! permessage-deflate (RFC 7692) between two handles: negotiation, compressed round trips
//! (fragmented, larger than the receive buffer), context takeover, and the bomb limit.
#![cfg(feature = "deflate")]

mod common;
use common::*;
use proptest::prelude::*;
use wspc::codec::frame::OpCode;
use wspc::deflate::{DeflateConfig, DeflateOffer, DeflateParams, DeflatePolicy};
use wspc::hresult::E_INVALID_PROTOCOL_FORMAT;
use wspc::{BufferType, Config, Error, Handle, OwnedHeader, ProtocolError};

fn dc() -> Option<DeflateConfig> {
    Some(DeflateConfig::default())
}

fn deflate_pair(c: Config, s: Config) -> (Pair, Vec<OwnedHeader>, Vec<OwnedHeader>) {
    let mut ch = Handle::client(c).unwrap();
    let mut sh = Handle::server(s).unwrap();
    let mut req = ch.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "h".into() });
    let resp = sh.begin_server_handshake(None, &[], &hdrs(&req)).unwrap().to_vec();
    let r = ch.end_client_handshake(&hdrs(&resp)).unwrap();
    assert!(r.extensions.is_empty(), "deflate is the engine's, not an application extension");
    (Pair::from_handles(ch, sh), req, resp)
}

/// Compressible text of `len` bytes.
fn json(len: usize, seed: u64) -> Vec<u8> {
    let mut s = String::new();
    let mut i = seed;
    while s.len() < len {
        s.push_str(&format!("{{\"id\":{i},\"name\":\"sensor-{}\",\"ok\":true}},", i % 7));
        i += 1;
    }
    s.truncate(len);
    s.into_bytes()
}

const PARAMS_DEFAULT: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

#[test]
fn negotiation() {
    // The default policy (lean): neither side keeps its context.
    let (p, req, resp) = deflate_pair(Config::client().deflate(dc()), Config::server().deflate(dc()));
    assert_eq!(
        header(&req, "Sec-WebSocket-Extensions"),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits, \
             permessage-deflate; client_no_context_takeover; client_max_window_bits"
        )
    );
    assert_eq!(
        header(&resp, "Sec-WebSocket-Extensions"),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    let lean = DeflateParams { server_no_context_takeover: true, client_no_context_takeover: true, ..PARAMS_DEFAULT };
    assert_eq!(p.c.h.deflate_params(), Some(&lean));
    assert_eq!(p.s.h.deflate_params(), Some(&lean));
    // Best ratio: both keep their context.
    let best = || Some(DeflateConfig::policy(DeflatePolicy::BestRatio));
    let (p, req, resp) = deflate_pair(Config::client().deflate(best()), Config::server().deflate(best()));
    assert_eq!(header(&req, "Sec-WebSocket-Extensions"), Some("permessage-deflate; client_max_window_bits"));
    assert_eq!(header(&resp, "Sec-WebSocket-Extensions"), Some("permessage-deflate"));
    assert_eq!(p.c.h.deflate_params(), Some(&PARAMS_DEFAULT));
    assert_eq!(p.s.h.deflate_params(), Some(&PARAMS_DEFAULT));
    // A lean server asks a best-ratio client to reset its context although it did not offer to.
    let (p, _, resp) = deflate_pair(Config::client().deflate(best()), Config::server().deflate(dc()));
    assert_eq!(
        header(&resp, "Sec-WebSocket-Extensions"),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    assert_eq!(p.c.h.deflate_params(), Some(&lean));

    // Only one side configured: no extension, plain frames.
    let (p, req, resp) = deflate_pair(Config::client().deflate(dc()), Config::server());
    assert!(header(&req, "Sec-WebSocket-Extensions").is_some());
    assert_eq!(header(&resp, "Sec-WebSocket-Extensions"), None);
    assert_eq!((p.c.h.deflate_params(), p.s.h.deflate_params()), (None, None));
    let (p, req, _) = deflate_pair(Config::client(), Config::server().deflate(dc()));
    assert_eq!(header(&req, "Sec-WebSocket-Extensions"), None);
    assert_eq!((p.c.h.deflate_params(), p.s.h.deflate_params()), (None, None));

    // Window bits and no-context-takeover requested by the client, limits set by the server.
    let offer = DeflateOffer {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: Some(10),
        client_max_window_bits: Some(None),
    };
    let c = Config::client().deflate(Some(DeflateConfig { offers: vec![offer], ..DeflateConfig::default() }));
    let s = Config::server().deflate(Some(DeflateConfig { client_max_window_bits: 12, ..DeflateConfig::default() }));
    let (p, _, resp) = deflate_pair(c, s);
    assert_eq!(
        header(&resp, "Sec-WebSocket-Extensions"),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; \
             client_max_window_bits=12"
        )
    );
    let want = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 10,
        client_max_window_bits: 12,
    };
    assert_eq!(p.c.h.deflate_params(), Some(&want));
    assert_eq!(p.s.h.deflate_params(), Some(&want));
}

#[test]
fn compressed_round_trips_both_ways() {
    for policy in DeflatePolicy::ALL {
        round_trips(policy);
    }
}

fn round_trips(policy: DeflatePolicy) {
    let dc = || Some(DeflateConfig::policy(policy));
    let (mut p, _, _) = deflate_pair(Config::client().deflate(dc()), Config::server().deflate(dc()));
    let msgs = vec![
        (BufferType::Utf8Message, json(10, 1)), // under the threshold: sent plain
        (BufferType::Utf8Message, json(1000, 2)),
        (BufferType::BinaryMessage, json(3000, 3)),
        (BufferType::BinaryMessage, pattern(5000, 4)), // incompressible
        (BufferType::Utf8Message, Vec::new()),
        (BufferType::Utf8Message, text(20000, 5)),
    ];
    p.c.outgoing.extend(msgs.iter().cloned());
    p.s.outgoing.extend(msgs.iter().cloned());
    p.run().unwrap();
    assert_eq!(p.s.messages(), msgs);
    assert_eq!(p.c.messages(), msgs);
    for wire in [&p.c.wire, &p.s.wire] {
        let frames = parse_stream(wire, true);
        let rsv1: Vec<bool> = frames.iter().map(|f| f.rsv1).collect();
        assert_eq!(rsv1, [false, true, true, true, false, true]);
        assert!(frames[1].payload.len() < 300, "json compresses: {}", frames[1].payload.len());
    }
}

#[test]
fn fragmented_compressed_sends_and_messages_larger_than_the_receive_buffer() {
    for policy in DeflatePolicy::ALL {
        fragmented(policy);
    }
}

fn fragmented(policy: DeflatePolicy) {
    let small = |c: Config| c.receive_buffer_size(256).unwrap().deflate(Some(DeflateConfig::policy(policy)));
    let (mut p, _, _) = deflate_pair(small(Config::client()), small(Config::server()));
    let big = json(100_000, 7);
    for e in [&mut p.c, &mut p.s] {
        e.outgoing.push_back((BufferType::Utf8Fragment, big[..30_000].to_vec()));
        e.outgoing.push_back((BufferType::Utf8Fragment, Vec::new()));
        e.outgoing.push_back((BufferType::Utf8Fragment, big[30_000..30_005].to_vec()));
        e.outgoing.push_back((BufferType::Utf8Message, big[30_005..].to_vec()));
        e.outgoing.push_back((BufferType::BinaryMessage, big.clone()));
        // Empty first and last pieces (.NET ends messages with an empty EndOfMessage send).
        e.outgoing.push_back((BufferType::BinaryFragment, Vec::new()));
        e.outgoing.push_back((BufferType::BinaryFragment, big[..1000].to_vec()));
        e.outgoing.push_back((BufferType::BinaryMessage, Vec::new()));
    }
    p.run().unwrap();
    for (rx, tx) in [(&p.s, &p.c), (&p.c, &p.s)] {
        assert_eq!(
            rx.messages(),
            [
                (BufferType::Utf8Message, big.clone()),
                (BufferType::BinaryMessage, big.clone()),
                (BufferType::BinaryMessage, big[..1000].to_vec())
            ]
        );
        assert!(rx.chunks().iter().all(|&(_, n)| n <= 256));
        assert!(rx.chunks().len() >= 2 * 100_000 / 256);
        // Regression: an empty fragment after a flushed one used to loop forever in the
        // compressor (zlib's "no progress" was retried).
        let frames = parse_stream(&tx.wire, true);
        let shape: Vec<(bool, bool, OpCode)> = frames.iter().map(|f| (f.fin, f.rsv1, f.opcode)).collect();
        assert_eq!(
            shape,
            [
                (false, true, OpCode::Text),
                (false, false, OpCode::Continuation),
                (false, false, OpCode::Continuation),
                (true, false, OpCode::Continuation),
                (true, true, OpCode::Binary),
                (false, true, OpCode::Binary),
                (false, false, OpCode::Continuation),
                (true, false, OpCode::Continuation),
            ]
        );
        let wire_len: usize = frames.iter().map(|f| f.payload.len()).sum();
        assert!(wire_len < 40_000, "200 kB of json went out as {wire_len} bytes");
    }
}

fn repeated_sizes(c: Config, s: Config) -> (Vec<usize>, Vec<usize>) {
    let (mut p, _, _) = deflate_pair(c, s);
    let m = json(2000, 9);
    for e in [&mut p.c, &mut p.s] {
        for _ in 0..3 {
            e.outgoing.push_back((BufferType::Utf8Message, m.clone()));
        }
    }
    p.run().unwrap();
    assert_eq!(p.s.messages().len(), 3);
    assert!(p.c.messages().iter().all(|x| x.1 == m));
    let sizes = |w: &[u8]| parse_stream(w, true).iter().map(|f| f.payload.len()).collect::<Vec<_>>();
    (sizes(&p.c.wire), sizes(&p.s.wire))
}

#[test]
fn context_takeover_on_and_off() {
    // On (best ratio): repeats shrink to almost nothing.
    let best = || Some(DeflateConfig::policy(DeflatePolicy::BestRatio));
    let (c, s) = repeated_sizes(Config::client().deflate(best()), Config::server().deflate(best()));
    for sizes in [c, s] {
        assert!(sizes[1] < sizes[0] / 2 && sizes[2] < sizes[0] / 2, "{sizes:?}");
    }
    // Off for the server (its own choice) and for the client (its offer).
    let off = DeflateConfig {
        server_no_context_takeover: true,
        offers: vec![DeflateOffer {
            client_no_context_takeover: true,
            client_max_window_bits: Some(None),
            ..DeflateOffer::default()
        }],
        ..DeflateConfig::default()
    };
    let (c, s) = repeated_sizes(Config::client().deflate(Some(off.clone())), Config::server().deflate(Some(off)));
    for sizes in [c, s] {
        assert!(sizes[0] == sizes[1] && sizes[1] == sizes[2], "{sizes:?}");
    }
    // Off for the server only (a balanced server).
    let balanced = Some(DeflateConfig::policy(DeflatePolicy::Balanced));
    let (c, s) = repeated_sizes(Config::client().deflate(best()), Config::server().deflate(balanced));
    assert!(c[1] < c[0] / 2, "client keeps its context: {c:?}");
    assert!(s[0] == s[1] && s[1] == s[2], "server resets: {s:?}");
}

#[test]
fn a_decompression_bomb_stops_at_max_message_size() {
    let limit = 1u64 << 20;
    let (mut p, _, _) =
        deflate_pair(Config::client().deflate(dc()), Config::server().max_message_size(Some(limit)).deflate(dc()));
    p.c.outgoing.push_back((BufferType::BinaryMessage, vec![0u8; 10 << 20]));
    let (side, err) = p.run().unwrap_err();
    assert_eq!(side, Side::Server);
    assert_eq!(err, Error::Protocol(ProtocolError::MessageTooBig { limit }));
    assert_eq!(err.close_code(), Some(1009));
    assert_eq!(err.hresult(), E_INVALID_PROTOCOL_FORMAT);
    let wire = parse_stream(&p.c.wire, true);
    assert!(wire[0].payload.len() < (10 << 20) / 50, "10 MiB of zeros compress to {}", wire[0].payload.len());
    let delivered: usize = p.s.chunks().iter().map(|c| c.1).sum();
    assert!(delivered as u64 <= limit, "{delivered}");
    // A message just under the limit passes.
    let (mut p, _, _) =
        deflate_pair(Config::client().deflate(dc()), Config::server().max_message_size(Some(limit)).deflate(dc()));
    p.c.outgoing.push_back((BufferType::BinaryMessage, vec![0u8; limit as usize]));
    p.run().unwrap();
    assert_eq!(p.s.messages()[0].1.len() as u64, limit);
}

#[test]
fn compressed_frames_that_break_the_rules() {
    let (p, _, _) = deflate_pair(Config::client().deflate(dc()), Config::server().deflate(dc()));
    let client = p.c.h;
    let (_, err) = feed(client, &[0xc9, 0x00], 1); // RSV1 on a ping
    assert_eq!(err.unwrap(), (Error::Protocol(ProtocolError::InvalidCompressedFrame), 2));
    let fresh = || deflate_pair(Config::client().deflate(dc()), Config::server().deflate(dc())).0.c.h;
    let mut b = frame(0x01, b"a", None);
    b.extend(frame(0xc0, b"b", None)); // RSV1 on a continuation
    let (_, err) = feed(fresh(), &b, 1);
    assert_eq!(err.unwrap(), (Error::Protocol(ProtocolError::InvalidCompressedFrame), 5));
    // Garbage that does not inflate (a reserved block type).
    let (_, err) = feed(fresh(), &frame(0xc2, &[0xff, 0xff, 0xff, 0xff], None), 1);
    let (e, _) = err.unwrap();
    assert_eq!(e, Error::Protocol(ProtocolError::InvalidCompressedData));
    assert_eq!((e.hresult(), e.close_code()), (E_INVALID_PROTOCOL_FORMAT, Some(1002)));
    // Invalid UTF-8 inside compressed text is found after inflating.
    let (mut q, _, _) = deflate_pair(Config::client().deflate(dc()), Config::server().deflate(dc()));
    q.s.h.receive_half();
    let mut bad = json(500, 1);
    bad[300] = 0xff;
    q.c.h.send_data(BufferType::BinaryMessage, bad, 1).unwrap(); // sent as binary...
    q.c.pump().unwrap();
    let mut wire = q.c.out.clone();
    let b0 = wire[0];
    wire[0] = (b0 & 0xf0) | 0x01; // ...relabelled as text on the wire
    let (_, err) = feed(q.s.h, &wire, 7);
    assert_eq!(err.unwrap().0, Error::Protocol(ProtocolError::InvalidUtf8));
}

#[test]
fn rfc7692_hello_examples_decode() {
    // RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello" compressed, and split over two frames.
    let (p, _, _) = deflate_pair(Config::client().deflate(dc()), Config::server().deflate(dc()));
    let mut b = vec![0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    b.extend([0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    let (e, err) = feed(p.c.h, &b, 1);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        e.messages(),
        [(BufferType::Utf8Message, b"Hello".to_vec()), (BufferType::Utf8Message, b"Hello".to_vec())]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_compressed_messages(
        sizes in prop::collection::vec((0usize..40_000, any::<bool>(), any::<bool>(), 0usize..4), 1..6),
        recv in prop_oneof![Just(256u32), 256u32..=65536],
        reads in prop::collection::vec(100usize..5000, 1..4),
        takeover in any::<bool>(),
    ) {
        let d = DeflateConfig { server_no_context_takeover: !takeover, ..DeflateConfig::default() };
        let cfg = |c: Config| c.receive_buffer_size(recv).unwrap().deflate(Some(d.clone()));
        let (mut p, _, _) = deflate_pair(cfg(Config::client()), cfg(Config::server()));
        p.c.reads = reads.clone();
        p.s.reads = reads;
        let mut want = Vec::new();
        for (i, &(len, is_text, compressible, pieces)) in sizes.iter().enumerate() {
            let body = if compressible { json(len, i as u64) } else if is_text { text(len, i as u64) } else { pattern(len, i as u64) };
            let step = len / (pieces + 1) + 1;
            let chunks: Vec<&[u8]> = if pieces == 0 { vec![&body[..]] } else { body.chunks(step).collect() };
            for e in [&mut p.c, &mut p.s] {
                for (j, c) in chunks.iter().enumerate() {
                    e.outgoing.push_back((BufferType::data(is_text, j + 1 == chunks.len()), c.to_vec()));
                }
                if chunks.is_empty() {
                    e.outgoing.push_back((BufferType::data(is_text, true), Vec::new()));
                }
            }
            want.push((BufferType::data(is_text, true), body));
        }
        p.run().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(p.s.messages(), want.clone());
        prop_assert_eq!(p.c.messages(), want);
    }
}

#[test]
fn deflate_and_an_allocated_buffer_cannot_be_combined() {
    // Inflated chunks and compressed payloads live in the compressor's own memory, so the
    // allocated-buffer promise (every lent pointer inside it) could not hold.
    let mut mem = vec![0u64; 2048];
    let len = mem.len() * 8;
    for role in [wspc::Role::Client, wspc::Role::Server] {
        // SAFETY: `mem` outlives the handle made from this configuration.
        let cfg = unsafe { Config::new(role).allocated_buffer(mem.as_mut_ptr().cast(), len) }.unwrap().deflate(dc());
        let mut h = Handle::new(cfg);
        let e = match role {
            wspc::Role::Client => h.begin_client_handshake(&[], &[], &[]).map(|_| ()).unwrap_err(),
            wspc::Role::Server => h.begin_server_handshake(None, &[], &[]).map(|_| ()).unwrap_err(),
        };
        assert_eq!(e.hresult(), wspc::hresult::E_INVALIDARG);
    }
}

#[test]
fn empty_fragments_keep_the_stream_in_sync() {
    // Regression: an empty final fragment after a flushed one went out empty, so the trailer
    // the receiver appends (00 00 ff ff) was read as the start of a stored block and the next
    // message inflated to garbage ([0, 255, 255]).
    let d = DeflateConfig { threshold: 0, ..DeflateConfig::default() };
    let (mut p, _, _) = deflate_pair(Config::client().deflate(Some(d.clone())), Config::server().deflate(Some(d)));
    let sends: [(BufferType, &[u8]); 7] = [
        (BufferType::BinaryFragment, b""),
        (BufferType::BinaryMessage, b""),
        (BufferType::BinaryMessage, b""),
        (BufferType::Utf8Fragment, b"ab"),
        (BufferType::Utf8Message, b""),
        (BufferType::Utf8Message, b"Hello"),
        (BufferType::BinaryMessage, b"Hello"),
    ];
    p.c.outgoing.extend(sends.iter().map(|(t, b)| (*t, b.to_vec())));
    p.run().unwrap();
    let want: Vec<(BufferType, Vec<u8>)> = vec![
        (BufferType::BinaryMessage, vec![]),
        (BufferType::BinaryMessage, vec![]),
        (BufferType::Utf8Message, b"ab".to_vec()),
        (BufferType::Utf8Message, b"Hello".to_vec()),
        (BufferType::BinaryMessage, b"Hello".to_vec()),
    ];
    assert_eq!(p.s.messages(), want);
    // An independent inflater (zlib via flate2) reads the same stream the same way.
    let frames = parse_stream(&p.c.wire, true);
    let mut z = flate2::Decompress::new_with_window_bits(false, 15);
    let mut got = Vec::new();
    let mut msg = Vec::new();
    for f in &frames {
        msg.extend_from_slice(&f.payload);
        if f.fin {
            msg.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let mut out = vec![0u8; 1024];
            let before = z.total_out();
            z.decompress(&msg, &mut out, flate2::FlushDecompress::Sync).unwrap();
            out.truncate((z.total_out() - before) as usize);
            got.push(out);
            msg.clear();
        }
    }
    assert_eq!(got, want.into_iter().map(|m| m.1).collect::<Vec<_>>());
    // The empty final pieces carry the one byte that opens an empty stored block.
    assert_eq!(frames[1].payload, [0x00]);
    assert_eq!(frames[2].payload, [0x00]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Small reads, empty first and last pieces, any threshold and window, pings between.
    #[test]
    fn random_compressed_messages_tiny_reads(
        msgs in prop::collection::vec((0usize..3000, any::<bool>(), 0usize..4, any::<bool>()), 1..6),
        recv in prop_oneof![Just(256u32), 256u32..=2000],
        reads in prop::collection::vec(1usize..40, 1..4),
        takeover in any::<bool>(),
        slots in 1usize..=2,
        ping in any::<bool>(),
        threshold in 0usize..100,
        window in 8u8..=15,
    ) {
        let d = DeflateConfig {
            server_no_context_takeover: !takeover,
            threshold,
            server_max_window_bits: window,
            client_max_window_bits: window,
            ..DeflateConfig::default()
        };
        let cfg = |c: Config| c.receive_buffer_size(recv).unwrap().deflate(Some(d.clone()));
        let (mut p, _, _) = deflate_pair(cfg(Config::client()), cfg(Config::server()));
        p.c.reads = reads.clone();
        p.s.reads = reads;
        p.c.slots = slots;
        p.s.slots = slots;
        let mut want = Vec::new();
        for (i, &(len, is_text, pieces, repetitive)) in msgs.iter().enumerate() {
            let body = if repetitive {
                vec![b'x'; len]
            } else if is_text {
                text(len, i as u64)
            } else {
                pattern(len, i as u64)
            };
            let step = len / (pieces + 1) + 1;
            let mut chunks: Vec<Vec<u8>> = body.chunks(step).map(|c| c.to_vec()).collect();
            if pieces == 3 {
                chunks.insert(0, vec![]);
                chunks.push(vec![]);
            }
            if chunks.is_empty() {
                chunks.push(vec![]);
            }
            for e in [&mut p.c, &mut p.s] {
                for (j, c) in chunks.iter().enumerate() {
                    e.outgoing.push_back((BufferType::data(is_text, j + 1 == chunks.len()), c.clone()));
                }
                if ping {
                    e.outgoing.push_back((BufferType::PingPong, b"hi".to_vec()));
                }
            }
            want.push((BufferType::data(is_text, true), body));
        }
        p.run().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(p.s.messages(), want.clone());
        prop_assert_eq!(p.c.messages(), want);
    }
}
