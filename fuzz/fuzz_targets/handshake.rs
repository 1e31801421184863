//! Handshake header validation, both sides: arbitrary header lists as the request a server
//! validates and as the response a client validates.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wspc::deflate::DeflateConfig;
use wspc::{Config, Handle, Header};

fn headers(data: &[u8]) -> Vec<Header<'_>> {
    data.split(|&b| b == b'\n')
        .filter_map(|line| {
            let i = line.iter().position(|&b| b == b':')?;
            Some(Header { name: &line[..i], value: &line[i + 1..] })
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let hs = headers(rest);
    let deflate = (flags & 1 != 0).then(DeflateConfig::default);
    let mut s = Handle::server(Config::server().deflate(deflate.clone())).unwrap();
    if let Ok(out) = s.begin_server_handshake(Some("chat"), &[], &hs) {
        assert!(out.iter().any(|h| h.name == "Sec-WebSocket-Accept"));
    }
    let mut c = Handle::client(Config::client().deflate(deflate)).unwrap();
    c.begin_client_handshake(&["chat", "superchat"], &["x-ext"], &[]).unwrap();
    if let Ok(r) = c.end_client_handshake(&hs) {
        // Only reachable with the right accept key, which random input does not have, unless
        // the fuzzer finds SHA-1 preimages; if it does, the indices must still be in range.
        assert!(r.subprotocol.is_none_or(|i| i < 2));
        assert!(r.extensions.iter().all(|&i| i < 1));
    }
});
