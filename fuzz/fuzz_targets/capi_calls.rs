//! Random sequences of C API calls, misuse included, through the real `extern "C"`
//! functions of wspc-capi.
//!
//! How the C library gets in: wspc-capi builds only a cdylib and a staticlib named
//! `wspc` (no rlib: it would collide with the core crate of the same name), so it cannot
//! be a Rust dependency. Linking the prebuilt staticlib would work, but its code would
//! carry no coverage instrumentation or ASan checks. Instead its four source modules are
//! compiled into this fuzz binary with `#[path]` (the same files, unchanged), with the core
//! crate renamed to `wspc_core` as wspc-capi's Cargo.toml does; the exports are then called
//! exactly as a C program calls them, with raw pointers, and are instrumented like the rest.
//!
//! The harness keeps four handle slots wired in pairs (0↔1, 2↔3): bytes a handle sends to
//! the network land in its peer's inbox. Every call the fuzzer chooses is made with the
//! arguments it chooses: NULL outputs, bogus or deleted handles, wrong buffer types, stale
//! and foreign action contexts, wrong byte counts, calls out of order. The harness itself
//! keeps the contract a C program must keep (it touches only buffers that are lent and not
//! yet completed, keeps send payloads alive until their completion or the handle's
//! deletion), so anything ASan or an assertion reports is the library's fault.
#![no_main]
#![allow(clippy::missing_safety_doc)]

extern crate wspc as wspc_core;

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../wspc-capi/src/api.rs"]
mod api;
#[allow(dead_code, clippy::all)]
#[path = "../../wspc-capi/src/error.rs"]
mod error;
#[allow(dead_code, clippy::all)]
#[path = "../../wspc-capi/src/handle.rs"]
mod handle;
#[allow(dead_code, clippy::all)]
#[path = "../../wspc-capi/src/types.rs"]
mod types;

use api::*;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::ffi::CString;
use std::ptr::{null, null_mut};
use types::*;

const SLOTS: usize = 4;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HandleRef {
    Slot(u8),
    Null,
    /// Any pointer value: it is only looked up, never dereferenced.
    Bogus(u64),
    /// A handle that was deleted earlier in this run.
    Deleted(u8),
}

#[derive(Arbitrary, Debug)]
enum Prop {
    ReceiveBufferSize(u32),
    SendBufferSize(u32),
    DisableMasking(u32),
    DisableUtf8(u32),
    Keepalive(u32),
    SupportedVersions,
    /// A real buffer of `len` bytes (`extra` added to the size the handle needs), at an
    /// offset of `misalign` bytes.
    Allocated {
        extra: i16,
        misalign: u8,
    },
    /// Any type and size, the value pointing at 8 valid bytes (sizes above 8 are clamped).
    Raw {
        ty: u32,
        size: u8,
        value: u64,
        null: bool,
    },
}

#[derive(Arbitrary, Debug)]
enum Headers {
    /// The headers the peer handle produced in its Begin call (plus Host), possibly edited.
    FromPeer {
        drop: Option<u8>,
        edit: Option<(u8, Vec<u8>)>,
    },
    Raw(Vec<(Vec<u8>, Vec<u8>)>),
    /// A count with a NULL array.
    NullArray(u8),
}

#[derive(Arbitrary, Debug)]
enum Bytes {
    All,
    Zero,
    Some(u16),
    /// More than the buffer holds.
    TooMany(u32),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Create {
        slot: u8,
        server: bool,
        props: Vec<Prop>,
        null_out: bool,
    },
    Delete(HandleRef),
    Abort(HandleRef),
    Global {
        ty: u32,
        size: u8,
        null_value: bool,
        null_size: bool,
    },
    BeginClient {
        h: HandleRef,
        subprotocols: Vec<String>,
        extensions: Vec<String>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        null_out: bool,
    },
    EndClient {
        h: HandleRef,
        response: Headers,
        capacity: Option<u8>,
        null_extensions: bool,
        null_subprotocol: bool,
    },
    BeginServer {
        h: HandleRef,
        subprotocol: Option<String>,
        extensions: Vec<String>,
        request: Headers,
        null_out: bool,
    },
    EndServer(HandleRef),
    Send {
        h: HandleRef,
        ty: u32,
        payload: Vec<u8>,
        status: u16,
        null_buffer: bool,
        context: u64,
    },
    Receive {
        h: HandleRef,
        buffer: Option<u16>,
        null_pointer: bool,
        context: u64,
    },
    GetAction {
        h: HandleRef,
        queue: u32,
        capacity: u8,
        null_mask: u8,
    },
    /// Complete the `which`-th outstanding action (carrying it out first, as the contract
    /// asks), with `bytes` transferred.
    Complete {
        which: u8,
        bytes: Bytes,
        on: Option<HandleRef>,
    },
    /// Complete a context that is stale, foreign or made up.
    CompleteBogus {
        h: HandleRef,
        context: u64,
        bytes: u32,
    },
    Inject {
        slot: u8,
        bytes: Vec<u8>,
    },
    /// Run the honest loop (get an action on every queue, carry it out, complete it).
    Pump {
        rounds: u8,
    },
    /// New handles for a pair of slots with the whole handshake done right (a shortcut to
    /// the session phase).
    Connect {
        pair: u8,
        client_props: Vec<Prop>,
        server_props: Vec<Prop>,
        subprotocol: bool,
        end_server: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<Op>,
}

struct Outstanding {
    slot: usize,
    handle: WEB_SOCKET_HANDLE,
    action: WEB_SOCKET_ACTION,
    bufs: Vec<(*mut u8, usize)>,
    context: PVOID,
}

struct World {
    handles: [WEB_SOCKET_HANDLE; SLOTS],
    /// Headers returned by the last Begin call on each slot (copied at once).
    begun: [Vec<(Vec<u8>, Vec<u8>)>; SLOTS],
    deleted: Vec<WEB_SOCKET_HANDLE>,
    inbox: [Vec<u8>; SLOTS],
    outstanding: Vec<Outstanding>,
    completed: Vec<(WEB_SOCKET_HANDLE, PVOID)>,
    /// Send payloads and receive buffers: alive until every handle is deleted.
    arena: Vec<Box<[u8]>>,
    aligned: Vec<Vec<u64>>,
}

impl World {
    fn new() -> Self {
        Self {
            handles: [null_mut(); SLOTS],
            begun: Default::default(),
            deleted: Vec::new(),
            inbox: Default::default(),
            outstanding: Vec::new(),
            completed: Vec::new(),
            arena: Vec::new(),
            aligned: Vec::new(),
        }
    }

    fn resolve(&self, r: HandleRef) -> (Option<usize>, WEB_SOCKET_HANDLE) {
        match r {
            HandleRef::Slot(i) => {
                let i = i as usize % SLOTS;
                (Some(i), self.handles[i])
            }
            HandleRef::Null => (None, null_mut()),
            HandleRef::Bogus(v) => {
                let h = v as usize as WEB_SOCKET_HANDLE;
                (self.handles.iter().position(|&x| x == h && !x.is_null()), h)
            }
            HandleRef::Deleted(i) => match self.deleted.get(i as usize % self.deleted.len().max(1)) {
                // A deleted address may have been reused by a new handle.
                Some(&h) => (self.handles.iter().position(|&x| x == h), h),
                None => (None, null_mut()),
            },
        }
    }

    fn forget(&mut self, h: WEB_SOCKET_HANDLE) {
        if h.is_null() {
            return;
        }
        // The buffers it lent are gone with it.
        self.outstanding.retain(|o| o.handle != h);
        for i in 0..SLOTS {
            if self.handles[i] == h {
                self.handles[i] = null_mut();
                self.begun[i].clear();
                self.inbox[i].clear();
            }
        }
        self.deleted.push(h);
    }

    fn keep(&mut self, data: &[u8]) -> *mut u8 {
        let mut b: Box<[u8]> = data.into();
        let p = b.as_mut_ptr();
        self.arena.push(b);
        p
    }
}

fn hr_ok(hr: HRESULT) {
    let known = [
        S_OK,
        E_INVALIDARG,
        E_OUTOFMEMORY,
        E_INSUFFICIENT_BUFFER,
        E_INVALID_PROTOCOL_OPERATION,
        E_INVALID_PROTOCOL_FORMAT,
        E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED,
        E_SUBPROTOCOL_NOT_SUPPORTED,
        E_PROTOCOL_VERSION_NOT_SUPPORTED,
    ];
    // E_FAIL is the library's "internal error / caught panic": never expected here.
    assert!(known.contains(&hr), "unexpected HRESULT {:#x}", hr as u32);
}

fn c_strings(v: &[String]) -> Vec<CString> {
    v.iter().map(|s| CString::new(s.replace('\0', "")).unwrap()).collect()
}

struct HeaderArray {
    _names: Vec<Vec<u8>>,
    _values: Vec<Vec<u8>>,
    arr: Vec<WEB_SOCKET_HTTP_HEADER>,
}

fn header_array(hs: &[(Vec<u8>, Vec<u8>)]) -> HeaderArray {
    let mut names: Vec<Vec<u8>> = hs.iter().map(|h| h.0.clone()).collect();
    let mut values: Vec<Vec<u8>> = hs.iter().map(|h| h.1.clone()).collect();
    let arr = names
        .iter_mut()
        .zip(values.iter_mut())
        .map(|(n, v)| WEB_SOCKET_HTTP_HEADER {
            pcName: if n.is_empty() { null_mut() } else { n.as_mut_ptr() as PCHAR },
            ulNameLength: n.len() as ULONG,
            pcValue: if v.is_empty() { null_mut() } else { v.as_mut_ptr() as PCHAR },
            ulValueLength: v.len() as ULONG,
        })
        .collect();
    HeaderArray { _names: names, _values: values, arr }
}

/// Copies a header array the library returned (valid until its handshake ends).
unsafe fn copy_headers(p: PWEB_SOCKET_HTTP_HEADER, n: ULONG) -> Vec<(Vec<u8>, Vec<u8>)> {
    assert!(n == 0 || !p.is_null());
    assert!(n < 64);
    (0..n as usize)
        .map(|i| {
            let h = unsafe { p.add(i).read() };
            let name = unsafe { std::slice::from_raw_parts(h.pcName as *const u8, h.ulNameLength as usize) };
            let value = unsafe { std::slice::from_raw_parts(h.pcValue as *const u8, h.ulValueLength as usize) };
            (name.to_vec(), value.to_vec())
        })
        .collect()
}

fn peer(slot: usize) -> usize {
    slot ^ 1
}

fn headers_for(w: &World, slot: Option<usize>, src: &Headers) -> (Vec<(Vec<u8>, Vec<u8>)>, Option<u8>) {
    match src {
        Headers::FromPeer { drop, edit } => {
            let mut hs = slot.map(|s| w.begun[peer(s)].clone()).unwrap_or_default();
            hs.push((b"Host".to_vec(), b"fuzz".to_vec()));
            if let Some(d) = drop {
                let i = *d as usize % hs.len();
                hs.remove(i);
            }
            if let (Some((i, v)), false) = (edit, hs.is_empty()) {
                let i = *i as usize % hs.len();
                hs[i].1 = v.clone();
            }
            (hs, None)
        }
        Headers::Raw(hs) => (hs.clone(), None),
        Headers::NullArray(n) => (Vec::new(), Some(*n)),
    }
}

/// Returns whether a new handle is in the slot.
fn create(w: &mut World, slot: u8, server: bool, props: &[Prop], null_out: bool) -> bool {
    let slot = slot as usize % SLOTS;
    let mut values: Vec<Box<[u64; 1]>> = Vec::new();
    let mut list = Vec::new();
    let mut recv = 4096u64;
    let mut send = if server { 16u64 } else { 4096 };
    for p in props.iter().take(8) {
        let (ty, v, size, null) = match p {
            Prop::ReceiveBufferSize(v) => {
                recv = (*v as u64).clamp(256, 1 << 20);
                (WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, *v as u64, 4, false)
            }
            Prop::SendBufferSize(v) => {
                send = (*v as u64).clamp(16, 1 << 20);
                (WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, *v as u64, 4, false)
            }
            Prop::DisableMasking(v) => (WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE, *v as u64, 4, false),
            Prop::DisableUtf8(v) => (WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE, *v as u64, 4, false),
            Prop::Keepalive(v) => (WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE, *v as u64, 4, false),
            Prop::SupportedVersions => (WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE, 13, 4, false),
            Prop::Allocated { extra, misalign } => {
                // Receive + send + 144 is what the handle needs with the sizes so far.
                let need = (recv + send + 144) as i64;
                let len = (need + *extra as i64).clamp(0, 4 << 20) as usize;
                let off = (*misalign % 8) as usize;
                let words = (len + off).div_ceil(8) + 1;
                let mut buf = vec![0u64; words];
                let addr = unsafe { (buf.as_mut_ptr() as *mut u8).add(off) };
                w.aligned.push(buf);
                values.push(Box::new([addr as u64]));
                let pv = values.last_mut().unwrap().as_mut_ptr() as PVOID;
                list.push(WEB_SOCKET_PROPERTY {
                    Type: WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE,
                    pvValue: pv,
                    ulValueSize: len as ULONG,
                });
                continue;
            }
            Prop::Raw { ty, size, value, null } => {
                if *ty == WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE {
                    continue; // its size is the buffer's length: lying about it is caller UB
                }
                (*ty, *value, (*size % 9) as ULONG, *null)
            }
        };
        values.push(Box::new([v]));
        let pv = if null { null_mut() } else { values.last_mut().unwrap().as_mut_ptr() as PVOID };
        list.push(WEB_SOCKET_PROPERTY { Type: ty, pvValue: pv, ulValueSize: size });
    }
    let mut out: WEB_SOCKET_HANDLE = null_mut();
    let pout = if null_out { null_mut() } else { &mut out as *mut _ };
    let plist = if list.is_empty() { null_mut() } else { list.as_mut_ptr() };
    let hr = unsafe {
        if server {
            WebSocketCreateServerHandle(plist, list.len() as ULONG, pout)
        } else {
            WebSocketCreateClientHandle(plist, list.len() as ULONG, pout)
        }
    };
    hr_ok(hr);
    if null_out {
        assert_ne!(hr, S_OK);
        return false;
    }
    if hr == S_OK {
        assert!(!out.is_null());
        let old = w.handles[slot];
        if !old.is_null() {
            unsafe { WebSocketDeleteHandle(old) };
            w.forget(old);
        }
        w.handles[slot] = out;
    }
    hr == S_OK
}

unsafe fn get_action(w: &mut World, r: HandleRef, queue: u32, capacity: u8, null_mask: u8) {
    let (slot, h) = w.resolve(r);
    let cap = (capacity % 5) as usize;
    let mut bufs =
        vec![
            WEB_SOCKET_BUFFER { Data: WEB_SOCKET_BUFFER_Data { pbBuffer: null_mut(), ulBufferLength: 0xdead } };
            cap.max(1)
        ];
    let mut count: ULONG = cap as ULONG;
    let mut action: WEB_SOCKET_ACTION = 0xffff;
    let mut ty: WEB_SOCKET_BUFFER_TYPE = 0;
    let mut app: PVOID = 1 as PVOID;
    let mut ctx: PVOID = 1 as PVOID;
    let nb = null_mask & 1 != 0;
    let hr = unsafe {
        WebSocketGetAction(
            h,
            queue,
            if nb { null_mut() } else { bufs.as_mut_ptr() },
            if null_mask & 2 != 0 { null_mut() } else { &mut count },
            if null_mask & 4 != 0 { null_mut() } else { &mut action },
            if null_mask & 8 != 0 { null_mut() } else { &mut ty },
            if null_mask & 16 != 0 { null_mut() } else { &mut app },
            if null_mask & 32 != 0 { null_mut() } else { &mut ctx },
        )
    };
    hr_ok(hr);
    if hr != S_OK {
        // Spec U23: a failed call reports nothing to do.
        if null_mask & 4 == 0 {
            assert_eq!(action, WEB_SOCKET_NO_ACTION);
        }
        if null_mask & 2 == 0 {
            assert_eq!(count, 0);
        }
        if null_mask & 32 == 0 {
            assert!(ctx.is_null());
        }
        return;
    }
    assert!(null_mask & (1 | 2 | 4 | 8 | 32) == 0, "success with a NULL required output");
    assert!(count as usize <= cap, "{count} buffers for {cap} slots");
    assert!(action <= WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION);
    if action == WEB_SOCKET_NO_ACTION {
        assert_eq!(count, 0);
        return;
    }
    assert!(!ctx.is_null());
    let slot = slot.expect("an action from a handle that is not live");
    let mut lent = Vec::new();
    for b in bufs.iter().take(count as usize) {
        let d = unsafe { b.Data };
        let len = if action == WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION && ty == WEB_SOCKET_CLOSE_BUFFER_TYPE
            || action == WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION && ty == WEB_SOCKET_CLOSE_BUFFER_TYPE
        {
            let c = unsafe { b.CloseStatus };
            assert!(c.ulReasonLength <= 123);
            (c.pbReason, c.ulReasonLength as usize)
        } else {
            (d.pbBuffer, d.ulBufferLength as usize)
        };
        assert!(len.1 == 0 || !len.0.is_null(), "NULL buffer with a length");
        assert!(len.1 <= 1 << 21);
        // Touch every lent byte now: ASan catches a dangling or short buffer here.
        if len.1 > 0 {
            let s = unsafe { std::slice::from_raw_parts(len.0, len.1) };
            std::hint::black_box(s.iter().fold(0u8, |a, &b| a ^ b));
        }
        lent.push(len);
    }
    match action {
        WEB_SOCKET_SEND_TO_NETWORK_ACTION => assert!(count >= 1),
        WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION => assert!(count == 1 && lent[0].1 > 0),
        _ => assert_eq!(count, 1),
    }
    w.outstanding.push(Outstanding { slot, handle: h, action, bufs: lent, context: ctx });
}

unsafe fn complete(w: &mut World, which: usize, bytes: &Bytes, on: Option<HandleRef>) {
    if w.outstanding.is_empty() {
        return;
    }
    let i = which % w.outstanding.len();
    let o = w.outstanding.remove(i);
    let total: usize = o.bufs.iter().map(|b| b.1).sum();
    let want = match bytes {
        Bytes::All => total,
        Bytes::Zero => 0,
        Bytes::Some(n) => (*n as usize).min(total),
        Bytes::TooMany(n) => total + 1 + *n as usize,
    };
    let mut reported = want;
    match o.action {
        WEB_SOCKET_SEND_TO_NETWORK_ACTION => {
            let mut left = want.min(total);
            for &(p, n) in &o.bufs {
                let k = n.min(left);
                if k > 0 {
                    let s = unsafe { std::slice::from_raw_parts(p, k) };
                    w.inbox[peer(o.slot)].extend_from_slice(s);
                }
                left -= k;
            }
        }
        WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION => {
            let (p, n) = o.bufs[0];
            let inbox = &mut w.inbox[o.slot];
            let k = want.min(n).min(inbox.len());
            unsafe { std::ptr::copy_nonoverlapping(inbox.as_ptr(), p, k) };
            inbox.drain(..k);
            if !matches!(bytes, Bytes::TooMany(_)) {
                reported = k;
            }
        }
        _ => {}
    }
    let target = match on {
        Some(r) => w.resolve(r).1,
        None => o.handle,
    };
    unsafe { WebSocketCompleteAction(target, o.context, reported.min(u32::MAX as usize) as ULONG) };
    if target != o.handle {
        // Completed on another handle: ignored there, so it is still outstanding here.
        w.outstanding.insert(i.min(w.outstanding.len()), o);
    } else {
        w.completed.push((o.handle, o.context));
    }
}

unsafe fn pump(w: &mut World, rounds: u8) {
    for _ in 0..rounds.min(64) {
        for slot in 0..SLOTS {
            if w.handles[slot].is_null() {
                continue;
            }
            for q in [WEB_SOCKET_SEND_ACTION_QUEUE, WEB_SOCKET_RECEIVE_ACTION_QUEUE] {
                // Carry out what is outstanding on this handle, except reads with nothing
                // to read (a real read would block); then ask for more.
                let mut i = 0;
                while i < w.outstanding.len() {
                    let o = &w.outstanding[i];
                    if o.slot == slot
                        && !(o.action == WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION && w.inbox[slot].is_empty())
                    {
                        unsafe { complete(w, i, &Bytes::All, None) };
                    } else {
                        i += 1;
                    }
                }
                unsafe { get_action(w, HandleRef::Slot(slot as u8), q, 2, 0) };
            }
        }
    }
}

fn connect(w: &mut World, pair: u8, cp: &[Prop], sp: &[Prop], subprotocol: bool, end_server: bool) {
    let c = (pair as usize % 2) * 2;
    let s = c + 1;
    if !create(w, c as u8, false, cp, false) || !create(w, s as u8, true, sp, false) {
        return;
    }
    let (hc, hs) = (w.handles[c], w.handles[s]);
    let subs = c_strings(&["chat".to_string()]);
    let mut sp: Vec<PCSTR> = subs.iter().map(|s| s.as_ptr()).collect();
    let mut out: PWEB_SOCKET_HTTP_HEADER = null_mut();
    let mut n: ULONG = 0;
    let hr = unsafe {
        // Offering a subprotocol obliges the server to choose one (spec §5.4).
        let (p, k) = if subprotocol { (sp.as_mut_ptr(), 1) } else { (null_mut(), 0) };
        WebSocketBeginClientHandshake(hc, p, k, null_mut(), 0, null_mut(), 0, &mut out, &mut n)
    };
    assert_eq!(hr, S_OK);
    let mut req = unsafe { copy_headers(out, n) };
    req.push((b"Host".to_vec(), b"fuzz".to_vec()));
    let mut ha = header_array(&req);
    let chat = CString::new("chat").unwrap();
    let hr = unsafe {
        WebSocketBeginServerHandshake(
            hs,
            if subprotocol { chat.as_ptr() } else { null() },
            null_mut(),
            0,
            ha.arr.as_mut_ptr(),
            ha.arr.len() as ULONG,
            &mut out,
            &mut n,
        )
    };
    assert_eq!(hr, S_OK);
    let resp = unsafe { copy_headers(out, n) };
    let mut hb = header_array(&resp);
    let mut sel: ULONG = 0xffff;
    let hr = unsafe {
        WebSocketEndClientHandshake(hc, hb.arr.as_mut_ptr(), hb.arr.len() as ULONG, null_mut(), null_mut(), &mut sel)
    };
    assert_eq!(hr, S_OK);
    assert_eq!(sel, if subprotocol { 0 } else { 0xffff });
    if end_server {
        assert_eq!(unsafe { WebSocketEndServerHandshake(hs) }, S_OK);
    }
}

fn run(input: Input) {
    let mut w = World::new();
    for op in input.ops.iter().take(256) {
        match op {
            Op::Create { slot, server, props, null_out } => {
                create(&mut w, *slot, *server, props, *null_out);
            }
            Op::Delete(r) => {
                let (_, h) = w.resolve(*r);
                unsafe { WebSocketDeleteHandle(h) };
                if w.handles.contains(&h) {
                    w.forget(h);
                }
            }
            Op::Abort(r) => {
                let (_, h) = w.resolve(*r);
                unsafe { WebSocketAbortHandle(h) };
            }
            Op::Global { ty, size, null_value, null_size } => {
                let mut buf = [0u32; 4];
                let mut sz: ULONG = (*size % 20) as ULONG;
                let hr = unsafe {
                    WebSocketGetGlobalProperty(
                        *ty,
                        if *null_value { null_mut() } else { buf.as_mut_ptr() as PVOID },
                        if *null_size { null_mut() } else { &mut sz },
                    )
                };
                hr_ok(hr);
                assert!(sz as usize <= 16 || hr != S_OK);
            }
            Op::BeginClient { h, subprotocols, extensions, headers, null_out } => {
                let (slot, h) = w.resolve(*h);
                let subs = c_strings(&subprotocols[..subprotocols.len().min(8)]);
                let exts = c_strings(&extensions[..extensions.len().min(8)]);
                let mut sp: Vec<PCSTR> = subs.iter().map(|s| s.as_ptr()).collect();
                let mut ep: Vec<PCSTR> = exts.iter().map(|s| s.as_ptr()).collect();
                let mut ha = header_array(&headers[..headers.len().min(8)]);
                let mut out: PWEB_SOCKET_HTTP_HEADER = null_mut();
                let mut n: ULONG = 0;
                let hr = unsafe {
                    WebSocketBeginClientHandshake(
                        h,
                        if sp.is_empty() { null_mut() } else { sp.as_mut_ptr() },
                        sp.len() as ULONG,
                        if ep.is_empty() { null_mut() } else { ep.as_mut_ptr() },
                        ep.len() as ULONG,
                        if ha.arr.is_empty() { null_mut() } else { ha.arr.as_mut_ptr() },
                        ha.arr.len() as ULONG,
                        if *null_out { null_mut() } else { &mut out },
                        &mut n,
                    )
                };
                hr_ok(hr);
                if hr == S_OK {
                    if let Some(s) = slot {
                        w.begun[s] = unsafe { copy_headers(out, n) };
                    }
                }
            }
            Op::EndClient { h, response, capacity, null_extensions, null_subprotocol } => {
                let (slot, h) = w.resolve(*h);
                let (hs, null_count) = headers_for(&w, slot, response);
                let mut ha = header_array(&hs[..hs.len().min(16)]);
                let mut sel = [0xffff_u32; 8];
                let mut cap: ULONG = capacity.map_or(0, |c| (c % 9) as ULONG);
                let mut sub: ULONG = 0xffff;
                let (parr, pn) = match null_count {
                    Some(n) => (null_mut(), n as ULONG),
                    None => (if ha.arr.is_empty() { null_mut() } else { ha.arr.as_mut_ptr() }, ha.arr.len() as ULONG),
                };
                let hr = unsafe {
                    WebSocketEndClientHandshake(
                        h,
                        parr,
                        pn,
                        if *null_extensions { null_mut() } else { sel.as_mut_ptr() },
                        if capacity.is_none() { null_mut() } else { &mut cap },
                        if *null_subprotocol { null_mut() } else { &mut sub },
                    )
                };
                hr_ok(hr);
                if hr == S_OK && capacity.is_some() {
                    assert!(cap as usize <= capacity.map_or(0, |c| (c % 9) as usize));
                }
            }
            Op::BeginServer { h, subprotocol, extensions, request, null_out } => {
                let (slot, h) = w.resolve(*h);
                let sub = subprotocol.as_ref().map(|s| CString::new(s.replace('\0', "")).unwrap());
                let exts = c_strings(&extensions[..extensions.len().min(8)]);
                let mut ep: Vec<PCSTR> = exts.iter().map(|s| s.as_ptr()).collect();
                let (hs, null_count) = headers_for(&w, slot, request);
                let mut ha = header_array(&hs[..hs.len().min(16)]);
                let (parr, pn) = match null_count {
                    Some(n) => (null_mut(), n as ULONG),
                    None => (if ha.arr.is_empty() { null_mut() } else { ha.arr.as_mut_ptr() }, ha.arr.len() as ULONG),
                };
                let mut out: PWEB_SOCKET_HTTP_HEADER = null_mut();
                let mut n: ULONG = 0;
                let hr = unsafe {
                    WebSocketBeginServerHandshake(
                        h,
                        sub.as_ref().map_or(null(), |s| s.as_ptr()),
                        if ep.is_empty() { null_mut() } else { ep.as_mut_ptr() },
                        ep.len() as ULONG,
                        parr,
                        pn,
                        if *null_out { null_mut() } else { &mut out },
                        &mut n,
                    )
                };
                hr_ok(hr);
                if hr == S_OK {
                    if let Some(s) = slot {
                        w.begun[s] = unsafe { copy_headers(out, n) };
                    }
                }
            }
            Op::EndServer(r) => {
                let (_, h) = w.resolve(*r);
                hr_ok(unsafe { WebSocketEndServerHandshake(h) });
            }
            Op::Send { h, ty, payload, status, null_buffer, context } => {
                let (_, h) = w.resolve(*h);
                let ty = if *ty & 0x100 == 0 { 0x8000_0000 | (*ty % 8) } else { *ty };
                let p = w.keep(payload);
                let len = payload.len() as ULONG;
                let mut b = if ty == WEB_SOCKET_CLOSE_BUFFER_TYPE {
                    WEB_SOCKET_BUFFER {
                        CloseStatus: WEB_SOCKET_BUFFER_CloseStatus {
                            pbReason: if len == 0 { null_mut() } else { p },
                            ulReasonLength: len,
                            usStatus: *status,
                        },
                    }
                } else {
                    WEB_SOCKET_BUFFER {
                        Data: WEB_SOCKET_BUFFER_Data {
                            pbBuffer: if len == 0 { null_mut() } else { p },
                            ulBufferLength: len,
                        },
                    }
                };
                let pb = if *null_buffer { null_mut() } else { &mut b as *mut _ };
                hr_ok(unsafe { WebSocketSend(h, ty, pb, *context as usize as PVOID) });
            }
            Op::Receive { h, buffer, null_pointer, context } => {
                let (_, h) = w.resolve(*h);
                let mut b;
                let pb = match buffer {
                    None => null_mut(),
                    Some(n) => {
                        let n = *n as usize;
                        let p = if *null_pointer { null_mut() } else { w.keep(&vec![0u8; n.max(1)]) };
                        b = WEB_SOCKET_BUFFER {
                            Data: WEB_SOCKET_BUFFER_Data { pbBuffer: p, ulBufferLength: n as ULONG },
                        };
                        &mut b as *mut _
                    }
                };
                hr_ok(unsafe { WebSocketReceive(h, pb, *context as usize as PVOID) });
            }
            Op::GetAction { h, queue, capacity, null_mask } => unsafe {
                let q = if *queue & 0x100 == 0 { *queue % 5 } else { *queue };
                get_action(&mut w, *h, q, *capacity, *null_mask)
            },
            Op::Complete { which, bytes, on } => unsafe { complete(&mut w, *which as usize, bytes, *on) },
            Op::CompleteBogus { h, context, bytes } => {
                let (_, h) = w.resolve(*h);
                // A context completed before (stale), or any value.
                let ctx = match w.completed.get(*context as usize % w.completed.len().max(1)) {
                    Some(&(_, c)) if context & 1 == 0 => c,
                    _ => *context as usize as PVOID,
                };
                // Only values that are not outstanding: completing those is the honest path.
                if !w.outstanding.iter().any(|o| o.context == ctx) {
                    unsafe { WebSocketCompleteAction(h, ctx, *bytes) };
                }
            }
            Op::Inject { slot, bytes } => w.inbox[*slot as usize % SLOTS].extend_from_slice(bytes),
            Op::Pump { rounds } => unsafe { pump(&mut w, *rounds) },
            Op::Connect { pair, client_props, server_props, subprotocol, end_server } => {
                connect(&mut w, *pair, client_props, server_props, *subprotocol, *end_server)
            }
        }
        for b in &w.inbox {
            assert!(b.len() < 64 << 20);
        }
    }
    for h in w.handles {
        if !h.is_null() {
            unsafe { WebSocketDeleteHandle(h) };
            assert!(handle::lookup(h).is_err(), "a deleted handle is still registered");
        }
    }
    // Only now may the payloads and buffers lent to the handles go.
    drop(w);
}

fuzz_target!(|input: Input| run(input));
