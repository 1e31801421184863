//! The header-drift test. Method: the committed, hand-written `include/websocket.h` is
//! checked against the Rust definitions from C (no header generator):
//!
//! 1. `tests/c/layout_dump.c` is compiled with the system C compiler and prints every
//!    `sizeof`, alignment, `offsetof` and constant value as C sees them; each must equal
//!    what Rust computes from `types.rs`, and the two lists must name the same things.
//! 2. Every `#define` and enumerator of the header must have a Rust counterpart with the
//!    same value (so a constant added to one side only fails).
//! 3. The 13 prototypes are parsed out of the header and compared, parameter by parameter,
//!    with a table whose entries are type-checked against the exported Rust functions (a
//!    function-pointer coercion that only compiles if the signatures are identical).

use crate::types::*;
use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header() -> String {
    std::fs::read_to_string(manifest().join("include/websocket.h")).expect("read include/websocket.h")
}

/// What Rust says, keyed like layout_dump.c's output.
fn rust_facts() -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    macro_rules! size {
        ($($t:ident),*) => {$(
            m.insert(format!("sizeof {}", stringify!($t)), size_of::<$t>() as i64);
            m.insert(format!("alignof {}", stringify!($t)), align_of::<$t>() as i64);
        )*};
    }
    size!(
        HRESULT,
        ULONG,
        USHORT,
        BYTE,
        CHAR,
        BOOL,
        PVOID,
        PBYTE,
        PCHAR,
        PCSTR,
        WEB_SOCKET_HANDLE,
        WEB_SOCKET_CLOSE_STATUS,
        WEB_SOCKET_PROPERTY_TYPE,
        WEB_SOCKET_ACTION_QUEUE,
        WEB_SOCKET_BUFFER_TYPE,
        WEB_SOCKET_ACTION,
        WEB_SOCKET_PROPERTY,
        WEB_SOCKET_HTTP_HEADER,
        WEB_SOCKET_BUFFER
    );
    macro_rules! off {
        ($t:ident: $($f:ident),*) => {$(
            m.insert(format!("offsetof {}.{}", stringify!($t), stringify!($f)), offset_of!($t, $f) as i64);
        )*};
        ($t:ident . $arm:ident ($inner:ident): $($f:ident),*) => {$(
            m.insert(
                format!("offsetof {}.{}.{}", stringify!($t), stringify!($arm), stringify!($f)),
                (offset_of!($t, $arm) + offset_of!($inner, $f)) as i64,
            );
        )*};
    }
    off!(WEB_SOCKET_PROPERTY: Type, pvValue, ulValueSize);
    off!(WEB_SOCKET_HTTP_HEADER: pcName, ulNameLength, pcValue, ulValueLength);
    off!(WEB_SOCKET_BUFFER.Data(WEB_SOCKET_BUFFER_Data): pbBuffer, ulBufferLength);
    off!(WEB_SOCKET_BUFFER.CloseStatus(WEB_SOCKET_BUFFER_CloseStatus): pbReason, ulReasonLength, usStatus);
    macro_rules! val {
        ($($c:ident),*) => {$( m.insert(format!("value {}", stringify!($c)), $c as i64); )*};
    }
    val!(
        WEB_SOCKET_MAX_CLOSE_REASON_LENGTH,
        WEB_SOCKET_SUCCESS_CLOSE_STATUS,
        WEB_SOCKET_ENDPOINT_UNAVAILABLE_CLOSE_STATUS,
        WEB_SOCKET_PROTOCOL_ERROR_CLOSE_STATUS,
        WEB_SOCKET_INVALID_DATA_TYPE_CLOSE_STATUS,
        WEB_SOCKET_EMPTY_CLOSE_STATUS,
        WEB_SOCKET_ABORTED_CLOSE_STATUS,
        WEB_SOCKET_INVALID_PAYLOAD_CLOSE_STATUS,
        WEB_SOCKET_POLICY_VIOLATION_CLOSE_STATUS,
        WEB_SOCKET_MESSAGE_TOO_BIG_CLOSE_STATUS,
        WEB_SOCKET_UNSUPPORTED_EXTENSIONS_CLOSE_STATUS,
        WEB_SOCKET_SERVER_ERROR_CLOSE_STATUS,
        WEB_SOCKET_SECURE_HANDSHAKE_ERROR_CLOSE_STATUS,
        WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE,
        WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE,
        WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE,
        WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE,
        WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE,
        WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE,
        WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE,
        WEB_SOCKET_SEND_ACTION_QUEUE,
        WEB_SOCKET_RECEIVE_ACTION_QUEUE,
        WEB_SOCKET_ALL_ACTION_QUEUE,
        WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE,
        WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE,
        WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE,
        WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE,
        WEB_SOCKET_CLOSE_BUFFER_TYPE,
        WEB_SOCKET_PING_PONG_BUFFER_TYPE,
        WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE,
        WEB_SOCKET_NO_ACTION,
        WEB_SOCKET_SEND_TO_NETWORK_ACTION,
        WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION,
        WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION,
        WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION,
        S_OK,
        E_FAIL,
        E_INVALIDARG,
        E_OUTOFMEMORY,
        E_INVALID_PROTOCOL_OPERATION,
        E_INVALID_PROTOCOL_FORMAT,
        E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED,
        E_SUBPROTOCOL_NOT_SUPPORTED,
        E_PROTOCOL_VERSION_NOT_SUPPORTED,
        ERROR_INSUFFICIENT_BUFFER,
        TRUE,
        FALSE
    );
    m
}

/// What C says: compile and run layout_dump.c.
fn c_facts() -> BTreeMap<String, i64> {
    let out = std::env::temp_dir().join(format!("wspc-layout-dump-{}", std::process::id()));
    let o = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(manifest().join("include"))
        .arg(manifest().join("tests/c/layout_dump.c"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run cc");
    assert!(o.status.success(), "cc layout_dump.c failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let run = Command::new(&out).output().expect("run layout_dump");
    let _ = std::fs::remove_file(&out);
    assert!(run.status.success());
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("kind name value");
            (k.to_string(), v.parse().expect("number"))
        })
        .collect()
}

#[test]
fn layouts_and_values_match_c() {
    let (rust, c) = (rust_facts(), c_facts());
    let mut problems = Vec::new();
    for (k, v) in &c {
        match rust.get(k) {
            None => problems.push(format!("{k}: in C ({v}) but not checked in Rust")),
            Some(r) if r != v => problems.push(format!("{k}: C {v}, Rust {r}")),
            _ => {}
        }
    }
    for k in rust.keys().filter(|k| !c.contains_key(*k)) {
        problems.push(format!("{k}: in Rust but not printed by layout_dump.c"));
    }
    assert!(problems.is_empty(), "header and Rust disagree:\n{}", problems.join("\n"));
}

/// Every constant the header defines (outside the Windows base-type block) is checked.
#[test]
fn every_header_constant_is_covered() {
    let h = header();
    let rust = rust_facts();
    let mut names = Vec::new();
    for line in h.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("#define ") {
            let name = rest.split(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
            if name.starts_with("WEB_SOCKET_") || name.starts_with("E_") || name == "S_OK" {
                names.push(name.to_string());
            }
        } else if t.starts_with("WEB_SOCKET_") && t.contains('=') {
            names.push(t.split(|c: char| c.is_whitespace() || c == '=').next().unwrap().to_string());
        }
    }
    assert!(names.len() > 40, "parsed only {} constants from the header", names.len());
    let missing: Vec<_> = names.iter().filter(|n| !rust.contains_key(&format!("value {n}"))).collect();
    assert!(missing.is_empty(), "header constants without a Rust counterpart: {missing:?}");
}

/// A prototype: name, return type and (type, name) parameters, in a normal form where
/// `T *` is `*mut T`, `const T *` is `*const T`, and a top-level `const` (no ABI effect)
/// is dropped.
#[derive(Debug, PartialEq)]
struct Proto {
    name: String,
    ret: String,
    params: Vec<(String, String)>,
}

fn norm_rust(t: &str) -> String {
    let t: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    match t.as_str() {
        "()" => "VOID".into(),
        _ => t.replace("* mut ", "*mut ").replace("* const ", "*const "),
    }
}

fn norm_c(t: &str) -> String {
    let mut t = t.trim().to_string();
    let mut ptr = None;
    if let Some(base) = t.strip_suffix('*') {
        t = base.trim().to_string();
        ptr = Some(if let Some(b) = t.strip_prefix("const ") {
            t = b.trim().to_string();
            "*const "
        } else {
            "*mut "
        });
    } else if let Some(b) = t.strip_prefix("const ") {
        t = b.trim().to_string();
    }
    format!("{}{}", ptr.unwrap_or(""), t)
}

/// The prototypes of the header, with SAL annotations and comments removed.
fn header_protos() -> Vec<Proto> {
    let h = header();
    // Drop comments.
    let mut text = String::new();
    let mut rest = h.as_str();
    while let Some(i) = rest.find("/*") {
        text.push_str(&rest[..i]);
        rest = &rest[i + 2..];
        rest = &rest[rest.find("*/").map_or(rest.len(), |j| j + 2)..];
    }
    text.push_str(rest);
    let mut protos = Vec::new();
    for decl in text.split(';') {
        let decl = decl.trim();
        let Some(open) = decl.find('(') else { continue };
        let head = decl[..open].trim();
        let words: Vec<&str> = head.split_whitespace().collect();
        if words.len() < 3 || words[words.len() - 2] != "WINAPI" {
            continue;
        }
        let name = words[words.len() - 1].to_string();
        let ret = words[..words.len() - 2].join(" ");
        let body = decl[open + 1..decl.rfind(')').unwrap()].to_string();
        // Remove SAL annotations: identifiers _Xxx_ with an optional (...) group.
        let mut clean = String::new();
        let chars: Vec<char> = body.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '_' && (i == 0 || !chars[i - 1].is_alphanumeric()) {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word.ends_with('_') && word.len() > 2 {
                    if i < chars.len() && chars[i] == '(' {
                        let mut depth = 0;
                        while i < chars.len() {
                            if chars[i] == '(' {
                                depth += 1;
                            } else if chars[i] == ')' {
                                depth -= 1;
                                if depth == 0 {
                                    i += 1;
                                    break;
                                }
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                clean.push_str(&word);
                continue;
            }
            clean.push(chars[i]);
            i += 1;
        }
        let params = clean
            .split(',')
            .map(|p| {
                let p = p.trim();
                let split = p.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).expect("type and name");
                (norm_c(&p[..=split]), p[split + 1..].to_string())
            })
            .collect();
        protos.push(Proto { name, ret: norm_c(&ret), params });
    }
    protos
}

macro_rules! sig {
    ($f:ident ($($p:ident : $t:ty),*) -> $r:ty) => {{
        // Compiles only if the exported function has exactly these types.
        let _: unsafe extern "C" fn($($t),*) -> $r = crate::api::$f;
        Proto {
            name: stringify!($f).to_string(),
            ret: norm_rust(stringify!($r)),
            params: vec![$((norm_rust(stringify!($t)), stringify!($p).to_string())),*],
        }
    }};
}

fn rust_protos() -> Vec<Proto> {
    vec![
        sig!(WebSocketCreateClientHandle(pProperties: PWEB_SOCKET_PROPERTY, ulPropertyCount: ULONG, phWebSocket: *mut WEB_SOCKET_HANDLE) -> HRESULT),
        sig!(WebSocketBeginClientHandshake(hWebSocket: WEB_SOCKET_HANDLE, pszSubprotocols: *mut PCSTR, ulSubprotocolCount: ULONG, pszExtensions: *mut PCSTR, ulExtensionCount: ULONG, pInitialHeaders: PWEB_SOCKET_HTTP_HEADER, ulInitialHeaderCount: ULONG, pAdditionalHeaders: *mut PWEB_SOCKET_HTTP_HEADER, pulAdditionalHeaderCount: *mut ULONG) -> HRESULT),
        sig!(WebSocketEndClientHandshake(hWebSocket: WEB_SOCKET_HANDLE, pResponseHeaders: PWEB_SOCKET_HTTP_HEADER, ulReponseHeaderCount: ULONG, pulSelectedExtensions: *mut ULONG, pulSelectedExtensionCount: *mut ULONG, pulSelectedSubprotocol: *mut ULONG) -> HRESULT),
        sig!(WebSocketCreateServerHandle(pProperties: PWEB_SOCKET_PROPERTY, ulPropertyCount: ULONG, phWebSocket: *mut WEB_SOCKET_HANDLE) -> HRESULT),
        sig!(WebSocketBeginServerHandshake(hWebSocket: WEB_SOCKET_HANDLE, pszSubprotocolSelected: PCSTR, pszExtensionSelected: *mut PCSTR, ulExtensionSelectedCount: ULONG, pRequestHeaders: PWEB_SOCKET_HTTP_HEADER, ulRequestHeaderCount: ULONG, pResponseHeaders: *mut PWEB_SOCKET_HTTP_HEADER, pulResponseHeaderCount: *mut ULONG) -> HRESULT),
        sig!(WebSocketEndServerHandshake(hWebSocket: WEB_SOCKET_HANDLE) -> HRESULT),
        sig!(WebSocketSend(hWebSocket: WEB_SOCKET_HANDLE, BufferType: WEB_SOCKET_BUFFER_TYPE, pBuffer: *mut WEB_SOCKET_BUFFER, Context: PVOID) -> HRESULT),
        sig!(WebSocketReceive(hWebSocket: WEB_SOCKET_HANDLE, pBuffer: *mut WEB_SOCKET_BUFFER, pvContext: PVOID) -> HRESULT),
        sig!(WebSocketGetAction(hWebSocket: WEB_SOCKET_HANDLE, eActionQueue: WEB_SOCKET_ACTION_QUEUE, pDataBuffers: *mut WEB_SOCKET_BUFFER, pulDataBufferCount: *mut ULONG, pAction: *mut WEB_SOCKET_ACTION, pBufferType: *mut WEB_SOCKET_BUFFER_TYPE, pvApplicationContext: *mut PVOID, pvActionContext: *mut PVOID) -> HRESULT),
        sig!(WebSocketCompleteAction(hWebSocket: WEB_SOCKET_HANDLE, pvActionContext: PVOID, ulBytesTransferred: ULONG) -> ()),
        sig!(WebSocketAbortHandle(hWebSocket: WEB_SOCKET_HANDLE) -> ()),
        sig!(WebSocketDeleteHandle(hWebSocket: WEB_SOCKET_HANDLE) -> ()),
        sig!(WebSocketGetGlobalProperty(eType: WEB_SOCKET_PROPERTY_TYPE, pvValue: PVOID, ulSize: *mut ULONG) -> HRESULT),
    ]
}

#[test]
fn prototypes_match_the_exports() {
    let c = header_protos();
    let rust = rust_protos();
    assert_eq!(c.len(), 13, "the header declares {} functions: {c:#?}", c.len());
    for r in &rust {
        let h = c.iter().find(|p| p.name == r.name).unwrap_or_else(|| panic!("{} is not in the header", r.name));
        assert_eq!(h, r, "prototype of {} (left: header, right: Rust)", r.name);
    }
}
