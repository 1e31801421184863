//! The error type of wspc-io.

use std::fmt;
use std::io;

/// Everything that can end or refuse a connection.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The engine reported an error: a protocol violation by the peer (a close frame with
    /// [`wspc::Error::close_code`] was sent), a failed handshake, or a misuse.
    Ws(wspc::Error),
    /// The server answered the upgrade with another status than 101.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The response headers.
        headers: http::HeaderMap,
    },
    /// The HTTP head was malformed or broke a limit; `status` is what a server answers.
    BadRequest {
        /// The HTTP status sent (or that would be sent) in reply.
        status: u16,
        /// Why.
        reason: String,
    },
    /// The application's handler rejected the upgrade with this status.
    Rejected(u16),
    /// The URL could not be used.
    Url(String),
    /// TLS failed: setup (certificate, key, server name) or the TLS handshake.
    Tls(TlsError),
    /// The opening handshake took longer than the handshake timeout.
    HandshakeTimeout,
    /// No pong (or any data) arrived within the keepalive timeout.
    KeepaliveTimeout,
    /// The close handshake did not finish within the close timeout.
    CloseTimeout,
    /// Blocking API: a write made no progress within the write timeout (the peer stopped
    /// reading).
    WriteTimeout,
    /// The connection was closed (the close handshake finished, or the transport ended
    /// after a close); no more messages.
    ConnectionClosed,
    /// The peer closed the transport without a close frame.
    ConnectionReset,
    /// The operation is not allowed now (e.g. sending after a close was sent).
    InvalidState(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Ws(e) => write!(f, "{e}"),
            Error::HttpStatus { status, .. } => write!(f, "the server answered the upgrade with HTTP {status}"),
            Error::BadRequest { status, reason } => write!(f, "bad upgrade request ({status}): {reason}"),
            Error::Rejected(s) => write!(f, "upgrade rejected by the handler with HTTP {s}"),
            Error::Url(s) => write!(f, "bad URL: {s}"),
            Error::Tls(s) => write!(f, "TLS: {s}"),
            Error::HandshakeTimeout => f.write_str("the opening handshake timed out"),
            Error::KeepaliveTimeout => f.write_str("no answer to a keepalive ping"),
            Error::CloseTimeout => f.write_str("the close handshake timed out"),
            Error::WriteTimeout => f.write_str("a write made no progress within the write timeout"),
            Error::ConnectionClosed => f.write_str("the connection is closed"),
            Error::ConnectionReset => f.write_str("the peer closed the transport without a close frame"),
            Error::InvalidState(s) => write!(f, "not allowed now: {s}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Ws(e) => Some(e),
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<wspc::Error> for Error {
    fn from(e: wspc::Error) -> Self {
        Error::Ws(e)
    }
}

impl From<wspc::HandshakeError> for Error {
    fn from(e: wspc::HandshakeError) -> Self {
        Error::Ws(e.into())
    }
}

impl Error {
    /// True for the normal end of a connection ([`Error::ConnectionClosed`]).
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::ConnectionClosed)
    }

    /// Converts into an `io::Error` (for `Read`/`Write`-style adapters).
    pub fn into_io(self) -> io::Error {
        match self {
            Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }

    /// An I/O error from a TLS stream: the rustls error inside it when there is one.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn from_tls_io(e: io::Error) -> Error {
        #[cfg(feature = "tls")]
        if let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Error::Tls(TlsError::Rustls(t.clone()));
        }
        Error::Io(e)
    }

    /// A copy for reporting the same failure twice (I/O errors keep their kind only).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
            Error::Ws(e) => Error::Ws(e.clone()),
            Error::HttpStatus { status, headers } => Error::HttpStatus { status: *status, headers: headers.clone() },
            Error::BadRequest { status, reason } => Error::BadRequest { status: *status, reason: reason.clone() },
            Error::Rejected(s) => Error::Rejected(*s),
            Error::Url(s) => Error::Url(s.clone()),
            Error::Tls(s) => Error::Tls(s.clone()),
            Error::HandshakeTimeout => Error::HandshakeTimeout,
            Error::KeepaliveTimeout => Error::KeepaliveTimeout,
            Error::CloseTimeout => Error::CloseTimeout,
            Error::WriteTimeout => Error::WriteTimeout,
            Error::ConnectionClosed => Error::ConnectionClosed,
            Error::ConnectionReset => Error::ConnectionReset,
            Error::InvalidState(s) => Error::InvalidState(s),
        }
    }
}

/// Why TLS failed.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum TlsError {
    /// rustls' error: the peer's certificate was refused, an alert, a handshake or
    /// protocol failure (`rustls::Error::InvalidMessage(InvalidContentType)` is what a
    /// peer that does not speak TLS causes).
    #[cfg(feature = "tls")]
    Rustls(rustls::Error),
    /// A PEM input held no usable certificate or key, or could not be parsed.
    Pem(String),
    /// The host is not a valid TLS server name.
    ServerName(String),
    /// A `wss://` URL without the `tls` feature.
    NotEnabled,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "tls")]
            TlsError::Rustls(e) => write!(f, "{e}"),
            TlsError::Pem(s) => write!(f, "PEM: {s}"),
            TlsError::ServerName(s) => write!(f, "invalid server name {s}"),
            TlsError::NotEnabled => f.write_str("wss:// needs the `tls` feature"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            #[cfg(feature = "tls")]
            TlsError::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(feature = "tls")]
impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(TlsError::Rustls(e))
    }
}

/// The result type of wspc-io.
pub type Result<T, E = Error> = std::result::Result<T, E>;
