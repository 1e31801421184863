//! One HTTP/2 stream as a byte stream (`AsyncRead + AsyncWrite`), with HTTP/2 flow control
//! as the back-pressure in both directions.

use bytes::{Buf, Bytes, BytesMut};
use h2::{RecvStream, SendStream};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An HTTP/2 stream carrying a WebSocket (what [`super::ServerConnection`] and
/// [`super::H2Connection`] hand to [`crate::tokio::WebSocket`]).
///
/// - Reading takes the DATA frames' bytes and gives their flow-control credit back to the
///   peer only as the WebSocket consumes them: a reader that stops reading stops its own
///   stream once the window (the connection's initial stream window) is full, and the
///   other streams of the connection go on.
/// - Writing reserves send capacity first and writes no more than was granted, so a peer
///   that stops reading makes writes on this stream wait, not buffer without bound.
/// - Shutting down the write direction ends the stream (`END_STREAM`); a reset of the
///   stream by the peer is an error (`ConnectionReset`) that aborts the WebSocket.
/// - Dropping an `H2Stream` ends its write direction as a dropped TCP socket does (a FIN
///   after the bytes already written): `END_STREAM` after the queued DATA. The `h2` crate
///   then resets the stream if the peer's direction is still open (on a server with
///   `NO_ERROR`, which keeps the queued DATA, so a WebSocket that ends right after its close
///   frame is written, for instance on a limit, still delivers it).
#[derive(Debug)]
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    pending: Bytes,
    /// What was written goes to `h2` as frozen slices of this buffer; once `h2` has sent
    /// (and dropped) them, `reserve` takes the storage back, so steady writes do not
    /// allocate.
    wbuf: BytesMut,
    read_done: bool,
    write_done: bool,
}

impl H2Stream {
    pub(crate) fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        Self { send, recv, pending: Bytes::new(), wbuf: BytesMut::new(), read_done: false, write_done: false }
    }

    /// The HTTP/2 stream identifier.
    pub fn stream_id(&self) -> u32 {
        self.send.stream_id().into()
    }
}

/// The least the write buffer grows by.
const WRITE_CHUNK: usize = 64 << 10;

impl Drop for H2Stream {
    fn drop(&mut self) {
        if !self.write_done {
            let _ = self.send.send_data(Bytes::new(), true);
        }
    }
}

pub(crate) fn h2_io_error(e: h2::Error) -> io::Error {
    if e.is_reset() || e.is_go_away() {
        io::Error::new(io::ErrorKind::ConnectionReset, e)
    } else if e.is_io() {
        e.into_io().unwrap_or_else(|| io::Error::other("HTTP/2 I/O error"))
    } else {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                // The credit goes back as the bytes are consumed, not as they arrive.
                this.recv.flow_control().release_capacity(n).map_err(h2_io_error)?;
                return Poll::Ready(Ok(()));
            }
            if this.read_done || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(b)) => this.pending = b,
                Some(Err(e)) => return Poll::Ready(Err(h2_io_error(e))),
                None => this.read_done = true,
            }
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_done {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.send.reserve_capacity(buf.len());
        let mut granted = this.send.capacity();
        while granted == 0 {
            granted = match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(n)) => n,
                Some(Err(e)) => return Poll::Ready(Err(h2_io_error(e))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            };
        }
        let n = granted.min(buf.len());
        this.wbuf.reserve(n.max(WRITE_CHUNK));
        this.wbuf.extend_from_slice(&buf[..n]);
        this.send.send_data(this.wbuf.split().freeze(), false).map_err(h2_io_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection's task writes the frames; what was granted is already queued.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_done {
            this.write_done = true;
            this.send.reserve_capacity(0);
            this.send.send_data(Bytes::new(), true).map_err(h2_io_error)?;
        }
        Poll::Ready(Ok(()))
    }
}
