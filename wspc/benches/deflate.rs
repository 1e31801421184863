//! permessage-deflate on a realistic JSON message stream: throughput of client → server
//! (compress + frame + mask, then unmask + inflate + UTF-8 check) with and without
//! compression, and the compression ratio on the wire (printed once per configuration).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wspc::deflate::DeflateConfig;
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader};

/// A deterministic stream of JSON events of the kind a market-data or telemetry feed sends:
/// repeated keys, similar values, 200-700 bytes each.
fn json_stream(n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let symbols = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "DOT-USD", "XRP-USD"];
    (0..n)
        .map(|i| {
            let levels: Vec<String> = (0..(3 + rnd() % 8))
                .map(|_| format!("[\"{}.{:02}\",\"{}.{:04}\"]", 100 + rnd() % 900, rnd() % 100, rnd() % 50, rnd() % 10000))
                .collect();
            format!(
                "{{\"type\":\"l2update\",\"sequence\":{},\"product_id\":\"{}\",\"time\":\"2026-11-30T15:{:02}:{:02}.{:06}Z\",\"changes\":[{}],\"source\":\"feed-{}\"}}",
                1_000_000 + i,
                symbols[(rnd() % 6) as usize],
                rnd() % 60,
                rnd() % 60,
                rnd() % 1_000_000,
                levels.join(","),
                rnd() % 4
            )
            .into_bytes()
        })
        .collect()
}

fn pair(deflate: bool) -> (Handle, Handle) {
    let d = deflate.then(DeflateConfig::default);
    let mut c = Handle::client(Config::client().receive_buffer_size(65536).unwrap().deflate(d.clone())).unwrap();
    let mut s = Handle::server(
        Config::server().receive_buffer_size(65536).unwrap().send_buffer_size(65536).unwrap().deflate(d),
    )
    .unwrap();
    let mut req = c.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "bench".into() });
    let rh: Vec<Header<'_>> = req.iter().map(OwnedHeader::as_header).collect();
    let resp = s.begin_server_handshake(None, &[], &rh).unwrap().to_vec();
    let sh: Vec<Header<'_>> = resp.iter().map(OwnedHeader::as_header).collect();
    c.end_client_handshake(&sh).unwrap();
    s.end_server_handshake().unwrap();
    assert_eq!(c.deflate_params().is_some(), deflate);
    (c, s)
}

/// Sends every message client → server; returns (payload bytes, wire bytes).
fn run(c: &mut Handle, s: &mut Handle, msgs: &mut [Vec<u8>], wire: &mut Vec<u8>) -> (usize, usize) {
    let (mut payload, mut on_wire) = (0, 0);
    for m in msgs.iter_mut() {
        payload += m.len();
        wire.clear();
        c.send_data(BufferType::Utf8Message, std::mem::take(m), 0).unwrap();
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
                    *m = c.complete_action_reclaim(t, 0).and_then(|p| p.into_vec()).unwrap();
                    break;
                }
                other => panic!("{:?}", other.kind()),
            }
        }
        on_wire += wire.len();
        let mut pos = 0;
        let mut got = 0;
        loop {
            if !s.receive_half().is_pending() {
                s.receive(0).unwrap();
            }
            let a = s.get_action(ActionQueue::Receive).unwrap();
            let t = a.token();
            match a {
                Action::ReceiveFromNetwork { buffer, .. } => {
                    let n = (wire.len() - pos).min(buffer.len());
                    buffer[..n].copy_from_slice(&wire[pos..pos + n]);
                    pos += n;
                    s.complete_action(t, n);
                }
                Action::IndicateReceiveComplete { data, buffer_type, .. } => {
                    got += data.len();
                    let end = buffer_type.is_message_end();
                    s.complete_action(t, 0);
                    if end {
                        break;
                    }
                }
                other => panic!("{:?}", other.kind()),
            }
        }
        assert_eq!(got, m.len());
    }
    (payload, on_wire)
}

fn bench(cr: &mut Criterion) {
    let msgs = json_stream(500);
    let total: usize = msgs.iter().map(Vec::len).sum();
    let mut g = cr.benchmark_group("json_stream_500");
    g.throughput(Throughput::Bytes(total as u64));
    for deflate in [false, true] {
        let (mut c, mut s) = pair(deflate);
        let mut m = msgs.clone();
        let mut wire = Vec::with_capacity(1 << 16);
        let (p, w) = run(&mut c, &mut s, &mut m, &mut wire);
        eprintln!(
            "json_stream_500 deflate={deflate}: {p} payload bytes -> {w} wire bytes (ratio {:.3}, {:.1}% saved)",
            w as f64 / p as f64,
            100.0 * (1.0 - w as f64 / p as f64)
        );
        g.bench_function(BenchmarkId::from_parameter(if deflate { "deflate" } else { "plain" }), |b| {
            b.iter(|| run(&mut c, &mut s, &mut m, &mut wire))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
