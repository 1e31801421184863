//! One thread's event loop: a ring, its listener, a slab of connection slots, a timer
//! wheel. See the module docs of [`super`] for the life of a connection.

mod recv;
mod send;
mod turn;

use super::bufring::BufRing;
use super::engine::{Engine, Step, ENGINE_SIZE};
use super::tls::{Tls, TlsConfig};
use super::wheel::{Entry, Wheel, TICK};
use super::{Conn, ConnId, Handler, Stop};
use crate::http::{self, ServerStep};
use crate::message::{CloseFrame, Message};
use crate::{Config, Error, Result};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Submission queue entries per ring (completions: four times as many).
const RING_ENTRIES: u32 = 1024;
/// Receive buffers in the provided-buffer ring, and their size.
const RECV_BUFFERS: u16 = 128;
const RECV_BUFFER_SIZE: usize = 16 << 10;
/// Bytes received but not yet handed to the engine (while a write is in flight) beyond
/// which the connection stops receiving until they are taken.
const PAUSE_AT: usize = 256 << 10;
/// How long a refused upgrade may take to be written and lingered over.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// The longest wait in the ring.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// Vectored writes submitted per loop turn before the ring is entered to take their vectors.
const IOVECS: usize = 256;

// ----- user data of submissions ---------------------------------------------------------

const KIND_ACCEPT: u64 = 1;
const KIND_RECV: u64 = 2;
const KIND_SEND: u64 = 3;
const KIND_WAKE: u64 = 4;
const KIND_CANCEL: u64 = 5;
const KIND_SIGNAL: u64 = 6;
const KIND_RECV_DIRECT: u64 = 7;

/// A large payload with at least this much to read (and room for it in its message) is
/// received straight into the message's memory by a single receive, instead of through
/// the provided buffers (16 KiB per completion, then a copy).
const DIRECT_RECV_MIN: usize = 64 << 10;
/// While large payloads arrive, bytes a connection may read with system calls of its own in
/// one loop turn (the rest waits for the next turn: the other connections get theirs).
const PULL_BUDGET: usize = 2 << 20;

/// Operation kind (4 bits), receive epoch (4 bits), slot generation (24 bits), slot index.
fn ud(kind: u64, idx: u32, gen: u32, epoch: u8) -> u64 {
    kind << 60 | (epoch as u64 & 0xf) << 56 | (gen as u64 & 0xff_ffff) << 32 | idx as u64
}

fn ud_parts(u: u64) -> (u64, u32, u32, u8) {
    (u >> 60, u as u32, (u >> 32) as u32 & 0xff_ffff, (u >> 56) as u8 & 0xf)
}

// ----- connection slots -----------------------------------------------------------------

/// A write is in flight: the session's write buffer must not change until it completes.
const SENDING: u16 = 1;
/// A multishot receive is armed.
const RECV_ARMED: u16 = 2;
/// Listed for the end of the loop turn (flush, park, re-arm).
const DIRTY: u16 = 4;
/// The receive side is finished (peer's close, or failure): flush, end the write
/// direction, then read until the peer ends the stream or the close deadline.
const FINISHING: u16 = 8;
/// The write direction was ended.
const SHUT: u16 = 16;
/// To be freed once the write in flight completes.
const DEAD: u16 = 32;
/// `on_close` was called.
const REPORTED: u16 = 64;
/// The peer ended the stream.
const EOF: u16 = 128;
/// `on_open` was called.
const OPENED: u16 = 256;
/// `Conn::close` was called in a callback: arm the close deadline.
pub(super) const CLOSE_REQ: u16 = 512;
/// A withdrawn multishot receive has not posted its last completion yet: until it has,
/// bytes it took may still arrive, so nothing reads the socket another way.
const DRAINING: u16 = 1024;
/// A receive straight into a large message's memory is in flight: that memory must stay
/// put (and the slot live) until it completes.
const DIRECT_RECV: u16 = 2048;

// The open variant is the one every connection spends its life in: boxing it would add a
// heap object per connection.
#[allow(clippy::large_enum_variant)]
pub(super) enum Phase {
    Free,
    /// Reading the request head (bytes so far).
    Handshake(Vec<u8>),
    /// Writing an HTTP refusal, then ending the stream.
    Refusing(Vec<u8>, usize),
    /// Upgraded (the `101` response goes out first through the session's write buffer).
    Open(Engine),
}

/// One connection's state: all of it, apart from the engine's own allocations.
pub(super) struct Slot {
    pub(super) phase: Phase,
    /// Received bytes waiting for the write in flight to complete (empty, unallocated,
    /// almost always).
    pending: Vec<u8>,
    /// Messages sent while the session could not take them (boxed: a pointer in every
    /// slot instead of a `VecDeque`'s four words; rarely allocated).
    #[allow(clippy::box_collection)]
    pub(super) queued: Option<Box<VecDeque<Message>>>,
    /// The TLS connection of a `wss://` server's connection.
    tls: Option<Box<Tls>>,
    fd: RawFd,
    pub(super) gen: u32,
    /// Tick of the armed wheel entry (0: none).
    armed: u32,
    /// Handshake, refusal or close deadline, in ticks (0: none).
    deadline: u32,
    last_rx: u32,
    /// When the keepalive ping was due (0: none outstanding).
    ping_at: u32,
    pub(super) flags: u16,
    epoch: u8,
}

impl Slot {
    fn free() -> Self {
        Slot {
            phase: Phase::Free,
            pending: Vec::new(),
            queued: None,
            tls: None,
            fd: -1,
            gen: 0,
            armed: 0,
            deadline: 0,
            last_rx: 0,
            ping_at: 0,
            flags: 0,
            epoch: 0,
        }
    }

    pub(super) fn fd(&self) -> RawFd {
        self.fd
    }

    fn blocked(&self) -> bool {
        self.flags & SENDING != 0 || !self.pending.is_empty() || self.queued.is_some()
    }
}

/// The size of a connection slot (tests, docs).
pub(super) const SLOT_SIZE: usize = size_of::<Slot>();
// A slot is the engine's handle and the session around it (most of it) plus about 60
// bytes of the driver's own: keep it that way.
const _: () = assert!(SLOT_SIZE <= ENGINE_SIZE + 72);

// ----- ring setup -----------------------------------------------------------------------

/// A ring as this driver uses it: one submitting thread, completions run when it waits.
pub(super) fn new_ring() -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    b.setup_cqsize(RING_ENTRIES * 4).setup_single_issuer().setup_defer_taskrun();
    let ring = match b.build(RING_ENTRIES) {
        Ok(r) => r,
        // Older kernels: without the task-running flags.
        Err(_) => IoUring::builder().setup_cqsize(RING_ENTRIES * 4).build(RING_ENTRIES)?,
    };
    if !ring.params().is_feature_submit_stable() || !ring.params().is_feature_nodrop() {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring without stable submissions"));
    }
    Ok(ring)
}

/// Checks that this process may use io_uring as the driver does (a ring and a registered
/// buffer ring).
pub(super) fn probe() -> io::Result<()> {
    let ring = new_ring()?;
    let mut b = BufRing::new(&ring, 0, 1, 4096)?;
    b.unregister(&ring);
    Ok(())
}

// ----- the loop -------------------------------------------------------------------------

pub(super) struct Loop<'a, H: Handler> {
    ring: IoUring,
    bufs: BufRing,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    wheel: Wheel,
    due: Vec<Entry>,
    dirty: Vec<u32>,
    cqes: Vec<(u64, i32, u32)>,
    iovs: Box<[[libc::iovec; 2]]>,
    iov_used: usize,
    spare: Vec<Vec<u8>>,
    handler: H,
    config: Config,
    tls_config: Option<TlsConfig>,
    /// Plaintext of one TLS receive.
    plain: Vec<u8>,
    listener: TcpListener,
    accept_armed: bool,
    accept_retry: u32,
    wake_fd: RawFd,
    wake_buf: Box<u64>,
    wake_armed: bool,
    /// A `signalfd_siginfo` read from the stop signals' descriptor.
    signal_buf: Box<[u8; 128]>,
    signal_armed: bool,
    stop: &'a Stop,
    stopping: bool,
    stop_deadline: u32,
    start: Instant,
    now: u32,
    keepalive: Option<(u32, u32)>,
    close_ticks: u32,
    handshake_ticks: u32,
}

fn ticks(d: Duration) -> u32 {
    (d.as_millis() / TICK.as_millis()).clamp(1, u32::MAX as u128 / 2) as u32
}

fn os_error(res: i32) -> Error {
    Error::Io(io::Error::from_raw_os_error(-res))
}

impl<'a, H: Handler> Loop<'a, H> {
    pub(super) fn new(
        listener: TcpListener,
        config: Config,
        tls_config: Option<TlsConfig>,
        handler: H,
        stop: &'a Stop,
        wake_fd: RawFd,
    ) -> Result<Self> {
        let ring = new_ring()?;
        let bufs = BufRing::new(&ring, 1, RECV_BUFFERS, RECV_BUFFER_SIZE)?;
        let zero = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
        Ok(Loop {
            ring,
            bufs,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            wheel: Wheel::new(),
            due: Vec::new(),
            dirty: Vec::new(),
            cqes: Vec::with_capacity(RING_ENTRIES as usize * 4),
            iovs: vec![[zero; 2]; IOVECS].into_boxed_slice(),
            iov_used: 0,
            spare: Vec::new(),
            handler,
            keepalive: config.keepalive.map(|k| (ticks(k.interval), ticks(k.timeout))),
            close_ticks: ticks(config.close_timeout),
            handshake_ticks: ticks(config.handshake_timeout),
            config,
            tls_config,
            plain: Vec::new(),
            listener,
            accept_armed: false,
            accept_retry: 0,
            wake_fd,
            wake_buf: Box::new(0),
            wake_armed: false,
            signal_buf: Box::new([0; 128]),
            signal_armed: false,
            stop,
            stopping: false,
            stop_deadline: 0,
            start: Instant::now(),
            now: 1,
        })
    }

    fn tick(&self) -> u32 {
        1 + (self.start.elapsed().as_millis() / TICK.as_millis()) as u32
    }

    /// Queues a submission (entering the ring first if the queue is full).
    fn push(&mut self, e: squeue::Entry) {
        loop {
            // SAFETY: every buffer an entry points to outlives its operation: receive
            // buffers are the registered ring's or a message's memory (left in place, and
            // the slot live, while `DIRECT_RECV`), send buffers are the session's write
            // buffer and lent payloads (left untouched while `SENDING`), vectors are taken
            // by the kernel when submitted (`IORING_FEAT_SUBMIT_STABLE`, checked at setup),
            // the wake-up counter lives as long as the loop.
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return;
            }
            if let Err(err) = self.ring.submit() {
                tracing::warn!(error = %err, "io_uring submit failed");
            }
        }
    }

    fn arm_accept(&mut self) {
        let e =
            opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd())).build().user_data(ud(KIND_ACCEPT, 0, 0, 0));
        self.push(e);
        self.accept_armed = true;
    }

    fn arm_wake(&mut self) {
        let p = &mut *self.wake_buf as *mut u64 as *mut u8;
        let e = opcode::Read::new(types::Fd(self.wake_fd), p, 8).build().user_data(ud(KIND_WAKE, 0, 0, 0));
        self.push(e);
        self.wake_armed = true;
    }

    fn arm_signals(&mut self) {
        let Some(fd) = &self.stop.signals else { return };
        let p = self.signal_buf.as_mut_ptr();
        let e = opcode::Read::new(types::Fd(fd.as_raw_fd()), p, 128).build().user_data(ud(KIND_SIGNAL, 0, 0, 0));
        self.push(e);
        self.signal_armed = true;
    }

    fn arm_recv(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        s.flags |= RECV_ARMED;
        let e = opcode::RecvMulti::new(types::Fd(s.fd), self.bufs.group())
            .build()
            .user_data(ud(KIND_RECV, idx, s.gen, s.epoch));
        self.push(e);
    }

    /// Receives a large payload straight into its message (see [`DIRECT_RECV_MIN`]); false
    /// when the session has no such read pending.
    fn arm_recv_direct(&mut self, idx: u32) -> bool {
        let s = &mut self.slots[idx as usize];
        let Phase::Open(e) = &mut s.phase else { return false };
        if !e.wants_direct(DIRECT_RECV_MIN) {
            return false;
        }
        let Some((ptr, len)) = e.read_target() else { return false };
        s.flags |= DIRECT_RECV;
        let e = opcode::Recv::new(types::Fd(s.fd), ptr, len.min(1 << 30) as u32).build().user_data(ud(
            KIND_RECV_DIRECT,
            idx,
            s.gen,
            0,
        ));
        self.push(e);
        true
    }

    /// Withdraws the connection's multishot receive.
    fn cancel_recv(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        if s.flags & RECV_ARMED == 0 {
            return;
        }
        s.flags &= !RECV_ARMED;
        s.flags |= DRAINING;
        let target = ud(KIND_RECV, idx, s.gen, s.epoch);
        s.epoch = s.epoch.wrapping_add(1) & 0xf;
        self.push(opcode::AsyncCancel::new(target).build().user_data(ud(KIND_CANCEL, 0, 0, 0)));
    }

    fn mark(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        if s.flags & DIRTY == 0 {
            s.flags |= DIRTY;
            self.dirty.push(idx);
        }
    }

    /// Arms the connection's timer for `tick` unless one is armed earlier.
    fn arm(&mut self, idx: u32, tick: u32) {
        let s = &mut self.slots[idx as usize];
        if s.armed == 0 || tick < s.armed {
            s.armed = self.wheel.insert(idx, s.gen, tick);
        }
    }

    pub(super) fn run(mut self) -> Result<()> {
        self.arm_accept();
        self.arm_wake();
        self.arm_signals();
        loop {
            self.wait()?;
            self.now = self.tick();
            self.iov_used = 0;
            self.complete();
            self.timers();
            if !self.stopping && self.stop.requested() {
                self.begin_stop();
            }
            self.end_turn();
            if self.stopping {
                if self.live == 0 {
                    break;
                }
                if self.now >= self.stop_deadline {
                    for idx in 0..self.slots.len() as u32 {
                        if !matches!(self.slots[idx as usize].phase, Phase::Free) {
                            self.finalize(idx, Error::CloseTimeout);
                        }
                    }
                    self.stop_deadline = u32::MAX;
                }
            }
        }
        self.teardown();
        Ok(())
    }

    /// Submits what is queued and waits for a completion or the next timer.
    fn wait(&mut self) -> Result<()> {
        let now = self.tick();
        let r = match self.wheel.next() {
            // Work left for the next turn (a connection that used its turn's budget, or
            // was given output at the end of the turn): no waiting.
            _ if !self.dirty.is_empty() => self.ring.submit(),
            Some(t) if t <= now => self.ring.submit(),
            next => {
                // At most a second: a thread blocked in the ring under a tool that delivers
                // signals only between system calls (valgrind) still sees them.
                let d = next.map_or(MAX_WAIT, |t| (TICK * (t - now)).min(MAX_WAIT));
                let ts = types::Timespec::new().sec(d.as_secs()).nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)) => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Handles every completion posted.
    fn complete(&mut self) {
        self.cqes.clear();
        for c in self.ring.completion() {
            self.cqes.push((c.user_data(), c.result(), c.flags()));
        }
        for i in 0..self.cqes.len() {
            let (u, res, flags) = self.cqes[i];
            let (kind, idx, gen, epoch) = ud_parts(u);
            match kind {
                KIND_RECV => self.on_recv(idx, gen, epoch, res, flags),
                KIND_RECV_DIRECT => self.on_recv_direct(idx, gen, res),
                KIND_SEND => self.on_send(idx, gen, res),
                KIND_ACCEPT => self.on_accept(res, flags),
                KIND_WAKE => self.wake_armed = false,
                KIND_SIGNAL => {
                    self.signal_armed = false;
                    if res > 0 {
                        let signo = u32::from_ne_bytes([
                            self.signal_buf[0],
                            self.signal_buf[1],
                            self.signal_buf[2],
                            self.signal_buf[3],
                        ]);
                        tracing::info!(signal = signo, "stop signal: shutting down");
                        super::ShutdownHandle::shutdown_ref(self.stop);
                    } else if res != -libc::ECANCELED && !self.stopping {
                        self.arm_signals();
                    }
                }
                _ => {}
            }
        }
    }

    fn live_slot(&self, idx: u32, gen: u32) -> bool {
        self.slots.get(idx as usize).is_some_and(|s| s.gen & 0xff_ffff == gen && !matches!(s.phase, Phase::Free))
    }
}

/// The method and path of a complete request head without `Upgrade` (nor
/// `Sec-WebSocket-Key`): a plain HTTP request.
fn plain_request(head: &[u8], max_headers: usize) -> Option<(String, String)> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {
            let upgrade = req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("upgrade") || h.name.eq_ignore_ascii_case("sec-websocket-key"));
            (!upgrade).then(|| (req.method.unwrap_or("").to_string(), req.path.unwrap_or("").to_string()))
        }
        _ => None,
    }
}

/// The reason of the close frame sent to every connection when the server stops.
const STOP_REASON: &str = "server shutting down";

/// True while the session cannot take more input (its write side is full).
fn sess_busy(s: &Slot) -> bool {
    match &s.phase {
        Phase::Open(sess) => !sess.can_send(),
        _ => true,
    }
}
