//! The blocking API: a [`WebSocket`] over any [`Stream`] (a `Read + Write` transport;
//! `TcpStream` and TLS streams implement it), the client and server handshakes, and
//! [`split`](WebSocket::split) into a [`Reader`] and a [`Writer`] for two threads.
//!
//! ```no_run
//! use wspc_io::{blocking, Message};
//! let (mut ws, _resp) = blocking::connect("ws://127.0.0.1:9001/").unwrap();
//! ws.send(Message::text("hello")).unwrap();
//! let echo = ws.recv().unwrap();
//! ws.close(None).unwrap();
//! # let _ = echo;
//! ```

use crate::http::{self, Accept, ClientOptions, IntoClientRequest, Reject, Request, Response, ServerStep};
use crate::keepalive::{earliest, until, KeepaliveState, Tick};
use crate::message::{CloseFrame, Message, Piece};
use crate::session::{RecvStep, Session};
use crate::{Config, Error, Result};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A byte stream the blocking API runs over. Only `Read + Write` is required: implement
/// it with an empty body for any such type. Read timeouts (used for the handshake,
/// keepalive and close timeouts), write timeouts and a write shutdown are optional.
pub trait Stream: Read + Write {
    /// Sets (or clears) the read timeout; returns false when the stream cannot time
    /// out reads (the timeouts then do not apply).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }
    /// Sets (or clears) the write timeout ([`Config::write_timeout`]); returns false when
    /// the stream cannot time out writes.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }
    /// Ends the write direction (TCP FIN, TLS close_notify).
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A stream that can be duplicated so that one copy reads while another writes from a
/// second thread (what [`WebSocket::split`] needs).
pub trait SplitStream: Stream + Sized {
    /// A second handle on the same stream.
    fn try_clone_stream(&self) -> io::Result<Self>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_read_timeout(self, timeout)?;
        Ok(true)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_write_timeout(self, timeout)?;
        Ok(true)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

impl SplitStream for TcpStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)?;
        Ok(true)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)?;
        Ok(true)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl SplitStream for std::os::unix::net::UnixStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

impl<S: Stream + ?Sized> Stream for Box<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_write_timeout(timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

/// A TCP stream, or TLS over one (what [`connect`] returns).
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsStream),
}

impl MaybeTlsStream {
    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.tcp(),
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.flush(),
        }
    }
}

impl Stream for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        match self {
            MaybeTlsStream::Plain(s) => Stream::set_read_timeout(s, timeout),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Stream::set_read_timeout(s, timeout),
        }
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        match self {
            MaybeTlsStream::Plain(s) => Stream::set_write_timeout(s, timeout),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Stream::set_write_timeout(s, timeout),
        }
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.shutdown_write(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.shutdown_write(),
        }
    }
}

impl SplitStream for MaybeTlsStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        Ok(match self {
            MaybeTlsStream::Plain(s) => MaybeTlsStream::Plain(s.try_clone()?),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => MaybeTlsStream::Tls(s.try_clone_stream()?),
        })
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Reads once into `buf`'s spare capacity (at most `chunk` bytes), with a deadline.
fn read_head_chunk<S: Stream>(io: &mut S, buf: &mut Vec<u8>, deadline: Instant) -> Result<usize> {
    let now = Instant::now();
    if now >= deadline {
        return Err(Error::HandshakeTimeout);
    }
    io.set_read_timeout(Some(until(deadline, now)))?;
    let old = buf.len();
    buf.resize(old + http::HEAD_CHUNK, 0);
    loop {
        match io.read(&mut buf[old..]) {
            Ok(n) => {
                buf.truncate(old + n);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                buf.truncate(old);
                if Instant::now() >= deadline {
                    return Err(Error::HandshakeTimeout);
                }
                io.set_read_timeout(Some(until(deadline, Instant::now())))?;
            }
            Err(e) => {
                buf.truncate(old);
                return Err(e.into());
            }
        }
    }
}

/// Connects to a URL (`&str`, `String`, [`Uri`](::http::Uri)) or sends an
/// `http::Request<()>` (its headers go with the upgrade request) with default options.
pub fn connect(req: impl IntoClientRequest) -> Result<(WebSocket<MaybeTlsStream>, Response)> {
    connect_with(req, &ClientOptions::default())
}

/// [`connect`] with options.
pub fn connect_with(
    req: impl IntoClientRequest,
    opts: &ClientOptions,
) -> Result<(WebSocket<MaybeTlsStream>, Response)> {
    let (target, handle, head) = http::client_request(req, opts)?;
    let deadline = Instant::now() + opts.config.handshake_timeout;
    let addrs: Vec<_> = (target.host.as_str(), target.port).to_socket_addrs()?.collect();
    let mut last = None;
    let mut tcp = None;
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::HandshakeTimeout);
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match tcp {
        Some(t) => t,
        None => {
            return Err(last
                .map(Error::Io)
                .unwrap_or_else(|| Error::Url(format!("{}: no address for the host", target.host))))
        }
    };
    tcp.set_nodelay(true)?;
    let stream = if target.tls {
        #[cfg(feature = "tls")]
        {
            let cfg = match &opts.tls {
                Some(c) => c.clone(),
                None => crate::tls::default_client_config(),
            };
            let mut tcp = tcp;
            Stream::set_read_timeout(&mut tcp, Some(until(deadline, Instant::now())))?;
            MaybeTlsStream::Tls(crate::tls::TlsStream::connect(tcp, &target.host, cfg)?)
        }
        #[cfg(not(feature = "tls"))]
        return Err(Error::Tls(crate::TlsError::NotEnabled));
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    client_handshake_until(stream, handle, head, &opts.config, deadline)
}

/// Runs the client handshake over an already connected stream.
pub fn client_handshake<S: Stream>(
    stream: S,
    req: impl IntoClientRequest,
    opts: &ClientOptions,
) -> Result<(WebSocket<S>, Response)> {
    let (_, handle, head) = http::client_request(req, opts)?;
    client_handshake_until(stream, handle, head, &opts.config, Instant::now() + opts.config.handshake_timeout)
}

fn client_handshake_until<S: Stream>(
    mut io: S,
    mut handle: wspc::Handle,
    head: Vec<u8>,
    config: &Config,
    deadline: Instant,
) -> Result<(WebSocket<S>, Response)> {
    io.write_all(&head)?;
    io.flush()?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if read_head_chunk(&mut io, &mut buf, deadline)? == 0 {
            return Err(Error::ConnectionReset);
        }
        if let Some((resp, subprotocol, len)) = http::client_response(&buf, &mut handle, config)? {
            io.set_read_timeout(None)?;
            let prefix = buf.split_off(len);
            let mut ws = WebSocket::new(io, Session::new(handle, prefix, config.write_buffer_size), config);
            ws.subprotocol = subprotocol;
            return Ok((ws, resp));
        }
    }
}

/// Accepts a WebSocket client on `stream` with default settings, whatever it asks for.
pub fn accept<S: Stream>(stream: S) -> Result<WebSocket<S>> {
    accept_with(stream, &Config::default(), |_: &Request| Ok(Accept::default()))
}

/// Writes `bytes` (an HTTP refusal) and ends the write direction.
fn refuse<S: Stream>(io: &mut S, bytes: &[u8]) {
    let _ = io.write_all(bytes);
    let _ = io.flush();
    let _ = io.shutdown_write();
}

/// Accepts a WebSocket client: reads the request (within the configured limits and
/// handshake timeout), answers bad requests (400, 405, 426, 431), lets `handler` accept
/// (choosing a subprotocol, adding headers) or reject with any HTTP response.
pub fn accept_with<S, F>(mut io: S, config: &Config, handler: F) -> Result<WebSocket<S>>
where
    S: Stream,
    F: FnOnce(&Request) -> std::result::Result<Accept, Reject>,
{
    let deadline = Instant::now() + config.handshake_timeout;
    let mut buf = Vec::with_capacity(1024);
    let (request, len) = loop {
        match read_head_chunk(&mut io, &mut buf, deadline) {
            Ok(0) => return Err(Error::ConnectionReset),
            Ok(_) => {}
            Err(Error::HandshakeTimeout) => {
                tracing::debug!("upgrade refused: no complete request within the handshake timeout");
                let status = ::http::StatusCode::REQUEST_TIMEOUT;
                refuse(&mut io, &http::error_response(status, &Default::default(), "handshake timeout\n"));
                return Err(Error::HandshakeTimeout);
            }
            Err(e) => return Err(e),
        }
        match http::server_step(&buf, config) {
            ServerStep::More => continue,
            ServerStep::Refuse(bytes, e) => {
                refuse(&mut io, &bytes);
                return Err(e);
            }
            ServerStep::Request(request, len) => break (request, len),
        }
    };
    let decision = handler(&request);
    let subprotocol = decision.as_ref().ok().and_then(|a| a.subprotocol.clone());
    let (handle, headers) =
        match decision.map_err(http::Refusal::rejected).and_then(|a| http::answer(request.headers(), a, config, false))
        {
            Ok(x) => x,
            Err(r) => {
                refuse(&mut io, &r.to_bytes());
                return Err(r.error);
            }
        };
    io.write_all(&http::switching_protocols(&headers))?;
    io.flush()?;
    io.set_read_timeout(None)?;
    let prefix = buf.split_off(len);
    let mut ws = WebSocket::new(io, Session::new(handle, prefix, config.write_buffer_size), config);
    ws.subprotocol = subprotocol;
    Ok(ws)
}

/// Accepts a TLS client on `tcp` (TLS handshake, then [`accept_with`]).
#[cfg(feature = "tls")]
pub fn accept_tls_with<F>(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    config: &Config,
    handler: F,
) -> Result<WebSocket<crate::tls::TlsStream>>
where
    F: FnOnce(&Request) -> std::result::Result<Accept, Reject>,
{
    let mut tcp = tcp;
    Stream::set_read_timeout(&mut tcp, Some(config.handshake_timeout))?;
    let s = crate::tls::TlsStream::accept(tcp, tls)?;
    accept_with(s, config, handler)
}

struct Timers {
    ka: Option<KeepaliveState>,
    close_timeout: Duration,
    timeout_set: bool,
}

impl Timers {
    fn new(config: &Config) -> Self {
        Self {
            ka: config.keepalive.map(|k| KeepaliveState::new(k, Instant::now())),
            close_timeout: config.close_timeout,
            timeout_set: false,
        }
    }
}

/// Writes everything pending.
fn write_out<S: Write>(io: &mut S, s: &mut Session) -> Result<()> {
    while s.wants_write() {
        let [a, b] = s.write_bufs();
        let r = if b.is_empty() { io.write(a) } else { io.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) };
        match r {
            Ok(0) => {
                let e = Error::Io(io::ErrorKind::WriteZero.into());
                s.write_failed(&e);
                return Err(e);
            }
            Ok(n) => s.wrote(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // The write timeout (SO_SNDTIMEO) ends as WouldBlock/TimedOut.
                let e = if is_timeout(&e) { Error::WriteTimeout } else { Error::Io(e) };
                s.write_failed(&e);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn flush_all<S: Write>(io: &mut S, s: &mut Session) -> Result<()> {
    write_out(io, s)?;
    io.flush()?;
    Ok(())
}

/// A read that did not happen.
enum ReadOutcome {
    /// A deadline (keepalive or the caller's) passed first.
    Deadline,
}

/// One read into the session's lent buffer, honouring keepalive and `deadline`.
fn read_once<S: Stream>(
    rd: &mut S,
    buf: (*mut u8, usize),
    timers: &mut Timers,
    deadline: Option<Instant>,
) -> io::Result<std::result::Result<usize, ReadOutcome>> {
    let due = earliest(timers.ka.as_ref().map(KeepaliveState::deadline), deadline);
    if let Some(d) = due {
        let now = Instant::now();
        if now >= d {
            return Ok(Err(ReadOutcome::Deadline));
        }
        timers.timeout_set = rd.set_read_timeout(Some(until(d, now)))?;
    } else if timers.timeout_set {
        rd.set_read_timeout(None)?;
        timers.timeout_set = false;
    }
    // SAFETY: `buf` is the buffer the engine lent for the pending receive action (see
    // `Session::read_buf_raw`); it stays valid until `read_done` completes that action,
    // and nothing else touches it meanwhile.
    let slice = unsafe { std::slice::from_raw_parts_mut(buf.0, buf.1) };
    loop {
        match rd.read(slice) {
            Ok(n) => return Ok(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) && due.is_some() => return Ok(Err(ReadOutcome::Deadline)),
            Err(e) => return Err(e),
        }
    }
}

/// Handles a passed deadline: keepalive ping or death, or the caller's deadline.
fn on_deadline(s: &mut Session, timers: &mut Timers, deadline: Option<Instant>) -> Result<()> {
    let now = Instant::now();
    if let Some(ka) = timers.ka.as_mut() {
        match ka.tick(now) {
            Tick::Wait => {}
            Tick::Ping => s.queue_ping(Vec::new()),
            Tick::Dead => {
                tracing::debug!("no answer to the keepalive ping: connection failed");
                let e = Error::KeepaliveTimeout;
                s.read_failed(e.duplicate());
                return Err(e);
            }
        }
    }
    if deadline.is_some_and(|d| now >= d) {
        return Err(Error::CloseTimeout);
    }
    Ok(())
}

impl Session {
    fn read_buf_raw(&mut self) -> (*mut u8, usize) {
        let b = self.read_buf();
        (b.as_mut_ptr(), b.len())
    }
}

/// A WebSocket connection over a blocking stream.
pub struct WebSocket<S> {
    io: S,
    s: Session,
    timers: Timers,
    subprotocol: Option<String>,
    shut: bool,
}

impl<S: std::fmt::Debug> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("io", &self.io)
            .field("session", &self.s)
            .field("subprotocol", &self.subprotocol)
            .finish_non_exhaustive()
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Reader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("io", &self.r).finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for Writer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("subprotocol", &self.subprotocol).finish_non_exhaustive()
    }
}

impl<S: Stream> WebSocket<S> {
    fn new(mut io: S, s: Session, config: &Config) -> Self {
        // Best effort: a stream that cannot time out writes simply waits.
        let _ = io.set_write_timeout(config.write_timeout);
        Self { io, s, timers: Timers::new(config), subprotocol: None, shut: false }
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
        while !self.s.can_send() {
            if !self.s.wants_write() {
                break;
            }
            write_out(&mut self.io, &mut self.s)?;
        }
        self.s.send(msg)?;
        if !self.s.can_send() && self.s.wants_write() {
            write_out(&mut self.io, &mut self.s)?;
        }
        Ok(())
    }

    /// Sends one frame of a fragmented message (`last` ends it); flushes.
    pub fn send_fragment(&mut self, text: bool, data: Vec<u8>, last: bool) -> Result<()> {
        while !self.s.can_send() && self.s.wants_write() {
            write_out(&mut self.io, &mut self.s)?;
        }
        self.s.send_fragment(text, data, last)?;
        self.flush()
    }

    /// Writes out everything queued.
    pub fn flush(&mut self) -> Result<()> {
        flush_all(&mut self.io, &mut self.s)
    }

    /// Receives the next message. Pings are answered automatically; the peer's close
    /// comes as `Message::Close` (its echo is sent at once); after it,
    /// `Err(Error::ConnectionClosed)`.
    pub fn recv(&mut self) -> Result<Message> {
        match self.recv_step(None, None)? {
            RecvStep::Message(m) => Ok(m),
            _ => unreachable!("whole messages were asked for"),
        }
    }

    /// Receives the next piece of a message into `buf` (cleared first): no piece is
    /// larger than the receive buffer, so a large message is never held whole.
    pub fn recv_piece(&mut self, buf: &mut Vec<u8>) -> Result<Piece> {
        match self.recv_step(Some(buf), None)? {
            RecvStep::Piece(p) => Ok(p),
            _ => unreachable!("pieces were asked for"),
        }
    }

    fn recv_step(&mut self, mut piece: Option<&mut Vec<u8>>, deadline: Option<Instant>) -> Result<RecvStep> {
        loop {
            let step = self.s.poll_recv(piece.as_deref_mut());
            match step {
                Ok(RecvStep::Read) => {
                    if self.s.wants_write() {
                        flush_all(&mut self.io, &mut self.s)?;
                    }
                    let buf = self.s.read_buf_raw();
                    match read_once(&mut self.io, buf, &mut self.timers, deadline) {
                        Ok(Ok(n)) => {
                            self.s.read_done(n);
                            if n > 0 {
                                if let Some(ka) = self.timers.ka.as_mut() {
                                    ka.activity(Instant::now());
                                }
                            }
                        }
                        Ok(Err(ReadOutcome::Deadline)) => {
                            on_deadline(&mut self.s, &mut self.timers, deadline)?;
                        }
                        Err(e) => {
                            self.s.read_failed(Error::Io(io::Error::new(e.kind(), e.to_string())));
                            return Err(e.into());
                        }
                    }
                }
                Ok(RecvStep::Flush) => write_out(&mut self.io, &mut self.s)?,
                Ok(other) => {
                    if self.s.close_received() {
                        // The echo goes out now; the peer's close is reported either way.
                        let _ = self.finish_close();
                    }
                    return Ok(other);
                }
                Err(e) => {
                    if self.s.close_sent() && !self.s.write_idle() {
                        let _ = flush_all(&mut self.io, &mut self.s);
                    }
                    if self.s.close_sent() && self.s.role() == wspc::Role::Server {
                        self.shutdown();
                    }
                    return Err(e);
                }
            }
        }
    }

    /// The close reply (if any) goes out; a server then ends the TCP connection.
    fn finish_close(&mut self) -> Result<()> {
        flush_all(&mut self.io, &mut self.s)?;
        if self.s.close_sent() && self.s.role() == wspc::Role::Server {
            self.shutdown();
        }
        Ok(())
    }

    fn shutdown(&mut self) {
        if !self.shut {
            self.shut = true;
            let _ = self.io.shutdown_write();
        }
    }

    /// Closes gracefully: sends a close (`None`: no status), keeps receiving (and
    /// dropping data) until the peer's close or the close timeout, then ends the
    /// transport (a client first waits briefly for the server to close it).
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        let deadline = Instant::now() + self.timers.close_timeout;
        if !self.s.close_sent() {
            self.s.queue_close(frame.map(|f| (f.code, f.reason)));
        }
        flush_all(&mut self.io, &mut self.s)?;
        let mut result = Ok(());
        while !self.s.recv_done() {
            match self.recv_step(None, Some(deadline)) {
                Ok(_) => {}
                Err(Error::ConnectionClosed) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if self.s.role() == wspc::Role::Client {
            // The server ends TCP first; then the client does.
            if self.s.close_received() {
                self.wait_eof(deadline);
            }
            self.shutdown();
        } else {
            // End the write direction, then read until the client closes, so that unread
            // input does not turn the close into a reset that could discard the close frame.
            self.shutdown();
            self.wait_eof(deadline);
        }
        match result {
            Err(Error::ConnectionReset) => Ok(()),
            r => r,
        }
    }

    /// Reads and drops bytes until the peer ends the stream (or `deadline`).
    fn wait_eof(&mut self, deadline: Instant) {
        let mut scratch = [0u8; 256];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match self.io.set_read_timeout(Some(until(deadline, now))) {
                Ok(true) => {}
                _ => return,
            }
            self.timers.timeout_set = true;
            match self.io.read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// True once the close handshake finished (or the connection failed).
    pub fn is_closed(&self) -> bool {
        self.s.recv_done() && self.s.close_sent()
    }

    /// Splits into a [`Reader`] and a [`Writer`] usable from two threads. The reader
    /// answers pings and handles keepalive; either may close.
    pub fn split(self) -> Result<(Reader<S>, Writer<S>)>
    where
        S: SplitStream,
    {
        let wr = self.io.try_clone_stream()?;
        let shared = Arc::new(Mutex::new(Shared { w: wr, s: self.s, shut: self.shut }));
        let close_timeout = self.timers.close_timeout;
        let reader = Reader { shared: shared.clone(), r: self.io, timers: self.timers, close_timeout };
        Ok((reader, Writer { shared, subprotocol: self.subprotocol }))
    }
}

struct Shared<S> {
    w: S,
    s: Session,
    shut: bool,
}

impl<S: Stream> Shared<S> {
    fn shutdown(&mut self) {
        if !self.shut {
            self.shut = true;
            let _ = self.w.shutdown_write();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The receiving half of a split blocking WebSocket.
pub struct Reader<S> {
    shared: Arc<Mutex<Shared<S>>>,
    r: S,
    timers: Timers,
    close_timeout: Duration,
}

impl<S: SplitStream> Reader<S> {
    /// Receives the next message (see [`WebSocket::recv`]).
    pub fn recv(&mut self) -> Result<Message> {
        match self.step(None)? {
            RecvStep::Message(m) => Ok(m),
            _ => unreachable!("whole messages were asked for"),
        }
    }

    /// Receives the next piece (see [`WebSocket::recv_piece`]).
    pub fn recv_piece(&mut self, buf: &mut Vec<u8>) -> Result<Piece> {
        match self.step(Some(buf))? {
            RecvStep::Piece(p) => Ok(p),
            _ => unreachable!("pieces were asked for"),
        }
    }

    /// Waits (up to the close timeout) for the peer's close after the writer sent one.
    pub fn wait_close(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.close_timeout;
        loop {
            match self.step_until(None, Some(deadline)) {
                Ok(RecvStep::Message(Message::Close(_))) | Err(Error::ConnectionClosed) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn step(&mut self, piece: Option<&mut Vec<u8>>) -> Result<RecvStep> {
        self.step_until(piece, None)
    }

    fn step_until(&mut self, mut piece: Option<&mut Vec<u8>>, deadline: Option<Instant>) -> Result<RecvStep> {
        loop {
            let mut guard = lock(&self.shared);
            let g = &mut *guard;
            match g.s.poll_recv(piece.as_deref_mut()) {
                Ok(RecvStep::Read) => {
                    if g.s.wants_write() {
                        flush_all(&mut g.w, &mut g.s)?;
                    }
                    let buf = g.s.read_buf_raw();
                    drop(guard);
                    let r = read_once(&mut self.r, buf, &mut self.timers, deadline);
                    let mut g = lock(&self.shared);
                    match r {
                        Ok(Ok(n)) => {
                            g.s.read_done(n);
                            if n > 0 {
                                if let Some(ka) = self.timers.ka.as_mut() {
                                    ka.activity(Instant::now());
                                }
                            }
                        }
                        Ok(Err(ReadOutcome::Deadline)) => {
                            // Nothing was read: the receive action stays pending.
                            on_deadline(&mut g.s, &mut self.timers, deadline)?;
                            if g.s.wants_write() {
                                let g = &mut *g;
                                flush_all(&mut g.w, &mut g.s)?;
                            }
                        }
                        Err(e) => {
                            g.s.read_failed(Error::Io(io::Error::new(e.kind(), e.to_string())));
                            return Err(e.into());
                        }
                    }
                }
                Ok(RecvStep::Flush) => write_out(&mut g.w, &mut g.s)?,
                Ok(other) => {
                    if g.s.close_received() {
                        let _ = flush_all(&mut g.w, &mut g.s);
                        if g.s.role() == wspc::Role::Server {
                            g.shutdown();
                        }
                    }
                    return Ok(other);
                }
                Err(e) => {
                    if g.s.close_sent() {
                        let _ = flush_all(&mut g.w, &mut g.s);
                        if g.s.role() == wspc::Role::Server {
                            g.shutdown();
                        }
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// The sending half of a split blocking WebSocket.
pub struct Writer<S> {
    shared: Arc<Mutex<Shared<S>>>,
    subprotocol: Option<String>,
}

impl<S: SplitStream> Writer<S> {
    /// Sends a message and flushes.
    pub fn send(&mut self, msg: Message) -> Result<()> {
        let mut g = lock(&self.shared);
        let g = &mut *g;
        while !g.s.can_send() && g.s.wants_write() {
            write_out(&mut g.w, &mut g.s)?;
        }
        g.s.send(msg)?;
        flush_all(&mut g.w, &mut g.s)
    }

    /// Queues a message, writing only when the write buffer is full.
    pub fn feed(&mut self, msg: Message) -> Result<()> {
        let mut g = lock(&self.shared);
        let g = &mut *g;
        while !g.s.can_send() && g.s.wants_write() {
            write_out(&mut g.w, &mut g.s)?;
        }
        g.s.send(msg)?;
        if !g.s.can_send() && g.s.wants_write() {
            write_out(&mut g.w, &mut g.s)?;
        }
        Ok(())
    }

    /// Writes out everything queued.
    pub fn flush(&mut self) -> Result<()> {
        let mut g = lock(&self.shared);
        let g = &mut *g;
        flush_all(&mut g.w, &mut g.s)
    }

    /// Sends a close frame (the reader then sees the peer's close; see
    /// [`Reader::wait_close`]).
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<()> {
        let mut g = lock(&self.shared);
        let g = &mut *g;
        g.s.queue_close(frame.map(|f| (f.code, f.reason)));
        flush_all(&mut g.w, &mut g.s)
    }

    /// The subprotocol selected in the handshake.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }
}
