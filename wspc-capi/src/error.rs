//! The one place an outcome becomes an HRESULT, and the panic boundary every exported
//! function runs inside.
//!
//! | Outcome | HRESULT |
//! |---|---|
//! | success | `S_OK` |
//! | a bad argument caught here (NULL, bad size, unknown enum value) | `E_INVALIDARG` |
//! | a buffer too small for `WebSocketGetGlobalProperty` | `HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER)` |
//! | an error of the core engine | its own [`wspc_core::Error::hresult`] |
//! | a Rust panic, or a handle left inconsistent by one | `E_FAIL` |
//!
//! Values are never renumbered: the test at the bottom pins them.

use crate::types::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// An argument the C layer can reject on its own.
    InvalidArg(#[allow(dead_code)] &'static str),
    /// The caller's buffer is too small; the needed size was written back.
    InsufficientBuffer,
    /// The core engine refused.
    Core(wspc_core::Error),
    /// A panic was caught, or a lock was poisoned by one.
    Internal,
}

impl Fail {
    pub(crate) fn hresult(&self) -> HRESULT {
        match self {
            Fail::InvalidArg(_) => E_INVALIDARG,
            Fail::InsufficientBuffer => E_INSUFFICIENT_BUFFER,
            Fail::Core(e) => e.hresult(),
            Fail::Internal => E_FAIL,
        }
    }
}

impl From<wspc_core::Error> for Fail {
    fn from(e: wspc_core::Error) -> Self {
        Fail::Core(e)
    }
}

pub(crate) type CResult<T = ()> = Result<T, Fail>;

/// Runs the body of an HRESULT-returning export: no panic crosses into C.
pub(crate) fn boundary(body: impl FnOnce() -> CResult) -> HRESULT {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => S_OK,
        Ok(Err(e)) => e.hresult(),
        Err(payload) => {
            // Dropping a panic payload can itself panic; keep that on this side too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            E_FAIL
        }
    }
}

/// Runs the body of a VOID export: failures have nowhere to go, and panics stop here.
pub(crate) fn boundary_void(body: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wspc_core::{hresult, Error, HandshakeError, Misuse, ProtocolError};

    #[test]
    fn hresult_table_is_pinned() {
        assert_eq!(S_OK, 0);
        assert_eq!(Fail::InvalidArg("x").hresult() as u32, 0x8007_0057);
        assert_eq!(Fail::InsufficientBuffer.hresult() as u32, 0x8007_007A);
        assert_eq!(Fail::Internal.hresult() as u32, 0x8000_4005);
        let core = |e: Error| Fail::Core(e).hresult() as u32;
        assert_eq!(core(Misuse::InvalidArgument("x").into()), 0x8007_0057);
        assert_eq!(core(Misuse::InvalidProperty("x").into()), 0x8007_0057);
        assert_eq!(core(Misuse::WrongState("x").into()), 0x8376_0001);
        assert_eq!(core(Misuse::AlreadyPending.into()), 0x8376_0001);
        assert_eq!(core(Misuse::Aborted.into()), 0x8376_0001);
        assert_eq!(core(ProtocolError::UnmaskedFrame.into()), 0x8376_0002);
        assert_eq!(core(ProtocolError::UnexpectedContinuation.into()), 0x8376_0001);
        assert_eq!(core(HandshakeError::AcceptMismatch.into()), 0x8376_0002);
        assert_eq!(core(HandshakeError::ExtensionNotSupported.into()), 0x8376_0003);
        assert_eq!(core(HandshakeError::SubprotocolNotSupported.into()), 0x8376_0004);
        assert_eq!(core(HandshakeError::UnsupportedVersion.into()), 0x8376_0005);
    }

    #[test]
    fn header_constants_agree_with_the_core() {
        assert_eq!(E_INVALID_PROTOCOL_OPERATION, hresult::E_INVALID_PROTOCOL_OPERATION);
        assert_eq!(E_INVALID_PROTOCOL_FORMAT, hresult::E_INVALID_PROTOCOL_FORMAT);
        assert_eq!(E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED, hresult::E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED);
        assert_eq!(E_SUBPROTOCOL_NOT_SUPPORTED, hresult::E_SUBPROTOCOL_NOT_SUPPORTED);
        assert_eq!(E_PROTOCOL_VERSION_NOT_SUPPORTED, hresult::E_PROTOCOL_VERSION_NOT_SUPPORTED);
        assert_eq!(E_INVALIDARG, hresult::E_INVALIDARG);
        assert_eq!(E_OUTOFMEMORY, hresult::E_OUTOFMEMORY);
        assert_eq!(E_FAIL, hresult::E_FAIL);
        assert_eq!(E_INSUFFICIENT_BUFFER, hresult::E_INSUFFICIENT_BUFFER);
    }

    #[test]
    fn panics_become_e_fail() {
        assert_eq!(boundary(|| panic!("boom")), E_FAIL);
        boundary_void(|| panic!("boom"));
        assert_eq!(boundary(|| Ok(())), S_OK);
        assert_eq!(boundary(|| Err(Fail::InvalidArg("x"))), E_INVALIDARG);
    }
}
