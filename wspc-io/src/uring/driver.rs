//! One thread's event loop: a ring, its listener, a slab of connection slots, a timer
//! wheel. See the module docs of [`super`] for the life of a connection.

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
            // buffers are the registered ring's, send buffers are the session's write
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

    /// Withdraws the connection's multishot receive.
    fn cancel_recv(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        if s.flags & RECV_ARMED == 0 {
            return;
        }
        s.flags &= !RECV_ARMED;
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

    fn on_accept(&mut self, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.accept_armed = false;
        }
        if res < 0 {
            if res != -libc::ECANCELED {
                tracing::debug!(error = %io::Error::from_raw_os_error(-res), "accept failed");
                // Out of descriptors, for instance: try again a little later.
                self.accept_retry = self.now + 10;
            }
            return;
        }
        let fd = res;
        if self.stopping {
            // SAFETY: a descriptor the kernel just gave us, closed once.
            unsafe { libc::close(fd) };
            return;
        }
        let one: libc::c_int = 1;
        // SAFETY: a valid socket and an `int` option value of the right size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &one as *const _ as *const libc::c_void,
                size_of::<libc::c_int>() as u32,
            )
        };
        let tls = match &self.tls_config {
            Some(cfg) => match Tls::new(cfg) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(error = %e, "TLS connection refused");
                    // SAFETY: a descriptor the kernel just gave us, closed once.
                    unsafe { libc::close(fd) };
                    return;
                }
            },
            None => None,
        };
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::free());
                self.slots.len() as u32 - 1
            }
        };
        self.live += 1;
        let deadline = self.now + self.handshake_ticks;
        let s = &mut self.slots[idx as usize];
        s.phase = Phase::Handshake(Vec::new());
        s.tls = tls;
        s.fd = fd;
        s.flags = 0;
        s.armed = 0;
        s.deadline = deadline;
        s.last_rx = self.now;
        s.ping_at = 0;
        self.arm(idx, deadline);
        self.arm_recv(idx);
    }

    fn on_recv(&mut self, idx: u32, gen: u32, epoch: u8, res: i32, flags: u32) {
        let bid = cqueue::buffer_select(flags);
        if !self.live_slot(idx, gen) {
            if let Some(b) = bid {
                self.bufs.push(b);
            }
            return;
        }
        let s = &mut self.slots[idx as usize];
        if !cqueue::more(flags) && epoch == s.epoch {
            s.flags &= !RECV_ARMED;
        }
        match (res, bid) {
            (n, Some(b)) if n > 0 => {
                let data = self.bufs.data(b, n as usize);
                // SAFETY: the kernel filled these `n` bytes of buffer `b`, which stays ours
                // (not given back to the kernel) until the `push` below; `input` copies
                // what it keeps.
                let data = unsafe { &*data };
                if self.slots[idx as usize].tls.is_some() {
                    self.tls_input(idx, data);
                } else {
                    self.input(idx, data);
                }
            }
            (0, _) => self.input_eof(idx),
            (n, _) if n == -libc::ENOBUFS || n == -libc::ECANCELED => {}
            (n, _) if n < 0 => {
                let e = os_error(n);
                self.fail(idx, e);
            }
            _ => {}
        }
        if let Some(b) = bid {
            self.bufs.push(b);
        }
        if self.live_slot(idx, gen) && self.slots[idx as usize].flags & RECV_ARMED == 0 {
            self.mark(idx);
        }
    }

    fn input(&mut self, idx: u32, data: &[u8]) {
        let now = self.now;
        let s = &mut self.slots[idx as usize];
        s.last_rx = now;
        s.ping_at = 0;
        match &mut s.phase {
            Phase::Handshake(head) => {
                head.extend_from_slice(data);
                self.handshake(idx);
            }
            Phase::Open(_) if s.flags & FINISHING == 0 => {
                if s.blocked() {
                    self.stash(idx, data);
                } else {
                    let n = self.drive(idx, data, false);
                    if n < data.len() {
                        self.stash(idx, &data[n..]);
                    }
                }
            }
            // Refusing, or finishing: what the peer still sends is dropped.
            _ => {}
        }
    }

    /// Received ciphertext: its plaintext goes on like a plain connection's bytes.
    fn tls_input(&mut self, idx: u32, data: &[u8]) {
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        let gen = self.slots[idx as usize].gen;
        let r = match &mut self.slots[idx as usize].tls {
            Some(t) => t.receive(data, &mut plain),
            None => Ok(false),
        };
        match r {
            Ok(closed) => {
                if !plain.is_empty() {
                    self.input(idx, &plain);
                }
                if closed && self.live_slot(idx, gen) {
                    self.input_eof(idx);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "TLS failed");
                self.fail(idx, e);
            }
        }
        plain.clear();
        self.plain = plain;
        if self.live_slot(idx, gen) {
            // Handshake records to answer, perhaps.
            self.mark(idx);
        }
    }

    fn input_eof(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        s.flags |= EOF;
        match &s.phase {
            Phase::Open(_) if s.flags & FINISHING == 0 => {
                if !s.blocked() {
                    self.drive(idx, &[], true);
                }
            }
            Phase::Open(_) if s.flags & SHUT != 0 => self.finalize(idx, Error::ConnectionReset),
            Phase::Open(_) => {}
            _ => self.finalize(idx, Error::ConnectionReset),
        }
    }

    /// Keeps received bytes for later (a write is in flight); pauses receiving when they
    /// pile up.
    fn stash(&mut self, idx: u32, data: &[u8]) {
        let s = &mut self.slots[idx as usize];
        if s.pending.capacity() == 0 {
            if let Some(v) = self.spare.pop() {
                s.pending = v;
            }
        }
        s.pending.extend_from_slice(data);
        if s.pending.len() >= PAUSE_AT {
            self.cancel_recv(idx);
        }
    }

    /// Hands bytes to the connection's engine and runs its callbacks, until the bytes are
    /// used, the connection must write before it goes on, or it ended. Returns the bytes
    /// used. Only called while no write is in flight.
    fn drive(&mut self, idx: u32, input: &[u8], eof: bool) -> usize {
        let mut used = 0;
        loop {
            let slot = &mut self.slots[idx as usize];
            debug_assert!(slot.flags & SENDING == 0);
            if slot.flags & FINISHING != 0 || slot.queued.is_some() {
                return if slot.flags & FINISHING != 0 { input.len() } else { used };
            }
            let Phase::Open(s) = &mut slot.phase else { return input.len() };
            if !s.can_send() {
                return used;
            }
            match s.step() {
                Ok(Step::Read) => {
                    if used == input.len() {
                        if eof {
                            s.fill(&[]);
                            continue;
                        }
                        return used;
                    }
                    used += s.fill(&input[used..]);
                }
                Ok(Step::Write) => return used,
                Ok(Step::Message(Message::Close(frame))) => {
                    self.report(idx, Ok(frame));
                    self.finish(idx);
                    return input.len();
                }
                Ok(Step::Message(m)) => {
                    if s.closing() {
                        // The application closed: data that crosses our close is dropped.
                        continue;
                    }
                    let mut conn = Conn { slot, idx };
                    self.handler.on_message(&mut conn, m);
                    self.after_callback(idx);
                }
                Err(e) => {
                    let sent_close = s.closing() && !matches!(e, Error::ConnectionReset | Error::Io(_));
                    self.report(idx, Err(e));
                    if sent_close {
                        self.finish(idx);
                    } else {
                        self.finalize(idx, Error::ConnectionReset);
                    }
                    return input.len();
                }
            }
        }
    }

    /// After a callback: a close the application asked for starts its deadline.
    fn after_callback(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        if s.flags & CLOSE_REQ != 0 {
            s.flags &= !CLOSE_REQ;
            if s.deadline == 0 {
                s.deadline = self.now + self.close_ticks;
                let d = s.deadline;
                self.arm(idx, d);
            }
        }
        self.mark(idx);
    }

    /// The receive side is done: flush, end the write direction, drain until the peer
    /// ends the stream or the close deadline.
    fn finish(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        s.flags |= FINISHING;
        if s.deadline == 0 {
            s.deadline = self.now + self.close_ticks;
        }
        let d = s.deadline;
        if let Some(v) = Some(std::mem::take(&mut s.pending)).filter(|v| v.capacity() > 0) {
            self.give_spare(v);
        }
        self.arm(idx, d);
        self.mark(idx);
    }

    /// Calls `on_close` once for an opened connection.
    fn report(&mut self, idx: u32, r: Result<Option<CloseFrame>>) {
        let s = &mut self.slots[idx as usize];
        if s.flags & (OPENED | REPORTED) == OPENED {
            s.flags |= REPORTED;
            let id = ConnId::new(idx, s.gen);
            self.handler.on_close(id, r);
        }
    }

    /// A transport failure.
    fn fail(&mut self, idx: u32, e: Error) {
        self.report(idx, Err(e));
        self.finalize(idx, Error::ConnectionReset);
    }

    /// Ends the connection now (once its write in flight completed) and frees its slot.
    fn finalize(&mut self, idx: u32, why: Error) {
        let s = &mut self.slots[idx as usize];
        if matches!(s.phase, Phase::Free) {
            return;
        }
        if s.flags & SENDING != 0 {
            if s.flags & DEAD == 0 {
                s.flags |= DEAD;
                // SAFETY: the connection's own socket: the write in flight fails at once.
                unsafe { libc::shutdown(s.fd, libc::SHUT_RDWR) };
            }
            return;
        }
        self.cancel_recv(idx);
        self.report(idx, Err(why));
        let s = &mut self.slots[idx as usize];
        // SAFETY: the connection's socket, closed once (the slot is freed below).
        unsafe { libc::close(s.fd) };
        s.fd = -1;
        s.phase = Phase::Free;
        s.queued = None;
        s.tls = None;
        s.flags = 0;
        s.armed = 0;
        s.deadline = 0;
        s.gen = s.gen.wrapping_add(1) & 0xff_ffff;
        let p = std::mem::take(&mut s.pending);
        if p.capacity() > 0 {
            self.give_spare(p);
        }
        self.free.push(idx);
        self.live -= 1;
    }

    fn give_spare(&mut self, mut v: Vec<u8>) {
        if self.spare.len() < 16 && v.capacity() <= PAUSE_AT * 2 {
            v.clear();
            self.spare.push(v);
        }
    }

    // ----- the upgrade ------------------------------------------------------------------

    fn handshake(&mut self, idx: u32) {
        let Phase::Handshake(head) = &mut self.slots[idx as usize].phase else { return };
        if let Some((method, path)) = plain_request(head, self.config.max_headers) {
            let slot = &mut self.slots[idx as usize];
            if let Some(resp) = self.handler.on_http(&mut Conn { slot, idx }, &method, &path) {
                return self.refuse(idx, resp);
            }
        }
        let Phase::Handshake(head) = &mut self.slots[idx as usize].phase else { return };
        match http::server_step(head, &self.config) {
            ServerStep::More => {}
            ServerStep::Refuse(bytes, e) => {
                tracing::debug!(error = %e, "upgrade refused");
                self.refuse(idx, bytes);
            }
            ServerStep::Request(req, len) => {
                let answered = self
                    .handler
                    .accept(&req)
                    .map_err(http::Refusal::rejected)
                    .and_then(|a| http::answer(req.headers(), a, &self.config, false));
                match answered {
                    Ok((handle, headers)) => {
                        let prefix = head.split_off(len);
                        let head = http::switching_protocols(&headers);
                        let s = Engine::new(handle, prefix, self.config.write_buffer_size, &head);
                        let now = self.now;
                        let slot = &mut self.slots[idx as usize];
                        slot.phase = Phase::Open(s);
                        slot.deadline = 0;
                        slot.flags |= OPENED;
                        slot.last_rx = now;
                        if let Some((interval, _)) = self.keepalive {
                            self.arm(idx, now + interval);
                        }
                        let slot = &mut self.slots[idx as usize];
                        self.handler.on_open(&mut Conn { slot, idx });
                        self.after_callback(idx);
                        // Frames that came with the head.
                        self.drive(idx, &[], false);
                    }
                    Err(r) => {
                        tracing::debug!(error = %r.error, "upgrade refused");
                        let bytes = r.to_bytes();
                        self.refuse(idx, bytes);
                    }
                }
            }
        }
    }

    fn refuse(&mut self, idx: u32, bytes: Vec<u8>) {
        let deadline = self.now + ticks(REFUSAL_TIME);
        let s = &mut self.slots[idx as usize];
        s.phase = Phase::Refusing(bytes, 0);
        s.deadline = deadline;
        self.arm(idx, deadline);
        self.mark(idx);
    }

    // ----- writes -----------------------------------------------------------------------

    /// TLS: moves the session's bytes (or a refusal) through the TLS connection, then
    /// writes the ciphertext.
    fn submit_send_tls(&mut self, idx: u32) {
        let Slot { tls, phase, flags, fd, gen, .. } = &mut self.slots[idx as usize];
        let Some(t) = tls else { return };
        if t.pending().is_empty() {
            loop {
                let n = match phase {
                    Phase::Open(e) => match e.to_write() {
                        Some([a, b]) => {
                            let n = t.encrypt(a, b);
                            if n > 0 {
                                e.written(n);
                            }
                            n
                        }
                        None => 0,
                    },
                    Phase::Refusing(bytes, pos) => {
                        let n = t.encrypt(&bytes[*pos..], &[]);
                        *pos += n;
                        n
                    }
                    _ => 0,
                };
                if n == 0 {
                    break;
                }
            }
            t.flush();
            let done = match phase {
                Phase::Open(e) => *flags & FINISHING != 0 && e.to_write().is_none(),
                Phase::Refusing(bytes, pos) => *pos >= bytes.len(),
                _ => false,
            };
            if done {
                t.close_notify();
            }
        }
        let p = t.pending();
        if p.is_empty() {
            return;
        }
        let e = opcode::Send::new(types::Fd(*fd), p.as_ptr(), p.len().min(1 << 30) as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(ud(KIND_SEND, idx, *gen, 0));
        *flags |= SENDING;
        self.push(e);
    }

    /// True when the connection has bytes to write (a TLS connection's records included).
    fn wants_send(s: &Slot) -> bool {
        if s.tls.as_ref().is_some_and(|t| t.has_output()) {
            return true;
        }
        match &s.phase {
            Phase::Open(e) => e.to_write().is_some(),
            Phase::Refusing(bytes, pos) => *pos < bytes.len(),
            _ => false,
        }
    }

    fn submit_send(&mut self, idx: u32) {
        if self.slots[idx as usize].tls.is_some() {
            return self.submit_send_tls(idx);
        }
        let s = &self.slots[idx as usize];
        let (a, b): (&[u8], &[u8]) = match &s.phase {
            Phase::Open(sess) => match sess.to_write() {
                Some([a, b]) => (a, b),
                None => return,
            },
            Phase::Refusing(bytes, pos) => (&bytes[*pos..], &[]),
            _ => return,
        };
        let fd = types::Fd(s.fd);
        let u = ud(KIND_SEND, idx, s.gen, 0);
        const MAX: usize = 1 << 30;
        let e = if b.is_empty() || a.is_empty() {
            let one = if a.is_empty() { b } else { a };
            opcode::Send::new(fd, one.as_ptr(), one.len().min(MAX) as u32).flags(libc::MSG_NOSIGNAL).build()
        } else {
            if self.iov_used == self.iovs.len() {
                // Let the kernel take the vectors queued so far before reusing them.
                let _ = self.ring.submit();
                self.iov_used = 0;
            }
            let v = &mut self.iovs[self.iov_used];
            self.iov_used += 1;
            v[0] = libc::iovec { iov_base: a.as_ptr() as *mut libc::c_void, iov_len: a.len() };
            v[1] = libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len().min(MAX) };
            opcode::Writev::new(fd, v.as_ptr(), 2).build()
        };
        self.slots[idx as usize].flags |= SENDING;
        self.push(e.user_data(u));
    }

    fn on_send(&mut self, idx: u32, gen: u32, res: i32) {
        if !self.live_slot(idx, gen) {
            return;
        }
        let s = &mut self.slots[idx as usize];
        s.flags &= !SENDING;
        if s.flags & DEAD != 0 {
            self.finalize(idx, Error::ConnectionReset);
            return;
        }
        let res = if res == 0 { -libc::EPIPE } else { res };
        let tls = match &mut s.tls {
            Some(t) => {
                t.sent(res.max(0) as usize);
                Some(t.has_output())
            }
            None => None,
        };
        match &mut s.phase {
            Phase::Handshake(_) => {
                if res < 0 {
                    return self.finalize(idx, Error::ConnectionReset);
                }
                self.mark(idx);
            }
            Phase::Refusing(bytes, pos) => {
                if res < 0 {
                    return self.finalize(idx, Error::ConnectionReset);
                }
                if tls.is_none() {
                    *pos += res as usize;
                }
                if *pos >= bytes.len() && tls != Some(true) {
                    // SAFETY: the connection's own socket.
                    unsafe { libc::shutdown(s.fd, libc::SHUT_WR) };
                    s.flags |= SHUT;
                    if s.flags & EOF != 0 {
                        return self.finalize(idx, Error::ConnectionReset);
                    }
                }
                self.mark(idx);
            }
            Phase::Open(sess) => {
                if res < 0 {
                    let e = os_error(res);
                    sess.write_failed(&e);
                    self.report(idx, Err(e));
                    return self.finalize(idx, Error::ConnectionReset);
                }
                if tls.is_none() {
                    sess.written(res as usize);
                }
                if let Some(q) = &mut s.queued {
                    while sess.can_send() {
                        let Some(m) = q.pop_front() else { break };
                        let _ = sess.send(m);
                    }
                    if q.is_empty() {
                        s.queued = None;
                    }
                }
                if self.stopping && !sess.closing() {
                    sess.close(wspc::close_status::ENDPOINT_UNAVAILABLE, STOP_REASON.into());
                    s.flags |= CLOSE_REQ;
                    self.after_callback(idx);
                }
                let s = &mut self.slots[idx as usize];
                if s.flags & FINISHING == 0 && !sess_busy(s) && (!s.pending.is_empty() || s.flags & EOF != 0) {
                    let p = std::mem::take(&mut s.pending);
                    let eof = s.flags & EOF != 0;
                    let n = self.drive(idx, &p, eof);
                    self.restore_pending(idx, p, n);
                }
                if self.live_slot(idx, gen) {
                    self.mark(idx);
                }
            }
            _ => {}
        }
    }

    /// Puts back what `drive` left of the pending bytes `p` (it used `n`).
    fn restore_pending(&mut self, idx: u32, mut p: Vec<u8>, n: usize) {
        let s = &mut self.slots[idx as usize];
        if matches!(s.phase, Phase::Open(_)) && s.flags & FINISHING == 0 && n < p.len() {
            p.drain(..n);
            // Bytes stashed meanwhile (none: nothing is received inside `drive`) go after.
            p.extend_from_slice(&s.pending);
            s.pending = p;
        } else {
            self.give_spare(p);
        }
    }

    // ----- timers -----------------------------------------------------------------------

    fn timers(&mut self) {
        let mut due = std::mem::take(&mut self.due);
        self.wheel.advance(self.now, &mut due);
        for &(idx, gen, tick) in &due {
            if self.live_slot(idx, gen) && self.slots[idx as usize].armed == tick {
                self.slots[idx as usize].armed = 0;
                self.on_timer(idx);
            }
        }
        due.clear();
        self.due = due;
        if !self.accept_armed && !self.stopping && self.now >= self.accept_retry {
            self.arm_accept();
        }
    }

    fn on_timer(&mut self, idx: u32) {
        let now = self.now;
        let s = &mut self.slots[idx as usize];
        let passed = s.deadline != 0 && now >= s.deadline;
        match &mut s.phase {
            Phase::Free => return,
            Phase::Handshake(_) => {
                if passed {
                    tracing::debug!("upgrade refused: no complete request within the handshake timeout");
                    let resp = http::error_response(
                        ::http::StatusCode::REQUEST_TIMEOUT,
                        &Default::default(),
                        "handshake timeout\n",
                    );
                    self.refuse(idx, resp);
                    return;
                }
            }
            Phase::Refusing(..) => {
                if passed {
                    return self.finalize(idx, Error::HandshakeTimeout);
                }
            }
            Phase::Open(sess) => {
                if passed {
                    tracing::debug!("the close handshake timed out");
                    self.report(idx, Err(Error::CloseTimeout));
                    return self.finalize(idx, Error::CloseTimeout);
                }
                if let Some((interval, timeout)) = self.keepalive {
                    if s.flags & FINISHING == 0 {
                        if s.ping_at == 0 {
                            if now >= s.last_rx + interval {
                                s.ping_at = now;
                                // A write in flight: the peer is not reading; the ping
                                // would not reach it sooner than the timeout.
                                if s.flags & SENDING == 0 && !sess.closing() {
                                    sess.ping();
                                    self.mark(idx);
                                }
                            }
                        } else if now >= s.ping_at + timeout {
                            tracing::debug!("no answer to the keepalive ping: connection failed");
                            self.report(idx, Err(Error::KeepaliveTimeout));
                            return self.finalize(idx, Error::KeepaliveTimeout);
                        }
                    }
                }
            }
        }
        let s = &self.slots[idx as usize];
        let mut next = if s.deadline != 0 { s.deadline } else { u32::MAX };
        if let (Some((interval, timeout)), Phase::Open(_)) = (self.keepalive, &s.phase) {
            next = next.min(if s.ping_at != 0 { s.ping_at + timeout } else { s.last_rx + interval });
        }
        if next != u32::MAX {
            self.arm(idx, next);
        }
    }

    // ----- end of a loop turn -----------------------------------------------------------

    fn end_turn(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &idx in &dirty {
            let s = &mut self.slots[idx as usize];
            s.flags &= !DIRTY;
            if s.flags & SENDING != 0 {
                continue;
            }
            let tls_notify = s.flags & FINISHING != 0 && s.tls.is_some();
            let tls_out = s.tls.as_ref().is_some_and(|t| t.has_output());
            match &mut s.phase {
                Phase::Free => {}
                Phase::Handshake(_) | Phase::Refusing(..) => {
                    if Self::wants_send(s) {
                        self.submit_send(idx);
                    }
                }
                Phase::Open(sess) => {
                    // A TLS connection that is finishing sends close_notify first.
                    if sess.to_write().is_some()
                        || tls_out
                        || (tls_notify && s.tls.as_mut().is_some_and(|t| t.close_notify()))
                    {
                        self.submit_send(idx);
                    } else if s.flags & FINISHING != 0 {
                        if s.flags & SHUT == 0 {
                            s.flags |= SHUT;
                            // SAFETY: the connection's own socket.
                            unsafe { libc::shutdown(s.fd, libc::SHUT_WR) };
                        }
                        if s.flags & EOF != 0 {
                            self.finalize(idx, Error::ConnectionReset);
                            continue;
                        }
                    } else {
                        // Nothing to write: give the buffers back while waiting.
                        sess.idle();
                    }
                }
            }
            let s = &self.slots[idx as usize];
            if !matches!(s.phase, Phase::Free) && s.flags & (RECV_ARMED | EOF | DEAD) == 0 && s.pending.len() < PAUSE_AT
            {
                self.arm_recv(idx);
            }
        }
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
        self.bufs.publish();
    }

    // ----- shutdown ---------------------------------------------------------------------

    fn begin_stop(&mut self) {
        self.stopping = true;
        self.stop_deadline = self.now + self.close_ticks + 1;
        if self.accept_armed {
            self.push(opcode::AsyncCancel::new(ud(KIND_ACCEPT, 0, 0, 0)).build().user_data(ud(KIND_CANCEL, 0, 0, 0)));
        }
        for idx in 0..self.slots.len() as u32 {
            let s = &mut self.slots[idx as usize];
            match &mut s.phase {
                Phase::Handshake(_) => self.finalize(idx, Error::ConnectionClosed),
                Phase::Open(sess) if s.flags & (SENDING | FINISHING) == 0 && !sess.closing() => {
                    sess.close(wspc::close_status::ENDPOINT_UNAVAILABLE, STOP_REASON.into());
                    s.flags |= CLOSE_REQ;
                    self.after_callback(idx);
                }
                _ => {}
            }
        }
    }

    /// Withdraws the operations still armed and lets the kernel finish them before the
    /// buffers they use are freed.
    fn teardown(&mut self) {
        if self.accept_armed {
            self.push(opcode::AsyncCancel::new(ud(KIND_ACCEPT, 0, 0, 0)).build().user_data(ud(KIND_CANCEL, 0, 0, 0)));
        }
        if self.wake_armed {
            self.push(opcode::AsyncCancel::new(ud(KIND_WAKE, 0, 0, 0)).build().user_data(ud(KIND_CANCEL, 0, 0, 0)));
        }
        if self.signal_armed {
            self.push(opcode::AsyncCancel::new(ud(KIND_SIGNAL, 0, 0, 0)).build().user_data(ud(KIND_CANCEL, 0, 0, 0)));
        }
        let until = Instant::now() + Duration::from_millis(200);
        let mut waiting_wake = self.wake_armed;
        while (waiting_wake || self.signal_armed) && Instant::now() < until {
            let ts = types::Timespec::new().nsec(20_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            for c in self.ring.completion() {
                match ud_parts(c.user_data()).0 {
                    KIND_WAKE => waiting_wake = false,
                    KIND_SIGNAL => self.signal_armed = false,
                    _ => {}
                }
                if let Some(b) = cqueue::buffer_select(c.flags()) {
                    self.bufs.push(b);
                }
            }
        }
        self.bufs.unregister(&self.ring);
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
