//! Shared test helpers: an in-memory client/server pair connected by byte pipes (as in the
//! Windows sample), driven through `get_action`/`complete_action`, with a transcript of every
//! action each side saw.
#![allow(dead_code)]

use std::collections::VecDeque;
use wspc::codec::frame::{parse_header, OpCode};
use wspc::codec::mask::apply_mask;
use wspc::{
    Action, ActionQueue, ActionToken, BufferType, ClientHandshakeResult, Config, Error, Handle, Header, OwnedHeader,
};

/// Borrows an array of owned headers, as a C caller passes `WEB_SOCKET_HTTP_HEADER`s.
pub fn hdrs(v: &[OwnedHeader]) -> Vec<Header<'_>> {
    v.iter().map(OwnedHeader::as_header).collect()
}

/// The value of the (single) header `name` in `v`, case-insensitive.
pub fn header<'a>(v: &'a [OwnedHeader], name: &str) -> Option<&'a str> {
    v.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
}

/// Runs the handshake between two fresh handles the way the Windows sample does: the client's
/// headers (plus Host) go to the server, the server's headers back to the client.
pub fn handshake(client: &mut Handle, server: &mut Handle) -> ClientHandshakeResult {
    let mut req = client.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "localhost".into() });
    let resp = server.begin_server_handshake(None, &[], &hdrs(&req)).unwrap().to_vec();
    let r = client.end_client_handshake(&hdrs(&resp)).unwrap();
    server.end_server_handshake().unwrap();
    r
}

/// One action as the application saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    /// `SendToNetwork`: the frame type, the context (`None` for an automatic pong), the bytes
    /// written (all buffers concatenated) and how many buffers were lent.
    Send { ty: BufferType, ctx: Option<usize>, bytes: Vec<u8>, bufs: usize },
    /// `IndicateSendComplete`.
    SendDone { ty: BufferType, ctx: usize, close: Option<u16> },
    /// `ReceiveFromNetwork`, completed with `n` bytes.
    Read { ctx: usize, n: usize },
    /// `IndicateReceiveComplete`.
    Recv { ty: BufferType, ctx: usize, data: Vec<u8>, close: Option<u16> },
}

impl Ev {
    /// A short tag for order assertions: `send:Type:len`, `sent:Type`, `read:n`,
    /// `recv:Type:len` (`recv:Close:status:len`).
    pub fn tag(&self) -> String {
        match self {
            Ev::Send { ty, bytes, .. } => format!("send:{ty:?}:{}", bytes.len()),
            Ev::SendDone { ty, .. } => format!("sent:{ty:?}"),
            Ev::Read { n, .. } => format!("read:{n}"),
            Ev::Recv { ty, data, close: Some(c), .. } => format!("recv:{ty:?}:{c}:{}", data.len()),
            Ev::Recv { ty, data, .. } => format!("recv:{ty:?}:{}", data.len()),
        }
    }
}

/// Tags of a transcript.
pub fn tags(log: &[Ev]) -> Vec<String> {
    log.iter().map(Ev::tag).collect()
}

/// One side of the pair: a handle, its inbound pipe and its transcript.
pub struct Endpoint {
    pub h: Handle,
    /// Bytes the peer wrote that this side has not read yet.
    pub inbox: VecDeque<u8>,
    /// Bytes this side wrote that the pair has not moved to the peer yet.
    pub out: Vec<u8>,
    /// Every byte this side ever wrote.
    pub wire: Vec<u8>,
    pub log: Vec<Ev>,
    /// The addresses of the buffers of each `SendToNetwork`.
    pub send_ptrs: Vec<Vec<usize>>,
    /// The lengths of the buffers of each `SendToNetwork`.
    pub send_lens: Vec<Vec<usize>>,
    /// Upper bounds for successive reads, cycled (empty: fill what the engine offers).
    pub reads: Vec<usize>,
    read_idx: usize,
    /// Buffer slots offered to `get_action`.
    pub slots: usize,
    pub queue: ActionQueue,
    /// Pump the receive and send queues separately, in turn, instead of `queue`.
    pub alternate: bool,
    turn: usize,
    /// Post a new receive whenever none is pending (until a close arrives).
    pub auto_receive: bool,
    pub recv_ctx: usize,
    /// Messages to send, one after the other (context = 1000 + index).
    pub outgoing: VecDeque<(BufferType, Vec<u8>)>,
    sent_count: usize,
    /// Owned payloads given back by `complete_action_reclaim`.
    pub reclaimed: Vec<Vec<u8>>,
    /// When non-empty, every non-empty buffer lent must lie inside one of these address
    /// ranges (`start..end`).
    pub allowed: Vec<(usize, usize)>,
    /// A read the engine asked for while the inbox was empty: token, buffer, length.
    pending_read: Option<(ActionToken, *mut u8, usize)>,
}

impl Endpoint {
    pub fn new(h: Handle) -> Self {
        Self {
            h,
            inbox: VecDeque::new(),
            out: Vec::new(),
            wire: Vec::new(),
            log: Vec::new(),
            send_ptrs: Vec::new(),
            send_lens: Vec::new(),
            reads: Vec::new(),
            read_idx: 0,
            slots: 2,
            queue: ActionQueue::All,
            alternate: false,
            turn: 0,
            auto_receive: true,
            recv_ctx: 500,
            outgoing: VecDeque::new(),
            sent_count: 0,
            reclaimed: Vec::new(),
            allowed: Vec::new(),
            pending_read: None,
        }
    }

    /// True while a `ReceiveFromNetwork` waits for bytes.
    pub fn read_pending(&self) -> bool {
        self.pending_read.is_some()
    }

    fn read_len(&mut self, offered: usize) -> usize {
        let mut n = offered.min(self.inbox.len());
        if !self.reads.is_empty() {
            n = n.min(self.reads[self.read_idx % self.reads.len()].max(1));
            self.read_idx += 1;
        }
        n
    }

    fn fill(&mut self, tok: ActionToken, ptr: *mut u8, len: usize) {
        let n = self.read_len(len);
        for i in 0..n {
            let b = self.inbox.pop_front().unwrap();
            // SAFETY: the engine lent `ptr..ptr+len` until this action is completed (spec
            // §6.3); `n <= len`.
            unsafe { ptr.add(i).write(b) };
        }
        self.log.push(Ev::Read { ctx: self.recv_ctx, n });
        self.h.complete_action(tok, n);
    }

    /// Pumps this side until `NoAction` (or a read that has to wait for bytes). Returns
    /// whether anything happened.
    pub fn pump(&mut self) -> Result<bool, Error> {
        let mut progress = false;
        let mut idle = 0;
        loop {
            if !self.h.send_half().is_pending() && !self.h.is_aborted() {
                if let Some((ty, p)) = self.outgoing.pop_front() {
                    self.h.send_data(ty, p, 1000 + self.sent_count)?;
                    self.sent_count += 1;
                    idle = 0;
                }
            }
            if self.auto_receive && !self.h.is_aborted() {
                let r = self.h.receive_half();
                if !r.is_pending() && !r.is_close_received() && r.error().is_none() {
                    self.recv_ctx += 1;
                    self.h.receive(self.recv_ctx)?;
                    idle = 0;
                }
            }
            if let Some((tok, ptr, len)) = self.pending_read {
                if !self.inbox.is_empty() {
                    self.pending_read = None;
                    self.fill(tok, ptr, len);
                    progress = true;
                    idle = 0;
                    continue;
                }
            }
            let queues: &[ActionQueue] = if self.alternate {
                &[ActionQueue::Receive, ActionQueue::Send]
            } else {
                std::slice::from_ref(&self.queue)
            };
            let q = queues[self.turn % queues.len()];
            let action = self.h.get_action_with_slots(q, self.slots)?;
            let token = action.token();
            match action {
                Action::NoAction => {
                    // Try the other queue before giving up.
                    self.turn += 1;
                    idle += 1;
                    if idle >= queues.len() {
                        return Ok(progress);
                    }
                    continue;
                }
                Action::SendToNetwork { buffer_type, context, buffers, .. } => {
                    assert!(buffers.as_slices().len() <= self.slots, "more buffers than slots");
                    let mut bytes = Vec::new();
                    for b in buffers.as_slices() {
                        check_ptr(&self.allowed, "send", b);
                        bytes.extend_from_slice(b);
                    }
                    let n = bytes.len();
                    self.out.extend_from_slice(&bytes);
                    self.wire.extend_from_slice(&bytes);
                    let bufs = buffers.as_slices().len();
                    self.send_ptrs.push(buffers.as_slices().iter().map(|b| b.as_ptr() as usize).collect());
                    self.send_lens.push(buffers.as_slices().iter().map(|b| b.len()).collect());
                    self.log.push(Ev::Send { ty: buffer_type, ctx: context, bytes, bufs });
                    self.h.complete_action(token, n);
                }
                Action::IndicateSendComplete { buffer_type, context, close_status, .. } => {
                    self.log.push(Ev::SendDone { ty: buffer_type, ctx: context, close: close_status });
                    if let Some(v) = self.h.complete_action_reclaim(token, 0).and_then(|p| p.into_vec()) {
                        self.reclaimed.push(v);
                    }
                }
                Action::ReceiveFromNetwork { context, buffer, .. } => {
                    assert_eq!(context, self.recv_ctx);
                    check_ptr(&self.allowed, "read", buffer);
                    let (ptr, len) = (buffer.as_mut_ptr(), buffer.len());
                    assert!(len > 0, "empty read buffer");
                    if self.inbox.is_empty() {
                        self.pending_read = Some((token, ptr, len));
                    } else {
                        self.fill(token, ptr, len);
                    }
                }
                Action::IndicateReceiveComplete { buffer_type, context, data, close_status, .. } => {
                    check_ptr(&self.allowed, "receive", data);
                    let n = data.len();
                    self.log.push(Ev::Recv { ty: buffer_type, ctx: context, data: data.to_vec(), close: close_status });
                    self.h.complete_action(token, n);
                }
            }
            progress = true;
            idle = 0;
        }
    }

    /// Completes a waiting read with 0 bytes (cancels the receive).
    pub fn cancel_pending_read(&mut self) -> bool {
        match self.pending_read.take() {
            Some((tok, _, _)) => {
                self.log.push(Ev::Read { ctx: self.recv_ctx, n: 0 });
                self.h.complete_action(tok, 0);
                true
            }
            None => false,
        }
    }

    /// The data messages received, reassembled from their chunks; checks that chunk types are
    /// consistent (`*Fragment`s of one kind, then the matching `*Message`).
    pub fn messages(&self) -> Vec<(BufferType, Vec<u8>)> {
        let mut out = Vec::new();
        let mut cur: Option<(bool, Vec<u8>)> = None;
        for e in &self.log {
            let Ev::Recv { ty, data, .. } = e else { continue };
            if !ty.is_data() {
                continue;
            }
            let text = ty.is_text();
            let buf = cur.get_or_insert_with(|| (text, Vec::new()));
            assert_eq!(buf.0, text, "text and binary chunks mixed in one message");
            buf.1.extend_from_slice(data);
            if ty.is_message_end() {
                let (_, d) = cur.take().unwrap();
                out.push((*ty, d));
            }
        }
        assert!(cur.is_none(), "message left unfinished");
        out
    }

    /// Data chunks received (type and length), in order.
    pub fn chunks(&self) -> Vec<(BufferType, usize)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Ev::Recv { ty, data, .. } if ty.is_data() => Some((*ty, data.len())),
                _ => None,
            })
            .collect()
    }

    /// Receive completions that were not data (pongs and closes).
    pub fn controls(&self) -> Vec<(BufferType, Vec<u8>, Option<u16>)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Ev::Recv { ty, data, close, .. } if !ty.is_data() => Some((*ty, data.clone(), *close)),
                _ => None,
            })
            .collect()
    }
}

/// Asserts that `s` lies inside one of `allowed` (when that is non-empty).
pub fn check_ptr(allowed: &[(usize, usize)], what: &str, s: &[u8]) {
    if allowed.is_empty() || s.is_empty() {
        return;
    }
    let (a, b) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
    assert!(
        allowed.iter().any(|&(lo, hi)| lo <= a && b <= hi),
        "{what} buffer {a:#x}..{b:#x} lies outside {allowed:x?}"
    );
}

/// Which side failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// A client and a server handle joined by two in-memory pipes.
pub struct Pair {
    pub c: Endpoint,
    pub s: Endpoint,
}

impl Pair {
    /// Two handles from `client`/`server`, after the handshake.
    pub fn new(client: Config, server: Config) -> Self {
        let mut c = Handle::client(client).unwrap();
        let mut s = Handle::server(server).unwrap();
        handshake(&mut c, &mut s);
        Self::from_handles(c, s)
    }

    /// The defaults of Windows.
    pub fn default_pair() -> Self {
        Self::new(Config::client(), Config::server())
    }

    pub fn from_handles(c: Handle, s: Handle) -> Self {
        Self { c: Endpoint::new(c), s: Endpoint::new(s) }
    }

    /// Moves written bytes to the other side. Returns whether any moved.
    pub fn transfer(&mut self) -> bool {
        let moved = !self.c.out.is_empty() || !self.s.out.is_empty();
        self.s.inbox.extend(self.c.out.drain(..));
        self.c.inbox.extend(self.s.out.drain(..));
        moved
    }

    /// Pumps both sides until neither can make progress.
    pub fn run(&mut self) -> Result<(), (Side, Error)> {
        loop {
            let a = self.c.pump().map_err(|e| (Side::Client, e))?;
            let b = self.s.pump().map_err(|e| (Side::Server, e))?;
            let moved = self.transfer();
            if !a && !b && !moved {
                return Ok(());
            }
        }
    }

    /// Clears both transcripts.
    pub fn clear_logs(&mut self) {
        self.c.log.clear();
        self.s.log.clear();
    }
}

/// A frame built by hand: `b0` is the first byte (FIN, RSV, opcode); the length is encoded
/// in the shortest form; `mask` sets the MASK bit and masks the payload.
pub fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        v.push(m | n as u8);
    } else if n <= 0xffff {
        v.push(m | 126);
        v.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        v.push(m | 127);
        v.extend_from_slice(&(n as u64).to_be_bytes());
    }
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        v.extend_from_slice(&k);
        apply_mask(&mut p, k, 0);
    }
    v.extend_from_slice(&p);
    v
}

/// The mask key of the RFC 6455 §5.7 examples.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame parsed back from a byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

/// Parses a whole byte stream into frames, independently of the handles; panics on a
/// malformed or truncated stream.
pub fn parse_stream(mut bytes: &[u8], allow_rsv1: bool) -> Vec<WireFrame> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let h = parse_header(bytes, allow_rsv1)
            .unwrap_or_else(|e| panic!("bad frame header after {} frames: {e}", out.len()))
            .unwrap_or_else(|| panic!("truncated header after {} frames", out.len()));
        let end = h.header_len + h.len as usize;
        assert!(bytes.len() >= end, "truncated payload after {} frames", out.len());
        let mut payload = bytes[h.header_len..end].to_vec();
        if let Some(k) = h.mask {
            apply_mask(&mut payload, k, 0);
        }
        out.push(WireFrame { fin: h.fin, rsv1: h.rsv1, opcode: h.opcode, mask: h.mask, payload });
        bytes = &bytes[end..];
    }
    out
}

/// Feeds `bytes` to `h` (which must be open), `step` bytes per read, posting receives as
/// needed. Returns the transcript and, if the engine failed, the error with the number of
/// bytes it had been given when it did.
pub fn feed(h: Handle, bytes: &[u8], step: usize) -> (Endpoint, Option<(Error, usize)>) {
    let mut e = Endpoint::new(h);
    e.inbox.extend(bytes.iter().copied());
    e.reads = vec![step];
    loop {
        match e.pump() {
            Ok(true) => {}
            Ok(false) => return (e, None),
            Err(err) => {
                let fed = e.log.iter().map(|x| if let Ev::Read { n, .. } = x { *n } else { 0 }).sum();
                return (e, Some((err, fed)));
            }
        }
    }
}

/// An open client handle (handshake done against a throw-away server).
pub fn open_client(cfg: Config) -> Handle {
    let mut c = Handle::client(cfg).unwrap();
    let mut s = Handle::server(Config::server()).unwrap();
    handshake(&mut c, &mut s);
    c
}

/// An open server handle.
pub fn open_server(cfg: Config) -> Handle {
    let mut c = Handle::client(Config::client()).unwrap();
    let mut s = Handle::server(cfg).unwrap();
    handshake(&mut c, &mut s);
    s
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Deterministic valid UTF-8 of exactly `len` bytes, mixing 1- to 4-byte code points.
pub fn text(len: usize, seed: u64) -> Vec<u8> {
    let chars = ["a", "Z", " ", "é", "κ", "€", "中", "𝄞", "😀"];
    let r = pattern(len + 1, seed);
    let mut s = String::new();
    let mut i = 0;
    while s.len() < len {
        let c = chars[r[i % r.len()] as usize % chars.len()];
        if s.len() + c.len() <= len {
            s.push_str(c);
        } else {
            s.push('x');
        }
        i += 1;
    }
    s.into_bytes()
}
