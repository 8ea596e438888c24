//! Connections: pick HTTP/1.1 or HTTP/2, serve with hyper, and close a connection when it
//! idles too long or the server shuts down.
//!
//! The protocol is picked by peeking at the first bytes for the HTTP/2 preface; then the
//! socket goes to hyper's HTTP/1 or HTTP/2 connection as it is, with no wrapper on the
//! I/O, so an HTTP/1 request costs what it costs in plain hyper.
//!
//! Timeouts and shutdown cost nothing per request: every open connection has a [`Slot`]
//! in the server's [`Connections`] registry with a request counter, and one watcher thread
//! per server (a thread, so that no timer sits on the runtime's park path) looks at all of
//! them a few times per timeout period. A connection only reads one atomic command word
//! when it is polled. (hyper's own header-read timeout
//! re-arms a boxed timer and reads the clock on every request, and a `select!` over
//! cancellation tokens and a sleep takes locks on every wake-up: both cost about a tenth
//! of a plaintext request.)

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::future::Either;
use futures_util::task::AtomicWaker;
use futures_util::FutureExt;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpStream;

use crate::body::RequestBody;
use crate::dispatch::dispatch;
use crate::engine::Shared;
use crate::settings::Settings;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Commands to a connection, in increasing order of force.
const RUN: u8 = 0;
/// Finish the request in flight (if any), then close.
const GRACEFUL: u8 = 1;
/// Close now.
const CLOSE: u8 = 2;

/// One open connection, as the registry sees it.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Requests started on the connection; bumped by the service.
    pub(crate) started: AtomicU64,
    command: AtomicU8,
    waker: AtomicWaker,
    opened: Instant,
    // Kept by the ticker only.
    seen: AtomicU64,
    quiet_since_ms: AtomicU64,
}

impl Slot {
    fn order(&self, command: u8) {
        if self.command.fetch_max(command, AcqRel) < command {
            self.waker.wake();
        }
    }
}

/// The open connections of one server.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    /// Notified when the last connection closes.
    emptied: tokio::sync::Notify,
}

impl Connections {
    /// Registers a new connection; it stays registered until the guard drops.
    pub(crate) fn open(self: &Arc<Self>) -> SlotGuard {
        let slot = Arc::new(Slot {
            started: AtomicU64::new(0),
            command: AtomicU8::new(RUN),
            waker: AtomicWaker::new(),
            opened: Instant::now(),
            seen: AtomicU64::new(0),
            quiet_since_ms: AtomicU64::new(0),
        });
        let id = self.next_id.fetch_add(1, Relaxed);
        self.slots.lock().expect("registry lock").insert(id, slot.clone());
        SlotGuard { conns: self.clone(), id, slot }
    }

    /// Orders every open connection to `command` (GRACEFUL or CLOSE).
    fn order_all(&self, command: u8) {
        for slot in self.slots.lock().expect("registry lock").values() {
            slot.order(command);
        }
    }

    /// Asks every connection to finish what it is doing and close.
    pub(crate) fn shut_down(&self) {
        self.order_all(GRACEFUL);
    }

    /// Closes every connection now.
    pub(crate) fn close_all(&self) {
        self.order_all(CLOSE);
    }

    /// Open connections.
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().expect("registry lock").len()
    }

    /// Completes when no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.len() == 0 {
                return;
            }
            emptied.await;
        }
    }

    /// Starts the watcher: a plain thread that looks at every connection a few times per
    /// timeout period, closes one that sent no request head within the header timeout, and
    /// winds down one idle for the keep-alive timeout. It is a thread, not a tokio timer,
    /// so that the runtime never has a timer pending on its hot park path. It stops when
    /// the returned handle drops.
    pub(crate) fn watch(self: &Arc<Self>, settings: &Settings) -> Watcher {
        let header = settings.header_read_timeout;
        let idle = settings.keep_alive_timeout;
        let tick = (header.min(idle) / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let stop = Arc::new(AtomicBool::new(false));
        let (conns, stopped) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("tether-watch".into())
            .spawn(move || {
                let start = Instant::now();
                while !stopped.load(Acquire) {
                    std::thread::park_timeout(tick);
                    conns.check(start, header, idle);
                }
            })
            .expect("spawn the connection watcher thread");
        Watcher { stop, thread }
    }

    fn check(&self, start: Instant, header: Duration, idle: Duration) {
        let now = Instant::now();
        let now_ms = now.duration_since(start).as_millis() as u64;
        for slot in self.slots.lock().expect("registry lock").values() {
            let started = slot.started.load(Relaxed);
            if started == 0 {
                if now.duration_since(slot.opened) >= header {
                    // No request head within the header timeout: nothing is in flight.
                    slot.order(CLOSE);
                }
            } else if started != slot.seen.load(Relaxed) {
                slot.seen.store(started, Relaxed);
                slot.quiet_since_ms.store(now_ms, Relaxed);
            } else if now_ms - slot.quiet_since_ms.load(Relaxed) >= idle.as_millis() as u64 {
                // hyper closes an idle connection at once, and lets a busy one finish its
                // response first.
                slot.order(GRACEFUL);
            }
        }
    }
}

/// The running watcher thread; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Release);
        self.thread.thread().unpark();
    }
}

/// Removes the connection from the registry when it ends.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    conns: Arc<Connections>,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.conns.slots.lock() {
            slots.remove(&self.id);
            if slots.is_empty() {
                self.conns.emptied.notify_waiters();
            }
        }
    }
}

/// What a connection is served with.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Shared>,
    /// The engine with its tower layers, when it has any.
    pub(crate) layered: Option<crate::layer::Layered>,
    pub(crate) peer: SocketAddr,
    pub(crate) guard: SlotGuard,
}

/// Serves one connection to the end: plain (HTTP/2 if it opens with the preface) or TLS
/// (the handshake within the header timeout, then HTTP/2 or HTTP/1.1 as ALPN agreed; a
/// failed handshake closes the connection).
///
/// Every connection goes through this one function with one transport type ([`Io`]) and
/// one service type, so hyper's connection code is instantiated once. Measured with
/// callgrind on /plaintext: before TLS and layers, 9,675 instructions per request; with
/// them as separate hyper instantiations, 9,768 (LLVM stops inlining hyper's head
/// parsing once it has several callers); one path with the TLS arms and the layered
/// future inline, 9,779; with those kept out of line (below), 9,688.
///
/// The service is a `service_fn` around [`dispatch`], not the boxed [`TetherService`]:
/// hyper keeps the in-flight future in a slot of its own, so the request's future needs
/// no box of ours. Only an engine with tower layers pays for boxes.
pub(crate) async fn serve(conn: Conn, stream: TcpStream, tls: Option<crate::tls::TlsConfig>) {
    let Conn { shared, layered, peer, guard } = conn;
    shared.stats.connections.fetch_add(1, Relaxed);
    let _ = stream.set_nodelay(true);
    let settings = &shared.settings;
    let transport = match tls {
        None => {
            let h2 = settings.http2
                && matches!(
                    tokio::time::timeout(settings.header_read_timeout, starts_with_h2_preface(&stream)).await,
                    Ok(Ok(true))
                );
            Some((Io::Plain(stream), h2))
        }
        Some(tls) => {
            match tokio::time::timeout(settings.header_read_timeout, tls.acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    Some((Io::Tls(Box::new(stream)), h2))
                }
                Ok(Err(e)) => {
                    tracing::debug!(target: "tether", %peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(target: "tether", %peer, "TLS handshake timed out");
                    None
                }
            }
        }
    };
    if let Some((io, h2)) = transport {
        let slot = guard.slot.clone();
        let app = shared.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            slot.started.fetch_add(1, Relaxed);
            match &layered {
                None => {
                    let (head, body) = req.into_parts();
                    let response = dispatch(app.clone(), head, RequestBody::incoming(body), Some(peer));
                    Either::Left(response.map(Ok::<_, Infallible>))
                }
                Some(layered) => {
                    // Through the layers: the body boxed, the peer in the extensions.
                    let mut req = req.map(crate::Body::from_stream);
                    req.extensions_mut().insert(peer);
                    // Boxed: the layered future's poll stays out of the direct path's code.
                    let layered: LayeredFuture = Box::pin(tower::ServiceExt::oneshot(layered.clone(), req));
                    Either::Right(layered)
                }
            }
        });
        let io = TokioIo::new(io);
        let result = if h2 {
            let conn =
                http2::Builder::new(TokioExecutor::new()).timer(TokioTimer::new()).serve_connection(io, svc);
            Controlled::new(conn, guard.slot.clone()).await
        } else {
            let conn = http1::Builder::new().header_read_timeout(None).serve_connection(io, svc);
            Controlled::new(conn, guard.slot.clone()).await
        };
        if let Err(e) = result {
            tracing::debug!(target: "tether", error = %e, "connection ended with an error");
        }
    }
    drop(guard);
    shared.stats.connections.fetch_sub(1, Relaxed);
}

type LayeredFuture = Pin<Box<dyn Future<Output = Result<http::Response<crate::Body>, Infallible>> + Send>>;

/// A connection's transport: the socket, or TLS over it. The TLS arms call out-of-line
/// functions so that the plain arm stays small enough for hyper's reads and writes to
/// inline it.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => tls::read(s, cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => tls::write(s, cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => tls::write_vectored(s, cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => tls::flush(s, cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => tls::shutdown(s, cx),
        }
    }
}

/// The TLS side of [`Io`], kept out of line.
mod tls {
    use std::io::{IoSlice, Result};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;

    type Stream = tokio_rustls::server::TlsStream<TcpStream>;

    #[inline(never)]
    pub(super) fn read(s: &mut Stream, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<Result<()>> {
        Pin::new(s).poll_read(cx, buf)
    }

    #[inline(never)]
    pub(super) fn write(s: &mut Stream, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        Pin::new(s).poll_write(cx, buf)
    }

    #[inline(never)]
    pub(super) fn write_vectored(
        s: &mut Stream,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<Result<usize>> {
        Pin::new(s).poll_write_vectored(cx, bufs)
    }

    #[inline(never)]
    pub(super) fn flush(s: &mut Stream, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(s).poll_flush(cx)
    }

    #[inline(never)]
    pub(super) fn shutdown(s: &mut Stream, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(s).poll_shutdown(cx)
    }
}

pin_project_lite::pin_project! {
    /// A hyper connection that obeys its slot's command word.
    struct Controlled<C> {
        #[pin]
        conn: C,
        slot: Arc<Slot>,
        applied: u8,
        waker: Option<Waker>,
    }
}

impl<C> Controlled<C> {
    fn new(conn: C, slot: Arc<Slot>) -> Self {
        Controlled { conn, slot, applied: RUN, waker: None }
    }
}

impl<C: GracefulConnection> Future for Controlled<C> {
    type Output = Result<(), C::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Register the task's waker once (a task's waker does not change between polls),
        // then read the command: a command stored after this read wakes us again.
        if !this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            this.slot.waker.register(cx.waker());
            *this.waker = Some(cx.waker().clone());
        }
        loop {
            let command = this.slot.command.load(Acquire);
            if command == *this.applied {
                break;
            }
            *this.applied = command;
            match command {
                CLOSE => return Poll::Ready(Ok(())),
                GRACEFUL => this.conn.as_mut().graceful_shutdown(),
                _ => {}
            }
            // The wake that brought this command used the registered waker up: register
            // again, then look once more in case a stronger command came in between.
            this.slot.waker.register(cx.waker());
        }
        this.conn.poll(cx)
    }
}

/// Peeks until the bytes either are the HTTP/2 preface or cannot be.
async fn starts_with_h2_preface(stream: &TcpStream) -> std::io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // A prefix of the preface so far ("P" might still be "POST"): wait for more bytes.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
