//! `idle ADDR N [PATH] [--traffic BYTES]`: opens N WebSocket connections to ADDR from source
//! addresses 127.0.0.2 to 127.0.0.9 in turn (so 10,000 connections do not exhaust one
//! address's ephemeral ports), does the handshake on each (wspc's handshake headers, httparse
//! for the response), prints `ready N (failed F)` and holds them idle until killed.
//! run.sh reads the server's VmRSS before and after.
//!
//! `--traffic BYTES`: before going idle, each connection sends one binary message of BYTES
//! bytes and reads its echo, so the server holds connections that are idle *after* traffic
//! (the usual case) rather than connections that never carried a message.

use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use wspc::{Config, Handle, Header};

fn open(addr: SocketAddr, i: usize, path: &str) -> Result<TcpStream, Box<dyn std::error::Error>> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if addr.ip().is_loopback() {
        let src = Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8);
        sock.bind(&SocketAddr::from((src, 0)).into())?;
    }
    sock.connect(&addr.into())?;
    let mut s: TcpStream = sock.into();
    s.set_nodelay(true)?;
    let mut h = Handle::client(Config::client())?;
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
            return Ok(s);
        }
        if have == buf.len() {
            return Err("response too long".into());
        }
    }
}

/// Sends one masked binary message of `size` bytes and reads the echo (checking it).
fn echo_once(s: &mut TcpStream, size: usize, i: usize) -> Result<(), Box<dyn std::error::Error>> {
    let payload: Vec<u8> = (0..size).map(|j| (j + i) as u8).collect();
    let key = [0x5a, 0xc3, (i >> 8) as u8, i as u8];
    let mut frame = vec![0x82u8];
    match size {
        0..=125 => frame.push(0x80 | size as u8),
        126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(size as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(j, b)| b ^ key[j % 4]));
    s.write_all(&frame)?;
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    if h[0] != 0x82 || h[1] & 0x80 != 0 {
        return Err(format!("unexpected echo header {h:02x?}").into());
    }
    let len = match h[1] & 0x7f {
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
    if len != size {
        return Err(format!("echo of {len} bytes, sent {size}").into());
    }
    let mut got = vec![0u8; len];
    s.read_exact(&mut got)?;
    if got != payload {
        return Err("echo differs".into());
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let traffic_at = args.iter().position(|a| a == "--traffic");
    let traffic: Option<usize> =
        traffic_at.map(|i| args.get(i + 1).and_then(|v| v.parse().ok()).expect("--traffic takes a byte count"));
    let args: Vec<String> = match traffic_at {
        Some(i) => args[..i].iter().chain(&args[i + 2..]).cloned().collect(),
        None => args,
    };
    if args.len() < 3 {
        eprintln!("usage: idle ADDR N [PATH] [--traffic BYTES]");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("ADDR must be ip:port");
    let n: usize = args[2].parse().expect("N must be a number");
    let path = args.get(3).map_or("/", String::as_str);
    let mut held = Vec::with_capacity(n);
    let mut failed = 0;
    for i in 0..n {
        match open(addr, i, path).and_then(|mut s| {
            if let Some(size) = traffic {
                echo_once(&mut s, size, i)?;
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
