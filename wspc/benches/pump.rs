//! The in-memory pump: one message sent by one handle and received by the other, through
//! `get_action`/`complete_action` and a `Vec` standing in for the socket (encode + decode,
//! masking and UTF-8 checks included). 20 B, 1 KiB and 64 KiB messages, client → server
//! (masked) and server → client (unmasked, zero copy).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader, SendBuffer};

fn pair() -> (Handle, Handle) {
    let mut c = Handle::client(Config::client()).unwrap();
    let mut s = Handle::server(Config::server()).unwrap();
    let mut req = c.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "bench".into() });
    let rh: Vec<Header<'_>> = req.iter().map(OwnedHeader::as_header).collect();
    let resp = s.begin_server_handshake(None, &[], &rh).unwrap().to_vec();
    let sh: Vec<Header<'_>> = resp.iter().map(OwnedHeader::as_header).collect();
    c.end_client_handshake(&sh).unwrap();
    s.end_server_handshake().unwrap();
    (c, s)
}

/// The byte pipe. Its data starts `pad` bytes in: chosen at the first write so that the
/// largest copy into it does not hit glibc memcpy's 4K-aliasing slow case (destination a few
/// bytes after the source modulo 4096, up to 40x slower), which would measure malloc's
/// placement rather than the engine.
struct Wire {
    bytes: Vec<u8>,
    pad: Option<usize>,
}

/// Sends `payload` from `tx` (reusing the vector) and receives it whole on `rx`.
fn one_message(tx: &mut Handle, rx: &mut Handle, payload: &mut Vec<u8>, w: &mut Wire) -> usize {
    let v = std::mem::take(payload);
    tx.send(BufferType::Utf8Message, Some(SendBuffer::Data(v.into())), 1).unwrap();
    w.bytes.truncate(w.pad.unwrap_or(0));
    let wire = &mut w.bytes;
    loop {
        let a = tx.get_action(ActionQueue::Send).unwrap();
        let t = a.token();
        match a {
            Action::SendToNetwork { buffers, .. } => {
                if w.pad.is_none() {
                    let src = buffers.as_slices().iter().max_by_key(|b| b.len()).unwrap().as_ptr() as usize;
                    let dst = wire.as_ptr() as usize + 14;
                    let pad = (2048 + src % 4096 + 4096 - dst % 4096) % 4096;
                    wire.resize(pad, 0);
                    w.pad = Some(pad);
                }
                let mut n = 0;
                for b in buffers.as_slices() {
                    wire.extend_from_slice(b);
                    n += b.len();
                }
                tx.complete_action(t, n);
            }
            Action::IndicateSendComplete { .. } => {
                *payload = tx.complete_action_reclaim(t, 0).and_then(|p| p.into_vec()).unwrap();
                break;
            }
            _ => unreachable!(),
        }
    }
    let mut at = w.pad.unwrap_or(0);
    let mut got = 0;
    loop {
        rx.receive(2).unwrap();
        loop {
            let a = rx.get_action(ActionQueue::Receive).unwrap();
            let t = a.token();
            match a {
                Action::ReceiveFromNetwork { buffer, .. } => {
                    let n = buffer.len().min(wire.len() - at);
                    buffer[..n].copy_from_slice(&wire[at..at + n]);
                    at += n;
                    rx.complete_action(t, n);
                }
                Action::IndicateReceiveComplete { data, buffer_type, .. } => {
                    got += std::hint::black_box(data).len();
                    rx.complete_action(t, 0);
                    if buffer_type.is_message_end() {
                        return got;
                    }
                    break;
                }
                _ => unreachable!(),
            }
        }
    }
}

fn pump(c: &mut Criterion) {
    let mut g = c.benchmark_group("pump");
    for size in [20usize, 1024, 65536] {
        g.throughput(Throughput::Bytes(size as u64));
        let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        for (name, client_sends) in [("client_to_server", true), ("server_to_client", false)] {
            let (mut ch, mut sh) = pair();
            let mut payload = body.clone();
            let mut wire = Wire { bytes: Vec::with_capacity(size + 4096 + 64), pad: None };
            g.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.iter(|| {
                    let n = if client_sends {
                        one_message(&mut ch, &mut sh, &mut payload, &mut wire)
                    } else {
                        one_message(&mut sh, &mut ch, &mut payload, &mut wire)
                    };
                    assert_eq!(n, size);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, pump);
criterion_main!(benches);
