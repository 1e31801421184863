//! WebSockets over HTTP/2 (RFC 8441, "Bootstrapping WebSockets with HTTP/2"), with the
//! [`h2`](https://docs.rs/h2) crate (feature `http2`).
//!
//! A WebSocket over HTTP/2 is one stream of an HTTP/2 connection: the client sends an
//! extended CONNECT (`:method CONNECT`, `:protocol websocket`, `:scheme`, `:authority`,
//! `:path`) once the server has advertised `SETTINGS_ENABLE_CONNECT_PROTOCOL`, the server
//! answers `200`, and the stream's DATA frames then carry the WebSocket frames, exactly as
//! the TCP bytes after an HTTP/1.1 upgrade. There is no `Sec-WebSocket-Key` /
//! `Sec-WebSocket-Accept`, `Upgrade` or `Connection`; subprotocol and extension
//! negotiation use the same headers, and this crate runs them through the same handler
//! ([`crate::Accept`] / [`crate::Reject`]) and the same engine handshake
//! ([`wspc::Handle::begin_server_handshake_extended`]) as an HTTP/1.1 upgrade.
//!
//! The WebSocket is the same [`crate::tokio::WebSocket`] type, over an [`H2Stream`]: the
//! limits, keepalive, close timeout and close handshake are those of any other transport.
//! HTTP/2 flow control is the back-pressure: credit is returned to the peer as the
//! WebSocket consumes bytes, and writes wait for send capacity, so a slow reader stalls its
//! own stream only. Closing the WebSocket ends the stream (`END_STREAM`); a reset stream
//! aborts the WebSocket.
//!
//! - Server: [`ServerConnection::handshake`] on a connection whose TLS ALPN chose `h2`
//!   ([`server_config_h2`] offers `h2` and `http/1.1`), then [`ServerConnection::accept`]
//!   in a loop: [`Incoming::WebSocket`] requests are accepted with
//!   [`WebSocketRequest::accept_with`]; other requests come as [`Incoming::Http`] for the
//!   application to answer. A `CONNECT` for another protocol is answered `501`.
//! - Client: [`H2Connection::handshake`], then [`H2Connection::open_websocket`] as many
//!   times as wanted (each WebSocket is a stream of the one connection);
//!   [`connect_with`] prefers HTTP/2 and falls back to an HTTP/1.1 upgrade.
//!
//! Flow-control windows (both sides): [`STREAM_WINDOW`] per stream and
//! [`CONNECTION_WINDOW`] per connection. The connection window is shared by all streams,
//! so bytes a stalled WebSocket has not consumed count against it: with these values, 32
//! WebSockets that all stop reading are needed to stall the others, and a connection
//! buffers at most [`CONNECTION_WINDOW`] bytes received and not yet consumed. A server
//! connection allows [`MAX_STREAMS`] concurrent streams.
//!
//! Decisions: a write copies the bytes into a per-stream buffer whose slices the `h2` crate
//! queues (it owns what it queues); the buffer's storage is reused once they are sent; `ws://` URLs are not tried over cleartext HTTP/2 (browsers do not
//! either): [`connect_with`] uses HTTP/1.1 for them.

mod client;
mod server;
mod stream;

pub use client::{client_config_h2, connect_with, H2Connection, Transport};
pub use server::{HttpRequest, Incoming, ServerConnection, WebSocketRequest};
pub use stream::H2Stream;

/// The receive window of each stream (bytes the peer may send before the WebSocket
/// consumes them): 256 KiB.
pub const STREAM_WINDOW: u32 = 256 << 10;
/// The receive window of a connection, shared by its streams: 8 MiB.
pub const CONNECTION_WINDOW: u32 = 8 << 20;
/// The concurrent streams a server connection allows: 256.
pub const MAX_STREAMS: u32 = 256;

/// A server TLS configuration offering `h2` and `http/1.1` by ALPN (in that order of
/// preference), from one that may offer only `http/1.1`.
pub fn server_config_h2(cfg: &rustls::ServerConfig) -> std::sync::Arc<rustls::ServerConfig> {
    let mut cfg = cfg.clone();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    std::sync::Arc::new(cfg)
}
