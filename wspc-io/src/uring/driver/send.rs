//! Writing: the upgrade answer (or a refusal), and one send per connection per loop turn,
//! plain or through TLS, with its completion. A plain connection's bytes go out with a
//! non-blocking `sendmsg` first; a send through the ring takes what the socket did not.

use super::*;

impl<H: Handler> Loop<'_, H> {
    pub(super) fn handshake(&mut self, idx: u32) {
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

    pub(super) fn refuse(&mut self, idx: u32, bytes: Vec<u8>) {
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
    pub(super) fn submit_send_tls(&mut self, idx: u32) {
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
    pub(super) fn wants_send(s: &Slot) -> bool {
        if s.tls.as_ref().is_some_and(|t| t.has_output()) {
            return true;
        }
        match &s.phase {
            Phase::Open(e) => e.to_write().is_some(),
            Phase::Refusing(bytes, pos) => *pos < bytes.len(),
            _ => false,
        }
    }

    pub(super) fn submit_send(&mut self, idx: u32) {
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

    pub(super) fn on_send(&mut self, idx: u32, gen: u32, res: i32) {
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
                self.after_write(idx, gen);
            }
            _ => {}
        }
    }

    /// A write ended (through the ring or at once) with no send in flight: the messages
    /// queued meanwhile go into the session, and the input that waited is handed on.
    pub(super) fn after_write(&mut self, idx: u32, gen: u32) {
        let s = &mut self.slots[idx as usize];
        let Phase::Open(sess) = &mut s.phase else { return };
        super::recv::take_queued(&mut s.queued, sess);
        if self.stopping && !sess.closing() {
            sess.close(wspc::close_status::ENDPOINT_UNAVAILABLE, STOP_REASON.into());
            s.flags |= CLOSE_REQ;
            self.after_callback(idx);
        }
        let s = &mut self.slots[idx as usize];
        // Input may be waiting: stashed bytes, the end of the stream, or bytes a direct
        // receive put in the session meanwhile.
        if s.flags & FINISHING == 0 && !sess_busy(s) {
            let p = std::mem::take(&mut s.pending);
            let eof = s.flags & EOF != 0;
            let n = self.drive(idx, &p, eof);
            self.restore_pending(idx, p, n);
        }
        if self.live_slot(idx, gen) {
            self.mark(idx);
        }
    }

    /// Puts back what `drive` left of the pending bytes `p` (it used `n`).
    pub(super) fn restore_pending(&mut self, idx: u32, mut p: Vec<u8>, n: usize) {
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
}

/// Writes what the session holds with one non-blocking `sendmsg`, outside the ring: when the
/// session is full in the middle of the input (a large payload lent to it, or the write
/// buffer's limit), this lets the same loop turn go on with the next messages instead of
/// waiting a turn for a submitted send while the input waits in a copy. True when
/// everything was written; what is left (the socket's buffer is full) goes out through the
/// ring at the end of the turn, and a failure is found by that send too. Only while no
/// send of this connection is in flight.
pub(super) fn write_now(fd: RawFd, e: &mut Engine) -> bool {
    let Some([a, b]) = e.to_write() else { return true };
    let iov = [
        libc::iovec { iov_base: a.as_ptr() as *mut libc::c_void, iov_len: a.len() },
        libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() },
    ];
    // SAFETY: a zeroed `msghdr` is valid (no name, no control data); it points to two
    // vectors that live until the call returns.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = if b.is_empty() { 1 } else { 2 };
    // SAFETY: the connection's socket; the vectors describe the session's bytes, which are
    // only read.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n <= 0 {
        return false;
    }
    e.written(n as usize);
    e.to_write().is_none()
}
