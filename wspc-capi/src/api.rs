//! The 13 functions of `websocket.h`. Each one checks its arguments, finds the handle in
//! the registry, translates to the core engine's types, and translates the result back;
//! the protocol itself lives in `wspc_core`. Every body runs inside a panic boundary.
//! (One file over 600 lines on purpose: the 13 entry points side by side, in the header's
//! order, under the one set of ownership rules below.)
//!
//! Ownership, as C sees it:
//! - Header arrays from `WebSocketBegin*Handshake` belong to the handle until the handshake
//!   ends (`WebSocketEnd*Handshake`, or the first session call on a server handle).
//! - Buffers lent by `WebSocketGetAction` stay valid until the matching
//!   `WebSocketCompleteAction`; they point into the handle's memory (or the caller's
//!   allocated buffer, or back into the caller's own send payload).
//! - A payload passed to `WebSocketSend` (and a buffer passed to `WebSocketReceive`) is
//!   borrowed until its `INDICATE_*_COMPLETE` action has been completed, or the handle is
//!   deleted; the library never frees or writes caller send memory.
#![allow(non_snake_case, clippy::missing_safety_doc)]

use crate::error::{boundary, boundary_void, CResult, Fail};
use crate::handle::{lock, lookup, register, unregister, CHandle, Phase};
use crate::types::*;
use std::ffi::CStr;
use wspc_core::{
    keepalive_interval_ms, supported_versions, Action, ActionQueue, BufferType, Config, Handle, Header, Misuse,
    Payload, Property, PropertyType, Role, SendBuffer,
};

// ---------------------------------------------------------------------------------------
// Reading C arguments

/// `n` elements at `p`; NULL is allowed only when `n` is 0.
///
/// # Safety
/// A non-NULL `p` must point at `n` valid elements that outlive the returned slice.
unsafe fn array<'a, T>(p: *const T, n: ULONG, what: &'static str) -> CResult<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::InvalidArg(what));
    }
    // SAFETY: non-NULL and, per the caller's contract, `n` valid elements.
    Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
}

/// A NUL-terminated string that must be UTF-8 (tokens are ASCII).
///
/// # Safety
/// A non-NULL `p` must point at a NUL-terminated string.
unsafe fn c_str<'a>(p: PCSTR, what: &'static str) -> CResult<&'a str> {
    if p.is_null() {
        return Err(Fail::InvalidArg(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| Fail::InvalidArg(what))
}

/// An array of NUL-terminated strings.
///
/// # Safety
/// As [`array`] and [`c_str`].
unsafe fn c_strs<'a>(p: *const PCSTR, n: ULONG, what: &'static str) -> CResult<Vec<&'a str>> {
    // SAFETY: forwarded contract.
    let ptrs = unsafe { array(p, n, what)? };
    // SAFETY: forwarded contract.
    ptrs.iter().map(|&s| unsafe { c_str(s, what) }).collect()
}

/// Counted bytes; NULL is allowed only for length 0.
///
/// # Safety
/// A non-NULL `p` must point at `n` readable bytes that outlive the slice.
unsafe fn bytes<'a>(p: *const u8, n: ULONG, what: &'static str) -> CResult<&'a [u8]> {
    // SAFETY: forwarded contract.
    unsafe { array(p, n, what) }
}

/// The headers of a `WEB_SOCKET_HTTP_HEADER` array, as the core's borrowed headers.
///
/// # Safety
/// As [`array`]; every name and value must point at its counted bytes.
unsafe fn headers_in<'a>(p: *const WEB_SOCKET_HTTP_HEADER, n: ULONG, what: &'static str) -> CResult<Vec<Header<'a>>> {
    // SAFETY: forwarded contract.
    let hs = unsafe { array(p, n, what)? };
    hs.iter()
        .map(|h| {
            Ok(Header {
                // SAFETY: counted string per the caller's contract.
                name: unsafe { bytes(h.pcName as *const u8, h.ulNameLength, "header name")? },
                // SAFETY: counted string per the caller's contract.
                value: unsafe { bytes(h.pcValue as *const u8, h.ulValueLength, "header value")? },
            })
        })
        .collect()
}

/// Writes through an optional out-pointer.
///
/// # Safety
/// A non-NULL `p` must be valid for a write of `T`.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-NULL and writable per the caller's contract; unaligned is tolerated.
        unsafe { p.write_unaligned(v) };
    }
}

/// Reads through an out-pointer that must not be NULL.
///
/// # Safety
/// A non-NULL `p` must be valid for a read of `T`.
unsafe fn get<T: Copy>(p: *const T, what: &'static str) -> CResult<T> {
    if p.is_null() {
        return Err(Fail::InvalidArg(what));
    }
    // SAFETY: non-NULL and readable per the caller's contract.
    Ok(unsafe { p.read_unaligned() })
}

fn ulong(n: usize) -> CResult<ULONG> {
    ULONG::try_from(n).map_err(|_| Fail::Internal)
}

/// The C view of header strings owned by the core handle.
fn headers_out(hs: &[wspc_core::OwnedHeader]) -> CResult<Vec<WEB_SOCKET_HTTP_HEADER>> {
    hs.iter()
        .map(|h| {
            Ok(WEB_SOCKET_HTTP_HEADER {
                pcName: h.name.as_ptr() as PCHAR,
                ulNameLength: ulong(h.name.len())?,
                pcValue: h.value.as_ptr() as PCHAR,
                ulValueLength: ulong(h.value.len())?,
            })
        })
        .collect()
}

fn handshake_over() -> Fail {
    Fail::Core(Misuse::WrongState("the handshake is over").into())
}

// ---------------------------------------------------------------------------------------
// Handles and properties

/// A `ULONG`/`BOOL` property value: `pvValue` non-NULL and `ulValueSize` exactly 4.
///
/// # Safety
/// A non-NULL `pvValue` must point at `ulValueSize` readable bytes.
unsafe fn property_u32(p: &WEB_SOCKET_PROPERTY) -> CResult<u32> {
    if p.ulValueSize as usize != std::mem::size_of::<ULONG>() {
        return Err(Fail::InvalidArg("property value size must be 4"));
    }
    // SAFETY: forwarded contract; size checked above.
    unsafe { get(p.pvValue as *const u32, "NULL property value") }
}

/// The configuration for Create*Handle. The allocated buffer is applied last, whatever
/// the order of the properties, because its minimum size depends on the buffer sizes.
///
/// # Safety
/// As [`array`] for the property array and each property's value.
unsafe fn config(role: Role, props: *const WEB_SOCKET_PROPERTY, n: ULONG) -> CResult<Config> {
    // SAFETY: forwarded contract.
    let props = unsafe { array(props, n, "NULL property array")? };
    let mut cfg = Config::new(role);
    let mut allocated = None;
    let mut deflate = false;
    for p in props {
        if p.Type == WSPC_PERMESSAGE_DEFLATE_PROPERTY_TYPE {
            // The one property beyond Windows: opt in to permessage-deflate (RFC 7692).
            // SAFETY: the caller's contract covers the property value.
            deflate = unsafe { property_u32(p)? } != 0;
            continue;
        }
        let ty = PropertyType::from_raw(p.Type).ok_or(Fail::InvalidArg("unknown property type"))?;
        // SAFETY (for the reads below): the caller's contract covers each property value.
        let property = match ty {
            PropertyType::AllocatedBuffer => {
                // pvValue points at a pointer-sized variable holding the buffer's address;
                // ulValueSize is the buffer's length (spec section 4, as .NET passes it).
                // SAFETY: see above.
                let addr = unsafe { get(p.pvValue as *const *mut u8, "NULL allocated-buffer property")? };
                allocated = Some((addr, p.ulValueSize as usize));
                continue;
            }
            // SAFETY: see above.
            PropertyType::ReceiveBufferSize => Property::ReceiveBufferSize(unsafe { property_u32(p)? }),
            // SAFETY: see above.
            PropertyType::SendBufferSize => Property::SendBufferSize(unsafe { property_u32(p)? }),
            // SAFETY: see above.
            PropertyType::DisableMasking => Property::DisableMasking(unsafe { property_u32(p)? } != 0),
            PropertyType::DisableUtf8Verification => {
                // SAFETY: see above.
                Property::DisableUtf8Verification(unsafe { property_u32(p)? } != 0)
            }
            // SAFETY: see above.
            PropertyType::KeepaliveInterval => Property::KeepaliveInterval(unsafe { property_u32(p)? }),
            PropertyType::SupportedVersions => Property::SupportedVersions,
        };
        cfg = cfg.apply(property)?;
    }
    if let Some((addr, len)) = allocated {
        // SAFETY: the application promised, by passing the property, that the region is
        // valid and reserved for this handle until WebSocketDeleteHandle returns.
        cfg = unsafe { cfg.allocated_buffer(addr, len)? };
    }
    if deflate {
        if allocated.is_some() {
            // Compressed data lives in the compressor's memory, outside the caller's region.
            return Err(Fail::InvalidArg("permessage-deflate cannot be combined with an allocated buffer"));
        }
        cfg = cfg.deflate(Some(wspc_core::deflate::DeflateConfig::default()));
    }
    Ok(cfg)
}

unsafe fn create(role: Role, props: *const WEB_SOCKET_PROPERTY, n: ULONG, out: *mut WEB_SOCKET_HANDLE) -> HRESULT {
    boundary(|| {
        if out.is_null() {
            return Err(Fail::InvalidArg("NULL phWebSocket"));
        }
        // SAFETY: forwarded contract.
        let cfg = unsafe { config(role, props, n)? };
        let handle = match role {
            Role::Client => Handle::client(cfg)?,
            Role::Server => Handle::server(cfg)?,
        };
        let h = register(CHandle::new(handle))?;
        // SAFETY: checked non-NULL; the caller passes a writable handle variable.
        unsafe { put(out, h) };
        Ok(())
    })
}

/// `WebSocketCreateClientHandle`: a client (masking) handle configured by `pProperties`.
#[no_mangle]
pub unsafe extern "C" fn WebSocketCreateClientHandle(
    pProperties: PWEB_SOCKET_PROPERTY,
    ulPropertyCount: ULONG,
    phWebSocket: *mut WEB_SOCKET_HANDLE,
) -> HRESULT {
    // SAFETY: the C caller's contract (websocket.h) is forwarded.
    unsafe { create(Role::Client, pProperties, ulPropertyCount, phWebSocket) }
}

/// `WebSocketCreateServerHandle`: a server handle configured by `pProperties`.
#[no_mangle]
pub unsafe extern "C" fn WebSocketCreateServerHandle(
    pProperties: PWEB_SOCKET_PROPERTY,
    ulPropertyCount: ULONG,
    phWebSocket: *mut WEB_SOCKET_HANDLE,
) -> HRESULT {
    // SAFETY: the C caller's contract (websocket.h) is forwarded.
    unsafe { create(Role::Server, pProperties, ulPropertyCount, phWebSocket) }
}

/// `WebSocketDeleteHandle`: frees the handle. Unknown handles are ignored.
#[no_mangle]
pub unsafe extern "C" fn WebSocketDeleteHandle(hWebSocket: WEB_SOCKET_HANDLE) {
    boundary_void(|| drop(unregister(hWebSocket)));
}

/// `WebSocketAbortHandle`: new sends and receives fail; queued ones drain as completions.
#[no_mangle]
pub unsafe extern "C" fn WebSocketAbortHandle(hWebSocket: WEB_SOCKET_HANDLE) {
    boundary_void(|| {
        let Ok(ch) = lookup(hWebSocket) else { return };
        if let Some(h) = ch.halves.get() {
            if let Ok(s) = lock(&h.send) {
                s.abort();
            }
            return;
        }
        let Ok(mut whole) = lock(&ch.whole) else { return };
        if let Some(handle) = whole.handle.as_mut() {
            handle.abort();
        }
        let _ = ch.open_if_ready(&mut whole);
    });
}

/// `WebSocketGetGlobalProperty`: KEEPALIVE_INTERVAL (a ULONG, milliseconds) or
/// SUPPORTED_VERSIONS (an array of ULONG).
#[no_mangle]
pub unsafe extern "C" fn WebSocketGetGlobalProperty(
    eType: WEB_SOCKET_PROPERTY_TYPE,
    pvValue: PVOID,
    ulSize: *mut ULONG,
) -> HRESULT {
    boundary(|| {
        // SAFETY: the caller passes a readable ULONG.
        let size = unsafe { get(ulSize, "NULL ulSize")? } as usize;
        let keepalive;
        let values: &[u32] = match PropertyType::from_raw(eType) {
            Some(PropertyType::KeepaliveInterval) => {
                keepalive = [keepalive_interval_ms()];
                &keepalive
            }
            Some(PropertyType::SupportedVersions) => supported_versions(),
            _ => return Err(Fail::InvalidArg("not a global property")),
        };
        let needed = std::mem::size_of_val(values);
        if size < needed {
            // SAFETY: readable above, so writable (it is an in/out parameter).
            unsafe { put(ulSize, ulong(needed)?) };
            return Err(Fail::InsufficientBuffer);
        }
        if pvValue.is_null() {
            return Err(Fail::InvalidArg("NULL pvValue"));
        }
        let out = pvValue as *mut u32;
        for (i, v) in values.iter().enumerate() {
            // SAFETY: the caller's buffer holds `size >= needed` bytes.
            unsafe { out.add(i).write_unaligned(*v) };
        }
        // SAFETY: as above.
        unsafe { put(ulSize, ulong(needed)?) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Handshake

/// `WebSocketBeginClientHandshake`: the headers to add to the upgrade request, in an array
/// owned by the handle until the handshake ends.
#[no_mangle]
pub unsafe extern "C" fn WebSocketBeginClientHandshake(
    hWebSocket: WEB_SOCKET_HANDLE,
    pszSubprotocols: *mut PCSTR,
    ulSubprotocolCount: ULONG,
    pszExtensions: *mut PCSTR,
    ulExtensionCount: ULONG,
    pInitialHeaders: PWEB_SOCKET_HTTP_HEADER,
    ulInitialHeaderCount: ULONG,
    pAdditionalHeaders: *mut PWEB_SOCKET_HTTP_HEADER,
    pulAdditionalHeaderCount: *mut ULONG,
) -> HRESULT {
    boundary(|| {
        let ch = lookup(hWebSocket)?;
        if pAdditionalHeaders.is_null() || pulAdditionalHeaderCount.is_null() {
            return Err(Fail::InvalidArg("NULL output"));
        }
        // SAFETY: the caller's arrays and strings per websocket.h.
        let subprotocols = unsafe { c_strs(pszSubprotocols, ulSubprotocolCount, "bad subprotocol array")? };
        // SAFETY: as above.
        let extensions = unsafe { c_strs(pszExtensions, ulExtensionCount, "bad extension array")? };
        // SAFETY: as above.
        let initial = unsafe { headers_in(pInitialHeaders, ulInitialHeaderCount, "bad initial header array")? };
        if ch.halves.get().is_some() {
            return Err(handshake_over());
        }
        let mut whole = lock(&ch.whole)?;
        let handle = whole.handle.as_mut().ok_or(Fail::Internal)?;
        let out = headers_out(handle.begin_client_handshake(&subprotocols, &extensions, &initial)?)?;
        whole.offered_extensions = extensions.len();
        whole.headers = out;
        let (ptr, count) = (whole.headers.as_mut_ptr(), ulong(whole.headers.len())?);
        // SAFETY: both checked non-NULL above.
        unsafe {
            put(pAdditionalHeaders, ptr);
            put(pulAdditionalHeaderCount, count);
        }
        Ok(())
    })
}

/// `WebSocketEndClientHandshake`: checks the server's response headers and opens the
/// session; reports the chosen subprotocol and extensions as indices into the Begin call's
/// arrays. `*pulSelectedSubprotocol` is written only when the server chose one.
#[no_mangle]
pub unsafe extern "C" fn WebSocketEndClientHandshake(
    hWebSocket: WEB_SOCKET_HANDLE,
    pResponseHeaders: PWEB_SOCKET_HTTP_HEADER,
    ulReponseHeaderCount: ULONG,
    pulSelectedExtensions: *mut ULONG,
    pulSelectedExtensionCount: *mut ULONG,
    pulSelectedSubprotocol: *mut ULONG,
) -> HRESULT {
    boundary(|| {
        let ch = lookup(hWebSocket)?;
        // SAFETY: the caller's array per websocket.h.
        let response = unsafe { headers_in(pResponseHeaders, ulReponseHeaderCount, "bad response header array")? };
        let capacity = if pulSelectedExtensionCount.is_null() {
            None
        } else {
            // SAFETY: non-NULL in/out ULONG.
            Some(unsafe { get(pulSelectedExtensionCount, "")? } as usize)
        };
        if matches!(capacity, Some(c) if c > 0) && pulSelectedExtensions.is_null() {
            return Err(Fail::InvalidArg("NULL pulSelectedExtensions with a capacity"));
        }
        if ch.halves.get().is_some() {
            return Err(handshake_over());
        }
        let mut whole = lock(&ch.whole)?;
        if let Some(c) = capacity {
            if c < whole.offered_extensions {
                return Err(Fail::InvalidArg("extension capacity below the number offered"));
            }
        }
        let handle = whole.handle.as_mut().ok_or(Fail::Internal)?;
        let result = handle.end_client_handshake(&response)?;
        if let Some(i) = result.subprotocol {
            // SAFETY: optional out-pointer.
            unsafe { put(pulSelectedSubprotocol, ulong(i)?) };
        }
        if capacity.is_some() {
            let n = result.extensions.len().min(capacity.unwrap_or(0));
            for (k, &i) in result.extensions.iter().take(n).enumerate() {
                // SAFETY: non-NULL (checked when the capacity is non-zero) with `capacity`
                // slots, and `k < n <= capacity`.
                unsafe { pulSelectedExtensions.add(k).write_unaligned(ulong(i)?) };
            }
            // SAFETY: non-NULL in/out ULONG.
            unsafe { put(pulSelectedExtensionCount, ulong(n)?) };
        }
        ch.open_if_ready(&mut whole)?;
        Ok(())
    })
}

/// `WebSocketBeginServerHandshake`: checks the client's request headers and returns the
/// response headers, in an array owned by the handle until the handshake ends.
#[no_mangle]
pub unsafe extern "C" fn WebSocketBeginServerHandshake(
    hWebSocket: WEB_SOCKET_HANDLE,
    pszSubprotocolSelected: PCSTR,
    pszExtensionSelected: *mut PCSTR,
    ulExtensionSelectedCount: ULONG,
    pRequestHeaders: PWEB_SOCKET_HTTP_HEADER,
    ulRequestHeaderCount: ULONG,
    pResponseHeaders: *mut PWEB_SOCKET_HTTP_HEADER,
    pulResponseHeaderCount: *mut ULONG,
) -> HRESULT {
    boundary(|| {
        let ch = lookup(hWebSocket)?;
        if pResponseHeaders.is_null() || pulResponseHeaderCount.is_null() {
            return Err(Fail::InvalidArg("NULL output"));
        }
        let subprotocol = if pszSubprotocolSelected.is_null() {
            None
        } else {
            // SAFETY: NUL-terminated per websocket.h.
            Some(unsafe { c_str(pszSubprotocolSelected, "bad subprotocol")? })
        };
        // SAFETY: the caller's array and strings per websocket.h.
        let extensions = unsafe { c_strs(pszExtensionSelected, ulExtensionSelectedCount, "bad extension array")? };
        // SAFETY: as above.
        let request = unsafe { headers_in(pRequestHeaders, ulRequestHeaderCount, "bad request header array")? };
        if ch.halves.get().is_some() {
            return Err(handshake_over());
        }
        let mut whole = lock(&ch.whole)?;
        let handle = whole.handle.as_mut().ok_or(Fail::Internal)?;
        let out = headers_out(handle.begin_server_handshake(subprotocol, &extensions, &request)?)?;
        whole.headers = out;
        let (ptr, count) = (whole.headers.as_mut_ptr(), ulong(whole.headers.len())?);
        // SAFETY: both checked non-NULL above.
        unsafe {
            put(pResponseHeaders, ptr);
            put(pulResponseHeaderCount, count);
        }
        Ok(())
    })
}

/// `WebSocketEndServerHandshake`: ends the server handshake (optional).
#[no_mangle]
pub unsafe extern "C" fn WebSocketEndServerHandshake(hWebSocket: WEB_SOCKET_HANDLE) -> HRESULT {
    boundary(|| {
        let ch = lookup(hWebSocket)?;
        if ch.halves.get().is_some() {
            return Err(handshake_over());
        }
        let mut whole = lock(&ch.whole)?;
        whole.handle.as_mut().ok_or(Fail::Internal)?.end_server_handshake()?;
        ch.open_if_ready(&mut whole)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Session

/// `WebSocketSend`: queues one send. `pBuffer` must be NULL for PING_PONG and
/// UNSOLICITED_PONG; NULL for CLOSE sends a close frame without a status.
#[no_mangle]
pub unsafe extern "C" fn WebSocketSend(
    hWebSocket: WEB_SOCKET_HANDLE,
    BufferType: WEB_SOCKET_BUFFER_TYPE,
    pBuffer: *mut WEB_SOCKET_BUFFER,
    Context: PVOID,
) -> HRESULT {
    boundary(|| {
        let ch = lookup(hWebSocket)?;
        let ty = BufferType::from_raw(BufferType).ok_or(Fail::InvalidArg("unknown buffer type"))?;
        let buffer = if pBuffer.is_null() {
            None
        } else {
            // SAFETY: a non-NULL pBuffer points at one WEB_SOCKET_BUFFER (websocket.h).
            let b = unsafe { pBuffer.read_unaligned() };
            Some(match ty {
                BufferType::PingPong | BufferType::UnsolicitedPong => {
                    return Err(Fail::InvalidArg("pBuffer must be NULL for pings and pongs"))
                }
                BufferType::Close => {
                    // SAFETY: the caller filled the CloseStatus arm for a close.
                    let c = unsafe { b.CloseStatus };
                    if c.ulReasonLength > 0 && c.pbReason.is_null() {
                        return Err(Fail::InvalidArg("NULL close reason with a length"));
                    }
                    // SAFETY: the reason stays valid until the send completes (websocket.h).
                    let reason = unsafe { Payload::from_raw(c.pbReason, c.ulReasonLength as usize) };
                    SendBuffer::Close { status: c.usStatus, reason }
                }
                _ => {
                    // SAFETY: the caller filled the Data arm for data.
                    let d = unsafe { b.Data };
                    if d.ulBufferLength > 0 && d.pbBuffer.is_null() {
                        return Err(Fail::InvalidArg("NULL data buffer with a length"));
                    }
                    // SAFETY: the payload stays valid and unchanged until the send
                    // completes (websocket.h).
                    SendBuffer::Data(unsafe { Payload::from_raw(d.pbBuffer, d.ulBufferLength as usize) })
                }
            })
        };
        let context = Context as usize;
        match ch.session()? {
            Phase::Session(h) => lock(&h.send)?.send(ty, buffer, context)?,
            Phase::Handshake(mut whole) => {
                whole.handle.as_mut().ok_or(Fail::Internal)?.send(ty, buffer, context)?;
                ch.open_if_ready(&mut whole)?;
            }
        }
        Ok(())
    })
}

/// `WebSocketReceive`: queues one receive; with a NULL `pBuffer` the data is lent from
/// the handle's memory, otherwise it is copied into `pBuffer->Data`.
#[no_mangle]
pub unsafe extern "C" fn WebSocketReceive(
    hWebSocket: WEB_SOCKET_HANDLE,
    pBuffer: *mut WEB_SOCKET_BUFFER,
    pvContext: PVOID,
) -> HRESULT {
    boundary(|| {
        let ch = lookup(hWebSocket)?;
        let target = if pBuffer.is_null() {
            None
        } else {
            // SAFETY: a non-NULL pBuffer points at one WEB_SOCKET_BUFFER (websocket.h).
            let d = unsafe { pBuffer.read_unaligned().Data };
            if d.pbBuffer.is_null() || d.ulBufferLength == 0 {
                return Err(Fail::InvalidArg("empty receive buffer"));
            }
            Some((d.pbBuffer, d.ulBufferLength as usize))
        };
        let context = pvContext as usize;
        let run = |recv: &mut dyn FnMut(Option<(*mut u8, usize)>) -> wspc_core::Result<()>| recv(target);
        match ch.session()? {
            Phase::Session(h) => {
                let mut r = lock(&h.recv)?;
                run(&mut |t| match t {
                    None => r.receive(context),
                    // SAFETY: the caller keeps the buffer valid and unused until the
                    // receive completes (websocket.h).
                    Some((p, n)) => unsafe { r.receive_into(p, n, context) },
                })?;
            }
            Phase::Handshake(mut whole) => {
                let handle = whole.handle.as_mut().ok_or(Fail::Internal)?;
                run(&mut |t| match t {
                    None => handle.receive(context),
                    // SAFETY: as above.
                    Some((p, n)) => unsafe { handle.receive_into(p, n, context) },
                })?;
                ch.open_if_ready(&mut whole)?;
            }
        }
        Ok(())
    })
}

/// Where `WebSocketGetAction` writes.
struct ActionOut {
    buffers: *mut WEB_SOCKET_BUFFER,
    capacity: usize,
    count: *mut ULONG,
    action: *mut WEB_SOCKET_ACTION,
    buffer_type: *mut WEB_SOCKET_BUFFER_TYPE,
    app_context: *mut PVOID,
    action_context: *mut PVOID,
}

fn ptr_or_null(s: &[u8]) -> PBYTE {
    if s.is_empty() {
        std::ptr::null_mut()
    } else {
        s.as_ptr() as PBYTE
    }
}

fn data(s: &[u8]) -> CResult<WEB_SOCKET_BUFFER> {
    Ok(WEB_SOCKET_BUFFER { Data: WEB_SOCKET_BUFFER_Data { pbBuffer: ptr_or_null(s), ulBufferLength: ulong(s.len())? } })
}

fn close(s: &[u8], status: Option<u16>) -> CResult<WEB_SOCKET_BUFFER> {
    Ok(WEB_SOCKET_BUFFER {
        CloseStatus: WEB_SOCKET_BUFFER_CloseStatus {
            pbReason: ptr_or_null(s),
            ulReasonLength: ulong(s.len())?,
            usStatus: status.unwrap_or(wspc_core::close_status::EMPTY),
        },
    })
}

impl ActionOut {
    /// The outputs of a failed call: no action, no buffers, no context (spec U23).
    ///
    /// # Safety
    /// The non-NULL pointers must be writable.
    unsafe fn nothing(&self) {
        // SAFETY: forwarded contract.
        unsafe {
            put(self.count, 0);
            put(self.action, WEB_SOCKET_NO_ACTION);
            put(self.action_context, std::ptr::null_mut());
        }
    }

    /// Writes an action. Everything is computed before the first write.
    ///
    /// # Safety
    /// The pointers must be writable; `buffers` must have `capacity` slots.
    unsafe fn emit(&self, ch: &CHandle, action: Action<'_>) -> CResult {
        let kind = action.kind() as WEB_SOCKET_ACTION;
        let ctx = ch.context_of(action.token());
        let mut bufs =
            [WEB_SOCKET_BUFFER { Data: WEB_SOCKET_BUFFER_Data { pbBuffer: std::ptr::null_mut(), ulBufferLength: 0 } };
                2];
        let (n, ty, app) = match action {
            Action::NoAction => (0, None, None),
            Action::SendToNetwork { buffer_type, context, buffers, .. } => {
                let slices = buffers.as_slices();
                if slices.len() > self.capacity || slices.len() > bufs.len() {
                    return Err(Fail::Internal);
                }
                for (slot, s) in bufs.iter_mut().zip(slices) {
                    *slot = data(s)?;
                }
                (slices.len(), Some(buffer_type.to_raw()), context)
            }
            Action::IndicateSendComplete { buffer_type, context, payload, close_status, .. } => {
                bufs[0] = if buffer_type == BufferType::Close { close(payload, close_status)? } else { data(payload)? };
                (1, Some(buffer_type.to_raw()), Some(context))
            }
            Action::ReceiveFromNetwork { context, buffer, .. } => {
                bufs[0] = WEB_SOCKET_BUFFER {
                    Data: WEB_SOCKET_BUFFER_Data {
                        pbBuffer: buffer.as_mut_ptr(),
                        ulBufferLength: ulong(buffer.len())?,
                    },
                };
                // No buffer type belongs to a network read; 0 is written (spec U13).
                (1, Some(0), Some(context))
            }
            Action::IndicateReceiveComplete { buffer_type, context, data: d, close_status, .. } => {
                bufs[0] = if buffer_type == BufferType::Close { close(d, close_status)? } else { data(d)? };
                (1, Some(buffer_type.to_raw()), Some(context))
            }
        };
        if n > self.capacity {
            return Err(Fail::Internal);
        }
        // SAFETY: `n <= capacity` slots; the other pointers per the caller's contract.
        unsafe {
            for (i, b) in bufs.iter().take(n).enumerate() {
                self.buffers.add(i).write_unaligned(*b);
            }
            put(self.count, ulong(n)?);
            put(self.action, kind);
            if let Some(t) = ty {
                put(self.buffer_type, t);
            }
            if let Some(c) = app {
                put(self.app_context, c as PVOID);
            }
            put(self.action_context, ctx);
        }
        Ok(())
    }
}

/// `WEB_SOCKET_ALL_ACTION_QUEUE` on a split handle: both locks, always send first, and the
/// core's `get_action_all` (failed receive side first, then the queues take turns).
///
/// # Safety
/// As [`ActionOut::emit`].
unsafe fn get_action_all(ch: &CHandle, h: &crate::handle::Halves, out: &ActionOut) -> CResult {
    let mut s = lock(&h.send)?;
    let mut r = lock(&h.recv)?;
    let mut prefer_send = h.prefer_send.load(std::sync::atomic::Ordering::Relaxed);
    let action = wspc_core::get_action_all(&mut s, &mut r, &mut prefer_send, out.capacity);
    h.prefer_send.store(prefer_send, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: forwarded contract.
    unsafe { out.emit(ch, action?) }
}

/// `WebSocketGetAction`: the next thing to do on the selected queue(s). On failure
/// `*pAction` is NO_ACTION, `*pulDataBufferCount` 0 and `*pvActionContext` NULL.
#[no_mangle]
pub unsafe extern "C" fn WebSocketGetAction(
    hWebSocket: WEB_SOCKET_HANDLE,
    eActionQueue: WEB_SOCKET_ACTION_QUEUE,
    pDataBuffers: *mut WEB_SOCKET_BUFFER,
    pulDataBufferCount: *mut ULONG,
    pAction: *mut WEB_SOCKET_ACTION,
    pBufferType: *mut WEB_SOCKET_BUFFER_TYPE,
    pvApplicationContext: *mut PVOID,
    pvActionContext: *mut PVOID,
) -> HRESULT {
    let mut out = ActionOut {
        buffers: pDataBuffers,
        capacity: 0,
        count: pulDataBufferCount,
        action: pAction,
        buffer_type: pBufferType,
        app_context: pvApplicationContext,
        action_context: pvActionContext,
    };
    let hr = boundary(|| {
        // SAFETY: the caller passes a readable in/out ULONG.
        out.capacity = unsafe { get(pulDataBufferCount, "NULL pulDataBufferCount")? } as usize;
        if pAction.is_null() || pBufferType.is_null() || pvActionContext.is_null() {
            return Err(Fail::InvalidArg("NULL output"));
        }
        if out.capacity == 0 || pDataBuffers.is_null() {
            return Err(Fail::InvalidArg("no buffer slots"));
        }
        let queue = ActionQueue::from_raw(eActionQueue).ok_or(Fail::InvalidArg("unknown action queue"))?;
        let ch = lookup(hWebSocket)?;
        let phase = ch.session()?;
        let result = match phase {
            Phase::Session(h) => match queue {
                ActionQueue::Send => {
                    let mut s = lock(&h.send)?;
                    let a = s.get_action(out.capacity)?;
                    // SAFETY: the caller's output pointers per websocket.h.
                    unsafe { out.emit(&ch, a) }
                }
                ActionQueue::Receive => {
                    let mut r = lock(&h.recv)?;
                    let a = r.get_action()?;
                    // SAFETY: as above.
                    unsafe { out.emit(&ch, a) }
                }
                // SAFETY: as above.
                ActionQueue::All => unsafe { get_action_all(&ch, h, &out) },
            },
            Phase::Handshake(mut whole) => {
                let handle = whole.handle.as_mut().ok_or(Fail::Internal)?;
                let a = handle.get_action_with_slots(queue, out.capacity)?;
                // SAFETY: as above.
                unsafe { out.emit(&ch, a)? };
                ch.open_if_ready(&mut whole)?;
                Ok(())
            }
        };
        result
    });
    if hr != S_OK {
        // SAFETY: the caller's output pointers per websocket.h (NULL ones are skipped).
        boundary_void(|| unsafe { out.nothing() });
    }
    hr
}

/// `WebSocketCompleteAction`: the action behind `pvActionContext` was carried out.
/// NULL, NO_ACTION, stale, repeated and foreign contexts are ignored.
#[no_mangle]
pub unsafe extern "C" fn WebSocketCompleteAction(
    hWebSocket: WEB_SOCKET_HANDLE,
    pvActionContext: PVOID,
    ulBytesTransferred: ULONG,
) {
    boundary_void(|| {
        let Ok(ch) = lookup(hWebSocket) else { return };
        let Some(token) = ch.token_of(pvActionContext) else { return };
        let bytes = ulBytesTransferred as usize;
        let phase = ch.session();
        match phase {
            Ok(Phase::Session(h)) => match token.queue() {
                Some(ActionQueue::Send) => {
                    if let Ok(mut s) = lock(&h.send) {
                        drop(s.complete_action(token, bytes));
                    }
                }
                Some(ActionQueue::Receive) => {
                    if let Ok(mut r) = lock(&h.recv) {
                        r.complete_action(token, bytes);
                    }
                }
                _ => {}
            },
            Ok(Phase::Handshake(mut whole)) => {
                if let Some(handle) = whole.handle.as_mut() {
                    handle.complete_action(token, bytes);
                }
                let _ = ch.open_if_ready(&mut whole);
            }
            Err(_) => {}
        }
    });
}
