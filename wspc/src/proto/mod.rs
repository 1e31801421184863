//! The protocol core: a [`Decoder`] and an [`Encoder`], pure and I/O-free, holding every
//! rule of RFC 6455 and RFC 7692 exactly once. The Windows action queue ([`Handle`],
//! [`SendHalf`], [`ReceiveHalf`]) and `wspc-io`'s connections are both built on them; a
//! caller with its own buffers (an async runtime's read buffer, io_uring's provided
//! buffers, an HTTP/2 stream) can drive them directly.
//!
//! Get a pair for an opened handshake with [`Handle::into_codec`] (or
//! [`Decoder::new`] / [`Encoder::new`] for a connection upgraded elsewhere, without
//! extensions).
//!
//! # Decoder: legal call sequences
//! | state | call | then |
//! |---|---|---|
//! | any | [`Decoder::decode`]`(input)` → `NeedMore` | drop `consumed` bytes; read more after the rest; decode again |
//! | any | `decode` → `Payload(d)` (all input consumed) | either read into the buffer and `decode`, or read up to `d.remaining` bytes into own memory and call [`Decoder::direct`] |
//! | after `Payload` | `direct(bytes)` → `Partial` | `direct` again (or `decode` with the next bytes) |
//! | after `Payload` | `direct` → `FrameEnd` / `MessageEnd` | `decode` with the bytes after the frame |
//! | any | `decode` → `Data(chunk)` | use [`Decoder::chunk`] (input range, or inflated output valid until the next `decode`); after a compressed message's last chunk, [`Decoder::release_inflated`] |
//! | any | `decode` → `Ping` / `Pong` | answer a ping with a pong ([`Encoder::encode`]); decode on |
//! | any | `decode` → `Close` | stop decoding (later calls return `NeedMore`) |
//! | any | `decode` → `Err(e)` | final: send close code [`ProtocolError::close_code`](crate::ProtocolError::close_code); every later call returns `e` |
//!
//! The bytes a call did not consume must be presented again, unchanged, at the front of
//! the next input: the decoder may already have unmasked and validated them.
//!
//! # Encoder: legal call sequences
//! | call | then |
//! |---|---|
//! | [`Encoder::encode`]`(ty, payload, out)` | the whole frame is appended to `out` |
//! | [`Encoder::encode_close`]`(status, reason, out)` | only pings and pongs may follow |
//! | [`Encoder::begin`] → [`FrameHead`] | write [`FrameHead::write_header`], then [`Encoder::body`] (masked with [`FrameHead::copy_body`] / [`FrameHead::mask_body`] when [`FrameHead::masks`]), then [`Encoder::end`]; or [`Encoder::cancel`] if nothing of it was written |
//!
//! [`Handle`]: crate::Handle
//! [`Handle::into_codec`]: crate::Handle::into_codec
//! [`SendHalf`]: crate::SendHalf
//! [`ReceiveHalf`]: crate::ReceiveHalf

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::{Chunk, Decoded, Decoder, DirectPayload, DirectStatus, Event, Source};
pub use encode::{append_frame, Encoder, FrameHead, MAX_CONTROL_FRAME};
pub(crate) use encode::{control_frame_len, write_control, Masker};
