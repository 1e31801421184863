//! Blocking line client: sends each stdin line as a text message and prints every text
//! message received as a line (binary as `<binary N bytes>`). At the end of stdin it
//! waits for as many replies as lines sent (at most 30 s), closes with 1000 and exits.
//!
//! Usage: `client_blocking URL [--subprotocol P] [--deflate]`

use std::io::{BufRead, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use wspc_io::{blocking, ClientOptions, CloseFrame, Config, Error, Message};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut opts = ClientOptions::default();
    let mut config = Config::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--subprotocol" | "--protocol" => opts = opts.subprotocol(args.next().expect("--subprotocol P")),
            "--deflate" => config = config.deflate(true),
            _ if url.is_none() => url = Some(a),
            _ => {
                eprintln!("usage: client_blocking URL [--subprotocol P] [--deflate]");
                std::process::exit(2);
            }
        }
    }
    let url = url.unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let opts = opts.config(config);
    let (ws, _) = blocking::connect_with(&url, &opts).unwrap_or_else(|e| {
        eprintln!("connect {url}: {e}");
        std::process::exit(1)
    });
    if let Some(p) = ws.subprotocol() {
        eprintln!("subprotocol: {p}");
    }
    let (mut reader, mut writer) = ws.split().expect("split");
    let received = Arc::new((Mutex::new(0usize), Condvar::new()));
    let r2 = received.clone();
    let rx = std::thread::spawn(move || {
        let out = std::io::stdout();
        loop {
            match reader.recv() {
                Ok(Message::Text(t)) => {
                    let mut o = out.lock();
                    let _ = o.write_all(t.as_bytes());
                    let _ = o.write_all(b"\n");
                    let _ = o.flush();
                }
                Ok(Message::Binary(b)) => {
                    let mut o = out.lock();
                    let _ = writeln!(o, "<binary {} bytes>", b.len());
                    let _ = o.flush();
                }
                Ok(Message::Close(c)) => {
                    eprintln!("closed by the server: {c:?}");
                    break;
                }
                Ok(_) => continue,
                Err(Error::ConnectionClosed) => break,
                Err(e) => {
                    eprintln!("receive: {e}");
                    break;
                }
            }
            let (m, cv) = &*r2;
            *m.lock().unwrap() += 1;
            cv.notify_all();
        }
        let (m, cv) = &*r2;
        *m.lock().unwrap() = usize::MAX;
        cv.notify_all();
    });
    let mut sent = 0usize;
    let stdin = std::io::stdin();
    let mut line = Vec::new();
    let mut lock = stdin.lock();
    loop {
        line.clear();
        match lock.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("stdin: {e}");
                break;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Err(e) = writer.send(Message::text(text)) {
            eprintln!("send: {e}");
            std::process::exit(1);
        }
        sent += 1;
    }
    let (m, cv) = &*received;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = m.lock().unwrap();
    while *got < sent {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        got = cv.wait_timeout(got, left).unwrap().0;
    }
    drop(got);
    let _ = writer.close(Some(CloseFrame::new(1000, "")));
    let _ = rx.join();
}
