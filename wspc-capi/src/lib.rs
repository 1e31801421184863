//! # libwspc: Windows' `websocket.h` for C and C++ on Linux
//!
//! This crate does **not** implement the WebSocket protocol: the `wspc` core engine does.
//! It owns the C ABI of the WebSocket Protocol Component API instead: the 13 exported
//! functions, the `#[repr(C)]` mirrors of the header's types, argument checking, one
//! HRESULT mapping, a registry of live handles (a bogus handle is `E_INVALIDARG`, not a
//! crash), a panic boundary around every export, and the locking that lets one handle's
//! send and receive queues be pumped from two threads.
//!
//! ```text
//!   C / C++ program ──#include <websocket.h>──▶ libwspc.so / libwspc.a
//!                                               api.rs     13 exports: check, translate
//!                                               handle.rs  registry, phases, locks
//!                                               error.rs   HRESULTs, panic boundary
//!                                               types.rs   websocket.h in Rust
//!                                                  │
//!                                                  ▼
//!                                               wspc (core): handshake, frames, actions
//! ```
//!
//! The header is `include/websocket.h` (hand-written, committed); `src/drift.rs` fails
//! the tests if it and `types.rs` / `api.rs` disagree.

mod api;
#[cfg(test)]
mod drift;
mod error;
mod handle;
pub mod types;

pub use api::*;
