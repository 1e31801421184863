//! permessage-deflate on a realistic JSON message stream: throughput of client → server
//! (compress + frame + mask, then unmask + inflate + UTF-8 check) with and without
//! compression, and the compression ratio on the wire (printed once per configuration).
//!
//! `--policies`: instead, for each server policy (and no deflate) and each corpus (the JSON
//! events below, chat messages of 100-500 bytes), prints one JSON line per direction with
//! the payload and wire bytes of one pass and the thread CPU time per message (compress +
//! frame on one side, inflate + UTF-8 check on the other; the corpus repeated on one
//! connection for at least 200 ms of CPU) over 7 interleaved rounds, against a client that
//! offers what browsers offer (benches/run.sh --deflate-policies runs it).
use criterion::{BenchmarkId, Criterion, Throughput};
use wspc::deflate::{DeflateConfig, DeflateOffer, DeflatePolicy};
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader};

/// A deterministic pseudo-random sequence (xorshift64).
fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// A deterministic stream of JSON events of the kind a market-data or telemetry feed sends:
/// repeated keys, similar values, 200-700 bytes each.
fn json_stream(n: usize) -> Vec<Vec<u8>> {
    let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
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

/// Chat messages of 100-500 bytes: a JSON envelope around a sentence of common words.
fn chat_stream(n: usize) -> Vec<Vec<u8>> {
    let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
    let words = [
        "the", "a", "meeting", "is", "at", "three", "can", "you", "send", "me", "link", "thanks", "ok", "see",
        "tomorrow", "build", "failed", "again", "on", "main", "I", "think", "we", "should", "ship", "it", "today",
        "lunch", "anyone", "review", "my", "PR", "please", "looks", "good", "to", "merge", "after", "tests", "pass",
    ];
    let users = ["alice", "bob", "carol", "dave", "erin", "frank"];
    (0..n)
        .map(|i| {
            let target = 100 + (rnd() % 401) as usize;
            let mut m = format!(
                "{{\"type\":\"message\",\"room\":\"general\",\"id\":{},\"user\":\"{}\",\"text\":\"",
                50_000 + i,
                users[(rnd() % 6) as usize]
            );
            while m.len() + 2 < target {
                m.push_str(words[(rnd() % words.len() as u64) as usize]);
                m.push(' ');
            }
            m.truncate(target - 2);
            m.push_str("\"}");
            m.into_bytes()
        })
        .collect()
}

fn pair(deflate: bool) -> (Handle, Handle) {
    let d = deflate.then(DeflateConfig::default);
    let c = Config::client().receive_buffer_size(65536).unwrap().deflate(d.clone());
    let s = Config::server().receive_buffer_size(65536).unwrap().send_buffer_size(65536).unwrap().deflate(d);
    let (c, s) = connect(c, s);
    assert_eq!(c.deflate_params().is_some(), deflate);
    (c, s)
}

fn connect(c: Config, s: Config) -> (Handle, Handle) {
    let mut c = Handle::client(c).unwrap();
    let mut s = Handle::server(s).unwrap();
    let mut req = c.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "bench".into() });
    let rh: Vec<Header<'_>> = req.iter().map(OwnedHeader::as_header).collect();
    let resp = s.begin_server_handshake(None, &[], &rh).unwrap().to_vec();
    let sh: Vec<Header<'_>> = resp.iter().map(OwnedHeader::as_header).collect();
    c.end_client_handshake(&sh).unwrap();
    s.end_server_handshake().unwrap();
    (c, s)
}

/// Sends every message from `c` to `s` (either role); returns (payload bytes, wire bytes).
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

/// A client offering what browsers offer, and a server with `policy` (`None`: no deflate).
fn policy_pair(policy: Option<DeflatePolicy>) -> (Handle, Handle) {
    let browser = DeflateConfig {
        offers: vec![DeflateOffer { client_max_window_bits: Some(None), ..DeflateOffer::default() }],
        ..DeflateConfig::policy(DeflatePolicy::BestRatio)
    };
    let c = Config::client().deflate(policy.map(|_| browser));
    let s = Config::server().deflate(policy.map(DeflateConfig::policy));
    connect(c, s)
}

fn corpus(name: &str) -> Vec<Vec<u8>> {
    match name {
        "json" => json_stream(500),
        "chat" => chat_stream(1000),
        _ => panic!("corpus is json or chat"),
    }
}

fn policy_named(name: &str) -> Option<DeflatePolicy> {
    (name != "none").then(|| name.parse().unwrap())
}

/// Streams `msgs` one way: `s2c` server → client, else client → server.
fn stream(pair: &mut (Handle, Handle), s2c: bool, msgs: &mut [Vec<u8>], wire: &mut Vec<u8>) -> (usize, usize) {
    let (c, s) = (&mut pair.0, &mut pair.1);
    if s2c {
        run(s, c, msgs, wire)
    } else {
        run(c, s, msgs, wire)
    }
}

/// CPU time this thread has run, in nanoseconds (`/proc/thread-self/schedstat`): time spent
/// waiting for a CPU on a loaded machine is not counted.
fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    s.split_whitespace().next().and_then(|v| v.parse().ok()).expect("schedstat's first field")
}

const ROUNDS: usize = 7;

fn policies() {
    let mut wire = Vec::with_capacity(1 << 16);
    let configs = ["none", "lean", "balanced", "best-ratio"];
    let mut cases = Vec::new();
    for name in ["json", "chat"] {
        for policy in configs {
            for dir in ["s2c", "c2s"] {
                cases.push((name, policy, dir, Vec::new(), (0, 0)));
            }
        }
    }
    // Rounds interleave the cases, so a busy spell of a shared machine hits them alike.
    for _ in 0..ROUNDS {
        for (name, policy, dir, times, bytes) in cases.iter_mut() {
            let mut msgs = corpus(name);
            let mut pair = policy_pair(policy_named(policy));
            let s2c = *dir == "s2c";
            // Warm-up: dedicated streams created, pools and buffers filled (same bytes each time).
            stream(&mut pair, s2c, &mut msgs[..20], &mut wire);
            let mut pair = policy_pair(policy_named(policy));
            // The corpus again and again on the same connection for at least 200 ms of CPU:
            // this clock may advance in scheduler ticks, so a measurement must last long.
            let t0 = thread_cpu_ns();
            *bytes = stream(&mut pair, s2c, &mut msgs, &mut wire);
            let mut passes = 1;
            while thread_cpu_ns() - t0 < 200_000_000 {
                stream(&mut pair, s2c, &mut msgs, &mut wire);
                passes += 1;
            }
            times.push((thread_cpu_ns() - t0) as f64 / (passes * msgs.len()) as f64);
        }
    }
    for (name, policy, dir, mut times, (p, w)) in cases {
        times.sort_by(f64::total_cmp);
        println!(
            "{{\"policy\":\"{policy}\",\"corpus\":\"{name}\",\"dir\":\"{dir}\",\"messages\":{},\"payload\":{p},\"wire\":{w},\"cpu_ns_median\":{:.0},\"cpu_ns_min\":{:.0},\"cpu_ns_max\":{:.0},\"rounds\":{ROUNDS}}}",
            corpus(name).len(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--policies") {
        return policies();
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
