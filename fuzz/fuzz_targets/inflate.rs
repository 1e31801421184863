//! permessage-deflate inflation: arbitrary bytes as the payload of compressed frames
//! (optionally split into fragments), through a handle that negotiated the extension, with
//! a small message limit so decompression bombs must stop at it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wspc::codec::frame::{encode_header, OpCode};
use wspc::deflate::DeflateConfig;
use wspc::{Config, Role};

mod pump;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let text = data[0] & 1 != 0;
    let frags = 1 + (data[0] >> 1) as usize % 4;
    let recv_size = 256 + data[1] as usize * 16;
    let payload = &data[2..];
    let server = Config::server().receive_buffer_size(recv_size as u32).unwrap().max_message_size(Some(64 * 1024));
    let client = Config::client();
    let (_c, mut s) =
        pump::open_pair(client.deflate(Some(DeflateConfig::default())), server.deflate(Some(DeflateConfig::default())));
    assert!(s.deflate_params().is_some());
    // Frame the payload as a masked compressed message.
    let mut wire = Vec::new();
    let step = payload.len().div_ceil(frags).max(1);
    let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(step).collect() };
    for (i, p) in pieces.iter().enumerate() {
        let op = if i == 0 {
            if text {
                OpCode::Text
            } else {
                OpCode::Binary
            }
        } else {
            OpCode::Continuation
        };
        let mut h = [0u8; 14];
        let n = encode_header(&mut h, i + 1 == pieces.len(), i == 0, op, Some([0; 4]), p.len() as u64);
        wire.extend_from_slice(&h[..n]);
        wire.extend_from_slice(p);
    }
    pump::pump(&mut s, Role::Server, recv_size, &wire, &[]);
});
