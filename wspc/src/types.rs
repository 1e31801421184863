//! The enumerations and constants of `websocket.h`, with Rust names.

/// `WEB_SOCKET_MAX_CLOSE_REASON_LENGTH`: the longest close reason, in bytes (a control payload
/// holds 125 bytes, two of which are the status code; RFC 6455 §5.5).
pub const MAX_CLOSE_REASON_LENGTH: usize = 123;

/// The longest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The WebSocket protocol version this engine speaks (RFC 6455 §4.1).
pub const PROTOCOL_VERSION: u32 = 13;

/// `WEB_SOCKET_BUFFER_TYPE`: what a buffer handed to or from the engine holds.
///
/// On receive, `*Fragment` and `*Message` describe how the data is handed to the application,
/// not how it was framed on the wire: the last chunk of a message is `*Message`, every other
/// chunk `*Fragment`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferType {
    /// `WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE`: the last (or only) piece of a text message.
    Utf8Message = 0x8000_0000,
    /// `WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE`: a piece of a text message; more follows.
    Utf8Fragment = 0x8000_0001,
    /// `WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE`: the last (or only) piece of a binary message.
    BinaryMessage = 0x8000_0002,
    /// `WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE`: a piece of a binary message; more follows.
    BinaryFragment = 0x8000_0003,
    /// `WEB_SOCKET_CLOSE_BUFFER_TYPE`: a close frame (status code and reason).
    Close = 0x8000_0004,
    /// `WEB_SOCKET_PING_PONG_BUFFER_TYPE`: on send a ping; on receive a pong arrived.
    PingPong = 0x8000_0005,
    /// `WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE`: on send an unsolicited pong (heartbeat).
    UnsolicitedPong = 0x8000_0006,
}

impl BufferType {
    /// The `websocket.h` value.
    pub const fn to_raw(self) -> u32 {
        self as u32
    }

    /// Parses a `websocket.h` value; `None` for anything else (including the undocumented
    /// "custom frame header" encodings, which this engine does not implement).
    pub const fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            0x8000_0000 => Self::Utf8Message,
            0x8000_0001 => Self::Utf8Fragment,
            0x8000_0002 => Self::BinaryMessage,
            0x8000_0003 => Self::BinaryFragment,
            0x8000_0004 => Self::Close,
            0x8000_0005 => Self::PingPong,
            0x8000_0006 => Self::UnsolicitedPong,
            _ => return None,
        })
    }

    /// True for the four data types.
    pub const fn is_data(self) -> bool {
        matches!(self, Self::Utf8Message | Self::Utf8Fragment | Self::BinaryMessage | Self::BinaryFragment)
    }

    /// True for the two text types.
    pub const fn is_text(self) -> bool {
        matches!(self, Self::Utf8Message | Self::Utf8Fragment)
    }

    /// True for `*Message` (the last piece of a message).
    pub const fn is_message_end(self) -> bool {
        matches!(self, Self::Utf8Message | Self::BinaryMessage)
    }

    /// The data type for `text`/binary and final/non-final.
    pub const fn data(text: bool, last: bool) -> Self {
        match (text, last) {
            (true, true) => Self::Utf8Message,
            (true, false) => Self::Utf8Fragment,
            (false, true) => Self::BinaryMessage,
            (false, false) => Self::BinaryFragment,
        }
    }
}

/// `WEB_SOCKET_ACTION_QUEUE`: which operations `get_action` may report.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionQueue {
    /// `WEB_SOCKET_SEND_ACTION_QUEUE`: actions of application sends.
    Send = 1,
    /// `WEB_SOCKET_RECEIVE_ACTION_QUEUE`: actions of receives, plus automatic pongs.
    Receive = 2,
    /// `WEB_SOCKET_ALL_ACTION_QUEUE`: both.
    All = 3,
}

impl ActionQueue {
    /// Parses a `websocket.h` value.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Send),
            2 => Some(Self::Receive),
            3 => Some(Self::All),
            _ => None,
        }
    }
}

/// `WEB_SOCKET_ACTION`: what the application must do next.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// `WEB_SOCKET_NO_ACTION`: nothing may be done on this queue right now.
    NoAction = 0,
    /// `WEB_SOCKET_SEND_TO_NETWORK_ACTION`: write the lent buffers, in order, to the transport.
    SendToNetwork = 1,
    /// `WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION`: a queued send finished.
    IndicateSendComplete = 2,
    /// `WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION`: read from the transport into the lent buffer.
    ReceiveFromNetwork = 3,
    /// `WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION`: a queued receive finished.
    IndicateReceiveComplete = 4,
}

/// `WEB_SOCKET_PROPERTY_TYPE`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// `WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE`
    ReceiveBufferSize = 0,
    /// `WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE`
    SendBufferSize = 1,
    /// `WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE`
    DisableMasking = 2,
    /// `WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE`
    AllocatedBuffer = 3,
    /// `WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE`
    DisableUtf8Verification = 4,
    /// `WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE`
    KeepaliveInterval = 5,
    /// `WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE`
    SupportedVersions = 6,
}

impl PropertyType {
    /// Parses a `websocket.h` value.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            0 => Self::ReceiveBufferSize,
            1 => Self::SendBufferSize,
            2 => Self::DisableMasking,
            3 => Self::AllocatedBuffer,
            4 => Self::DisableUtf8Verification,
            5 => Self::KeepaliveInterval,
            6 => Self::SupportedVersions,
            _ => return None,
        })
    }
}

/// `WEB_SOCKET_CLOSE_STATUS` values (RFC 6455 §7.4.1).
pub mod close_status {
    /// `WEB_SOCKET_SUCCESS_CLOSE_STATUS`
    pub const SUCCESS: u16 = 1000;
    /// `WEB_SOCKET_ENDPOINT_UNAVAILABLE_CLOSE_STATUS`
    pub const ENDPOINT_UNAVAILABLE: u16 = 1001;
    /// `WEB_SOCKET_PROTOCOL_ERROR_CLOSE_STATUS`
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// `WEB_SOCKET_INVALID_DATA_TYPE_CLOSE_STATUS`
    pub const INVALID_DATA_TYPE: u16 = 1003;
    /// `WEB_SOCKET_EMPTY_CLOSE_STATUS`: no status in the close frame; never on the wire.
    pub const EMPTY: u16 = 1005;
    /// `WEB_SOCKET_ABORTED_CLOSE_STATUS`: closed without a close frame; never on the wire.
    pub const ABORTED: u16 = 1006;
    /// `WEB_SOCKET_INVALID_PAYLOAD_CLOSE_STATUS`
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// `WEB_SOCKET_POLICY_VIOLATION_CLOSE_STATUS`
    pub const POLICY_VIOLATION: u16 = 1008;
    /// `WEB_SOCKET_MESSAGE_TOO_BIG_CLOSE_STATUS`
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// `WEB_SOCKET_UNSUPPORTED_EXTENSIONS_CLOSE_STATUS`
    pub const UNSUPPORTED_EXTENSIONS: u16 = 1010;
    /// `WEB_SOCKET_SERVER_ERROR_CLOSE_STATUS`
    pub const SERVER_ERROR: u16 = 1011;
    /// `WEB_SOCKET_SECURE_HANDSHAKE_ERROR_CLOSE_STATUS`: TLS failure; never on the wire.
    pub const SECURE_HANDSHAKE_ERROR: u16 = 1015;

    /// True when `code` may appear in a close frame on the wire (RFC 6455 §7.4): 1000-1003,
    /// 1007-1014 (the IANA-registered ones) and 3000-4999.
    pub const fn is_valid_on_wire(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// The HRESULT values the API returns (`winerror.h`).
pub mod hresult {
    /// `S_OK`
    pub const S_OK: i32 = 0;
    /// `E_INVALID_PROTOCOL_OPERATION`
    pub const E_INVALID_PROTOCOL_OPERATION: i32 = 0x8376_0001_u32 as i32;
    /// `E_INVALID_PROTOCOL_FORMAT`
    pub const E_INVALID_PROTOCOL_FORMAT: i32 = 0x8376_0002_u32 as i32;
    /// `E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED`
    pub const E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED: i32 = 0x8376_0003_u32 as i32;
    /// `E_SUBPROTOCOL_NOT_SUPPORTED`
    pub const E_SUBPROTOCOL_NOT_SUPPORTED: i32 = 0x8376_0004_u32 as i32;
    /// `E_PROTOCOL_VERSION_NOT_SUPPORTED`
    pub const E_PROTOCOL_VERSION_NOT_SUPPORTED: i32 = 0x8376_0005_u32 as i32;
    /// `E_INVALIDARG`
    pub const E_INVALIDARG: i32 = 0x8007_0057_u32 as i32;
    /// `E_OUTOFMEMORY`
    pub const E_OUTOFMEMORY: i32 = 0x8007_000E_u32 as i32;
    /// `E_FAIL`
    pub const E_FAIL: i32 = 0x8000_4005_u32 as i32;
    /// `HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER)`
    pub const E_INSUFFICIENT_BUFFER: i32 = 0x8007_007A_u32 as i32;
}
