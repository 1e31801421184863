//! The codec's hot loops beside a plain memcpy of the same bytes: decode (the copy a read
//! makes into the receive buffer, then `unmask_and_validate`, the engine's unmask-in-place
//! and incremental UTF-8 check: what a server does to each received text payload) and encode (masked copy into the send
//! buffer, what a client does to each payload), at 20 B, 1 KiB, 64 KiB and 1 MiB.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use wspc::codec::mask::{apply_mask, copy_masked};
use wspc::codec::unmask_and_validate;
use wspc::codec::utf8::Utf8Validator;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A `len`-byte destination whose address is 2048 bytes past `src`'s modulo 4096. glibc's
/// `rep movsb` memcpy is up to 40x slower when the destination sits a few bytes after the
/// source modulo 4 KiB (4K aliasing), and malloc places two same-sized buffers exactly so
/// (16 bytes apart modulo 4096); this keeps the baseline honest.
fn unaliased(src: &[u8], len: usize) -> (Vec<u8>, usize) {
    let v = vec![0u8; len + 4096];
    let (s, d) = (src.as_ptr() as usize, v.as_ptr() as usize);
    let off = (2048 + s % 4096 + 4096 - d % 4096) % 4096;
    (v, off)
}

/// Valid UTF-8 text, mostly ASCII with some multi-byte characters (like JSON with names).
fn text(len: usize) -> Vec<u8> {
    let mut s = String::with_capacity(len + 4);
    let parts = ["{\"name\":\"", "Zoë", "\",\"city\":\"", "Kraków", "\",\"note\":\"", "€ 10", "\"},"];
    let mut i = 0;
    while s.len() < len {
        s.push_str(parts[i % parts.len()]);
        i += 1;
    }
    while s.len() > len {
        s.pop();
    }
    while s.len() < len {
        s.push(' ');
    }
    s.into_bytes()
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    for size in [20usize, 1024, 65536, 1 << 20] {
        g.throughput(Throughput::Bytes(size as u64));
        let plain = text(size);
        let mut masked = plain.clone();
        apply_mask(&mut masked, KEY, 0);
        let (mut store, off) = unaliased(&masked, size);
        let buf = &mut store[off..off + size];
        copy_masked(buf, &plain, KEY, 0);
        assert_eq!(buf, masked, "encode produces the masked bytes");

        g.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| {
                buf.copy_from_slice(black_box(&masked));
                black_box(&*buf);
            })
        });
        g.bench_with_input(BenchmarkId::new("decode_unmask_utf8", size), &size, |b, _| {
            b.iter(|| {
                buf.copy_from_slice(black_box(&masked));
                let mut v = Utf8Validator::new();
                unmask_and_validate(buf, KEY, 0, &mut v).unwrap();
                v.finish().unwrap();
                black_box(&*buf);
            })
        });
        g.bench_with_input(BenchmarkId::new("encode_mask", size), &size, |b, _| {
            b.iter(|| {
                copy_masked(buf, black_box(&plain), KEY, 0);
                black_box(&*buf);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, codec, codec_steps);
criterion_main!(benches);

/// Where decode's time goes: each step alone, on the same text and on pure ASCII. Run with
/// `cargo bench -p wspc --bench codec -- codec_steps`.
fn codec_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec_steps");
    for size in [20usize, 1024, 65536, 1 << 20] {
        g.throughput(Throughput::Bytes(size as u64));
        for (name, plain) in [("text", text(size)), ("ascii", vec![b'a'; size])] {
            let mut masked = plain.clone();
            apply_mask(&mut masked, KEY, 0);
            let (mut store, off) = unaliased(&masked, size);
            let buf = &mut store[off..off + size];
            buf.copy_from_slice(&masked);
            g.bench_with_input(BenchmarkId::new(format!("unmask_only_{name}"), size), &size, |b, _| {
                b.iter(|| {
                    apply_mask(black_box(&mut *buf), KEY, 0);
                })
            });
            g.bench_with_input(BenchmarkId::new(format!("utf8_only_{name}"), size), &size, |b, _| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    v.feed(black_box(&plain)).unwrap();
                    v.finish().unwrap();
                })
            });
        }
    }
    g.finish();
}
