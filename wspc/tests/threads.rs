//! Two threads on one client handle (`Handle::split`): one pumps many sends, the other
//! receives while the server pings; the client-to-server byte stream is parsed independently
//! to check that no automatic pong landed inside a data frame and nothing was lost. The
//! receive queue must never say `NoAction` while a receive is queued (the .NET rule): a pong
//! due while the send thread is in the middle of a frame waits, and goes out from whichever
//! thread gets to it first; the two threads write whole actions through one channel.

mod common;
use common::*;
use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;
use wspc::codec::frame::OpCode;
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Payload, SendBuffer};

const MESSAGES: usize = 1500;
const PING_EVERY: usize = 7;
const DATA_EVERY: usize = 50;

fn client_msg(i: usize) -> (BufferType, Vec<u8>) {
    // Longer than the client's 64-byte send buffer, so most frames take several actions.
    let len = (i * 37) % 700;
    if i % 3 == 0 {
        (BufferType::Utf8Message, text(len, i as u64))
    } else {
        (BufferType::BinaryMessage, pattern(len, i as u64))
    }
}

fn ping_payload(k: usize) -> Vec<u8> {
    format!("ping-{k}").into_bytes()
}

/// Reads from a channel of byte chunks as from a socket.
struct Pipe {
    rx: Receiver<Vec<u8>>,
    pending: VecDeque<u8>,
    log: Vec<u8>,
}

impl Pipe {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        if self.pending.is_empty() {
            match self.rx.recv_timeout(Duration::from_secs(60)) {
                Ok(v) => self.pending.extend(v),
                Err(e) => panic!("pipe read: {e:?}"),
            }
        }
        let n = buf.len().min(self.pending.len());
        for b in &mut buf[..n] {
            *b = self.pending.pop_front().unwrap();
        }
        self.log.extend_from_slice(&buf[..n]);
        n
    }
}

/// What the send thread saw: `NoAction` retries, and the pongs it wrote.
struct SenderStats {
    spins: usize,
    pongs_sent: usize,
}

fn client_send_thread(mut send: wspc::SendHalf, tx: Sender<Vec<u8>>, done: Receiver<()>) -> SenderStats {
    let mut stats = SenderStats { spins: 0, pongs_sent: 0 };
    let mut pump = |send: &mut wspc::SendHalf| loop {
        let a = send.get_action(2).unwrap();
        let t = a.token();
        match a {
            Action::SendToNetwork { buffers, context, buffer_type, .. } => {
                // A pong left waiting while this thread's last frame was half written.
                if context.is_none() {
                    assert_eq!(buffer_type, BufferType::UnsolicitedPong);
                    stats.pongs_sent += 1;
                }
                let bytes = buffers.as_slices().concat();
                let n = bytes.len();
                tx.send(bytes).unwrap();
                // Give the receive thread a chance to want the wire mid-frame.
                thread::yield_now();
                send.complete_action(t, n);
            }
            Action::IndicateSendComplete { .. } => {
                send.complete_action(t, 0);
                return;
            }
            // The receive thread is writing a pong: wait for the wire.
            Action::NoAction => {
                stats.spins += 1;
                thread::yield_now();
            }
            other => panic!("{:?}", other.kind()),
        }
    };
    for i in 0..MESSAGES {
        let (ty, body) = client_msg(i);
        send.send(ty, Some(SendBuffer::Data(body.into())), i).unwrap();
        pump(&mut send);
    }
    done.recv_timeout(Duration::from_secs(60)).expect("the server's \"done\"");
    send.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: Payload::from("bye") }), 0).unwrap();
    pump(&mut send);
    stats
}

struct ClientReceived {
    messages: Vec<(BufferType, Vec<u8>)>,
    pongs_sent: usize,
    close: Option<u16>,
}

fn client_receive_thread(
    mut recv: wspc::ReceiveHalf,
    mut pipe: Pipe,
    tx: Sender<Vec<u8>>,
    done: Sender<()>,
) -> ClientReceived {
    let mut out = ClientReceived { messages: Vec::new(), pongs_sent: 0, close: None };
    let mut partial = Vec::new();
    let mut ctx = 0;
    while !recv.is_close_received() {
        ctx += 1;
        recv.receive(ctx).unwrap();
        loop {
            let a = recv.get_action().unwrap();
            let t = a.token();
            match a {
                Action::ReceiveFromNetwork { buffer, .. } => {
                    let n = pipe.read(buffer);
                    recv.complete_action(t, n);
                }
                Action::SendToNetwork { buffers, buffer_type, context, .. } => {
                    assert_eq!((buffer_type, context), (BufferType::UnsolicitedPong, None));
                    let bytes = buffers.as_slices().concat();
                    let n = bytes.len();
                    tx.send(bytes).unwrap();
                    recv.complete_action(t, n);
                    out.pongs_sent += 1;
                }
                Action::IndicateReceiveComplete { buffer_type, data, close_status, .. } => {
                    if buffer_type.is_data() {
                        partial.extend_from_slice(data);
                        if buffer_type.is_message_end() {
                            if partial == b"done" {
                                done.send(()).unwrap();
                            }
                            out.messages.push((buffer_type, std::mem::take(&mut partial)));
                        }
                    } else if buffer_type == BufferType::Close {
                        out.close = close_status;
                    }
                    recv.complete_action(t, 0);
                    break;
                }
                Action::NoAction => panic!("NoAction on the receive queue while a receive is queued"),
                other => panic!("{:?}", other.kind()),
            }
        }
    }
    out
}

struct ServerSeen {
    messages: usize,
    pings: usize,
    pongs: usize,
    /// The payload of the last pong received.
    last_pong: Option<Vec<u8>>,
    wire_in: Vec<u8>,
    wire_out: Vec<u8>,
}

fn server_thread(mut s: Handle, mut pipe: Pipe, tx: Sender<Vec<u8>>) -> ServerSeen {
    let mut seen =
        ServerSeen { messages: 0, pings: 0, pongs: 0, last_pong: None, wire_in: Vec::new(), wire_out: Vec::new() };
    let mut partial = Vec::new();
    let mut queued: VecDeque<(BufferType, Option<SendBuffer>)> = VecDeque::new();
    let mut done_sent = false;
    let mut closing = false;
    loop {
        // Write everything queued before blocking on a read.
        loop {
            if !s.send_half().is_pending() {
                if let Some((ty, b)) = queued.pop_front() {
                    s.send(ty, b, 0).unwrap();
                }
            }
            let a = s.get_action(ActionQueue::Send).unwrap();
            let t = a.token();
            match a {
                Action::SendToNetwork { buffers, .. } => {
                    let bytes = buffers.as_slices().concat();
                    let n = bytes.len();
                    seen.wire_out.extend_from_slice(&bytes);
                    tx.send(bytes).unwrap();
                    s.complete_action(t, n);
                }
                Action::IndicateSendComplete { .. } => s.complete_action(t, 0),
                Action::NoAction => break,
                other => panic!("{:?}", other.kind()),
            }
        }
        if closing {
            break;
        }
        if !s.receive_half().is_pending() {
            s.receive(1).unwrap();
        }
        let a = s.get_action(ActionQueue::Receive).unwrap();
        let t = a.token();
        match a {
            Action::ReceiveFromNetwork { buffer, .. } => {
                let n = pipe.read(buffer);
                s.complete_action(t, n);
            }
            Action::IndicateReceiveComplete { buffer_type, data, .. } => {
                match buffer_type {
                    BufferType::PingPong => {
                        seen.pongs += 1;
                        seen.last_pong = Some(data.to_vec());
                    }
                    BufferType::Close => {
                        queued.push_back((
                            BufferType::Close,
                            Some(SendBuffer::Close { status: 1000, reason: Payload::EMPTY }),
                        ));
                        closing = true;
                    }
                    _ => {
                        partial.extend_from_slice(data);
                        if buffer_type.is_message_end() {
                            let (ty, body) = client_msg(seen.messages);
                            assert_eq!((buffer_type, &partial), (ty, &body), "message {}", seen.messages);
                            partial.clear();
                            seen.messages += 1;
                            if seen.messages % PING_EVERY == 0 {
                                queued.push_back((
                                    BufferType::PingPong,
                                    Some(SendBuffer::Data(ping_payload(seen.pings).into())),
                                ));
                                seen.pings += 1;
                            }
                            if seen.messages % DATA_EVERY == 0 {
                                let m = format!("server {}", seen.messages).into_bytes();
                                queued.push_back((BufferType::BinaryMessage, Some(SendBuffer::Data(m.into()))));
                            }
                        }
                    }
                }
                s.complete_action(t, 0);
            }
            Action::NoAction => panic!("the server's receive queue stalled"),
            other => panic!("{:?}", other.kind()),
        }
        // Every ping answered: the last one (a newer ping may replace an older one still
        // waiting for its pong, RFC 6455 section 5.5.3).
        let answered = seen.pings == 0 || seen.last_pong.as_deref() == Some(&ping_payload(seen.pings - 1)[..]);
        if !done_sent && seen.messages == MESSAGES && answered {
            queued.push_back((BufferType::Utf8Message, Some(SendBuffer::Data("done".into()))));
            done_sent = true;
        }
    }
    seen.wire_in = pipe.log;
    seen
}

#[test]
fn split_client_sends_and_receives_on_two_threads() {
    let mut c = Handle::client(Config::client().send_buffer_size(64).unwrap()).unwrap();
    let mut s = Handle::server(Config::server().receive_buffer_size(512).unwrap()).unwrap();
    handshake(&mut c, &mut s);
    let (send, recv) = c.split().unwrap();
    let (c2s_tx, c2s_rx) = channel();
    let (s2c_tx, s2c_rx) = channel();
    let (done_tx, done_rx) = channel();
    let (fin_tx, fin_rx) = channel::<&str>();

    let tx = c2s_tx.clone();
    let f = fin_tx.clone();
    let sender = thread::spawn(move || {
        let r = client_send_thread(send, tx, done_rx);
        f.send("sender").unwrap();
        r
    });
    let f = fin_tx.clone();
    let receiver = thread::spawn(move || {
        let pipe = Pipe { rx: s2c_rx, pending: VecDeque::new(), log: Vec::new() };
        let r = client_receive_thread(recv, pipe, c2s_tx, done_tx);
        f.send("receiver").unwrap();
        r
    });
    let server = thread::spawn(move || {
        let pipe = Pipe { rx: c2s_rx, pending: VecDeque::new(), log: Vec::new() };
        let r = server_thread(s, pipe, s2c_tx);
        fin_tx.send("server").unwrap();
        r
    });
    for _ in 0..3 {
        match fin_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => panic!("deadlock: a thread did not finish"),
            Err(e) => panic!("a thread died: {e:?}"),
        }
    }
    let stats = sender.join().unwrap();
    let got = receiver.join().unwrap();
    let seen = server.join().unwrap();

    assert_eq!(seen.messages, MESSAGES);
    assert_eq!(seen.pings, MESSAGES / PING_EVERY);
    assert!(seen.pongs <= seen.pings && seen.pongs > 0);
    assert_eq!(got.pongs_sent + stats.pongs_sent, seen.pongs);
    assert_eq!(got.close, Some(1000));
    let mut want: Vec<(BufferType, Vec<u8>)> = (1..=MESSAGES / DATA_EVERY)
        .map(|k| (BufferType::BinaryMessage, format!("server {}", k * DATA_EVERY).into_bytes()))
        .collect();
    want.push((BufferType::Utf8Message, b"done".to_vec()));
    assert_eq!(got.messages, want);

    // The client's byte stream, parsed on its own: whole frames only, every message in order,
    // pongs in between, the close last.
    let frames = parse_stream(&seen.wire_in, false);
    let mut data = 0;
    let mut pongs = 0;
    let mut last_ping = 0;
    for (i, f) in frames.iter().enumerate() {
        assert!(f.fin && f.mask.is_some(), "frame {i}");
        match f.opcode {
            OpCode::Pong => {
                // Pongs answer pings in order; some may answer only the newest of several.
                let k = (last_ping..seen.pings).find(|&k| f.payload == ping_payload(k));
                last_ping = k.expect("a pong that answers a later ping") + 1;
                pongs += 1;
            }
            OpCode::Close => assert_eq!(i, frames.len() - 1),
            op => {
                let (ty, body) = client_msg(data);
                assert_eq!(op == OpCode::Text, ty.is_text());
                assert_eq!(f.payload, body, "message {data}");
                data += 1;
            }
        }
    }
    assert_eq!((data, pongs, last_ping), (MESSAGES, seen.pongs, seen.pings));
    assert_eq!(frames.last().unwrap().payload, [&[0x03, 0xe8][..], b"bye"].concat());
    let server_frames = parse_stream(&seen.wire_out, false);
    assert_eq!(server_frames.iter().filter(|f| f.opcode == OpCode::Ping).count(), seen.pings);
    // The two threads did contend for the wire (otherwise this test proves little).
    eprintln!(
        "sender: {} NoAction retries, {} pongs written; receiver: {} pongs written",
        stats.spins, stats.pongs_sent, got.pongs_sent
    );
    assert!(stats.spins + stats.pongs_sent > 0, "no contention for the wire happened");
}
