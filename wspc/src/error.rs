//! One error type, split by who is at fault: the peer ([`ProtocolError`]), the upgrade
//! ([`HandshakeError`]) or the caller ([`Misuse`]). Each maps to its HRESULT, and a protocol
//! error also carries the close code the application should send before it tears down.

use crate::types::{close_status, hresult};
use std::fmt;

/// Everything that can go wrong in the engine.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The peer broke RFC 6455 (or a configured limit). Sticky: the receive side stays failed.
    Protocol(ProtocolError),
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// The caller used the API wrongly.
    Misuse(Misuse),
    /// A buffer given to the engine is too small; `needed` bytes are required.
    BufferTooSmall {
        /// The size that would have been enough.
        needed: usize,
    },
}

impl Error {
    /// The HRESULT Windows returns for this error.
    pub fn hresult(&self) -> i32 {
        match self {
            Error::Protocol(e) => e.hresult(),
            Error::Handshake(e) => e.hresult(),
            Error::Misuse(m) => m.hresult(),
            Error::BufferTooSmall { .. } => hresult::E_INSUFFICIENT_BUFFER,
        }
    }

    /// The close code to send to the peer, for protocol errors.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Error::Protocol(e) => Some(e.close_code()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Misuse(e) => write!(f, "invalid call: {e}"),
            Error::BufferTooSmall { needed } => write!(f, "buffer too small: {needed} bytes needed"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}
impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}
impl From<Misuse> for Error {
    fn from(e: Misuse) -> Self {
        Error::Misuse(e)
    }
}

/// A violation of RFC 6455 (or RFC 7692, or a configured limit) by the peer.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// A reserved bit (RSV1-3) was set without an extension that defines it (§5.2).
    ReservedBits,
    /// A reserved opcode (3-7, 11-15) (§5.2).
    ReservedOpcode(u8),
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlFrameTooLong,
    /// A control frame without FIN (§5.5).
    FragmentedControlFrame,
    /// A continuation frame with no message in progress (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished (§5.4).
    ExpectedContinuation,
    /// A 64-bit payload length with the most significant bit set (§5.2).
    LengthTopBitSet,
    /// A close frame with a one-byte payload (§5.5.1).
    InvalidClosePayload,
    /// A close frame with a status code that may not be on the wire (§7.4).
    InvalidCloseCode(u16),
    /// Invalid UTF-8 in a text message (§8.1).
    InvalidUtf8,
    /// Invalid UTF-8 in a close reason (§5.5.1).
    InvalidUtf8InCloseReason,
    /// A server received an unmasked frame (§5.1).
    UnmaskedFrame,
    /// A client received a masked frame (§5.1).
    MaskedFrame,
    /// A message is longer than the configured maximum.
    MessageTooBig {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// A frame is longer than the configured maximum.
    FrameTooBig {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// A message has more frames than the configured maximum.
    TooManyFragments {
        /// The configured limit.
        limit: u64,
    },
    /// A compressed (RSV1) frame on a control frame or a continuation (RFC 7692 §6).
    InvalidCompressedFrame,
    /// Compressed data that does not inflate (RFC 7692 §7.2.2).
    InvalidCompressedData,
}

impl ProtocolError {
    /// `E_INVALID_PROTOCOL_OPERATION` for frames out of sequence, `E_INVALID_PROTOCOL_FORMAT`
    /// for everything malformed (spec §6.9).
    pub fn hresult(&self) -> i32 {
        match self {
            ProtocolError::UnexpectedContinuation | ProtocolError::ExpectedContinuation => {
                hresult::E_INVALID_PROTOCOL_OPERATION
            }
            _ => hresult::E_INVALID_PROTOCOL_FORMAT,
        }
    }

    /// The close code the application should send: 1007 for bad UTF-8, 1009 for limits,
    /// 1002 for the rest.
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidUtf8InCloseReason => close_status::INVALID_PAYLOAD,
            ProtocolError::MessageTooBig { .. }
            | ProtocolError::FrameTooBig { .. }
            | ProtocolError::TooManyFragments { .. } => close_status::MESSAGE_TOO_BIG,
            _ => close_status::PROTOCOL_ERROR,
        }
    }
}

impl From<&ProtocolError> for u16 {
    fn from(e: &ProtocolError) -> u16 {
        e.close_code()
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits => f.write_str("reserved bits set"),
            ProtocolError::ReservedOpcode(o) => write!(f, "reserved opcode {o:#x}"),
            ProtocolError::ControlFrameTooLong => f.write_str("control frame longer than 125 bytes"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::UnexpectedContinuation => f.write_str("continuation frame without a message"),
            ProtocolError::ExpectedContinuation => f.write_str("new message inside an unfinished one"),
            ProtocolError::LengthTopBitSet => f.write_str("64-bit length with the top bit set"),
            ProtocolError::InvalidClosePayload => f.write_str("close frame with a 1-byte payload"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in a text message"),
            ProtocolError::InvalidUtf8InCloseReason => f.write_str("invalid UTF-8 in a close reason"),
            ProtocolError::UnmaskedFrame => f.write_str("unmasked frame from a client"),
            ProtocolError::MaskedFrame => f.write_str("masked frame from a server"),
            ProtocolError::MessageTooBig { limit } => write!(f, "message longer than {limit} bytes"),
            ProtocolError::FrameTooBig { limit } => write!(f, "frame longer than {limit} bytes"),
            ProtocolError::TooManyFragments { limit } => write!(f, "message with more than {limit} frames"),
            ProtocolError::InvalidCompressedFrame => f.write_str("RSV1 on a control or continuation frame"),
            ProtocolError::InvalidCompressedData => f.write_str("compressed data does not inflate"),
        }
    }
}

/// Why the opening handshake failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// A required header is missing (`E_INVALID_PROTOCOL_FORMAT`).
    MissingHeader(&'static str),
    /// A header has a value that is not allowed (`E_INVALID_PROTOCOL_FORMAT`).
    InvalidHeader(&'static str),
    /// `Sec-WebSocket-Accept` does not match the key (`E_INVALID_PROTOCOL_FORMAT`).
    AcceptMismatch,
    /// The request asks for a version other than 13 (`E_PROTOCOL_VERSION_NOT_SUPPORTED`).
    UnsupportedVersion,
    /// The server chose no subprotocol, or one not offered (`E_SUBPROTOCOL_NOT_SUPPORTED`).
    SubprotocolNotSupported,
    /// The server accepted an extension not offered, or with parameters the client cannot
    /// honour (`E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED`).
    ExtensionNotSupported,
}

impl HandshakeError {
    /// The HRESULT for this failure.
    pub fn hresult(&self) -> i32 {
        match self {
            HandshakeError::UnsupportedVersion => hresult::E_PROTOCOL_VERSION_NOT_SUPPORTED,
            HandshakeError::SubprotocolNotSupported => hresult::E_SUBPROTOCOL_NOT_SUPPORTED,
            HandshakeError::ExtensionNotSupported => hresult::E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED,
            _ => hresult::E_INVALID_PROTOCOL_FORMAT,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::MissingHeader(h) => write!(f, "missing header {h}"),
            HandshakeError::InvalidHeader(h) => write!(f, "invalid header {h}"),
            HandshakeError::AcceptMismatch => f.write_str("Sec-WebSocket-Accept does not match the key"),
            HandshakeError::UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version"),
            HandshakeError::SubprotocolNotSupported => f.write_str("subprotocol not supported"),
            HandshakeError::ExtensionNotSupported => f.write_str("extension not supported"),
        }
    }
}

/// A call the engine refuses because of how it was made.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// A property value is out of range, the wrong size, or not valid for this handle kind
    /// (`E_INVALIDARG`).
    InvalidProperty(&'static str),
    /// An argument is invalid (`E_INVALIDARG`).
    InvalidArgument(&'static str),
    /// The call is not allowed in the handle's current state (`E_INVALID_PROTOCOL_OPERATION`).
    WrongState(&'static str),
    /// A send (or receive) is already outstanding (`E_INVALID_PROTOCOL_OPERATION`).
    AlreadyPending,
    /// The handle was aborted (`E_INVALID_PROTOCOL_OPERATION`).
    Aborted,
}

impl Misuse {
    /// The HRESULT for this misuse.
    pub fn hresult(&self) -> i32 {
        match self {
            Misuse::InvalidProperty(_) | Misuse::InvalidArgument(_) => hresult::E_INVALIDARG,
            Misuse::WrongState(_) | Misuse::AlreadyPending | Misuse::Aborted => hresult::E_INVALID_PROTOCOL_OPERATION,
        }
    }
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misuse::InvalidProperty(p) => write!(f, "invalid property: {p}"),
            Misuse::InvalidArgument(a) => write!(f, "invalid argument: {a}"),
            Misuse::WrongState(s) => write!(f, "not allowed now: {s}"),
            Misuse::AlreadyPending => f.write_str("an operation of this kind is already outstanding"),
            Misuse::Aborted => f.write_str("the handle was aborted"),
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
