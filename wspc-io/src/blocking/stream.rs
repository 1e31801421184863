//! Transports of the blocking API: the [`Stream`] trait, its implementations, and the
//! TCP-or-TLS stream [`connect`](super::connect) returns.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A byte stream the blocking API runs over. Only `Read + Write` is required: implement
/// it with an empty body for any such type. Read timeouts (used for the handshake,
/// keepalive and close timeouts), write timeouts and a write shutdown are optional.
pub trait Stream: Read + Write {
    /// Sets (or clears) the read timeout; returns false when the stream cannot time
    /// out reads (the timeouts then do not apply).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }
    /// Sets (or clears) the write timeout ([`Config::write_timeout`](crate::Config::write_timeout)); returns false when
    /// the stream cannot time out writes.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let _ = timeout;
        Ok(false)
    }
    /// Ends the write direction (TCP FIN, TLS close_notify).
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A stream that can be duplicated so that one copy reads while another writes from a
/// second thread (what [`WebSocket::split`](super::WebSocket::split) needs).
pub trait SplitStream: Stream + Sized {
    /// A second handle on the same stream.
    fn try_clone_stream(&self) -> io::Result<Self>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_read_timeout(self, timeout)?;
        Ok(true)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_write_timeout(self, timeout)?;
        Ok(true)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

impl SplitStream for TcpStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)?;
        Ok(true)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)?;
        Ok(true)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl SplitStream for std::os::unix::net::UnixStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

impl<S: Stream + ?Sized> Stream for Box<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_write_timeout(timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

/// A TCP stream, or TLS over one (what [`connect`](super::connect) returns).
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsStream),
}

impl MaybeTlsStream {
    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.tcp(),
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.flush(),
        }
    }
}

impl Stream for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        match self {
            MaybeTlsStream::Plain(s) => Stream::set_read_timeout(s, timeout),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Stream::set_read_timeout(s, timeout),
        }
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        match self {
            MaybeTlsStream::Plain(s) => Stream::set_write_timeout(s, timeout),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => Stream::set_write_timeout(s, timeout),
        }
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.shutdown_write(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.shutdown_write(),
        }
    }
}

impl SplitStream for MaybeTlsStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        Ok(match self {
            MaybeTlsStream::Plain(s) => MaybeTlsStream::Plain(s.try_clone()?),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => MaybeTlsStream::Tls(s.try_clone_stream()?),
        })
    }
}
