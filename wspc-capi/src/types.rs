//! Rust mirrors of every type and constant in `include/websocket.h`, with the header's own
//! names. Enumerations cross the boundary as their 32-bit integer type, never as Rust
//! enums, so that an out-of-range value from C is an argument error rather than undefined
//! behaviour; `wspc_core`'s `from_raw` functions do the checked conversion.
//!
//! The header and these definitions are kept in step by `src/drift.rs` (see README).
#![allow(non_camel_case_types, non_snake_case, missing_docs)]

use std::ffi::{c_char, c_void};

pub type HRESULT = i32;
pub type ULONG = u32;
pub type USHORT = u16;
pub type BYTE = u8;
pub type PBYTE = *mut BYTE;
pub type CHAR = c_char;
pub type PCHAR = *mut CHAR;
pub type PCSTR = *const CHAR;
pub type PVOID = *mut c_void;
pub type BOOL = i32;

/// The struct `DECLARE_HANDLE` declares; never defined, only pointed to.
#[repr(C)]
pub struct WEB_SOCKET_HANDLE__ {
    _opaque: [u8; 0],
}
pub type WEB_SOCKET_HANDLE = *mut WEB_SOCKET_HANDLE__;

pub const WEB_SOCKET_MAX_CLOSE_REASON_LENGTH: ULONG = 123;

pub type WEB_SOCKET_CLOSE_STATUS = u32;
pub const WEB_SOCKET_SUCCESS_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1000;
pub const WEB_SOCKET_ENDPOINT_UNAVAILABLE_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1001;
pub const WEB_SOCKET_PROTOCOL_ERROR_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1002;
pub const WEB_SOCKET_INVALID_DATA_TYPE_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1003;
pub const WEB_SOCKET_EMPTY_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1005;
pub const WEB_SOCKET_ABORTED_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1006;
pub const WEB_SOCKET_INVALID_PAYLOAD_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1007;
pub const WEB_SOCKET_POLICY_VIOLATION_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1008;
pub const WEB_SOCKET_MESSAGE_TOO_BIG_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1009;
pub const WEB_SOCKET_UNSUPPORTED_EXTENSIONS_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1010;
pub const WEB_SOCKET_SERVER_ERROR_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1011;
pub const WEB_SOCKET_SECURE_HANDSHAKE_ERROR_CLOSE_STATUS: WEB_SOCKET_CLOSE_STATUS = 1015;

pub type WEB_SOCKET_PROPERTY_TYPE = u32;
pub const WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 0;
pub const WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 1;
pub const WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 2;
pub const WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 3;
pub const WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 4;
pub const WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 5;
pub const WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 6;
/// wspc's one extension: a `BOOL` property that turns on permessage-deflate (RFC 7692) for a
/// handle. Windows programs never pass it, so they keep Windows' behaviour.
pub const WSPC_PERMESSAGE_DEFLATE_PROPERTY_TYPE: WEB_SOCKET_PROPERTY_TYPE = 0x5753_0001;

pub type WEB_SOCKET_ACTION_QUEUE = u32;
pub const WEB_SOCKET_SEND_ACTION_QUEUE: WEB_SOCKET_ACTION_QUEUE = 0x1;
pub const WEB_SOCKET_RECEIVE_ACTION_QUEUE: WEB_SOCKET_ACTION_QUEUE = 0x2;
pub const WEB_SOCKET_ALL_ACTION_QUEUE: WEB_SOCKET_ACTION_QUEUE = 0x3;

pub type WEB_SOCKET_BUFFER_TYPE = u32;
pub const WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE: WEB_SOCKET_BUFFER_TYPE = 0x8000_0000;
pub const WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE: WEB_SOCKET_BUFFER_TYPE = 0x8000_0001;
pub const WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE: WEB_SOCKET_BUFFER_TYPE = 0x8000_0002;
pub const WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE: WEB_SOCKET_BUFFER_TYPE = 0x8000_0003;
pub const WEB_SOCKET_CLOSE_BUFFER_TYPE: WEB_SOCKET_BUFFER_TYPE = 0x8000_0004;
pub const WEB_SOCKET_PING_PONG_BUFFER_TYPE: WEB_SOCKET_BUFFER_TYPE = 0x8000_0005;
pub const WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE: WEB_SOCKET_BUFFER_TYPE = 0x8000_0006;

pub type WEB_SOCKET_ACTION = u32;
pub type PWEB_SOCKET_ACTION = *mut WEB_SOCKET_ACTION;
pub const WEB_SOCKET_NO_ACTION: WEB_SOCKET_ACTION = 0;
pub const WEB_SOCKET_SEND_TO_NETWORK_ACTION: WEB_SOCKET_ACTION = 1;
pub const WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION: WEB_SOCKET_ACTION = 2;
pub const WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION: WEB_SOCKET_ACTION = 3;
pub const WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION: WEB_SOCKET_ACTION = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WEB_SOCKET_PROPERTY {
    pub Type: WEB_SOCKET_PROPERTY_TYPE,
    pub pvValue: PVOID,
    pub ulValueSize: ULONG,
}
pub type PWEB_SOCKET_PROPERTY = *mut WEB_SOCKET_PROPERTY;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WEB_SOCKET_HTTP_HEADER {
    pub pcName: PCHAR,
    pub ulNameLength: ULONG,
    pub pcValue: PCHAR,
    pub ulValueLength: ULONG,
}
pub type PWEB_SOCKET_HTTP_HEADER = *mut WEB_SOCKET_HTTP_HEADER;

/// `WEB_SOCKET_BUFFER.Data` (an anonymous struct in C).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WEB_SOCKET_BUFFER_Data {
    pub pbBuffer: PBYTE,
    pub ulBufferLength: ULONG,
}

/// `WEB_SOCKET_BUFFER.CloseStatus` (an anonymous struct in C).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WEB_SOCKET_BUFFER_CloseStatus {
    pub pbReason: PBYTE,
    pub ulReasonLength: ULONG,
    pub usStatus: USHORT,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union WEB_SOCKET_BUFFER {
    pub Data: WEB_SOCKET_BUFFER_Data,
    pub CloseStatus: WEB_SOCKET_BUFFER_CloseStatus,
}
pub type PWEB_SOCKET_BUFFER = *mut WEB_SOCKET_BUFFER;

/// HRESULT values (`winerror.h`), as the header defines them.
pub const S_OK: HRESULT = 0;
pub const E_FAIL: HRESULT = 0x8000_4005_u32 as i32;
pub const E_INVALIDARG: HRESULT = 0x8007_0057_u32 as i32;
pub const E_OUTOFMEMORY: HRESULT = 0x8007_000E_u32 as i32;
pub const ERROR_INSUFFICIENT_BUFFER: i32 = 122;
/// `HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER)`.
pub const E_INSUFFICIENT_BUFFER: HRESULT = 0x8007_007A_u32 as i32;
pub const E_INVALID_PROTOCOL_OPERATION: HRESULT = 0x8376_0001_u32 as i32;
pub const E_INVALID_PROTOCOL_FORMAT: HRESULT = 0x8376_0002_u32 as i32;
pub const E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED: HRESULT = 0x8376_0003_u32 as i32;
pub const E_SUBPROTOCOL_NOT_SUPPORTED: HRESULT = 0x8376_0004_u32 as i32;
pub const E_PROTOCOL_VERSION_NOT_SUPPORTED: HRESULT = 0x8376_0005_u32 as i32;

pub const TRUE: BOOL = 1;
pub const FALSE: BOOL = 0;
