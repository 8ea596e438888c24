//! Connections: pick HTTP/1.1 or HTTP/2, serve with hyper under the server's limits, and
//! close a connection when the watcher ([`crate::serve::watch`]) or shutdown says so.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_util::future::Either;
use futures_util::FutureExt;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpStream;

use crate::app::frozen::FrozenEngine;
use crate::app::settings::Settings;
use crate::response::body::RequestBody;
use crate::response::body_guard::GuardedBody;
use crate::serve::dispatch::dispatch;
use crate::serve::service::TetherService;
use crate::serve::slot::{Command, Slot};
use crate::serve::transport::{sniff_h2_preface, Io, Watched};
use crate::serve::watch::SlotGuard;

/// hyper's HTTP/2 send buffer per stream: what a response may queue ahead of a client that
/// reads slowly (hyper's default is 400 KiB; 128 streams of that is 50 MiB a connection).
const H2_SEND_BUFFER: usize = 128 * 1024;

/// What a connection is served with. Every open connection's task holds one, so it holds
/// only what is the connection's own; the client's address and the connection's body
/// budget are in its slot.
pub(crate) struct Conn {
    /// The engine, with its tower layers when it has any.
    pub(crate) service: Arc<TetherService>,
    pub(crate) guard: SlotGuard,
    /// The connection's place under `max_connections`, given back when it closes.
    pub(crate) permit: tokio::sync::OwnedSemaphorePermit,
}

/// Serves one connection to the end: plain (HTTP/2 if it opens with the preface) or TLS
/// (the handshake within the header timeout, then HTTP/2 or HTTP/1.1 as ALPN agreed; a
/// failed handshake closes the connection).
///
/// Every connection goes through this one function with one transport type ([`Watched`]),
/// so hyper's HTTP/1 connection code is instantiated once (LLVM stops inlining hyper's
/// head parsing once it has several callers).
///
/// The service is a `service_fn` around [`dispatch`], not the boxed `TetherService`:
/// hyper keeps the in-flight future in a slot of its own, so the request's future needs
/// no box of ours. Only an engine with tower layers pays for boxes.
///
/// The task is this future, 760 bytes, in tokio's 896-byte task cell: every open
/// connection holds one (`bench/rss.sh`; see the README's memory table), so:
/// - it is an `async` block, not an `async fn`: an async function copies its arguments
///   into locals and keeps room for both;
/// - HTTP/1's service borrows the connection's [`Conn`] rather than own clones of its
///   parts (HTTP/2 spawns its streams, so its service owns them, boxed with the
///   connection);
/// - hyper's builders are dropped before the connection is awaited;
/// - what is not needed on every poll lives in the connection's [`Slot`].
///
/// A unit test below holds the size: 24 bytes more would take the next cell size.
// An `async` block on purpose (see above), where clippy would have an `async fn`.
#[allow(clippy::manual_async_fn)]
pub(crate) fn serve(
    conn: Conn,
    stream: TcpStream,
    tls: Option<crate::serve::tls::TlsConfig>,
) -> impl Future<Output = ()> + Send {
    async move {
        let shared = conn.service.shared();
        shared.stats.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let Some((io, ahead, h2)) = open(stream, tls, &shared.settings, conn.guard.slot.peer).await else {
            return finish(conn);
        };
        let io = TokioIo::new(Watched::new(io, conn.guard.slot.clone(), ahead, !h2));
        let c = &conn;
        let result = if h2 {
            http2_connection(c, io).await
        } else {
            http1_connection(
                &shared.settings,
                io,
                hyper::service::service_fn(move |req: Request<Incoming>| {
                    respond(&c.service, &c.guard.slot, req)
                }),
                c.guard.slot.clone(),
            )
            .await
        };
        if let Err(e) = result {
            tracing::debug!(target: "tether", error = %e, "connection ended with an error");
        }
        finish(conn);
    }
}

/// The connection is over: the slot leaves the watcher's table before the count drops,
/// and the permit goes last.
fn finish(conn: Conn) {
    let Conn { service, guard, permit } = conn;
    drop(guard);
    service.shared().stats.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    drop(permit);
}

/// hyper's HTTP/1.1 connection with `svc`, which borrows the connection's [`Conn`]. A
/// function of its own so that the builder is gone before the connection is awaited.
fn http1_connection<S>(
    settings: &Settings,
    io: TokioIo<Watched>,
    svc: S,
    slot: Arc<Slot>,
) -> Controlled<http1::Connection<TokioIo<Watched>, S>>
where
    S: hyper::service::HttpService<Incoming, ResBody = crate::Body, Error = Infallible>,
{
    Controlled::new(http1_builder(settings).serve_connection(io, svc), slot)
}

/// hyper's HTTP/2 connection, boxed: held inline, its state would size every
/// connection's task to the larger of the two, HTTP/1 ones included. Its streams are
/// spawned, so its service owns what it needs.
fn http2_connection(
    conn: &Conn,
    io: TokioIo<Watched>,
) -> Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>> {
    let (service, slot) = (conn.service.clone(), conn.guard.slot.clone());
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| respond(&service, &slot, req));
    Box::pin(Controlled::new(
        http2_builder(&conn.service.shared().settings).serve_connection(io, svc),
        conn.guard.slot.clone(),
    ))
}

/// One request of the connection: straight to [`dispatch`], or through the engine's
/// tower layers when it has any. Out of line: hyper's service call then copies the
/// request once, where inlined it copied it twice (measured, `bench/irq.sh`).
#[inline(never)]
fn respond(
    service: &TetherService,
    slot: &Arc<Slot>,
    req: Request<Incoming>,
) -> Either<
    impl Future<Output = Result<http::Response<crate::Body>, Infallible>> + Send + 'static,
    LayeredFuture,
> {
    let in_flight = slot.begin();
    let shared = service.shared();
    match service.layered() {
        None => {
            let (head, body) = req.into_parts();
            let body = RequestBody::incoming(body, || {
                shared.settings.body_guard(&shared.body_budget, Some(&slot.bodies))
            });
            Either::Left(dispatch(shared.clone(), head, body, Some(slot.peer), Some(in_flight)))
        }
        Some(layered) => Either::Right(through_layers(layered, shared, slot, in_flight, req)),
    }
}

/// The connection's transport and protocol: plain (HTTP/2 if it opens with the preface,
/// sniffed within the header timeout) or TLS (the handshake within the header timeout,
/// then HTTP/2 or HTTP/1.1 as ALPN agreed). `None` when the connection is to be closed.
///
/// A function of its own, so that its futures (the sniff with its timer is 392 bytes)
/// share room in the connection's task with the connection they precede, rather than
/// sit beside it.
async fn open(
    stream: TcpStream,
    tls: Option<crate::serve::tls::TlsConfig>,
    settings: &Settings,
    // Named in the TLS handshake's log lines.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))] peer: SocketAddr,
) -> Option<(Io, Vec<u8>, bool)> {
    match tls {
        None if settings.http2 => {
            match tokio::time::timeout(settings.header_read_timeout, sniff_h2_preface(&stream)).await {
                Ok(Ok((h2, ahead))) => Some((Io::Plain(stream), ahead, h2)),
                Ok(Err(_)) | Err(_) => None,
            }
        }
        None => Some((Io::Plain(stream), Vec::new(), false)),
        #[cfg(feature = "tls")]
        Some(tls) => {
            // Boxed, as HTTP/2 below: rustls' handshake state would otherwise size the
            // task of every plain connection too.
            match tokio::time::timeout(settings.header_read_timeout, Box::pin(tls.acceptor.accept(stream)))
                .await
            {
                Ok(Ok(stream)) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    Some((Io::Tls(Box::new(stream)), Vec::new(), h2))
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
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
    }
}

/// A request through the engine's tower layers: its body boxed (paced, not budgeted),
/// the peer in the extensions.
fn through_layers(
    layered: &crate::serve::layered::Layered,
    shared: &FrozenEngine,
    slot: &Slot,
    in_flight: crate::serve::slot::InFlight,
    req: Request<Incoming>,
) -> LayeredFuture {
    let guard = shared.settings.body_guard(&shared.body_budget, None);
    let mut req = req.map(|b| crate::Body::from_stream(GuardedBody::new(b, &guard)));
    req.extensions_mut().insert(crate::PeerAddr(slot.peer));
    // Boxed: the layered future's poll stays out of the direct path's code.
    Box::pin(tower::ServiceExt::oneshot(layered.clone(), req).map(move |r| {
        drop(in_flight);
        r
    }))
}

/// hyper's HTTP/1.1 connection under the engine's limits. The header timeout is the
/// watcher's, not hyper's (see [`crate::serve::watch`]).
fn http1_builder(settings: &Settings) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .header_read_timeout(None)
        // The read buffer bounds what an unfinished head holds; the header size refuses a
        // complete head that came in one read larger than the limit.
        .max_buf_size(settings.max_header_bytes)
        .max_header_size(settings.max_header_bytes)
        .max_headers(settings.max_headers);
    builder
}

/// hyper's HTTP/2 connection under the engine's limits.
fn http2_builder(settings: &Settings) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(settings.h2_max_streams)
        .initial_stream_window_size(settings.h2_stream_window)
        .initial_connection_window_size(settings.h2_connection_window)
        .max_send_buf_size(H2_SEND_BUFFER)
        .keep_alive_interval(settings.h2_keep_alive);
    if let Some(interval) = settings.h2_keep_alive {
        builder.keep_alive_timeout(interval);
    }
    builder
}

type LayeredFuture = Pin<Box<dyn Future<Output = Result<http::Response<crate::Body>, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// A hyper connection that obeys its slot's command word.
    struct Controlled<C> {
        #[pin]
        conn: C,
        slot: Arc<Slot>,
        applied: Command,
        // The task's waker is registered with the slot at the first poll. A task's waker
        // does not change between polls (this future is a task's own, never moved to
        // another), so a flag does where a `Waker` would take 16 bytes of every
        // connection's task.
        registered: bool,
    }
}

impl<C> Controlled<C> {
    fn new(conn: C, slot: Arc<Slot>) -> Self {
        Controlled { conn, slot, applied: Command::Run, registered: false }
    }
}

impl<C: GracefulConnection> Future for Controlled<C> {
    type Output = Result<(), C::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Register the task's waker once (a task's waker does not change between polls),
        // then read the command: a command stored after this read wakes us again.
        if !*this.registered {
            this.slot.register(cx.waker());
            *this.registered = true;
        }
        while let Some(command) = this.slot.command_other_than(*this.applied) {
            *this.applied = command;
            match command {
                Command::Close => return Poll::Ready(Ok(())),
                Command::Graceful => this.conn.as_mut().graceful_shutdown(),
                Command::Run => {}
            }
            // The wake that brought this command used the registered waker up: register
            // again, then look once more in case a stronger command came in between.
            this.slot.register(cx.waker());
        }
        this.conn.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The task is what every open connection costs beside hyper's buffers: a change
    /// that makes it grow (a `let` held across the `.await`, an owned capture) shows here.
    #[tokio::test]
    async fn a_connections_task_stays_small() {
        let service = Arc::new(crate::Engine::new().into_service());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let conns = Arc::new(crate::serve::watch::Connections::default());
        let permit = Arc::new(tokio::sync::Semaphore::new(1)).acquire_owned().await.unwrap();
        let conn = Conn { service, guard: conns.open(peer), permit };
        let task = serve(conn, stream, None);
        let size = std::mem::size_of_val(&task);
        println!("connection task: {size} bytes");
        // 760 in a release build, 792 in a test build, when this was written; 24 bytes
        // more in release takes tokio's next task cell (1,024 bytes instead of 896).
        assert!(size <= 800, "a connection's task takes {size} bytes");
    }
}
