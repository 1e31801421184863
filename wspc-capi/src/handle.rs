//! What a `WEB_SOCKET_HANDLE` points at, and the registry that tells real handles from
//! anything else a caller might pass.
//!
//! ```text
//!   WEB_SOCKET_HANDLE ──(registry: address → Arc<CHandle>)──▶ CHandle
//!                                                              ├─ whole: Mutex<Whole>      until the handshake ends:
//!                                                              │    wspc_core::Handle + the C header array it lends
//!                                                              └─ halves: OnceLock<Halves> from then on:
//!                                                                   send: Mutex<SendHalf>   ◀── send-queue thread
//!                                                                   recv: Mutex<ReceiveHalf>◀── receive-queue thread
//! ```
//!
//! The moment the core handle is open it is split into its two halves, each behind its own
//! lock, so one thread can pump the send queue while another pumps the receive queue (the
//! core keeps their shared wire state in atomics). `WEB_SOCKET_ALL_ACTION_QUEUE` takes
//! both locks, always send first. Locks are held only inside a call, never while the
//! application does I/O.

use crate::error::{CResult, Fail};
use crate::types::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, RwLock};
use wspc_core::{Handle, ReceiveHalf, Role, SendHalf};

/// Action contexts handed to C are `tag << TAG_SHIFT | core token`, so that a context from
/// one handle completed on another is recognised and ignored.
pub(crate) const TAG_SHIFT: u32 = 34;
const TAG_MASK: u64 = (1 << (64 - TAG_SHIFT)) - 1;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("wspc-capi packs handle tags into 64-bit action contexts; only 64-bit targets are supported");

/// The handshake phase: the whole core handle, and the C view of the headers it lends.
pub(crate) struct Whole {
    /// `None` only if splitting failed (then every call gets `E_FAIL`).
    pub(crate) handle: Option<Handle>,
    /// The array returned by a Begin*Handshake call; its strings are owned by `handle`.
    pub(crate) headers: Vec<WEB_SOCKET_HTTP_HEADER>,
    /// How many extensions the client offered (capacity check in EndClientHandshake).
    pub(crate) offered_extensions: usize,
}

// SAFETY: the raw pointers in `headers` point into strings owned by `handle` in the same
// struct; they are only created and dropped here (never dereferenced by Rust), and the
// whole struct is only reached through its mutex.
unsafe impl Send for Whole {}

/// The session phase: the two halves, each with its own lock.
pub(crate) struct Halves {
    pub(crate) send: Mutex<SendHalf>,
    pub(crate) recv: Mutex<ReceiveHalf>,
    /// `WEB_SOCKET_ALL_ACTION_QUEUE` alternates between the queues.
    pub(crate) prefer_send: AtomicBool,
}

pub(crate) struct CHandle {
    pub(crate) tag: u64,
    pub(crate) whole: Mutex<Whole>,
    pub(crate) halves: OnceLock<Halves>,
}

/// Where a session call goes.
pub(crate) enum Phase<'a> {
    Session(&'a Halves),
    /// Still handshaking: the call is passed to the whole core handle, which refuses it
    /// with its own error.
    Handshake(MutexGuard<'a, Whole>),
}

/// Locks, turning a poisoned lock (a panic was caught while it was held) into `E_FAIL`.
pub(crate) fn lock<T>(m: &Mutex<T>) -> CResult<MutexGuard<'_, T>> {
    m.lock().map_err(|_| Fail::Internal)
}

impl CHandle {
    pub(crate) fn new(handle: Handle) -> Self {
        static NEXT_TAG: AtomicU64 = AtomicU64::new(1);
        let tag = loop {
            let t = NEXT_TAG.fetch_add(1, Ordering::Relaxed) & TAG_MASK;
            if t != 0 {
                break t;
            }
        };
        Self {
            tag,
            whole: Mutex::new(Whole { handle: Some(handle), headers: Vec::new(), offered_extensions: 0 }),
            halves: OnceLock::new(),
        }
    }

    /// The phase for a session call (Send, Receive, GetAction). A server handle whose
    /// handshake began is opened here: Windows ends the server handshake implicitly on
    /// the first session call.
    pub(crate) fn session(&self) -> CResult<Phase<'_>> {
        if let Some(h) = self.halves.get() {
            return Ok(Phase::Session(h));
        }
        let mut whole = lock(&self.whole)?;
        if let Some(h) = self.halves.get() {
            return Ok(Phase::Session(h));
        }
        let handle = whole.handle.as_mut().ok_or(Fail::Internal)?;
        if handle.role() == Role::Server && !handle.is_open() && handle.handshake_headers().is_some() {
            handle.end_server_handshake()?;
        }
        if self.open_if_ready(&mut whole)? {
            return Ok(Phase::Session(self.halves.get().ok_or(Fail::Internal)?));
        }
        Ok(Phase::Handshake(whole))
    }

    /// After any call on the whole handle: once it is open, split it into its halves and
    /// release the handshake memory (the header array lent to C goes with it). Returns
    /// whether the handle is in the session phase.
    pub(crate) fn open_if_ready(&self, whole: &mut Whole) -> CResult<bool> {
        if self.halves.get().is_some() {
            return Ok(true);
        }
        let is_open = whole.handle.as_ref().ok_or(Fail::Internal)?.is_open();
        if !is_open {
            return Ok(false);
        }
        whole.headers = Vec::new();
        let handle = whole.handle.take().ok_or(Fail::Internal)?;
        let (send, recv) = handle.split()?;
        let halves = Halves { send: Mutex::new(send), recv: Mutex::new(recv), prefer_send: AtomicBool::new(false) };
        if self.halves.set(halves).is_err() {
            return Err(Fail::Internal);
        }
        Ok(true)
    }

    /// Packs a core token into the action context given to C (NULL for "no action").
    pub(crate) fn context_of(&self, token: wspc_core::ActionToken) -> PVOID {
        let raw = token.to_raw();
        if raw == 0 {
            return std::ptr::null_mut();
        }
        debug_assert!(raw >> TAG_SHIFT == 0, "core token wider than {TAG_SHIFT} bits");
        ((self.tag << TAG_SHIFT) | raw) as usize as PVOID
    }

    /// The core token inside an action context, if the context belongs to this handle.
    pub(crate) fn token_of(&self, ctx: PVOID) -> Option<wspc_core::ActionToken> {
        let raw = ctx as usize as u64;
        if raw == 0 || raw >> TAG_SHIFT != self.tag {
            return None;
        }
        Some(wspc_core::ActionToken::from_raw(raw & ((1 << TAG_SHIFT) - 1)))
    }
}

/// Every live handle, by the address given to C. A lookup clones the `Arc`, so a handle
/// deleted by one thread while another is inside a call is freed when that call returns.
static REGISTRY: LazyLock<RwLock<HashMap<usize, Arc<CHandle>>>> = LazyLock::new(|| RwLock::new(HashMap::new()));

/// Registers a handle and returns the value C sees.
pub(crate) fn register(h: CHandle) -> CResult<WEB_SOCKET_HANDLE> {
    let arc = Arc::new(h);
    let key = Arc::as_ptr(&arc) as usize;
    REGISTRY.write().map_err(|_| Fail::Internal)?.insert(key, arc);
    Ok(key as WEB_SOCKET_HANDLE)
}

/// The handle behind `h`, or `E_INVALIDARG` for NULL, a deleted handle or anything else.
/// The pointer is only compared, never dereferenced.
pub(crate) fn lookup(h: WEB_SOCKET_HANDLE) -> CResult<Arc<CHandle>> {
    if h.is_null() {
        return Err(Fail::InvalidArg("NULL handle"));
    }
    let map = REGISTRY.read().map_err(|_| Fail::Internal)?;
    map.get(&(h as usize)).cloned().ok_or(Fail::InvalidArg("not a live WEB_SOCKET_HANDLE"))
}

/// Removes a handle; it is freed when the last call using it returns.
pub(crate) fn unregister(h: WEB_SOCKET_HANDLE) -> Option<Arc<CHandle>> {
    if h.is_null() {
        return None;
    }
    let mut map = REGISTRY.write().ok()?;
    let removed = map.remove(&(h as usize));
    if map.is_empty() {
        // Give the table's memory back, so a program that deleted all its handles holds
        // no allocation of ours (clean leak reports).
        *map = HashMap::new();
    }
    removed
}
