//! TLS on the ring (feature `tls`): a rustls server connection per TLS connection (boxed,
//! in its slot), fed with the ciphertext the ring received, and turning the session's
//! bytes (or a refusal) into ciphertext written from its own buffer. Without the feature
//! the type is empty and never made.

#[cfg(feature = "tls")]
pub(super) use with::*;
#[cfg(not(feature = "tls"))]
pub(super) use without::*;

/// Ciphertext kept for the ring before plaintext stops being encrypted in one turn.
#[cfg(feature = "tls")]
const OUT_MAX: usize = 256 << 10;

#[cfg(feature = "tls")]
mod with {
    use crate::{Error, Result, TlsError};
    use std::io::Read;
    use std::sync::Arc;

    /// A server configuration.
    pub(crate) type TlsConfig = Arc<rustls::ServerConfig>;

    pub(crate) struct Tls {
        conn: rustls::ServerConnection,
        /// Ciphertext to write, from `pos`; not changed while the ring writes it.
        out: Vec<u8>,
        pos: usize,
        notified: bool,
    }

    fn tls_error(e: rustls::Error) -> Error {
        Error::Tls(TlsError::Rustls(e))
    }

    impl Tls {
        pub(crate) fn new(cfg: &TlsConfig) -> Result<Box<Tls>> {
            let conn = rustls::ServerConnection::new(cfg.clone()).map_err(tls_error)?;
            Ok(Box::new(Tls { conn, out: Vec::new(), pos: 0, notified: false }))
        }

        /// Takes received ciphertext; appends the plaintext to `plain`. `Ok(true)`: the
        /// peer ended the TLS stream (close_notify).
        pub(crate) fn receive(&mut self, mut data: &[u8], plain: &mut Vec<u8>) -> Result<bool> {
            let mut closed = false;
            while !data.is_empty() {
                if self.conn.read_tls(&mut data)? == 0 {
                    break;
                }
                let st = self.conn.process_new_packets().map_err(tls_error)?;
                let n = st.plaintext_bytes_to_read();
                if n > 0 {
                    let at = plain.len();
                    plain.resize(at + n, 0);
                    self.conn.reader().read_exact(&mut plain[at..])?;
                }
                closed |= st.peer_has_closed();
            }
            Ok(closed)
        }

        /// Encrypts what it can take of `a` then `b`; returns the plaintext bytes taken.
        pub(crate) fn encrypt(&mut self, a: &[u8], b: &[u8]) -> usize {
            let mut n = 0;
            for part in [a, b] {
                if part.is_empty() || self.out.len() - self.pos >= super::OUT_MAX {
                    continue;
                }
                let m = std::io::Write::write(&mut self.conn.writer(), part).unwrap_or(0);
                n += m;
                self.flush();
                if m < part.len() {
                    break;
                }
            }
            n
        }

        /// Moves the connection's pending records (handshake, data, alerts) into `out`.
        pub(crate) fn flush(&mut self) {
            while self.conn.wants_write() {
                if self.conn.write_tls(&mut self.out).is_err() {
                    break;
                }
            }
        }

        /// Queues close_notify (once).
        pub(crate) fn close_notify(&mut self) -> bool {
            if self.notified {
                return false;
            }
            self.notified = true;
            self.conn.send_close_notify();
            self.flush();
            true
        }

        /// Ciphertext to write.
        pub(crate) fn pending(&self) -> &[u8] {
            &self.out[self.pos..]
        }

        /// True while records wait to be moved into `out` or written.
        pub(crate) fn has_output(&self) -> bool {
            self.pos < self.out.len() || self.conn.wants_write()
        }

        /// `n` bytes of [`pending`](Self::pending) were written.
        pub(crate) fn sent(&mut self, n: usize) {
            self.pos = (self.pos + n).min(self.out.len());
            if self.pos == self.out.len() {
                self.out.clear();
                self.pos = 0;
            }
        }
    }
}

#[cfg(not(feature = "tls"))]
mod without {
    use crate::Result;

    /// No configuration can exist without the feature.
    pub(crate) type TlsConfig = std::convert::Infallible;

    /// Never made without the feature.
    pub(crate) enum Tls {}

    impl Tls {
        pub(crate) fn new(cfg: &TlsConfig) -> Result<Box<Tls>> {
            match *cfg {}
        }
        pub(crate) fn receive(&mut self, _: &[u8], _: &mut Vec<u8>) -> Result<bool> {
            match *self {}
        }
        pub(crate) fn encrypt(&mut self, _: &[u8], _: &[u8]) -> usize {
            match *self {}
        }
        pub(crate) fn flush(&mut self) {
            match *self {}
        }
        pub(crate) fn close_notify(&mut self) -> bool {
            match *self {}
        }
        pub(crate) fn pending(&self) -> &[u8] {
            match *self {}
        }
        pub(crate) fn has_output(&self) -> bool {
            match *self {}
        }
        pub(crate) fn sent(&mut self, _: usize) {
            match *self {}
        }
    }
}
