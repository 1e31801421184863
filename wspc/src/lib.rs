//! # wspc: the WebSocket Protocol Component, in Rust
//!
//! An RFC 6455 engine that does **no I/O**: no sockets, no clock reads, no threads, no
//! async. It is a faithful re-implementation of the Windows WebSocket Protocol Component API
//! (`websocket.h`): the application queues sends and receives, asks the engine what to do
//! next, does the I/O itself, and reports back. Buffers are lent by the engine, as in
//! Windows. Beyond Windows it offers limits (message size, frame size, fragments) and
//! permessage-deflate (RFC 7692).
//!
//! ```text
//!   application                         wspc::Handle
//!   ───────────                         ────────────
//!   send(ty, buf, ctx) ───────────────▶ send queue ──┐
//!   receive(ctx)       ───────────────▶ recv queue ──┤  frames, masks, UTF-8,
//!                                                    │  auto-pong, deflate
//!   loop {                                           │
//!     get_action(queue) ◀────────────────────────────┘
//!       SendToNetwork{buffers}       → write them to the transport
//!       ReceiveFromNetwork{buffer}   → read into it
//!       IndicateSendComplete         → the send's payload is free again
//!       IndicateReceiveComplete{data}→ consume the chunk / pong / close
//!       NoAction                     → stop pumping this queue for now
//!     complete_action(token, bytes) ─▶ (exactly once per action)
//!   }
//! ```
//!
//! ## A first session, in memory
//! ```
//! use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader};
//!
//! let mut client = Handle::client(Config::client()).unwrap();
//! let mut server = Handle::server(Config::server()).unwrap();
//! // Handshake: pass header arrays between the two, as the Windows sample does.
//! let mut request: Vec<OwnedHeader> = client.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
//! request.push(OwnedHeader { name: "Host".into(), value: "localhost".into() });
//! let req: Vec<Header> = request.iter().map(OwnedHeader::as_header).collect();
//! let response: Vec<OwnedHeader> = server.begin_server_handshake(None, &[], &req).unwrap().to_vec();
//! let resp: Vec<Header> = response.iter().map(OwnedHeader::as_header).collect();
//! client.end_client_handshake(&resp).unwrap();
//! server.end_server_handshake().unwrap();
//!
//! // Client sends "Hello World"; the bytes go through a Vec standing in for a socket.
//! client.send_data(BufferType::Utf8Message, "Hello World", 1).unwrap();
//! let mut wire = Vec::new();
//! loop {
//!     let action = client.get_action(ActionQueue::All).unwrap();
//!     let token = action.token();
//!     let n = match action {
//!         Action::SendToNetwork { buffers, .. } => {
//!             buffers.as_slices().iter().for_each(|b| wire.extend_from_slice(b));
//!             buffers.len()
//!         }
//!         Action::IndicateSendComplete { .. } => 0,
//!         Action::NoAction => break,
//!         other => panic!("unexpected {:?}", other.kind()),
//!     };
//!     client.complete_action(token, n);
//! }
//! assert_eq!(wire.len(), 2 + 4 + 11); // header, mask key, masked payload
//!
//! server.receive(2).unwrap();
//! let mut got = Vec::new();
//! loop {
//!     let action = server.get_action(ActionQueue::All).unwrap();
//!     let token = action.token();
//!     match action {
//!         Action::ReceiveFromNetwork { buffer, .. } => {
//!             let n = wire.len().min(buffer.len());
//!             buffer[..n].copy_from_slice(&wire[..n]);
//!             wire.drain(..n);
//!             server.complete_action(token, n);
//!         }
//!         Action::IndicateReceiveComplete { data, buffer_type, .. } => {
//!             assert_eq!(buffer_type, BufferType::Utf8Message);
//!             got.extend_from_slice(data);
//!             server.complete_action(token, 0);
//!         }
//!         Action::NoAction => break,
//!         other => panic!("unexpected {:?}", other.kind()),
//!     }
//! }
//! assert_eq!(got, b"Hello World");
//! ```
//!
//! ## Windows names and their Rust counterparts
//!
//! | `websocket.h` | wspc |
//! |---|---|
//! | `WEB_SOCKET_HANDLE` | [`Handle`] (or its halves [`SendHalf`], [`ReceiveHalf`]) |
//! | `WebSocketCreateClientHandle` | [`Handle::client`] with [`Config::from_properties`] |
//! | `WebSocketCreateServerHandle` | [`Handle::server`] |
//! | `WebSocketBeginClientHandshake` | [`Handle::begin_client_handshake`] |
//! | `WebSocketEndClientHandshake` | [`Handle::end_client_handshake`] |
//! | `WebSocketBeginServerHandshake` | [`Handle::begin_server_handshake`] |
//! | `WebSocketEndServerHandshake` | [`Handle::end_server_handshake`] |
//! | `WebSocketSend` | [`Handle::send`] |
//! | `WebSocketReceive` | [`Handle::receive`], [`Handle::receive_into`] |
//! | `WebSocketGetAction` | [`Handle::get_action`], [`Handle::get_action_with_slots`] |
//! | `WebSocketCompleteAction` | [`Handle::complete_action`] |
//! | `WebSocketAbortHandle` | [`Handle::abort`] |
//! | `WebSocketDeleteHandle` | `drop(handle)` |
//! | `WebSocketGetGlobalProperty` | [`keepalive_interval_ms`], [`supported_versions`] |
//! | `WEB_SOCKET_PROPERTY` / `_TYPE` | [`Property`] / [`PropertyType`] |
//! | `WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE` | [`Config::allocated_buffer`] (unsafe) |
//! | `WEB_SOCKET_BUFFER` (`Data` / `CloseStatus`) | [`SendBuffer::Data`] / [`SendBuffer::Close`]; received: the fields of [`Action::IndicateReceiveComplete`] |
//! | `WEB_SOCKET_BUFFER_TYPE` | [`BufferType`] |
//! | `WEB_SOCKET_ACTION` | [`Action`] / [`ActionKind`] |
//! | `WEB_SOCKET_ACTION_QUEUE` | [`ActionQueue`] |
//! | `pvActionContext` | [`ActionToken`] |
//! | `pvApplicationContext` / `Context` | the `context: usize` of sends and receives |
//! | `WEB_SOCKET_HTTP_HEADER` | [`Header`] (in), [`OwnedHeader`] (out) |
//! | `WEB_SOCKET_CLOSE_STATUS` | [`close_status`] |
//! | `WEB_SOCKET_MAX_CLOSE_REASON_LENGTH` | [`MAX_CLOSE_REASON_LENGTH`] |
//! | `S_OK`, `E_INVALID_PROTOCOL_*`, … | [`hresult`]; every [`Error`] has [`Error::hresult`] |
//!
//! ## Decisions where Windows is silent
//! These follow the project's spec (its \[REC\] entries) unless noted.
//! - A second outstanding send or receive: `E_INVALID_PROTOCOL_OPERATION`. A receive after a
//!   close was received, a data send after a close was sent: the same.
//! - Protocol errors: the receive side fails for good (every later `get_action` on it
//!   returns the error) and nothing is sent automatically; [`Error::close_code`] gives the
//!   code to send (1002, 1007 or 1009). Frames out of sequence are
//!   `E_INVALID_PROTOCOL_OPERATION`, everything malformed `E_INVALID_PROTOCOL_FORMAT`.
//! - A received pong (solicited or not) completes a receive as `PingPong`, payload exposed.
//!   An automatic pong goes out as a `SendToNetwork` typed `UnsolicitedPong`, with no
//!   context: on the receive queue, or on the send queue when it had to wait (below).
//! - On the receive queue `NoAction` never comes while a receive is queued and the handle
//!   is not aborted: .NET's receive operation takes `NoAction` as "this receive is finished"
//!   (spec §6.4). So an automatic pong never makes the receive queue wait. A frame the send
//!   half writes in one action is whole on the wire, so a pong due meanwhile is lent at once
//!   as its own whole-frame action (callers serialise whole actions, as .NET's send
//!   throttle does; RFC 6455 lets control frames go between data frames). A frame that
//!   takes several actions (a masked payload larger than the send buffer, a header lent
//!   alone with one slot) holds the wire until its last action completes; a pong due then
//!   waits and the receive queue goes on (chunks, reads). The waiting pong is lent by
//!   whichever queue asks first after that frame: the receive queue, or the send queue
//!   before anything else at its next frame boundary (built in the send buffer when it
//!   fits: always from 131 bytes), so a receive side blocked in a read cannot starve it.
//!   One ping payload is kept per handle: a newer ping replaces an older one still
//!   waiting (RFC 6455 §5.5.3). While the receive queue has a pong out, the send queue
//!   says `NoAction` (Windows' behaviour, which .NET retries). A pong completed with 0
//!   bytes (.NET after its own close) is dropped without cutting the stream; abort drops
//!   a waiting pong. Cost: none per data message; a one-action frame takes one atomic load
//!   instead of two compare-and-swaps on the wire flag.
//! - Rust-only, off by default: [`Config::deliver_pings`] also hands each received ping out,
//!   as an `IndicateReceiveComplete` typed `PingPong` with `ping: true` and the ping's
//!   payload (decoded once, by the same parse that stores it for the pong). The ping is
//!   taken for its pong first, exactly as without the option (pong slot, newest ping
//!   wins, the same turns); the completion follows the pong's `SendToNetwork` when the
//!   pong could go at once, or comes while it waits. Nothing else moves: a ping between
//!   the frames of a message completes its own receive between the message's chunks. The
//!   C API never sets it (Windows reports no received ping), so its actions are unchanged.
//! - Received text is validated as it arrives; a chunk never ends inside a code point,
//!   except where the peer's own frames split one.
//! - Data chunks: whatever payload has arrived is handed out at once (no waiting to fill the
//!   buffer), so streaming works and invalid data is found at the first bad byte.
//! - Sends: one frame per send. A server (or a zero-mask client) lends the caller's payload
//!   as the second buffer when it does not fit in the send buffer; a small payload is copied
//!   next to the header so that one buffer is written. A masking client copies payload into
//!   the send buffer and emits it in send-buffer-sized actions. With one buffer slot, the
//!   header goes first, then the payload.
//! - A short count on `SendToNetwork` cancels the send; if any byte of the frame may have
//!   reached the wire, the stream is broken and later sends fail.
//! - Under `ActionQueue::All` the two queues take turns.
//! - 1012-1014 are accepted as close codes (IANA-registered); 1004-1006, 1015 and codes
//!   below 1000 or from 1016 to 2999 are not.
//! - Handles are not internally locked: a [`Handle`] is `Send`, and [`Handle::split`] gives
//!   two halves for two threads. The halves share atomics (a flag saying which half is in
//!   the middle of a frame that takes several actions, so an automatic pong never lands
//!   inside it, and the abort/close flags) and the one-ping slot, behind a lock held only
//!   to copy a ping's payload in or out. A single-threaded user pays one atomic load per
//!   one-action frame (a compare-and-swap pair for a frame of several actions).
//!
//! ## Rust-only extensions
//! Beyond `websocket.h` (the C API keeps the Windows behaviour): limits on message size,
//! frame size and fragments ([`Config`]); permessage-deflate; [`Handle::split`] into halves
//! for two threads; [`ReceiveHalf::release_buffer`] for idle connections; owned payloads
//! back from [`Handle::complete_action_reclaim`]; and the protocol core itself
//! ([`proto`]): [`Handle::into_codec`] gives an opened handle's [`Encoder`] and [`Decoder`]
//! to callers that keep their own buffers (the decoder also lets the rest of a large
//! payload be read straight into the caller's memory).
//!
//! ## Layers
//! ```text
//!   C API (wspc-capi)          wspc-io Session (tokio, blocking, io_uring, HTTP/2 ...)
//!          |                                   |
//!   Handle / SendHalf / ReceiveHalf            |   (the Windows action queue: lent
//!          |        (action.rs, send.rs,       |    buffers, tokens, cancellation,
//!          |         recv.rs, region.rs)       |    automatic pong, abort and drain)
//!          +-------------------+---------------+
//!                              |
//!            proto::Decoder / proto::Encoder   (every RFC 6455 / 7692 rule, once)
//!                              |
//!            codec (frame headers, masking, UTF-8) and deflate (zlib streams)
//! ```
//!
//! ## Memory
//! A handle allocates once: receive buffer + 144 bytes (pong frame) and the send buffer
//! (or carves both from the caller's allocated buffer). Nothing is allocated per frame or
//! per message afterwards (see `tests/alloc.rs`); owned payloads can be reclaimed with
//! [`Handle::complete_action_reclaim`].
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod action;
pub mod codec;
mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
mod handle;
pub mod handshake;
pub mod proto;
mod recv;
mod region;
mod send;
mod shared;
mod types;

pub use action::{Action, ActionToken, Payload, SendBuffers};
pub use config::*;
pub use error::{Error, HandshakeError, Misuse, ProtocolError, Result};
pub use handle::{get_action_all, ClientHandshakeResult, Handle};
pub use handshake::{Header, OwnedHeader};
pub use proto::{Decoder, DirectPayload, DirectStatus, Encoder};
pub use recv::ReceiveHalf;
pub use send::{SendBuffer, SendHalf};
#[cfg(feature = "deflate")]
pub use shared::SharedCompressor;
pub use shared::{encode_message, SharedEncoding};
pub use types::*;
