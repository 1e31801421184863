//! The connection's steps driven with fake time and in-memory bytes: no sockets, no sleeping.

use super::linger::{MAX_DRAIN, QUIET};
use super::*;
use crate::message::Message;
use wspc::Role;

const SECOND: Duration = Duration::from_secs(1);

fn conn(role: Role, config: &Config, now: Instant) -> Conn {
    let mut h = wspc::Handle::new(config.engine(role).unwrap());
    h.open_without_handshake().unwrap();
    Conn::new(Session::new(h, Vec::new(), 64 << 10), config, now)
}

/// A frame from the peer: masked when it goes to a server.
fn frame(to: Role, opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    match to {
        Role::Server => {
            let key = [1, 2, 3, 4];
            let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            f
        }
        Role::Client => [&[0x80 | opcode, payload.len() as u8][..], payload].concat(),
    }
}

fn close_frame(to: Role, code: u16) -> Vec<u8> {
    frame(to, 0x8, &code.to_be_bytes())
}

/// Hands `bytes` to the receive side until it yields something other than a read.
fn feed(c: &mut Conn, mut bytes: &[u8], now: Instant) -> Result<RecvStep> {
    loop {
        match c.s.poll_recv(None) {
            Ok(RecvStep::Read) => {
                assert!(!bytes.is_empty(), "the receive side wants more bytes than the test has");
                let buf = c.s.read_buf();
                let n = buf.len().min(bytes.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                c.on_read(n, now);
            }
            Ok(RecvStep::Flush) => {
                written(c);
            }
            r => return r,
        }
    }
}

/// Takes everything the connection wants written.
fn written(c: &mut Conn) -> Vec<u8> {
    let mut out = Vec::new();
    while c.s.wants_write() {
        let [a, b] = c.s.write_bufs();
        let n = a.len() + b.len();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        c.s.wrote(n);
    }
    out
}

/// The opcode and close code of an unmasked server close frame (or of a client's, masked).
fn sent_close_code(wire: &[u8]) -> Option<u16> {
    if wire.first()? & 0x0f != 0x8 {
        return None;
    }
    let masked = wire[1] & 0x80 != 0;
    let at = if masked { 6 } else { 2 };
    let mut code = [wire[at], wire[at + 1]];
    if masked {
        code[0] ^= wire[2];
        code[1] ^= wire[3];
    }
    Some(u16::from_be_bytes(code))
}

fn is_close(r: &Result<RecvStep>) -> bool {
    matches!(r, Ok(RecvStep::Message(Message::Close(_))))
}

#[test]
fn a_server_ends_its_side_right_after_the_peers_close_and_does_not_drain() {
    let t0 = Instant::now();
    let mut c = conn(Role::Server, &Config::default(), t0);
    let r = feed(&mut c, &close_frame(Role::Server, 1000), t0);
    assert!(is_close(&r));
    // The echo is written before the close is handed out, then the write direction ends.
    assert!(matches!(c.handoff(r), Handoff::Flush));
    assert_eq!(sent_close_code(&written(&mut c)), Some(1000));
    c.handoff_flushed();
    assert!(matches!(c.poll_handoff(), Handoff::Shutdown));
    c.shut_down();
    assert!(matches!(c.poll_handoff(), Handoff::Ready(r) if is_close(&r)));
    assert!(!c.is_handing_off() && c.is_closed());
    // The application asks for more: the close sequence has nothing left to wait for (no
    // drain until the client's end: RFC 6455 §7.1.1).
    assert!(matches!(c.s.poll_recv(None), Err(Error::ConnectionClosed)));
    c.finish(t0);
    assert_eq!(c.poll_close(t0), CloseStep::Flush);
    c.flushed();
    assert_eq!(c.poll_close(t0), CloseStep::Done);
    assert!(c.is_finished() && c.take_close_result().is_ok());
}

#[test]
fn a_server_over_a_transport_that_needs_the_peers_end_drains_after_the_handshake() {
    let t0 = Instant::now();
    let mut c = conn(Role::Server, &Config::default(), t0);
    c.await_peer_end();
    c.start_close(None, t0);
    written(&mut c);
    let r = feed(&mut c, &close_frame(Role::Server, 1000), t0);
    let Handoff::Shutdown = c.handoff(r) else { panic!("the server ends its side") };
    c.shut_down();
    let Handoff::Ready(r) = c.poll_handoff() else { panic!("handed out") };
    c.close_recv(r);
    assert_eq!(c.poll_close(t0), CloseStep::Flush);
    c.flushed();
    assert_eq!(c.poll_close(t0), CloseStep::Drain, "waits for the peer's end");
    c.drained(0);
    assert_eq!(c.poll_close(t0), CloseStep::Done);
}

#[test]
fn a_server_close_waits_for_the_peers_close_then_ends_without_draining() {
    let t0 = Instant::now();
    let mut c = conn(Role::Server, &Config::default(), t0);
    c.start_close(Some((1001, "bye".into())), t0);
    assert!(c.is_closing());
    assert_eq!(sent_close_code(&written(&mut c)), Some(1001));
    assert_eq!(c.poll_close(t0), CloseStep::Receive);
    // Data before the peer's close is dropped by the close loop; then its close.
    let mut wire = frame(Role::Server, 0x1, b"late");
    wire.extend(close_frame(Role::Server, 1001));
    let r = feed(&mut c, &wire, t0);
    assert!(matches!(c.handoff(r), Handoff::Ready(Ok(RecvStep::Message(Message::Text(_))))));
    assert_eq!(c.poll_close(t0), CloseStep::Receive);
    let r = feed(&mut c, &[], t0);
    // Nothing to flush (our close went out first); the server ends its side.
    assert!(matches!(c.handoff(r), Handoff::Shutdown));
    c.shut_down();
    let Handoff::Ready(r) = c.poll_handoff() else { panic!("handed out") };
    c.close_recv(r);
    assert_eq!(c.poll_close(t0 + SECOND), CloseStep::Flush);
    c.flushed();
    assert_eq!(c.poll_close(t0 + SECOND), CloseStep::Done);
    assert!(c.take_close_result().is_ok());
}

#[test]
fn a_client_waits_for_the_servers_end_then_ends_its_side() {
    let t0 = Instant::now();
    let cfg = Config::default().close_timeout(5 * SECOND);
    let mut c = conn(Role::Client, &cfg, t0);
    c.start_close(None, t0);
    // An empty close, masked.
    assert_eq!(written(&mut c)[..2], [0x88, 0x80]);
    assert_eq!(c.poll_close(t0), CloseStep::Receive);
    let r = feed(&mut c, &frame(Role::Client, 0x8, b""), t0);
    // A client does not end its side on the peer's close.
    let Handoff::Ready(r) = c.handoff(r) else { panic!("nothing to do before handing out") };
    c.close_recv(r);
    assert_eq!(c.poll_close(t0), CloseStep::Flush);
    c.flushed();
    assert_eq!(c.poll_close(t0), CloseStep::Drain);
    assert_eq!(c.poll_timeout(), Some(t0 + 5 * SECOND));
    c.drained(3);
    assert_eq!(c.poll_close(t0 + SECOND), CloseStep::Drain);
    c.drained(0);
    assert_eq!(c.poll_close(t0 + SECOND), CloseStep::Shutdown);
    c.shut_down();
    assert_eq!(c.poll_close(t0 + SECOND), CloseStep::Done);
}

#[test]
fn a_client_whose_server_never_ends_the_stream_gives_up_at_the_close_timeout() {
    let t0 = Instant::now();
    let cfg = Config::default().close_timeout(2 * SECOND);
    let mut c = conn(Role::Client, &cfg, t0);
    let r = feed(&mut c, &close_frame(Role::Client, 1000), t0);
    let Handoff::Flush = c.handoff(r) else { panic!("the echo goes out first") };
    assert_eq!(sent_close_code(&written(&mut c)), Some(1000));
    c.handoff_flushed();
    assert!(matches!(c.poll_handoff(), Handoff::Ready(r) if is_close(&r)));
    c.finish(t0);
    assert_eq!(c.poll_close(t0), CloseStep::Flush);
    c.flushed();
    assert_eq!(c.poll_close(t0), CloseStep::Drain);
    assert_eq!(c.poll_close(t0 + 2 * SECOND - Duration::from_millis(1)), CloseStep::Drain);
    assert_eq!(c.poll_close(t0 + 2 * SECOND), CloseStep::Shutdown);
    c.shut_down();
    assert_eq!(c.poll_close(t0 + 2 * SECOND), CloseStep::Done);
}

#[test]
fn an_unanswered_close_times_out_and_skips_the_late_phases() {
    let t0 = Instant::now();
    let cfg = Config::default().close_timeout(SECOND);
    let mut c = conn(Role::Server, &cfg, t0);
    c.start_close(None, t0);
    assert_eq!(c.poll_close(t0), CloseStep::Receive);
    assert_eq!(c.poll_timeout(), Some(t0 + SECOND));
    assert!(c.on_timer(t0 + Duration::from_millis(999)).is_ok());
    assert!(matches!(c.on_timer(t0 + SECOND), Err(Error::CloseTimeout)));
    // The receive loop reports the timeout; the close goes on: no flush or drain past the
    // deadline, the write direction still ends.
    c.close_recv(Err(Error::CloseTimeout));
    assert_eq!(c.poll_close(t0 + SECOND), CloseStep::Shutdown);
    c.shut_down();
    assert_eq!(c.poll_close(t0 + SECOND), CloseStep::Done);
    assert!(c.take_close_result().is_ok(), "a close timeout is not an error");
}

#[test]
fn a_failed_connection_closes_with_its_code_and_a_server_drains_what_still_comes() {
    let t0 = Instant::now();
    let mut c = conn(Role::Server, &Config::default(), t0);
    // An unmasked frame to a server: protocol error, close 1002.
    let r = feed(&mut c, &frame(Role::Client, 0x1, b"x"), t0);
    assert!(matches!(r, Err(Error::Ws(_))));
    assert!(matches!(c.handoff(r), Handoff::Flush));
    assert_eq!(sent_close_code(&written(&mut c)), Some(1002));
    c.handoff_flushed();
    assert!(matches!(c.poll_handoff(), Handoff::Shutdown));
    c.shut_down();
    assert!(matches!(c.poll_handoff(), Handoff::Ready(Err(Error::Ws(_)))));
    c.finish(t0);
    assert_eq!(c.poll_close(t0), CloseStep::Flush);
    c.flushed();
    // No close came from the client: read until its end, so unread input does not turn
    // the close into a reset.
    assert_eq!(c.poll_close(t0), CloseStep::Drain);
    c.drained(100);
    assert_eq!(c.poll_close(t0), CloseStep::Drain);
    c.drained(0);
    assert_eq!(c.poll_close(t0), CloseStep::Done);
}

#[test]
fn an_error_met_while_closing_is_the_closes_outcome() {
    let t0 = Instant::now();
    let mut c = conn(Role::Client, &Config::default(), t0);
    c.start_close(None, t0);
    c.close_recv(Err(Error::Io(std::io::ErrorKind::BrokenPipe.into())));
    assert_eq!(c.poll_close(t0), CloseStep::Flush);
    c.flushed();
    assert_eq!(c.poll_close(t0), CloseStep::Shutdown);
    c.shut_down();
    assert_eq!(c.poll_close(t0), CloseStep::Drain);
    c.drained(0);
    assert_eq!(c.poll_close(t0), CloseStep::Done);
    assert!(matches!(c.take_close_result(), Err(Error::Io(_))));
}

#[test]
fn keepalive_pings_after_silence_and_fails_without_an_answer() {
    let t0 = Instant::now();
    let cfg = Config::default().keepalive(10 * SECOND, 5 * SECOND);
    let mut c = conn(Role::Server, &cfg, t0);
    assert_eq!(c.poll_timeout(), Some(t0 + 10 * SECOND));
    // Bytes from the peer move the deadline.
    let r = feed(&mut c, &frame(Role::Server, 0x2, b"hi"), t0 + 4 * SECOND);
    assert!(matches!(r, Ok(RecvStep::Message(Message::Binary(_)))));
    assert_eq!(c.poll_timeout(), Some(t0 + 14 * SECOND));
    assert!(c.on_timer(t0 + 13 * SECOND).is_ok());
    assert!(written(&mut c).is_empty(), "no ping before the interval");
    assert!(c.on_timer(t0 + 14 * SECOND).is_ok());
    assert_eq!(written(&mut c), [0x89, 0x00], "a ping after the interval");
    assert_eq!(c.poll_timeout(), Some(t0 + 19 * SECOND));
    assert!(matches!(c.on_timer(t0 + 19 * SECOND), Err(Error::KeepaliveTimeout)));
    assert!(matches!(c.s.poll_recv(None), Err(Error::KeepaliveTimeout)));
}

#[test]
fn the_pong_keeps_the_connection_alive() {
    let t0 = Instant::now();
    let cfg = Config::default().keepalive(SECOND, SECOND);
    let mut c = conn(Role::Client, &cfg, t0);
    assert!(c.on_timer(t0 + SECOND).is_ok());
    assert_eq!(written(&mut c)[0], 0x89);
    let r = feed(&mut c, &frame(Role::Client, 0xA, b""), t0 + Duration::from_millis(1500));
    assert!(matches!(r, Ok(RecvStep::Message(Message::Pong(_)))));
    assert!(c.on_timer(t0 + 2 * SECOND).is_ok(), "answered in time");
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(2500)));
}

#[test]
fn the_keepalive_stops_once_the_close_is_past_waiting() {
    let t0 = Instant::now();
    let cfg = Config::default().keepalive(SECOND, SECOND).close_timeout(10 * SECOND);
    let mut c = conn(Role::Server, &cfg, t0);
    c.finish(t0);
    assert_eq!(c.poll_timeout(), Some(t0 + 10 * SECOND), "only the close deadline");
    assert!(c.on_timer(t0 + 5 * SECOND).is_ok());
    assert!(written(&mut c).is_empty(), "no keepalive ping while the connection ends");
}

#[test]
fn linger_ends_after_silence_the_cap_or_the_deadline() {
    let t0 = Instant::now();
    let mut l = Linger::new(t0, SECOND);
    l.start(t0);
    assert_eq!(l.poll_timeout(), t0 + QUIET);
    assert!(!l.is_done(t0 + QUIET - Duration::from_millis(1)));
    // Bytes keep it going.
    l.on_read(1000, t0 + Duration::from_millis(90));
    assert!(!l.is_done(t0 + Duration::from_millis(150)));
    assert!(l.is_done(t0 + Duration::from_millis(190)), "100 ms of silence");
    // Steady input ends at the deadline.
    let mut l = Linger::new(t0, Duration::from_millis(250));
    let mut t = t0;
    while !l.is_done(t) {
        l.on_read(10, t);
        t += Duration::from_millis(50);
    }
    assert_eq!(t, t0 + Duration::from_millis(250));
    // At most 64 KiB are dropped.
    let mut l = Linger::new(t0, SECOND);
    l.on_read(MAX_DRAIN - 1, t0);
    assert!(!l.is_done(t0));
    l.on_read(1, t0);
    assert!(l.is_done(t0));
    // The end of the stream ends it.
    let mut l = Linger::new(t0, SECOND);
    l.on_read(0, t0);
    assert!(l.is_done(t0));
}
