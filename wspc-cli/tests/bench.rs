//! `wspc bench` against tiny in-test echo servers: a WebSocket one built on the wspc core
//! with a thread per connection, and a raw TCP reflector.
#![cfg(target_os = "linux")] // `wspc bench` is Linux only

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader};

/// Serves one WebSocket connection: echoes every message; `corrupt` flips a byte of each.
fn serve_ws(mut s: TcpStream, corrupt: bool) {
    s.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 8192];
    let mut have = 0;
    let mut h = Handle::server(Config::server().receive_buffer_size(65536).unwrap()).unwrap();
    loop {
        let n = s.read(&mut buf[have..]).unwrap();
        if n == 0 {
            return;
        }
        have += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(len) = req.parse(&buf[..have]).unwrap() {
            assert_eq!(len, have, "the client sent nothing after its request");
            let hs: Vec<Header<'_>> = req.headers.iter().map(|h| Header::new(h.name, h.value)).collect();
            let out: Vec<OwnedHeader> = h.begin_server_handshake(None, &[], &hs).unwrap().to_vec();
            let mut resp = String::from("HTTP/1.1 101 Switching Protocols\r\n");
            for o in out {
                resp.push_str(&format!("{}: {}\r\n", o.name, o.value));
            }
            resp.push_str("\r\n");
            s.write_all(resp.as_bytes()).unwrap();
            h.end_server_handshake().unwrap();
            break;
        }
    }
    let mut message = Vec::new();
    let mut outbox: VecDeque<(BufferType, Vec<u8>)> = VecDeque::new();
    let mut sending = false;
    h.receive(0).unwrap();
    loop {
        if !sending {
            if let Some((ty, m)) = outbox.pop_front() {
                h.send_data(ty, m, 0).unwrap();
                sending = true;
            }
        }
        // Flush sends before any (blocking) read, so no echo waits behind a read.
        let action = match h.get_action(ActionQueue::Send).unwrap() {
            Action::NoAction => h.get_action(ActionQueue::Receive).unwrap(),
            a => a,
        };
        let token = action.token();
        match action {
            Action::SendToNetwork { buffers, .. } => {
                for b in buffers.as_slices() {
                    if s.write_all(b).is_err() {
                        return;
                    }
                }
                let n = buffers.len();
                h.complete_action(token, n);
            }
            Action::IndicateSendComplete { .. } => {
                h.complete_action(token, 0);
                sending = false;
            }
            Action::ReceiveFromNetwork { buffer, .. } => {
                let n = s.read(buffer).unwrap_or(0);
                if n == 0 {
                    return;
                }
                h.complete_action(token, n);
            }
            Action::IndicateReceiveComplete { buffer_type, data, .. } => {
                if buffer_type == BufferType::Close {
                    return;
                }
                message.extend_from_slice(data);
                h.complete_action(token, 0);
                if buffer_type.is_message_end() {
                    let mut m = std::mem::take(&mut message);
                    if corrupt && !m.is_empty() {
                        let i = m.len() / 2;
                        m[i] ^= 1;
                    }
                    let ty = if buffer_type.is_text() { BufferType::Utf8Message } else { BufferType::BinaryMessage };
                    outbox.push_back((ty, m));
                }
                h.receive(0).unwrap();
            }
            Action::NoAction => unreachable!("a receive is always posted"),
        }
    }
}

/// Starts a server on an ephemeral port; returns its ws:// URL.
fn start(raw: bool, corrupt: bool) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                if raw {
                    let mut b = vec![0u8; 65536];
                    while let Ok(n) = s.read(&mut b) {
                        if n == 0 || s.write_all(&b[..n]).is_err() {
                            return;
                        }
                    }
                } else {
                    serve_ws(s, corrupt);
                }
            });
        }
    });
    format!("ws://{addr}/echo")
}

fn bench(url: &str, extra: &[&str]) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_wspc"))
        .args(["bench", url, "--json", "--duration", "700ms"])
        .args(extra)
        .output()
        .expect("run wspc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), v)
}

fn assert_clean(v: &serde_json::Value) {
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["messages"].as_u64().unwrap() > 0, "{v}");
    assert!(v["messages_per_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["latency_us"]["p50"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn small_binary_pipelined() {
    let url = start(false, false);
    let (ok, v) = bench(&url, &["-c", "8", "-k", "16", "-s", "20", "-t", "2"]);
    assert!(ok, "{v}");
    assert_clean(&v);
    assert_eq!(v["connected"], 8);
    assert_eq!(v["threads"], 2);
}

#[test]
fn text_one_in_flight_with_server_cpu() {
    let url = start(false, false);
    let pid = std::process::id().to_string();
    let (ok, v) = bench(&url, &["-c", "3", "-s", "1KiB", "--text", "--server-pid", &pid]);
    assert!(ok, "{v}");
    assert_clean(&v);
    assert!(v["server"]["cpu_s"].as_f64().unwrap() >= 0.0, "{v}");
    assert!(v["server"]["vm_hwm_kib"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn large_messages_arrive_in_chunks() {
    let url = start(false, false);
    let (ok, v) = bench(&url, &["-c", "2", "-k", "3", "-s", "300KiB", "-t", "1"]);
    assert!(ok, "{v}");
    assert_clean(&v);
}

#[test]
fn raw_reflector() {
    let url = start(true, false);
    let (ok, v) = bench(&url, &["-c", "4", "-k", "8", "-s", "1KiB", "--raw"]);
    assert!(ok, "{v}");
    assert_clean(&v);
    assert_eq!(v["raw"], true);
}

#[test]
fn corrupted_echoes_are_errors() {
    let url = start(false, true);
    let (ok, v) = bench(&url, &["-c", "2", "-s", "64"]);
    assert!(!ok, "{v}");
    assert!(v["errors"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["messages"], 0, "{v}");
}

#[test]
fn refused_connections_are_errors() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    drop(l);
    let (ok, v) = bench(&url, &["-c", "2"]);
    assert!(!ok);
    assert_eq!(v["errors"], 2, "{v}");
    assert_eq!(v["connected"], 0, "{v}");
}
