//! The blocking API: a [`WebSocket`] over any [`Stream`] (a `Read + Write` transport;
//! `TcpStream` and TLS streams implement it), the client and server handshakes, and
//! [`split`](WebSocket::split) into a [`Reader`] and a [`Writer`] for two threads. The
//! order in which their methods may be called is in the [crate docs](crate#call-order).
//!
//! ```no_run
//! use wspc_io::{blocking, Message};
//! let (mut ws, _resp) = blocking::connect("ws://127.0.0.1:9001/").unwrap();
//! ws.send(Message::text("hello")).unwrap();
//! let echo = ws.recv().unwrap();
//! ws.close(None).unwrap();
//! # let _ = echo;
//! ```
//!
//! Layout: `stream` (the transports), `handshake` (connect and accept), `driver` (the
//! executor of the connection's I/O-free steps: one write loop, one receive loop, one close
//! loop), `split` (the halves); this file is the [`WebSocket`] type.

mod driver;
mod handshake;
mod split;
mod stream;

#[cfg(feature = "tls")]
pub use handshake::accept_tls_with;
pub use handshake::{accept, accept_with, client_handshake, connect, connect_with};
pub use split::{Reader, Writer};
pub use stream::{MaybeTlsStream, SplitStream, Stream};

use crate::conn::Conn;
use crate::message::{CloseFrame, Message, Piece};
use crate::session::{RecvStep, Session};
use crate::{Config, Result};
use driver::{flush_all, make_room, Parts};
use std::time::Instant;

/// A WebSocket connection over a blocking stream.
pub struct WebSocket<S> {
    io: S,
    c: Conn,
    subprotocol: Option<String>,
    /// A read timeout is set on `io`.
    timeout_set: bool,
}

impl<S: std::fmt::Debug> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("io", &self.io)
            .field("session", &self.c.s)
            .field("subprotocol", &self.subprotocol)
            .finish_non_exhaustive()
    }
}

impl<S: Stream> Parts for WebSocket<S> {
    type S = S;
    fn locked<R>(&mut self, f: impl FnOnce(&mut Conn, &mut S) -> R) -> R {
        f(&mut self.c, &mut self.io)
    }
    fn reader(&mut self) -> (&mut S, &mut bool) {
        (&mut self.io, &mut self.timeout_set)
    }
}

impl<S: Stream> WebSocket<S> {
    fn new(mut io: S, s: Session, config: &Config) -> Self {
        // Best effort: a stream that cannot time out writes simply waits.
        let _ = io.set_write_timeout(config.write_timeout);
        Self { io, c: Conn::new(s, config, Instant::now()), subprotocol: None, timeout_set: false }
    }

    /// Wraps a stream whose upgrade happened elsewhere (no handshake; `role` decides
    /// masking).
    pub fn from_upgraded(io: S, role: wspc::Role, config: &Config, leftover: Vec<u8>) -> Result<Self> {
        let mut h = wspc::Handle::new(config.engine(role)?);
        h.open_without_handshake()?;
        Ok(Self::new(io, Session::new(h, leftover, config.write_buffer_size), config))
    }

    /// The subprotocol selected in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream, mutably (do not read or write it).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Sends a message and flushes.
    pub fn send(&mut self, msg: Message) -> Result<()> {
        self.feed(msg)?;
        self.flush()
    }

    /// Queues a message in the write buffer, writing first when the buffer is full.
    /// Call [`flush`](Self::flush) to push it out.
    pub fn feed(&mut self, msg: Message) -> Result<()> {
        driver::feed(&mut self.io, &mut self.c.s, msg)
    }

    /// Sends one frame of a fragmented message (`last` ends it); flushes.
    pub fn send_fragment(&mut self, text: bool, data: Vec<u8>, last: bool) -> Result<()> {
        make_room(&mut self.io, &mut self.c.s)?;
        self.c.s.send_fragment(text, data, last)?;
        self.flush()
    }

    /// Writes out everything queued.
    pub fn flush(&mut self) -> Result<()> {
        flush_all(&mut self.io, &mut self.c.s)
    }

    /// Receives the next message. Pings are answered automatically; the peer's close
    /// comes as `Message::Close` (its echo is sent at once); after it,
    /// `Err(Error::ConnectionClosed)`.
    pub fn recv(&mut self) -> Result<Message> {
        match driver::recv_step(self, None)? {
            RecvStep::Message(m) => Ok(m),
            _ => unreachable!("whole messages were asked for"),
        }
    }

    /// Receives the next piece of a message into `buf` (cleared first): no piece is
    /// larger than the receive buffer, so a large message is never held whole.
    pub fn recv_piece(&mut self, buf: &mut Vec<u8>) -> Result<Piece> {
        match driver::recv_step(self, Some(buf))? {
            RecvStep::Piece(p) => Ok(p),
            _ => unreachable!("pieces were asked for"),
        }
    }

    /// Closes gracefully: sends a close (`None`: no status), keeps receiving (and
    /// dropping data) until the peer's close or the close timeout, then ends the
    /// transport (a server at once; a client first waits briefly for the server to end
    /// it). A close timeout is not an error.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        self.c.start_close(frame.map(|f| (f.code, f.reason)), Instant::now());
        driver::run_close(self)
    }

    /// True once the close handshake finished (or the connection failed).
    pub fn is_closed(&self) -> bool {
        self.c.is_closed()
    }

    /// Splits into a [`Reader`] and a [`Writer`] usable from two threads. The reader
    /// answers pings and handles keepalive; either may close.
    pub fn split(self) -> Result<(Reader<S>, Writer<S>)>
    where
        S: SplitStream,
    {
        let wr = self.io.try_clone_stream()?;
        Ok(split::split(self.io, wr, self.c, self.timeout_set, self.subprotocol))
    }
}
