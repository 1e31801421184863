//! Connection settings: limits, buffers, keepalive and timeouts.

use std::time::Duration;

/// Default largest message accepted: 64 MiB.
pub const DEFAULT_MAX_MESSAGE: u64 = 64 << 20;
/// Default largest frame accepted: the message limit. A frame is checked as it is on the
/// wire, so under permessage-deflate an incompressible message's one frame is a little
/// longer than the message; the message limit already bounds memory.
pub const DEFAULT_MAX_FRAME: u64 = DEFAULT_MAX_MESSAGE;
/// Default most frames per message: 1 Mi (a 4 MiB message in 64-byte frames is 64 Ki).
pub const DEFAULT_MAX_FRAGMENTS: u64 = 1 << 20;
/// Default handshake timeout: 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default close timeout: 5 s.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit on the bytes of a request or response head: 16 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 << 10;
/// Default limit on the number of header lines: 64.
pub const DEFAULT_MAX_HEADERS: usize = 64;
/// Default engine receive buffer: 64 KiB.
pub const DEFAULT_RECEIVE_BUFFER: u32 = 64 << 10;
/// Default write buffer limit (backpressure threshold): 128 KiB.
pub const DEFAULT_WRITE_BUFFER: usize = 128 << 10;
/// Default keepalive: a ping after 30 s of read silence, failure 30 s later without an
/// answer, so half-open connections and peers that stop reading are cut off.
pub const DEFAULT_KEEPALIVE: Keepalive =
    Keepalive { interval: Duration::from_secs(30), timeout: Duration::from_secs(30) };

/// Default write timeout of the blocking API: a write that makes no progress for 60 s (the
/// default keepalive's interval + timeout) fails with [`Error::WriteTimeout`](crate::Error::WriteTimeout).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Ping the peer every `interval` of read silence; fail the connection when nothing (no
/// pong, no data) arrives within `timeout` of a ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Read silence before a ping is sent.
    pub interval: Duration,
    /// How long to wait for an answer to that ping.
    pub timeout: Duration,
}

/// Settings of one connection (either role). Start from [`Config::default`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest message accepted (1009 beyond it). `None`: no limit.
    pub max_message_size: Option<u64>,
    /// Largest frame accepted (1009 beyond it). `None`: no limit.
    pub max_frame_size: Option<u64>,
    /// Most frames per message (1009 beyond it). `None`: no limit.
    pub max_fragments: Option<u64>,
    /// The engine's receive buffer: the largest piece handed out by `recv_piece`.
    pub receive_buffer_size: u32,
    /// The engine's send buffer (`None`: 512 bytes for servers, 64 KiB for clients, which
    /// mask payloads through it).
    pub send_buffer_size: Option<u32>,
    /// Bytes the write buffer may hold before `send`/`feed` wait for it to drain. It also
    /// bounds automatic replies: while this much of copied frames (pongs, close replies,
    /// small messages) waits for a peer that does not read, the tokio API stops reading from
    /// it, so a ping flood holds at most about this much per connection.
    pub write_buffer_size: usize,
    /// Keepalive pings ([`DEFAULT_KEEPALIVE`] by default; `None` turns them off).
    pub keepalive: Option<Keepalive>,
    /// How long `close` waits for the peer's close frame (and, for a client, the server's
    /// TCP close).
    pub close_timeout: Duration,
    /// Blocking API: how long one write may make no progress (a peer that stopped reading)
    /// before the connection fails with [`Error::WriteTimeout`](crate::Error::WriteTimeout)
    /// ([`DEFAULT_WRITE_TIMEOUT`]; `None`: wait forever). Applied to streams that support it
    /// (TCP, Unix, TLS over TCP). The tokio API needs none: its keepalive and close timers
    /// run while a write is stalled.
    pub write_timeout: Option<Duration>,
    /// Time allowed for the whole opening handshake.
    pub handshake_timeout: Duration,
    /// Most bytes in the HTTP head of the upgrade request/response.
    pub max_header_bytes: usize,
    /// Most header lines in the HTTP head.
    pub max_headers: usize,
    /// Return received pings from `recv` as [`Message::Ping`](crate::Message::Ping) (and
    /// from `recv_piece` as [`PieceKind::Ping`](crate::PieceKind::Ping)); off by default.
    /// Either way the engine answers each ping with its pong before the ping is handed
    /// out, in order with the messages around it (a ping between the frames of a
    /// fragmented message comes before that message); the application must not answer it.
    pub deliver_pings: bool,
    /// permessage-deflate (RFC 7692): offered by clients, accepted by servers.
    #[cfg(feature = "deflate")]
    pub deflate: Option<wspc::deflate::DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: Some(DEFAULT_MAX_MESSAGE),
            max_frame_size: Some(DEFAULT_MAX_FRAME),
            max_fragments: Some(DEFAULT_MAX_FRAGMENTS),
            receive_buffer_size: DEFAULT_RECEIVE_BUFFER,
            send_buffer_size: None,
            write_buffer_size: DEFAULT_WRITE_BUFFER,
            keepalive: Some(DEFAULT_KEEPALIVE),
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            deliver_pings: false,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
}

impl Config {
    /// Sets the largest message.
    pub fn max_message_size(mut self, v: Option<u64>) -> Self {
        self.max_message_size = v;
        self
    }
    /// Sets the largest frame.
    pub fn max_frame_size(mut self, v: Option<u64>) -> Self {
        self.max_frame_size = v;
        self
    }
    /// Sets the most frames per message.
    pub fn max_fragments(mut self, v: Option<u64>) -> Self {
        self.max_fragments = v;
        self
    }
    /// Sets the receive buffer size (256 B to 1 MiB).
    pub fn receive_buffer_size(mut self, v: u32) -> Self {
        self.receive_buffer_size = v;
        self
    }
    /// Sets the write buffer limit.
    pub fn write_buffer_size(mut self, v: usize) -> Self {
        self.write_buffer_size = v;
        self
    }
    /// Turns keepalive pings on.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keepalive = Some(Keepalive { interval, timeout });
        self
    }
    /// Sets the close timeout.
    pub fn close_timeout(mut self, v: Duration) -> Self {
        self.close_timeout = v;
        self
    }
    /// Sets the blocking API's write timeout (`None`: none).
    pub fn write_timeout(mut self, v: Option<Duration>) -> Self {
        self.write_timeout = v;
        self
    }
    /// Sets the handshake timeout.
    pub fn handshake_timeout(mut self, v: Duration) -> Self {
        self.handshake_timeout = v;
        self
    }
    /// Sets the HTTP head limits.
    pub fn header_limits(mut self, max_bytes: usize, max_headers: usize) -> Self {
        self.max_header_bytes = max_bytes;
        self.max_headers = max_headers;
        self
    }
    /// Turns permessage-deflate on (default parameters) or off.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, on: bool) -> Self {
        self.deflate = on.then(wspc::deflate::DeflateConfig::default);
        self
    }
    /// Sets the permessage-deflate parameters.
    #[cfg(feature = "deflate")]
    pub fn deflate_config(mut self, d: Option<wspc::deflate::DeflateConfig>) -> Self {
        self.deflate = d;
        self
    }

    /// Returns received pings to the application (see [`Config::deliver_pings`](#structfield.deliver_pings)).
    pub fn deliver_pings(mut self, on: bool) -> Self {
        self.deliver_pings = on;
        self
    }

    /// The engine configuration for `role`.
    pub(crate) fn engine(&self, role: wspc::Role) -> crate::Result<wspc::Config> {
        let send = self.send_buffer_size.unwrap_or(match role {
            wspc::Role::Server => 512,
            wspc::Role::Client => 64 << 10,
        });
        let c = wspc::Config::new(role)
            .receive_buffer_size(self.receive_buffer_size)?
            .send_buffer_size(send)?
            .max_message_size(self.max_message_size)
            .max_frame_size(self.max_frame_size)
            .max_fragments(self.max_fragments)
            .deliver_pings(self.deliver_pings);
        #[cfg(feature = "deflate")]
        let c = c.deflate(self.deflate.clone());
        Ok(c)
    }
}
