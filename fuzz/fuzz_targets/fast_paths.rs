//! The Windows action queue against the decoder driven directly, on arbitrary bytes: one
//! handle takes everything through `receive` and its actions (chunks lent from its receive
//! buffer); the decoder of a second, identically configured handle (`Handle::into_codec`)
//! takes the same bytes from a buffer of the same size, reading part of each large payload
//! straight into the message (`Decoder::direct`). Both must deliver the same messages,
//! pongs, close and error (with its close code), in the same order. Read sizes, direct read
//! sizes, the buffer size, role and limits come from the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wspc::proto::Event;
use wspc::{Action, ActionQueue, BufferType, Config, Decoder, DirectStatus, Handle, Role};

#[allow(dead_code)] // Only its handle pair is used here.
mod pump;

#[derive(Debug, PartialEq)]
enum Ev {
    /// A whole data message: text, payload.
    Message(bool, Vec<u8>),
    /// A ping or pong handed to the application.
    Control(Vec<u8>),
    Close(u16, Vec<u8>),
    /// The receive side failed with this close code.
    Failed(Option<u16>),
}

/// Read sizes from `sizes` in turn (1..=256), then 4096.
struct Reads<'a> {
    sizes: &'a [u8],
    i: usize,
}

impl Reads<'_> {
    fn next(&mut self) -> usize {
        let n = self.sizes.get(self.i).map_or(4096, |&c| c as usize + 1);
        self.i += 1;
        n
    }
}

/// Records a completed receive; returns false when the side is finished (close).
fn indicate(ev: &mut Vec<Ev>, cur: &mut Vec<u8>, ty: BufferType, data: &[u8], close: Option<u16>) -> bool {
    match ty {
        BufferType::Close => {
            ev.push(Ev::Close(close.unwrap_or(0), data.to_vec()));
            return false;
        }
        t if t.is_data() => {
            cur.extend_from_slice(data);
            if t.is_message_end() {
                ev.push(Ev::Message(t.is_text(), std::mem::take(cur)));
            }
        }
        _ => ev.push(Ev::Control(data.to_vec())),
    }
    true
}

/// What one action of the queued path asked for.
enum Step {
    /// A read into the lent buffer `ptr..ptr + len` (complete it with `token`).
    Read(wspc::ActionToken, *mut u8, usize),
    /// A receive completed (the next one must be queued).
    Delivered,
    /// An automatic pong was written.
    Wrote,
    /// The side is finished: a close or an error.
    Finished,
}

/// Takes the next receive-queue action and handles all but reads.
fn step(h: &mut Handle, ev: &mut Vec<Ev>, cur: &mut Vec<u8>) -> Step {
    let action = match h.get_action(ActionQueue::Receive) {
        Ok(a) => a,
        Err(e) => {
            ev.push(Ev::Failed(e.close_code()));
            return Step::Finished;
        }
    };
    let token = action.token();
    match action {
        Action::ReceiveFromNetwork { buffer, .. } => Step::Read(token, buffer.as_mut_ptr(), buffer.len()),
        Action::SendToNetwork { buffers, .. } => {
            let n = buffers.len();
            h.complete_action(token, n);
            Step::Wrote
        }
        Action::IndicateReceiveComplete { buffer_type, data, close_status, .. } => {
            let go = indicate(ev, cur, buffer_type, data, close_status);
            h.complete_action(token, 0);
            if go {
                Step::Delivered
            } else {
                Step::Finished
            }
        }
        Action::NoAction | Action::IndicateSendComplete { .. } => unreachable!("receive queue"),
    }
}

/// Copies the next read's bytes into the engine's lent buffer and completes the read;
/// false when the input is used up.
fn fill(
    h: &mut Handle,
    read: (wspc::ActionToken, *mut u8, usize),
    input: &[u8],
    pos: &mut usize,
    reads: &mut Reads<'_>,
) -> bool {
    let (token, ptr, len) = read;
    if *pos == input.len() {
        return false;
    }
    let n = reads.next().min(len).min(input.len() - *pos);
    // SAFETY: the engine lent `ptr..ptr + len` with this read action and keeps it valid
    // until the action is completed (direct reads in between do not touch it); `input` is
    // other memory.
    unsafe { std::ptr::copy_nonoverlapping(input[*pos..].as_ptr(), ptr, n) };
    *pos += n;
    h.complete_action(token, n);
    true
}

/// Everything through `receive` and the action queue.
fn queued(h: &mut Handle, input: &[u8], reads: &mut Reads<'_>) -> Vec<Ev> {
    let (mut ev, mut cur, mut pos) = (Vec::new(), Vec::new(), 0);
    for _ in 0..200_000 {
        if !h.receive_half().is_pending() && h.receive(0).is_err() {
            break;
        }
        match step(h, &mut ev, &mut cur) {
            Step::Read(t, p, n) if fill(h, (t, p, n), input, &mut pos, reads) => {}
            Step::Read(..) | Step::Finished => break,
            Step::Delivered | Step::Wrote => {}
        }
    }
    ev
}

/// The decoder driven directly, as a transport with its own buffer does: reads of the
/// same sizes into a buffer of the same size, and payload the decoder offers read straight
/// into the message (`Decoder::direct`) in the sizes `direct` gives. Pings are answered by
/// the queue and not handed out, so they are not recorded here either.
fn decoder_path(dec: &mut Decoder, size: usize, input: &[u8], reads: &mut Reads<'_>, direct: &mut Reads<'_>) -> Vec<Ev> {
    let (mut ev, mut cur, mut pos) = (Vec::new(), Vec::new(), 0);
    let mut buf: Vec<u8> = Vec::with_capacity(size);
    for _ in 0..200_000 {
        let d = match dec.decode(&mut buf) {
            Ok(d) => d,
            Err(e) => {
                ev.push(Ev::Failed(Some(e.close_code())));
                break;
            }
        };
        let mut need = false;
        match d.event {
            Event::NeedMore => need = true,
            Event::Payload(p) => {
                // Every other read is direct when direct sizes were given.
                if direct.sizes.is_empty() || direct.i % 2 == 1 {
                    direct.i += 1;
                    need = true;
                } else {
                    if pos == input.len() {
                        break;
                    }
                    buf.clear();
                    let n = (direct.next() as u64).min(p.remaining).min((input.len() - pos) as u64) as usize;
                    let mut mem = input[pos..pos + n].to_vec();
                    pos += n;
                    match dec.direct(&mut mem) {
                        Ok(st) => {
                            cur.extend_from_slice(&mem);
                            if st == DirectStatus::MessageEnd {
                                ev.push(Ev::Message(p.text, std::mem::take(&mut cur)));
                            }
                        }
                        Err(e) => {
                            ev.push(Ev::Failed(e.close_code()));
                            break;
                        }
                    }
                    continue;
                }
            }
            Event::Data(c) => {
                cur.extend_from_slice(dec.chunk(&buf, &c));
                if c.last {
                    ev.push(Ev::Message(c.text, std::mem::take(&mut cur)));
                    dec.release_inflated();
                }
            }
            Event::Ping { .. } => {}
            Event::Pong { start, len } => ev.push(Ev::Control(buf[start..start + len].to_vec())),
            Event::Close { code, start, len } => {
                ev.push(Ev::Close(code, buf[start..start + len].to_vec()));
                break;
            }
        }
        buf.drain(..d.consumed);
        if need {
            if pos == input.len() {
                break;
            }
            let n = reads.next().min(size - buf.len()).min(input.len() - pos);
            buf.extend_from_slice(&input[pos..pos + n]);
            pos += n;
        }
    }
    ev
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let flags = data[0];
    let recv_size = 256 + (u16::from_le_bytes([data[1], data[2]]) as usize % 8000);
    let (nreads, ndirect) = (data[3] as usize, data[4] as usize);
    let rest = &data[5..];
    let (read_sizes, rest) = rest.split_at(nreads.min(rest.len()));
    let (direct_sizes, input) = rest.split_at(ndirect.min(rest.len()));
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let peer = if role == Role::Server { Role::Client } else { Role::Server };
    let mut cfg = Config::new(role).receive_buffer_size(recv_size as u32).unwrap();
    if flags & 2 != 0 {
        cfg = cfg.max_message_size(Some(3000)).max_frame_size(Some(1500)).max_fragments(Some(5));
    }
    let open = |cfg: Config| {
        let (c, s) = if role == Role::Server {
            pump::open_pair(Config::new(peer), cfg)
        } else {
            pump::open_pair(cfg, Config::new(peer))
        };
        if role == Role::Server {
            s
        } else {
            c
        }
    };
    let mut a = open(cfg.clone());
    let (_, mut dec) = open(cfg).into_codec().unwrap();
    let want = queued(&mut a, input, &mut Reads { sizes: read_sizes, i: 0 });
    let mut reads = Reads { sizes: read_sizes, i: 0 };
    let got = decoder_path(&mut dec, recv_size, input, &mut reads, &mut Reads { sizes: direct_sizes, i: 0 });
    assert_eq!(got, want);
});
