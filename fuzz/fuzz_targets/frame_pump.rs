//! The frame decoder through the action pump: arbitrary bytes, arbitrary read sizes,
//! arbitrary receive-buffer sizes, either role, limits on or off.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wspc::{Config, Role};

mod pump;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let flags = data[0];
    let recv_size = 256 + (u16::from_le_bytes([data[1], data[2]]) as usize % 65281);
    let nchunks = data[3] as usize;
    let rest = &data[4..];
    let (chunks, input) = rest.split_at(nchunks.min(rest.len()));
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let mut cfg = Config::new(role).receive_buffer_size(recv_size as u32).unwrap();
    if flags & 2 != 0 {
        cfg = cfg.max_message_size(Some(1000)).max_frame_size(Some(500)).max_fragments(Some(5));
    }
    if flags & 4 != 0 {
        cfg = cfg.disable_masking(true);
    }
    let other = Config::new(if role == Role::Server { Role::Client } else { Role::Server });
    let (mut c, mut s) = if role == Role::Server { pump::open_pair(other, cfg) } else { pump::open_pair(cfg, other) };
    let h = if role == Role::Server { &mut s } else { &mut c };
    pump::pump(h, role, recv_size, input, chunks);
});
