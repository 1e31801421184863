//! Accepting connections and what they send: multishot accept and receive, TLS and plain
//! input through the engine, and the end of a connection.

use super::send::write_now;
use super::*;

impl<H: Handler> Loop<'_, H> {
    pub(super) fn on_accept(&mut self, res: i32, flags: u32) {
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

    pub(super) fn on_recv(&mut self, idx: u32, gen: u32, epoch: u8, res: i32, flags: u32) {
        let bid = cqueue::buffer_select(flags);
        if !self.live_slot(idx, gen) {
            if let Some(b) = bid {
                self.bufs.push(b);
            }
            return;
        }
        let s = &mut self.slots[idx as usize];
        if !cqueue::more(flags) {
            if epoch == s.epoch {
                s.flags &= !RECV_ARMED;
            } else if s.flags & DRAINING != 0 && epoch == s.epoch.wrapping_sub(1) & 0xf {
                // The last completion of the receive withdrawn last (older ones posted
                // theirs before it was armed): the turn's end may now read another way.
                s.flags &= !DRAINING;
                self.mark(idx);
            }
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
        if self.live_slot(idx, gen) {
            // Input can produce output without a message for the application: an automatic
            // pong, a close reply, TLS records. The turn's end sends it.
            let s = &self.slots[idx as usize];
            let output = matches!(&s.phase, Phase::Open(sess) if sess.to_write().is_some())
                || s.tls.as_ref().is_some_and(|t| t.has_output());
            if s.flags & RECV_ARMED == 0 || output {
                self.mark(idx);
            }
        }
    }

    /// A large payload's direct receive completed.
    pub(super) fn on_recv_direct(&mut self, idx: u32, gen: u32, res: i32) {
        if !self.live_slot(idx, gen) {
            return;
        }
        let now = self.now;
        let s = &mut self.slots[idx as usize];
        s.flags &= !DIRECT_RECV;
        if s.flags & DEAD != 0 {
            return self.finalize(idx, Error::ConnectionReset);
        }
        match res {
            n if n > 0 => {
                s.last_rx = now;
                s.ping_at = 0;
                if let Phase::Open(e) = &mut s.phase {
                    // The kernel wrote `n` bytes where `read_target` pointed.
                    e.received(n as usize);
                }
                if s.flags & (FINISHING | SENDING) == 0 {
                    self.drive(idx, &[], false);
                }
            }
            0 => return self.input_eof(idx),
            n if n == -libc::ECANCELED || n == -libc::EINTR => {}
            n => return self.fail(idx, os_error(n)),
        }
        if self.live_slot(idx, gen) {
            self.mark(idx);
        }
    }

    pub(super) fn input(&mut self, idx: u32, data: &[u8]) {
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
    pub(super) fn tls_input(&mut self, idx: u32, data: &[u8]) {
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

    pub(super) fn input_eof(&mut self, idx: u32) {
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
    pub(super) fn stash(&mut self, idx: u32, data: &[u8]) {
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
    pub(super) fn drive(&mut self, idx: u32, input: &[u8], eof: bool) -> usize {
        let mut used = 0;
        loop {
            let slot = &mut self.slots[idx as usize];
            debug_assert!(slot.flags & SENDING == 0);
            if slot.flags & FINISHING != 0 {
                return input.len();
            }
            let Phase::Open(s) = &mut slot.phase else { return input.len() };
            // Messages the handler sent while the session was full go first.
            if !take_queued(&mut slot.queued, s) {
                if slot.tls.is_none() && write_now(slot.fd, s) {
                    continue;
                }
                return used;
            }
            if !s.can_send() {
                // A large message (or a full write buffer) waits to be written: write it
                // now if the socket takes it, and go on with the input.
                if slot.tls.is_none() && write_now(slot.fd, s) {
                    continue;
                }
                return used;
            }
            match s.step() {
                Ok(Step::Write) if slot.tls.is_none() && write_now(slot.fd, s) => {}
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
    pub(super) fn after_callback(&mut self, idx: u32) {
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
    pub(super) fn finish(&mut self, idx: u32) {
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
    pub(super) fn report(&mut self, idx: u32, r: Result<Option<CloseFrame>>) {
        let s = &mut self.slots[idx as usize];
        if s.flags & (OPENED | REPORTED) == OPENED {
            s.flags |= REPORTED;
            let id = ConnId::new(idx, s.gen);
            self.handler.on_close(id, r);
        }
    }

    /// A transport failure.
    pub(super) fn fail(&mut self, idx: u32, e: Error) {
        self.report(idx, Err(e));
        self.finalize(idx, Error::ConnectionReset);
    }

    /// Ends the connection now (once its write in flight completed) and frees its slot.
    pub(super) fn finalize(&mut self, idx: u32, why: Error) {
        let s = &mut self.slots[idx as usize];
        if matches!(s.phase, Phase::Free) {
            return;
        }
        if s.flags & (SENDING | DIRECT_RECV) != 0 {
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

    pub(super) fn give_spare(&mut self, mut v: Vec<u8>) {
        if self.spare.len() < 16 && v.capacity() > 0 && v.capacity() <= PAUSE_AT * 2 {
            v.clear();
            self.spare.push(v);
        }
    }

    // ----- the upgrade ------------------------------------------------------------------
}

/// Moves the messages queued while the session was full into it, as far as it has room;
/// true when none is left waiting. (The queue is the slot's: boxed, rarely allocated.)
#[allow(clippy::box_collection)]
pub(super) fn take_queued(queued: &mut Option<Box<VecDeque<Message>>>, e: &mut Engine) -> bool {
    let Some(q) = queued else { return true };
    while e.can_send() {
        let Some(m) = q.pop_front() else { break };
        let _ = e.send(m);
    }
    if q.is_empty() {
        *queued = None;
    }
    queued.is_none()
}
