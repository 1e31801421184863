//! Property tests: random messages (types, sizes 0 B to 1 MiB, whole or fragmented sends,
//! pings in between) through random configurations (buffer sizes, slot counts, masking,
//! queue use) and random splits of the byte stream arrive intact and in order, both ways.

mod common;
use common::*;
use proptest::prelude::*;
use wspc::{ActionQueue, BufferType, Config, Handle};

#[derive(Clone, Debug)]
struct Side {
    recv_buf: u32,
    send_buf: u32,
    slots: usize,
    alternate: bool,
    reads: Vec<usize>,
    zero_mask: bool,
}

/// One thing to send: a data message (as `pieces` fragment sizes when fragmented) or a ping.
#[derive(Clone, Debug)]
enum Item {
    Message { text: bool, len: usize, pieces: Vec<usize>, seed: u64 },
    Ping(usize),
}

fn side(max_read: usize) -> impl Strategy<Value = Side> {
    (
        prop_oneof![Just(256u32), 256u32..=65536],
        prop_oneof![Just(16u32), 16u32..=65536],
        1usize..=2,
        any::<bool>(),
        prop::collection::vec(1usize..=max_read, 1..6),
        any::<bool>(),
    )
        .prop_map(|(recv_buf, send_buf, slots, alternate, reads, zero_mask)| Side {
            recv_buf,
            send_buf,
            slots,
            alternate,
            reads,
            zero_mask,
        })
}

fn item(max_len: usize, fragmented: bool) -> impl Strategy<Value = Item> {
    let msg = (any::<bool>(), 0..=max_len, prop::collection::vec(0usize..=max_len / 2 + 1, 0..5), any::<u64>())
        .prop_map(move |(text, len, pieces, seed)| Item::Message {
            text,
            len,
            pieces: if fragmented { pieces } else { vec![] },
            seed,
        });
    prop_oneof![8 => msg, 1 => (0usize..=125).prop_map(Item::Ping)]
}

/// Sizes skewed towards small ones, up to 1 MiB.
fn big_item() -> impl Strategy<Value = Item> {
    prop_oneof![
        2 => (0usize..=300).prop_map(|l| (l, false)),
        2 => (0usize..=70_000).prop_map(|l| (l, false)),
        1 => (0usize..=(1 << 20)).prop_map(|l| (l, true)),
        1 => Just(((1 << 20), false)),
    ]
    .prop_flat_map(|(len, frag)| {
        (any::<bool>(), any::<u64>(), prop::collection::vec(0usize..=len / 2 + 1, 0..4)).prop_map(
            move |(text, seed, pieces)| Item::Message { text, len, pieces: if frag { pieces } else { vec![] }, seed },
        )
    })
}

fn body(text_msg: bool, len: usize, seed: u64) -> Vec<u8> {
    if text_msg {
        text(len, seed)
    } else {
        pattern(len, seed)
    }
}

/// The sends for one item: (type, payload) in order.
fn sends(it: &Item) -> Vec<(BufferType, Vec<u8>)> {
    match it {
        Item::Ping(n) => vec![(BufferType::PingPong, pattern(*n, *n as u64))],
        Item::Message { text, len, pieces, seed } => {
            let b = body(*text, *len, *seed);
            let mut out = Vec::new();
            let mut at = 0;
            for p in pieces {
                let end = (at + p).min(b.len());
                out.push((BufferType::data(*text, false), b[at..end].to_vec()));
                at = end;
            }
            out.push((BufferType::data(*text, true), b[at..].to_vec()));
            out
        }
    }
}

fn config(cfg: Config, s: &Side) -> Config {
    cfg.receive_buffer_size(s.recv_buf).unwrap().send_buffer_size(s.send_buf).unwrap().disable_masking(s.zero_mask)
}

fn check(cs: &Side, ss: &Side, c_items: &[Item], s_items: &[Item]) -> Result<(), TestCaseError> {
    // A server only accepts unmasked frames with DisableMasking; a zero-mask client still sets
    // the MASK bit, so any combination works.
    let mut c = Handle::client(config(Config::client(), cs)).unwrap();
    let mut s = Handle::server(config(Config::server(), ss)).unwrap();
    handshake(&mut c, &mut s);
    let mut p = Pair::from_handles(c, s);
    for (e, st) in [(&mut p.c, cs), (&mut p.s, ss)] {
        e.slots = st.slots;
        e.alternate = st.alternate;
        e.reads = st.reads.clone();
    }
    p.c.outgoing.extend(c_items.iter().flat_map(sends));
    p.s.outgoing.extend(s_items.iter().flat_map(sends));
    p.run().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(p.c.outgoing.is_empty() && p.s.outgoing.is_empty());

    for (rx, tx_items, rx_side, tx_side, tx) in [(&p.s, c_items, ss, cs, &p.c), (&p.c, s_items, cs, ss, &p.s)] {
        // Messages intact and in order.
        let want: Vec<(BufferType, Vec<u8>)> = tx_items
            .iter()
            .filter_map(|it| match it {
                Item::Message { text, len, seed, .. } => {
                    Some((BufferType::data(*text, true), body(*text, *len, *seed)))
                }
                Item::Ping(_) => None,
            })
            .collect();
        let got = rx.messages();
        prop_assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert!(
                g.0 == w.0 && g.1 == w.1,
                "message {} differs: {:?}/{} vs {:?}/{}",
                i,
                g.0,
                g.1.len(),
                w.0,
                w.1.len()
            );
        }
        // Chunks never exceed the receive buffer. Text chunks of a message sent whole end on
        // code point boundaries, so each is valid UTF-8 by itself.
        prop_assert!(rx.chunks().iter().all(|&(_, n)| n <= rx_side.recv_buf as usize));
        let whole_text =
            tx_items.iter().all(|it| !matches!(it, Item::Message { text: true, pieces, .. } if !pieces.is_empty()));
        if whole_text {
            for ev in &rx.log {
                if let Ev::Recv { ty, data, .. } = ev {
                    if ty.is_text() {
                        prop_assert!(std::str::from_utf8(data).is_ok(), "a text chunk splits a code point");
                    }
                }
            }
        }
        // Each ping came back as a pong with its payload, in order.
        let pings: Vec<Vec<u8>> = tx_items
            .iter()
            .filter_map(|it| if let Item::Ping(n) = it { Some(pattern(*n, *n as u64)) } else { None })
            .collect();
        let pongs: Vec<Vec<u8>> = tx
            .controls()
            .into_iter()
            .map(|(ty, d, _)| {
                assert_eq!(ty, BufferType::PingPong);
                d
            })
            .collect();
        prop_assert_eq!(pongs, pings);
        // A masking client copies at most one send buffer per action (automatic pongs, which
        // have no context, are built in the receive side's memory).
        if std::ptr::eq(tx, &p.c) && !tx_side.zero_mask {
            for ev in &tx.log {
                if let Ev::Send { ctx: Some(_), bytes, .. } = ev {
                    prop_assert!(bytes.len() <= tx_side.send_buf as usize, "{} > {}", bytes.len(), tx_side.send_buf);
                }
            }
        }
        prop_assert!(tx.send_lens.iter().all(|l| l.len() <= tx_side.slots));
        // Every send completed once, in order.
        let done: Vec<usize> =
            tx.log.iter().filter_map(|e| if let Ev::SendDone { ctx, .. } = e { Some(*ctx) } else { None }).collect();
        let n = tx_items.iter().map(|it| sends(it).len()).sum::<usize>();
        prop_assert_eq!(done, (1000..1000 + n).collect::<Vec<_>>());
    }
    // The byte streams parse independently into whole frames.
    parse_stream(&p.c.wire, false);
    parse_stream(&p.s.wire, false);
    Ok(())
}

/// The case count, scaled by `WSPC_PROPTEST_SCALE` (default 1) for longer runs.
fn cases(n: u32) -> u32 {
    n * std::env::var("WSPC_PROPTEST_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    /// Many small messages, byte streams cut into pieces as small as one byte.
    #[test]
    fn small_messages_any_split(
        cs in side(300), ss in side(300),
        c_items in prop::collection::vec(item(2000, false), 0..12),
        s_items in prop::collection::vec(item(2000, false), 0..12),
    ) {
        check(&cs, &ss, &c_items, &s_items)?;
    }

    /// Fragmented sends (`*_FRAGMENT`... then `*_MESSAGE`, empty pieces included).
    #[test]
    fn fragmented_sends(
        cs in side(500), ss in side(500),
        c_items in prop::collection::vec(item(3000, true), 0..8),
        s_items in prop::collection::vec(item(3000, true), 0..8),
    ) {
        check(&cs, &ss, &c_items, &s_items)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(10), ..ProptestConfig::default() })]

    /// Up to 1 MiB per message.
    #[test]
    fn large_messages(
        cs in side(70_000), ss in side(70_000),
        c_items in prop::collection::vec(big_item(), 0..3),
        s_items in prop::collection::vec(big_item(), 0..3),
    ) {
        let big = |it: &[Item]| it.iter().map(|i| if let Item::Message { len, .. } = i { *len } else { 0 }).sum::<usize>();
        prop_assume!(big(&c_items) + big(&s_items) <= 3 << 20);
        // Keep tiny reads for small volumes only (debug builds are slow per action).
        let mut cs = cs;
        let mut ss = ss;
        for r in cs.reads.iter_mut().chain(ss.reads.iter_mut()) {
            *r = (*r).max(257);
        }
        check(&cs, &ss, &c_items, &s_items)?;
    }
}

#[test]
fn one_slot_alternating_queues_one_byte_reads() {
    let s = Side { recv_buf: 256, send_buf: 16, slots: 1, alternate: true, reads: vec![1], zero_mask: false };
    let items: Vec<Item> = (0..20)
        .map(|i| {
            if i % 5 == 4 {
                Item::Ping(i)
            } else {
                Item::Message { text: i % 2 == 0, len: i * 37, pieces: vec![i, 3], seed: i as u64 }
            }
        })
        .collect();
    check(&s, &s, &items, &items).unwrap();
}

#[test]
fn send_queue_only_never_reads() {
    let mut p = Pair::default_pair();
    p.c.queue = ActionQueue::Send;
    p.c.outgoing.push_back((BufferType::BinaryMessage, pattern(10, 1)));
    p.s.outgoing.push_back((BufferType::BinaryMessage, pattern(10, 2)));
    p.run().unwrap();
    assert_eq!(p.s.messages().len(), 1);
    assert!(p.c.messages().is_empty());
    assert_eq!(p.c.inbox.len(), 12, "pull only: the client did not read");
}

/// `config` with permessage-deflate on when `on` (and the feature is built).
fn with_deflate(config: Config, on: bool) -> Config {
    #[cfg(feature = "deflate")]
    return config.deflate(on.then(wspc::deflate::DeflateConfig::default));
    #[cfg(not(feature = "deflate"))]
    {
        let _ = on;
        config
    }
}

/// Receives every message into caller buffers of `caps` sizes (cycled): each chunk must be
/// copied there, fit, and come back as the completion's data.
fn receive_into_caller_buffers(
    h: &mut Handle,
    inbox: &mut std::collections::VecDeque<u8>,
    caps: &[usize],
    reads: &[usize],
    count: usize,
) -> Result<Vec<(BufferType, Vec<u8>)>, wspc::Error> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut store = vec![0u8; 1024];
    let (mut i, mut r) = (0, 0);
    while out.len() < count {
        let cap = caps[i % caps.len()];
        i += 1;
        // SAFETY: `store` is not touched until the receive completes below, and outlives it.
        unsafe { h.receive_into(store.as_mut_ptr(), cap, i) }?;
        loop {
            let a = h.get_action(ActionQueue::Receive)?;
            let t = a.token();
            match a {
                wspc::Action::ReceiveFromNetwork { buffer, .. } => {
                    let n = buffer.len().min(inbox.len()).min(reads[r % reads.len()]);
                    r += 1;
                    assert!(n > 0, "the receive wants bytes that were never sent");
                    for b in &mut buffer[..n] {
                        *b = inbox.pop_front().unwrap();
                    }
                    h.complete_action(t, n);
                }
                wspc::Action::IndicateReceiveComplete { buffer_type, data, context, .. } => {
                    assert_eq!(context, i);
                    assert!(data.len() <= cap, "{} > {cap}", data.len());
                    assert!(data.is_empty() || data.as_ptr() == store.as_ptr(), "not lent from the caller's buffer");
                    cur.extend_from_slice(data);
                    if buffer_type.is_message_end() {
                        out.push((buffer_type, std::mem::take(&mut cur)));
                    }
                    h.complete_action(t, 0);
                    break;
                }
                other => panic!("{:?}", other.kind()),
            }
        }
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(32), ..ProptestConfig::default() })]

    /// `receive_into` (a caller buffer per receive, 1 to 600 bytes), with and without deflate.
    #[test]
    fn caller_receive_buffers(
        msgs in prop::collection::vec((0usize..5000, any::<bool>(), any::<bool>()), 1..5),
        caps in prop::collection::vec(1usize..600, 1..4),
        reads in prop::collection::vec(1usize..3000, 1..4),
        deflate in any::<bool>(),
        recv in 256u32..5000,
    ) {
        let mut c = Handle::client(with_deflate(Config::client().receive_buffer_size(recv).unwrap(), deflate)).unwrap();
        let mut s = Handle::server(with_deflate(Config::server(), deflate)).unwrap();
        handshake(&mut c, &mut s);
        let mut tx = Endpoint::new(s);
        tx.auto_receive = false;
        let mut want = Vec::new();
        for (i, &(len, is_text, repetitive)) in msgs.iter().enumerate() {
            let body = if repetitive { vec![b'q'; len] } else { body(is_text, len, i as u64) };
            tx.outgoing.push_back((BufferType::data(is_text, true), body.clone()));
            want.push((BufferType::data(is_text, true), body));
        }
        while tx.pump().unwrap() {}
        let mut inbox = tx.out.drain(..).collect();
        let got = receive_into_caller_buffers(&mut c, &mut inbox, &caps, &reads, want.len())
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(got, want);
        prop_assert!(inbox.is_empty());
    }
}
