//! `idle ADDR N [PATH] [--traffic BYTES] [--deflate]`: opens N WebSocket connections to ADDR from source
//! addresses 127.0.0.2 to 127.0.0.9 in turn (so 10,000 connections do not exhaust one
//! address's ephemeral ports), does the handshake on each (wspc's handshake headers, httparse
//! for the response), prints `ready N (failed F)` and holds them idle until killed.
//! run.sh reads the server's VmRSS before and after.
//!
//! `--traffic BYTES`: before going idle, each connection sends one binary message of BYTES
//! bytes and reads its echo, so the server holds connections that are idle *after* traffic
//! (the usual case) rather than connections that never carried a message.
//!
//! `--deflate`: offer permessage-deflate the way browsers do (`client_max_window_bits`) and
//! fail unless the server accepts it; the `--traffic` message is then JSON text, compressed
//! by the engine's encoder (`Handle::into_codec`), and its echo is inflated here and compared.

use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use wspc::deflate::{DeflateConfig, DeflateOffer, DeflatePolicy};
use wspc::{BufferType, Config, Handle, Header};

type BoxError = Box<dyn std::error::Error>;

fn open(addr: SocketAddr, i: usize, path: &str, deflate: bool) -> Result<(TcpStream, Handle), BoxError> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if addr.ip().is_loopback() {
        let src = Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8);
        sock.bind(&SocketAddr::from((src, 0)).into())?;
    }
    sock.connect(&addr.into())?;
    let mut s: TcpStream = sock.into();
    s.set_nodelay(true)?;
    let mut config = Config::client();
    if deflate {
        let offers = vec![DeflateOffer { client_max_window_bits: Some(None), ..DeflateOffer::default() }];
        config = config.deflate(Some(DeflateConfig { offers, ..DeflateConfig::policy(DeflatePolicy::BestRatio) }));
    }
    let mut h = Handle::client(config)?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for hdr in h.begin_client_handshake(&[], &[], &[])? {
        req.push_str(&format!("{}: {}\r\n", hdr.name, hdr.value));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = [0u8; 2048];
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..])?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        have += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(_) = resp.parse(&buf[..have])? {
            if resp.code != Some(101) {
                return Err(format!("HTTP {:?}", resp.code).into());
            }
            let hs: Vec<Header<'_>> = resp.headers.iter().map(|h| Header::new(h.name, h.value)).collect();
            h.end_client_handshake(&hs)?;
            if deflate && h.deflate_params().is_none() {
                return Err("the server did not accept permessage-deflate".into());
            }
            return Ok((s, h));
        }
        if have == buf.len() {
            return Err("response too long".into());
        }
    }
}

/// JSON text of `size` bytes, different for each connection.
fn json(size: usize, i: usize) -> Vec<u8> {
    let mut s = String::new();
    let mut k = i;
    while s.len() < size {
        s.push_str(&format!("{{\"event\":\"tick\",\"conn\":{i},\"seq\":{k},\"price\":{}.{:02}}},", k * 37 % 1000, k % 100));
        k += 1;
    }
    s.truncate(size);
    s.into_bytes()
}

/// Sends one message of `size` bytes (binary, or compressed JSON text with deflate) and reads
/// the echo, checking it.
fn echo_once(s: &mut TcpStream, h: Handle, size: usize, i: usize) -> Result<(), BoxError> {
    let deflate = h.deflate_params().is_some();
    let (mut enc, _) = h.into_codec()?;
    let (ty, payload) = if deflate {
        (BufferType::Utf8Message, json(size, i))
    } else {
        (BufferType::BinaryMessage, (0..size).map(|j| (j + i) as u8).collect())
    };
    let mut frame = Vec::new();
    enc.encode(ty, &payload, &mut frame)?;
    s.write_all(&frame)?;
    let mut hd = [0u8; 2];
    s.read_exact(&mut hd)?;
    let opcode = if deflate { 0x81 } else { 0x82 };
    if hd[0] & 0xbf != opcode || hd[1] & 0x80 != 0 {
        return Err(format!("unexpected echo header {hd:02x?}").into());
    }
    let len = match hd[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut got = vec![0u8; len];
    s.read_exact(&mut got)?;
    if hd[0] & 0x40 != 0 {
        got = inflate(&got)?;
    }
    if got != payload {
        return Err(format!("echo differs ({} bytes, sent {size})", got.len()).into());
    }
    Ok(())
}

/// Inflates one permessage-deflate payload (RFC 7692 §7.2.2: append 00 00 ff ff).
fn inflate(body: &[u8]) -> Result<Vec<u8>, BoxError> {
    let mut d = flate2::Decompress::new(false);
    let mut input = body.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(body.len() * 8 + 64);
    loop {
        let before = d.total_in();
        d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)?;
        input.drain(..(d.total_in() - before) as usize);
        if input.is_empty() {
            return Ok(out);
        }
        out.reserve(out.capacity());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let deflate = args.iter().any(|a| a == "--deflate");
    let args: Vec<String> = args.into_iter().filter(|a| a != "--deflate").collect();
    let traffic_at = args.iter().position(|a| a == "--traffic");
    let traffic: Option<usize> =
        traffic_at.map(|i| args.get(i + 1).and_then(|v| v.parse().ok()).expect("--traffic takes a byte count"));
    let args: Vec<String> = match traffic_at {
        Some(i) => args[..i].iter().chain(&args[i + 2..]).cloned().collect(),
        None => args,
    };
    if args.len() < 3 {
        eprintln!("usage: idle ADDR N [PATH] [--traffic BYTES] [--deflate]");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("ADDR must be ip:port");
    let n: usize = args[2].parse().expect("N must be a number");
    let path = args.get(3).map_or("/", String::as_str);
    let mut held = Vec::with_capacity(n);
    let mut failed = 0;
    for i in 0..n {
        match open(addr, i, path, deflate).and_then(|(mut s, h)| {
            if let Some(size) = traffic {
                echo_once(&mut s, h, size, i)?;
            }
            Ok(s)
        }) {
            Ok(s) => held.push(s),
            Err(e) => {
                failed += 1;
                if failed <= 5 {
                    eprintln!("idle: connection {i}: {e}");
                }
            }
        }
    }
    println!("ready {} (failed {failed})", held.len());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        let _ = held.len();
    }
}
