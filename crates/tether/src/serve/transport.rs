//! A connection's transport: the socket or TLS over it, with the few counters the watcher
//! reads (a next head began, a write is stuck), and the HTTP/2 preface sniffed without
//! spinning.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::serve::slot::Slot;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The socket, or TLS over it. The TLS arms call out-of-line functions so that the plain
/// arm stays small enough for hyper's reads and writes to inline it.
pub(crate) enum Io {
    Plain(TcpStream),
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Tls(Box<tls::Stream>),
}

/// A transport as hyper sees it: bytes read ahead by protocol sniffing come first, and
/// reads and writes tell the connection's [`Slot`] what the watcher needs to know.
pub(crate) struct Watched {
    io: Io,
    slot: Arc<Slot>,
    /// Bytes taken off the socket while sniffing, served before the socket's own. Boxed,
    /// and only when there are some (a preface split across packets): every connection's
    /// task holds this field.
    ahead: Option<Box<Ahead>>,
    /// HTTP/1.1: a read after a response marks the start of a next head.
    marks_heads: bool,
    wrote: bool,
    /// A write is waiting on a full socket.
    stalled: bool,
    /// Stalls so far (never 0 once counting: 0 tells the watcher there is none).
    stalls: u32,
}

/// Bytes read ahead, behind one pointer in [`Watched`] (a `Vec` there would take three
/// words of every connection's task for what few connections have).
struct Ahead(Vec<u8>);

impl Watched {
    pub(crate) fn new(io: Io, slot: Arc<Slot>, ahead: Vec<u8>, http1: bool) -> Self {
        let ahead = (!ahead.is_empty()).then(|| Box::new(Ahead(ahead)));
        Watched { io, slot, ahead, marks_heads: http1, wrote: false, stalled: false, stalls: 0 }
    }

    /// Bytes came in: after a response, with no handler running, they begin a next head.
    #[inline]
    fn read_some(&mut self) {
        if self.wrote {
            self.wrote = false;
            if self.marks_heads {
                let started = self.slot.started.load(Relaxed);
                if started == self.slot.finished.load(Relaxed) {
                    self.slot.head_after.store(started, Relaxed);
                }
            }
        }
    }

    /// A write went through, or had to wait.
    #[inline]
    fn wrote<T>(&mut self, poll: &Poll<T>) {
        match poll {
            Poll::Ready(_) => {
                self.wrote = true;
                if self.stalled {
                    self.stalled = false;
                    self.slot.write_stall.store(0, Relaxed);
                }
            }
            Poll::Pending => {
                if !self.stalled {
                    self.stalled = true;
                    self.stalls = self.stalls.wrapping_add(1).max(1);
                    self.slot.write_stall.store(u64::from(self.stalls), Relaxed);
                }
            }
        }
    }
}

impl AsyncRead for Watched {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The common read, straight to the socket: plain, nothing read ahead. Bytes after
        // a response mark the start of a next head.
        if let (Io::Plain(s), None) = (&mut this.io, &this.ahead) {
            let before = buf.filled().len();
            let poll = Pin::new(s).poll_read(cx, buf);
            if this.wrote && buf.filled().len() > before {
                this.read_some();
            }
            return poll;
        }
        this.read_watched(cx, buf)
    }
}

impl Watched {
    /// A read that has more to do: bytes read ahead first, or TLS.
    fn read_watched(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(ahead) = &mut self.ahead {
            let ahead = &mut ahead.0;
            let n = ahead.len().min(buf.remaining());
            buf.put_slice(&ahead[..n]);
            ahead.drain(..n);
            if ahead.is_empty() {
                self.ahead = None;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let poll = match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => tls::read(s, cx, buf),
        };
        if buf.filled().len() > before {
            self.read_some();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => tls::write(s, cx, buf),
        };
        this.wrote(&poll);
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => tls::write_vectored(s, cx, bufs),
        };
        this.wrote(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => tls::is_write_vectored(s),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => tls::flush(s, cx),
        };
        this.wrote(&poll);
        poll
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => tls::shutdown(s, cx),
        }
    }
}

/// The TLS side of [`Io`], kept out of line.
#[cfg(feature = "tls")]
mod tls {
    use std::io::{IoSlice, Result};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;

    pub(crate) type Stream = tokio_rustls::server::TlsStream<TcpStream>;

    #[inline(never)]
    pub(crate) fn read(s: &mut Stream, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<Result<()>> {
        Pin::new(s).poll_read(cx, buf)
    }

    #[inline(never)]
    pub(crate) fn write(s: &mut Stream, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        Pin::new(s).poll_write(cx, buf)
    }

    #[inline(never)]
    pub(crate) fn write_vectored(
        s: &mut Stream,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<Result<usize>> {
        Pin::new(s).poll_write_vectored(cx, bufs)
    }

    #[inline(never)]
    pub(crate) fn flush(s: &mut Stream, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(s).poll_flush(cx)
    }

    #[inline(never)]
    pub(crate) fn shutdown(s: &mut Stream, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(s).poll_shutdown(cx)
    }

    pub(crate) fn is_write_vectored(s: &Stream) -> bool {
        s.is_write_vectored()
    }
}

/// Without the `tls` feature no TLS stream can exist: [`Io::Tls`] holds an empty type.
#[cfg(not(feature = "tls"))]
mod tls {
    use std::io::{IoSlice, Result};
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    pub(crate) enum Stream {}

    pub(crate) fn read(s: &mut Stream, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<Result<()>> {
        match *s {}
    }

    pub(crate) fn write(s: &mut Stream, _: &mut Context<'_>, _: &[u8]) -> Poll<Result<usize>> {
        match *s {}
    }

    pub(crate) fn write_vectored(
        s: &mut Stream,
        _: &mut Context<'_>,
        _: &[IoSlice<'_>],
    ) -> Poll<Result<usize>> {
        match *s {}
    }

    pub(crate) fn flush(s: &mut Stream, _: &mut Context<'_>) -> Poll<Result<()>> {
        match *s {}
    }

    pub(crate) fn shutdown(s: &mut Stream, _: &mut Context<'_>) -> Poll<Result<()>> {
        match *s {}
    }

    pub(crate) fn is_write_vectored(s: &Stream) -> bool {
        match *s {}
    }
}

/// Whether a plain connection opens with the HTTP/2 preface, and the bytes taken off the
/// socket to decide (they must be served again).
///
/// Most connections decide on their first peek with nothing taken ("GET", "POST" differ
/// from "PRI" by the second byte). Bytes that are a strict prefix of the preface ("P",
/// "PR") are read out, so that the next wait is for new bytes: peeking again at the same
/// bytes would return at once and spin.
pub(crate) async fn sniff_h2_preface(stream: &TcpStream) -> io::Result<(bool, Vec<u8>)> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let n = stream.peek(&mut buf).await?;
    if n == 0 || buf[..n] != H2_PREFACE[..n] {
        return Ok((false, Vec::new()));
    }
    if n == H2_PREFACE.len() {
        return Ok((true, Vec::new()));
    }
    let mut taken = Vec::with_capacity(H2_PREFACE.len());
    loop {
        stream.readable().await?;
        let want = H2_PREFACE.len() - taken.len();
        match stream.try_read(&mut buf[..want]) {
            Ok(0) => return Ok((false, taken)),
            Ok(n) => {
                taken.extend_from_slice(&buf[..n]);
                if taken[..] != H2_PREFACE[..taken.len()] {
                    return Ok((false, taken));
                }
                if taken.len() == H2_PREFACE.len() {
                    return Ok((true, taken));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}
