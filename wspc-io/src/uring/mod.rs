//! A server driver on io_uring (Linux, feature `uring`): completion I/O, a thread per core,
//! event callbacks instead of a task per connection.
//!
//! It does not serve HTTP/2, nor plain HTTP requests other than upgrades (see
//! [`Handler::on_http`]); it is a server only. `wss://` (feature `tls`, [`Server::tls`]):
//! rustls driven from the ring, a boxed TLS connection per connection. Every protocol decision is
//! the engine's, through the same session as the blocking and tokio APIs; the upgrade is the
//! tokio server's (`check_request`, the [`Accept`]/[`Reject`] decision, the `101` answer),
//! with the same [`Config`]: limits, permessage-deflate, keepalive, timeouts.
//!
//! ```text
//!            thread 1                               thread N
//!   SO_REUSEPORT listener ── multishot accept      (the same, its own ring)
//!   ring ── multishot receive per connection ──► provided-buffer ring (shared by the
//!     │                                           thread's connections: an idle one
//!     │                                           holds no receive buffer)
//!     ▼  one loop turn: every completion, then timers, then one write per connection
//!   slab of slots ── Engine: the shared Session (engine handle, write buffer) ── Handler
//!   timer wheel ── handshake, keepalive and close deadlines (one wait timeout per turn)
//! ```
//!
//! A loop turn handles every completion the kernel posted: received bytes are copied into
//! the engine's receive buffer (or straight into a large message's vector), messages go to
//! [`Handler::on_message`], and the replies produced by the whole turn are written with one
//! write per connection (the write buffer and a large lent payload as one vectored write).
//! That write is a non-blocking `sendmsg`, measured cheaper here than a send through the
//! ring (one fewer completion per write); only what the socket does not take goes through
//! the ring, which waits for room. Large messages take two more shortcuts, where a copy or
//! a loop turn costs more than a system call:
//! - when a reply fills the session in the middle of the input (a large lent payload, or
//!   the write buffer's limit), it is written at once, and the turn goes on with the input;
//! - a payload with 64 KiB or more still to come is read with the connection's own
//!   non-blocking receives (up to 2 MiB a turn) straight into its message's memory, each
//!   read handed to the engine while it is in the cache, and when the socket is empty by
//!   one receive through the ring into that memory. The multishot receive is withdrawn
//!   first, and its last completion awaited, so that no bytes it took can arrive after
//!   those.
//!
//! While a connection's write is in flight its write buffer is left alone: what it receives
//! meanwhile waits (and past 256 KiB, receiving pauses), so a peer that does not read holds
//! bounded memory, and the keepalive or close timeout ends it.
//!
//! ```no_run
//! use wspc_io::uring::{Conn, Handler, Server};
//! use wspc_io::{Config, Message};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message) {
//!         if matches!(msg, Message::Text(_) | Message::Binary(_)) {
//!             let _ = conn.send(msg);
//!         }
//!     }
//! }
//!
//! # fn main() -> wspc_io::Result<()> {
//! let server = Server::bind("127.0.0.1:9001", Config::default(), 1)?;
//! println!("listening on {}", server.local_addr());
//! server.run(|| Echo)
//! # }
//! ```
//!
//! [`Server::bind`] fails when the process may not use io_uring (a seccomp filter, a
//! container, `kernel.io_uring_disabled`): callers can then serve with [`crate::tokio`].

mod bufring;
mod driver;
mod engine;
mod tls;
mod wheel;

use crate::message::{CloseFrame, Message};
use crate::{Accept, Config, Error, Reject, Request, Result};
use driver::{Phase, Slot, CLOSE_REQ};
use engine::Engine;
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a server does with its connections; one value per thread (made by the factory
/// given to [`Server::run`]), called from that thread only.
///
/// Order per connection: [`accept`](Self::accept) once, then (if accepted)
/// [`on_open`](Self::on_open), [`on_message`](Self::on_message) per message, and
/// [`on_close`](Self::on_close) exactly once.
pub trait Handler {
    /// Decides on an upgrade request, like the handler of
    /// [`tokio::accept_with`](crate::tokio::accept_with) (`FnOnce(&Request) -> Result<Accept,
    /// Reject>`): choose a subprotocol, add headers, or refuse with any response. Accepts
    /// everything by default.
    fn accept(&mut self, request: &Request) -> std::result::Result<Accept, Reject> {
        let _ = request;
        Ok(Accept::default())
    }

    /// A complete request head without an `Upgrade` header: answer it with a whole HTTP
    /// response (written, then the connection ends), or `None` (the default) for the
    /// upgrade's refusal, `426 Upgrade Required`.
    fn on_http(&mut self, conn: &mut Conn<'_>, method: &str, path: &str) -> Option<Vec<u8>> {
        let _ = (conn, method, path);
        None
    }

    /// The connection is open (its `101` response is queued).
    fn on_open(&mut self, conn: &mut Conn<'_>) {
        let _ = conn;
    }

    /// A message: text, binary, pongs, and pings with [`Config::deliver_pings`] (the engine
    /// already answered them). The peer's close goes to [`on_close`](Self::on_close).
    fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message);

    /// The connection ended: `Ok` with the peer's close frame (the reply is sent), or the
    /// error that ended it. Called once per opened connection.
    fn on_close(&mut self, id: ConnId, result: Result<Option<CloseFrame>>) {
        let _ = (id, result);
    }
}

/// A connection's identity on its thread (slot and generation), stable for its lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

impl ConnId {
    fn new(idx: u32, gen: u32) -> Self {
        ConnId((gen as u64) << 32 | idx as u64)
    }

    /// The connection's slot on its thread: small and dense (slots are reused), so a
    /// handler can keep per-connection data in a vector indexed by it.
    pub fn index(self) -> usize {
        self.0 as u32 as usize
    }
}

/// A connection, lent to a [`Handler`] callback.
pub struct Conn<'a> {
    slot: &'a mut Slot,
    idx: u32,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl Conn<'_> {
    /// This connection's identity.
    pub fn id(&self) -> ConnId {
        ConnId::new(self.idx, self.slot.gen)
    }

    fn session(&mut self) -> Result<&mut Engine> {
        match &mut self.slot.phase {
            Phase::Open(s) => Ok(s),
            _ => Err(Error::InvalidState("the connection is not open")),
        }
    }

    /// Queues a message; it is written at the end of the loop turn, with the connection's
    /// other replies. While the connection's write buffer is full (a large message being
    /// written, or [`Config::write_buffer_size`] reached), messages wait in a queue of
    /// their own, in order: see [`backlog`](Self::backlog). [`Message::Close`] closes like
    /// [`close`](Self::close).
    pub fn send(&mut self, msg: Message) -> Result<()> {
        if let Message::Close(frame) = msg {
            self.close(frame);
            return Ok(());
        }
        let queued = self.slot.queued.is_some();
        let s = self.session()?;
        if s.closing() {
            return Err(Error::InvalidState("a close frame was already sent"));
        }
        if !queued && s.can_send() {
            return s.send(msg);
        }
        self.slot.queued.get_or_insert_with(|| Box::new(VecDeque::new())).push_back(msg);
        Ok(())
    }

    /// Starts the close handshake (`None`: a close frame without status). Messages that
    /// arrive after it are dropped; [`Handler::on_close`] follows with the peer's answer,
    /// or [`Error::CloseTimeout`] after [`Config::close_timeout`].
    pub fn close(&mut self, frame: Option<CloseFrame>) {
        if let Ok(s) = self.session() {
            s.close_with(frame.map(|f| (f.code, f.reason)));
            self.slot.flags |= CLOSE_REQ;
        }
    }

    /// The peer's address (a system call each time).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        let fd = self.slot.fd();
        // SAFETY: the connection's socket stays open while its slot is lent; `socket2`
        // only borrows it here (`ManuallyDrop`: never closed by this call).
        let sock = std::mem::ManuallyDrop::new(unsafe { socket2::Socket::from_raw_fd(fd) });
        let a = sock.peer_addr()?;
        a.as_socket().ok_or_else(|| Error::Io(std::io::ErrorKind::Unsupported.into()))
    }

    /// Bytes waiting to be written, and messages waiting to be queued.
    pub fn backlog(&mut self) -> (usize, usize) {
        let q = self.slot.queued.as_ref().map_or(0, |q| q.len());
        (self.session().map_or(0, |s| s.backlog()), q)
    }
}

/// The stop request shared by a server's threads.
#[derive(Debug)]
struct Stop {
    flag: AtomicBool,
    /// One eventfd per thread, read by its ring: a write wakes the thread.
    wakers: Vec<OwnedFd>,
    /// A signalfd of the signals that stop the server, read by every thread's ring.
    signals: Option<OwnedFd>,
}

impl Stop {
    fn requested(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// Asks a running [`Server`] to stop: stop accepting, send close 1001 (going away) on
/// every connection, wait up to the close timeout for the close handshakes.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(Arc<Stop>);

impl ShutdownHandle {
    /// Requests the stop (returns at once; [`Server::run`] returns when it is done).
    pub fn shutdown(&self) {
        Self::shutdown_ref(&self.0);
    }

    /// True once a stop was requested (by [`shutdown`](Self::shutdown) or a signal).
    pub fn is_requested(&self) -> bool {
        self.0.requested()
    }
}

/// Listening sockets (one per thread, `SO_REUSEPORT`) ready to be served on io_uring.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<TcpListener>,
    config: Config,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    tls: Option<tls::TlsConfig>,
    local: SocketAddr,
    stop: Arc<Stop>,
}

impl Server {
    /// Binds `threads` listeners (at least one) to `addr` with `SO_REUSEPORT` (port 0: one
    /// free port for all; a port another socket listens on is an error, even one with
    /// `SO_REUSEPORT`), and checks that io_uring can be used: fails with
    /// [`Error::Io`] if not (the caller may fall back to [`crate::tokio`]).
    pub fn bind(addr: impl ToSocketAddrs, config: Config, threads: usize) -> Result<Server> {
        driver::probe()?;
        config.engine(wspc::Role::Server)?;
        let mut addrs = addr.to_socket_addrs()?;
        let first = addrs.next().ok_or_else(|| Error::Io(std::io::ErrorKind::InvalidInput.into()))?;
        if first.port() != 0 {
            // `SO_REUSEPORT` would let these listeners join another server's on the same
            // port (sharing its connections): a plain bind first reports the port as busy.
            drop(TcpListener::bind(first)?);
        }
        let mut listeners = vec![listen(first)?];
        let local = listeners[0].local_addr()?;
        for _ in 1..threads.max(1) {
            listeners.push(listen(local)?);
        }
        let mut wakers = Vec::with_capacity(listeners.len());
        for _ in &listeners {
            // SAFETY: plain eventfd creation; the result is checked.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            // SAFETY: a new descriptor owned by nothing else.
            wakers.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let stop = Arc::new(Stop { flag: AtomicBool::new(false), wakers, signals: None });
        Ok(Server { listeners, config, tls: None, local, stop })
    }

    /// Makes SIGINT and SIGTERM stop the server like [`ShutdownHandle::shutdown`]: blocks
    /// them in the calling thread (and so in the threads [`run`](Self::run) starts, and any
    /// started later from it) and reads them from the rings (a `signalfd`), so no thread of
    /// its own waits for them. Call it on the thread that calls `run`.
    pub fn stop_on_signals(&mut self) -> Result<()> {
        // SAFETY: a signal set built in place and passed by pointer to the calls that fill
        // and read it; the returned descriptor is checked and then owned.
        let fd = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            OwnedFd::from_raw_fd(fd)
        };
        match Arc::get_mut(&mut self.stop) {
            Some(s) => s.signals = Some(fd),
            None => return Err(Error::InvalidState("stop_on_signals after shutdown_handle")),
        }
        Ok(())
    }

    /// Serves `wss://`: every connection starts with a TLS handshake (rustls, driven from
    /// the ring), within the handshake timeout.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: std::sync::Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The number of threads [`run`](Self::run) starts (one per listener).
    pub fn threads(&self) -> usize {
        self.listeners.len()
    }

    /// A handle that stops [`run`](Self::run) from another thread (or a signal handler's
    /// thread).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.stop.clone())
    }

    /// Serves until stopped: one thread per listener (the calling thread is one of them),
    /// each with its own ring and its own [`Handler`] made by `make`. Returns the first
    /// error of a thread (one that fails stops the others).
    pub fn run<H, F>(self, make: F) -> Result<()>
    where
        H: Handler,
        F: Fn() -> H + Sync,
    {
        let Server { listeners, config, tls, stop, .. } = self;
        let stop = &*stop;
        let make = &make;
        let one = |i: usize, l: TcpListener| -> Result<()> {
            let r = driver::Loop::new(l, config.clone(), tls.clone(), make(), stop, stop.wakers[i].as_raw_fd())
                .and_then(|lp| lp.run());
            if let Err(e) = &r {
                tracing::warn!(error = %e, "io_uring server thread failed");
                ShutdownHandle::shutdown_ref(stop);
            }
            r
        };
        std::thread::scope(|sc| {
            let mut it = listeners.into_iter().enumerate();
            let first = it.next();
            let handles: Vec<_> = it.map(|(i, l)| sc.spawn(move || one(i, l))).collect();
            let mut r = first.map_or(Ok(()), |(i, l)| one(i, l));
            for h in handles {
                let x = h.join().unwrap_or_else(|_| Err(Error::InvalidState("an io_uring server thread panicked")));
                if r.is_ok() {
                    r = x;
                }
            }
            r
        })
    }
}

impl ShutdownHandle {
    fn shutdown_ref(stop: &Stop) {
        stop.flag.store(true, Ordering::Release);
        for fd in &stop.wakers {
            let one = 1u64;
            // SAFETY: writes 8 bytes from a live `u64` to an eventfd `stop` owns.
            unsafe { libc::write(fd.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
        }
    }
}

fn listen(addr: SocketAddr) -> Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// The bytes a connection's slot takes in the slab (its engine's allocations apart).
pub const SLOT_BYTES: usize = driver::SLOT_SIZE;
