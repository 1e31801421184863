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
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod blocking;
mod config;
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
