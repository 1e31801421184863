//! Timers (handshake, keepalive and close deadlines on the wheel), the end of each loop
//! turn, and stopping.

use super::send::write_now;
use super::*;

impl<H: Handler> Loop<'_, H> {
    pub(super) fn timers(&mut self) {
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

    pub(super) fn on_timer(&mut self, idx: u32) {
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

    pub(super) fn end_turn(&mut self) {
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
                    // A plain connection writes with a non-blocking `sendmsg` first: here it
                    // costs less than a send through the ring (20 B x1: 4.8 against 5.7 µs
                    // of server CPU per message, 20 B x16: 0.35 against 0.41, six
                    // interleaved rounds each); only what the socket does not take goes
                    // through the ring, which waits for room. When all went, the connection
                    // goes on below as one with nothing to write.
                    if s.tls.is_none() && sess.to_write().is_some() && write_now(s.fd, sess) {
                        let waiting = !s.pending.is_empty() || s.queued.is_some() || s.flags & EOF != 0;
                        if waiting && s.flags & FINISHING == 0 {
                            // What a send's completion does: queued messages and the input
                            // that waited go on (on the next turn's list).
                            let gen = s.gen;
                            self.after_write(idx, gen);
                            self.arm_input(idx);
                            continue;
                        }
                    }
                    let s = &mut self.slots[idx as usize];
                    let Phase::Open(sess) = &mut s.phase else { continue };
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
            self.arm_input(idx);
        }
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
        self.bufs.publish();
    }

    /// Receives again if nothing is receiving for the connection: a multishot receive
    /// into the provided buffers, or a large payload's direct receive. Switching to a
    /// direct receive first withdraws the multishot one and waits for its last completion,
    /// so that no bytes it took can arrive after those received directly.
    fn arm_input(&mut self, idx: u32) {
        let s = &mut self.slots[idx as usize];
        if matches!(s.phase, Phase::Free) || s.flags & (EOF | DEAD | DIRECT_RECV) != 0 {
            return;
        }
        let direct = s.tls.is_none()
            && s.flags & FINISHING == 0
            && s.pending.is_empty()
            && matches!(&s.phase, Phase::Open(e) if e.wants_direct(DIRECT_RECV_MIN));
        if direct {
            if s.flags & RECV_ARMED != 0 {
                self.cancel_recv(idx);
            } else if s.flags & DRAINING == 0 {
                self.pull(idx);
            }
        } else if s.flags & RECV_ARMED == 0 && s.pending.len() < PAUSE_AT {
            self.arm_recv(idx);
        }
    }

    /// While large payloads arrive (nothing else receives for the connection): reads with
    /// non-blocking system calls of its own, straight into the message (or the next
    /// header into the receive buffer), and hands each read to the engine at once, while
    /// the bytes are still in the cache; the kernel's copies of a whole batch of ring
    /// receives would evict each other before they are unmasked. When the socket is empty:
    /// a direct receive through the ring for the payload, else the multishot receive.
    fn pull(&mut self, idx: u32) {
        let gen = self.slots[idx as usize].gen;
        let mut budget = PULL_BUDGET;
        loop {
            let s = &mut self.slots[idx as usize];
            let Phase::Open(e) = &mut s.phase else { return };
            if s.flags & (FINISHING | SENDING | EOF | DEAD | DIRECT_RECV) != 0 || !s.pending.is_empty() {
                return;
            }
            let Some((ptr, len)) = e.read_target() else {
                // The engine waits for a write (the end of the turn sends it).
                return self.mark(idx);
            };
            if budget == 0 {
                return self.mark(idx);
            }
            let len = len.min(budget);
            // SAFETY: the connection's socket; `ptr` is the engine's memory for `len` bytes
            // of the read it handed out, written here only.
            let n = unsafe { libc::recv(s.fd, ptr as *mut libc::c_void, len, libc::MSG_DONTWAIT) };
            if n > 0 {
                s.last_rx = self.now;
                s.ping_at = 0;
                // The system call wrote `n` bytes where `read_target` pointed.
                e.received(n as usize);
                budget -= n as usize;
                self.drive(idx, &[], false);
                if !self.live_slot(idx, gen) {
                    return;
                }
                continue;
            }
            let err = if n == 0 { 0 } else { io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO) };
            match err {
                0 => return self.input_eof(idx),
                libc::EINTR => continue,
                libc::EAGAIN => {
                    if !e.wants_direct(DIRECT_RECV_MIN) || !self.arm_recv_direct(idx) {
                        e_idle(&mut self.slots[idx as usize]);
                        self.arm_recv(idx);
                    }
                    return;
                }
                err => return self.fail(idx, Error::Io(io::Error::from_raw_os_error(err))),
            }
        }
    }

    // ----- shutdown ---------------------------------------------------------------------

    pub(super) fn begin_stop(&mut self) {
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
    pub(super) fn teardown(&mut self) {
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

/// Gives an engine that has nothing to write its buffers back while it waits.
fn e_idle(s: &mut Slot) {
    if let Phase::Open(e) = &mut s.phase {
        if e.to_write().is_none() {
            e.idle();
        }
    }
}
