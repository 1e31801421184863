//! Opening a blocking connection: the client handshake (TCP, TLS, upgrade) and the server
//! handshake, each within the handshake timeout; a refused upgrade lingers (see
//! [`Linger`]).

use super::driver::is_timeout;
use super::{MaybeTlsStream, Stream, WebSocket};
use crate::conn::Linger;
use crate::http::{self, Accept, ClientOptions, IntoClientRequest, Reject, Request, Response, ServerStep};
use crate::keepalive::until;
use crate::session::Session;
use crate::{Config, Error, Result};
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a refusal may take (writing it and lingering), and one for a client that let
/// the handshake time out (the tokio API's bounds).
const REFUSE_LIMIT: Duration = Duration::from_secs(1);
const REFUSE_TIMEOUT: Duration = Duration::from_millis(500);

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

/// Writes `bytes` (an HTTP refusal) and ends the write direction, giving up after
/// `limit`; then lingers (see [`Linger`]): what the client still sends is read and dropped
/// while it keeps coming, so that the close is a FIN, not a reset that destroys the
/// refusal. A stream that cannot time out reads does not linger.
fn refuse<S: Stream>(io: &mut S, bytes: &[u8], limit: Duration) {
    let mut linger = Linger::new(Instant::now(), limit);
    let _ = io.set_write_timeout(Some(limit));
    if io.write_all(bytes).is_err() || io.flush().is_err() || io.shutdown_write().is_err() {
        return;
    }
    linger.start(Instant::now());
    let mut sink = [0u8; 4096];
    loop {
        let now = Instant::now();
        if linger.is_done(now) {
            return;
        }
        match io.set_read_timeout(Some(until(linger.poll_timeout(), now))) {
            Ok(true) => {}
            _ => return,
        }
        match io.read(&mut sink) {
            Ok(n) => linger.on_read(n, Instant::now()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => linger.on_read(0, Instant::now()),
        }
    }
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
                refuse(
                    &mut io,
                    &http::error_response(status, &Default::default(), "handshake timeout\n"),
                    REFUSE_TIMEOUT,
                );
                return Err(Error::HandshakeTimeout);
            }
            Err(e) => return Err(e),
        }
        match http::server_step(&buf, config) {
            ServerStep::More => continue,
            ServerStep::Refuse(bytes, e) => {
                refuse(&mut io, &bytes, REFUSE_LIMIT);
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
                refuse(&mut io, &r.to_bytes(), REFUSE_LIMIT);
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
