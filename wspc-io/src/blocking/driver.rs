//! The blocking executor of [`Conn`]'s steps, shared by the whole [`WebSocket`](super::WebSocket)
//! and the split [`Reader`](super::Reader)/[`Writer`](super::Writer): one write loop, one
//! receive loop and one close loop. Reads wait with a read timeout set to
//! [`Conn::poll_timeout`]; the connection's state is reached through [`Parts`], which the
//! split halves implement with a lock (never held during a read).

use super::Stream;
use crate::conn::{CloseStep, Conn, Handoff};
use crate::keepalive::until;
use crate::session::{RecvStep, Session};
use crate::{Error, Result};
use std::io::{self, IoSlice, Write};
use std::time::Instant;

pub(super) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Writes everything pending (the only write loop of the blocking API).
pub(super) fn write_out<S: Write>(io: &mut S, s: &mut Session) -> Result<()> {
    while s.wants_write() {
        let [a, b] = s.write_bufs();
        let r = if b.is_empty() { io.write(a) } else { io.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) };
        match r {
            Ok(0) => {
                let e = Error::Io(io::ErrorKind::WriteZero.into());
                s.write_failed(&e);
                return Err(e);
            }
            Ok(n) => s.wrote(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // The write timeout (SO_SNDTIMEO) ends as WouldBlock/TimedOut.
                let e = if is_timeout(&e) { Error::WriteTimeout } else { Error::Io(e) };
                s.write_failed(&e);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Writes everything pending and flushes the stream.
pub(super) fn flush_all<S: Write>(io: &mut S, s: &mut Session) -> Result<()> {
    write_out(io, s)?;
    io.flush()?;
    Ok(())
}

/// Writes until a message can be queued (or nothing is left to write).
pub(super) fn make_room<S: Write>(io: &mut S, s: &mut Session) -> Result<()> {
    while !s.can_send() && s.wants_write() {
        write_out(io, s)?;
    }
    Ok(())
}

/// Queues `msg` (making room first), writing again when the write buffer is full.
pub(super) fn feed<S: Write>(io: &mut S, s: &mut Session, msg: crate::Message) -> Result<()> {
    make_room(io, s)?;
    s.send(msg)?;
    if !s.can_send() && s.wants_write() {
        write_out(io, s)?;
    }
    Ok(())
}

/// The connection as the executor sees it: the state and the stream to write (reached
/// under a lock when split), and the stream to read (outside it).
pub(super) trait Parts {
    type S: Stream;
    /// Runs `f` on the connection and the stream to write.
    fn locked<R>(&mut self, f: impl FnOnce(&mut Conn, &mut Self::S) -> R) -> R;
    /// The stream to read, and whether a read timeout is set on it.
    fn reader(&mut self) -> (&mut Self::S, &mut bool);
}

/// What the locked part of a receive step decided.
enum Next {
    /// Read into this buffer (the engine's or the message's, lent until `on_read`), with
    /// a timeout at this deadline.
    Read(*mut u8, usize, Option<Instant>),
    Again,
    Out(Result<RecvStep>),
}

/// Runs [`Conn::handoff`]'s steps: the close reply goes out, a server ends its side.
fn hand_off<S: Stream>(c: &mut Conn, w: &mut S, r: Result<RecvStep>) -> Result<RecvStep> {
    if !c.must_hold(&r) {
        return r;
    }
    let mut h = c.handoff(r);
    loop {
        match h {
            Handoff::Ready(r) => return r,
            Handoff::Flush => {
                let _ = flush_all(w, &mut c.s);
                c.handoff_flushed();
            }
            Handoff::Shutdown => {
                let _ = w.shutdown_write();
                c.shut_down();
            }
        }
        h = c.poll_handoff();
    }
}

/// The receive loop: the next message or piece (`piece`: into this buffer), an error, or
/// the end of the receive side.
pub(super) fn recv_step<P: Parts>(p: &mut P, mut piece: Option<&mut Vec<u8>>) -> Result<RecvStep> {
    loop {
        let next = p.locked(|c, w| -> Result<Next> {
            Ok(match c.s.poll_recv(piece.as_deref_mut()) {
                Ok(RecvStep::Read) => {
                    if c.s.wants_write() {
                        flush_all(w, &mut c.s)?;
                    }
                    let due = c.poll_timeout();
                    let b = c.s.read_buf();
                    Next::Read(b.as_mut_ptr(), b.len(), due)
                }
                Ok(RecvStep::Flush) => {
                    write_out(w, &mut c.s)?;
                    Next::Again
                }
                r => Next::Out(hand_off(c, w, r)),
            })
        })?;
        let (ptr, len, due) = match next {
            Next::Read(ptr, len, due) => (ptr, len, due),
            Next::Again => continue,
            Next::Out(r) => return r,
        };
        let (rd, timeout_set) = p.reader();
        // SAFETY: the session lent `ptr..ptr + len` for the pending read (see
        // `Session::read_buf`) and keeps it valid until `on_read`/`read_failed` below ends
        // the read; nothing else touches it meanwhile (the other half only writes).
        let buf = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        let r = read_until(rd, buf, due, timeout_set);
        p.locked(|c, w| -> Result<()> {
            match r {
                Ok(Some(n)) => c.on_read(n, Instant::now()),
                Ok(None) => {
                    // Nothing was read: the read stays pending.
                    c.on_timer(Instant::now())?;
                    if c.s.wants_write() {
                        flush_all(w, &mut c.s)?;
                    }
                }
                Err(e) => {
                    c.s.read_failed(Error::Io(io::Error::new(e.kind(), e.to_string())));
                    return Err(e.into());
                }
            }
            Ok(())
        })?;
    }
}

/// Sets the read timeout for `due` (clears it when there is none).
fn set_timeout<S: Stream>(rd: &mut S, due: Option<Instant>, timeout_set: &mut bool) -> io::Result<()> {
    match due {
        Some(d) => *timeout_set = rd.set_read_timeout(Some(until(d, Instant::now())))?,
        None if *timeout_set => {
            rd.set_read_timeout(None)?;
            *timeout_set = false;
        }
        None => {}
    }
    Ok(())
}

/// One read, waiting at most until `due`: `None` when it passed first.
fn read_until<S: Stream>(
    rd: &mut S,
    buf: &mut [u8],
    due: Option<Instant>,
    timeout_set: &mut bool,
) -> io::Result<Option<usize>> {
    if due.is_some_and(|d| Instant::now() >= d) {
        return Ok(None);
    }
    set_timeout(rd, due, timeout_set)?;
    loop {
        match rd.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) && due.is_some() => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// Runs the close sequence started with [`Conn::start_close`] or [`Conn::finish`] to its end.
pub(super) fn run_close<P: Parts>(p: &mut P) -> Result<()> {
    loop {
        match p.locked(|c, _| c.poll_close(Instant::now())) {
            CloseStep::Receive => {
                let r = recv_step(p, None);
                p.locked(|c, _| c.close_recv(r));
            }
            CloseStep::Flush => p.locked(|c, w| {
                let _ = flush_all(w, &mut c.s);
                c.flushed();
            }),
            CloseStep::Shutdown => p.locked(|c, w| {
                let _ = w.shutdown_write();
                c.shut_down();
            }),
            CloseStep::Drain => {
                let due = p.locked(|c, _| c.poll_timeout());
                let (rd, timeout_set) = p.reader();
                let mut scratch = [0u8; 512];
                // A stream that cannot time out reads does not wait for the peer's end.
                let r = match set_timeout(rd, due, timeout_set) {
                    Ok(()) if *timeout_set || due.is_none() => read_until(rd, &mut scratch, due, timeout_set),
                    _ => Ok(Some(0)),
                };
                p.locked(|c, _| match r {
                    Ok(Some(n)) => c.drained(n),
                    Ok(None) => {}
                    Err(_) => c.drained(0),
                });
            }
            CloseStep::Done => return p.locked(|c, _| c.take_close_result()),
        }
    }
}
