//! # wspc-io: WebSocket connections over real transports, driving the wspc engine
//!
//! This crate does the I/O and the HTTP/1.1 upgrade; every protocol decision (framing,
//! masking, UTF-8, automatic pongs, close codes, permessage-deflate, limits) is made by
//! the [`wspc`] engine, whose action queue it runs.
//!
//! - [`blocking`]: over `std::net::TcpStream` (or any `Read + Write`): [`blocking::connect`],
//!   [`blocking::accept_with`], [`blocking::WebSocket`] with `send`/`feed`/`flush`/`recv`/
//!   `recv_piece`/`close`/`split`.
//! - [`tokio`] (feature `tokio`): [`tokio::connect`], [`tokio::accept_with`],
//!   [`tokio::WebSocket`]: `async fn send/recv`, `Stream` + `Sink`, split halves.
//! - [`pubsub`]: topics ([`pubsub::Hub`], [`pubsub::Subscriber`]); a published message is
//!   encoded once ([`pubsub::PreparedMessage`]) and its frame shared by every subscriber
//!   that can take it; bounded queues per subscriber; [`pubsub::redis`] (feature `redis`)
//!   shares topics between processes through Redis.
//! - [`h2`] (feature `http2`): WebSockets over HTTP/2 (RFC 8441 extended CONNECT), server
//!   and client, as the same [`tokio::WebSocket`] type over an HTTP/2 stream.
//! - [`hyper`] (feature `hyper`): [`hyper::upgrade`] turns a hyper 1.x request into its
//!   `101` response and a [`tokio::WebSocket`] with the subprotocol and permessage-deflate
//!   negotiated; [`axum`] (feature `axum`): the `WebSocketUpgrade` extractor over it.
//! - [`http`]: the boundary speaks the `http` crate: a client connects to a `&str`, a
//!   `Uri` or an `http::Request<()>` ([`IntoClientRequest`]), a server's handler gets
//!   [`Request`] (`http::Request<()>`) and rejects with any [`Reject`]
//!   (`http::Response<String>`); [`http::client_request`]/[`http::client_response`] are the
//!   client handshake for callers that do their own I/O.
//! - [`uring`] (feature `uring`, Linux): a server driver on io_uring, a thread per core
//!   with event callbacks ([`uring::Handler`]) instead of a task per connection.
//! - [`tls`] (feature `tls`): rustls configurations; `wss://` URLs use the web PKI roots
//!   unless [`ClientOptions::tls`] says otherwise.
//!
//! Limits default to 64 MiB per message and per frame, 1 Mi frames per message, a
//! 16 KiB / 64-line HTTP head and a 10 s handshake timeout ([`Config`]).
//!
//! Memory: a tokio connection waiting for input holds no buffer. When a read finds nothing,
//! the connection gives the engine's receive and send buffers back to per-thread pools
//! (withdrawing the engine's read, see [`wspc::ReceiveHalf::release_buffer`]), and its write
//! buffer and reclaimed message vectors live in a per-thread pool too (bounded in count and
//! size), so steady traffic allocates nothing per message while an idle connection keeps
//! only its state (about 2.3 KiB of resident memory per idle server connection, tokio's
//! task and registration included). A blocking connection keeps its buffers while it waits.
//!
//! # Call order
//!
//! The legal call sequences of the connection types, once for all of them. A call not
//! listed for a state fails with a typed error (it never panics or hangs); "recv" stands
//! for `recv`, `recv_piece` and (tokio) `Stream::poll_next`, "send" for `send`, `feed`,
//! `send_fragment`, `flush` and (tokio) `feed_prepared` and the `Sink` methods.
//!
//! | Type | State | Legal calls | Then |
//! |---|---|---|---|
//! | [`blocking::WebSocket`], [`tokio::WebSocket`] | open | send, recv, `close`, `split`, `is_closed`, `subprotocol`, `get_ref` | open; `close` ⇒ closed |
//! | | recv yielded `Message::Close` (its echo already written; a server has ended its write direction) | `close` (finishes the close sequence), recv | blocking: `Err(ConnectionClosed)`; tokio: the close sequence runs, then `None` |
//! | | recv yielded an error | `close` or drop; tokio: one more recv runs the close sequence and yields `None` | closed |
//! | | closed (`close` returned, or recv ended) | `is_closed`, drop; send fails with `InvalidState` or the write error | — |
//! | [`blocking::Writer`], [`tokio::WriteHalf`] | open | send, `close` (sends the close frame and flushes only) | after `close`: data sends fail with `InvalidState` |
//! | [`blocking::Reader`], [`tokio::ReadHalf`] | open | recv (answers pings, runs the keepalive, writes the close reply); blocking: `wait_close` after the writer's `close` | the peer's close, then as for the whole type |
//! | [`tokio::ReadHalf`] + [`tokio::WriteHalf`] | both halves held | `reunite` (same split only) | a whole [`tokio::WebSocket`] |
//!
//! One send and one receive may be in progress at a time. A tokio future dropped before
//! it finished has queued its message whole or not at all, and leaves the bytes it read
//! buffered for the next receive.
//! `close` does, in this order: queue the close frame (nothing if one was sent already),
//! receive and drop data until the peer's close or the close timeout
//! (`Config::close_timeout`), write what is queued, then end the transport: a server ends
//! its write direction at once (RFC 6455 §7.1.1) and waits for the client's end only when
//! the client's close did not come; a client waits (up to the same deadline) for the
//! server to end the stream, then ends its side. A close timeout is not an error.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod blocking;
mod config;
mod conn;
mod error;
#[cfg(feature = "http2")]
pub mod h2;
pub mod http;
#[cfg(feature = "hyper")]
pub mod hyper;
mod keepalive;
mod message;
mod payload;
pub mod pubsub;
mod session;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(all(feature = "uring", target_os = "linux"))]
pub mod uring;

pub use bytes::Bytes;
pub use config::*;
pub use error::{Error, Result, TlsError};
pub use http::{reject, Accept, ClientOptions, IntoClientRequest, Reject, Request, Response};
pub use message::{CloseFrame, Message, Piece, PieceKind};
pub use payload::{NotUtf8, Payload, Utf8Payload};
pub use wspc;
#[cfg(feature = "deflate")]
pub use wspc::deflate::{DeflateConfig, DeflateOffer, DeflatePolicy};
