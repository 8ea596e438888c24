//! Serving the engine: accept loop, connection cap, graceful shutdown with a deadline.

use std::future::Future;
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::serve::connection;
use crate::serve::listen_addr::ListenAddr;
use crate::serve::watch::Connections;
use crate::Engine;

/// What graceful shutdown had to cut off when its deadline passed. All zero when every
/// in-flight request finished in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Requests still being handled at the deadline, dropped unanswered, and streamed
    /// responses still sending (a stream that ignores shutdown), cut off.
    pub requests_cut: usize,
    /// Connections still open at the deadline, closed.
    pub connections_cut: usize,
    /// Tracked tasks still running at the deadline, cancelled (each is logged).
    pub tasks_cancelled: usize,
}

impl Engine {
    /// Binds `addr` and serves until SIGINT or SIGTERM, then shuts down gracefully (a
    /// second signal exits at once, as with [`serve`](Self::serve)).
    /// `addr` is a [`ListenAddr`]: `"127.0.0.1:8080"`, or Gin's `":8080"` for every interface.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let app = tether::Engine::default();
    /// app.run("127.0.0.1:8080").await
    /// # }
    /// ```
    ///
    /// An engine from [`Engine::default()`] installs tether's non-blocking log subscriber
    /// first when the application set none (see [`tether::log`](crate::log)), and flushes
    /// it at the end.
    pub async fn run(self, addr: impl Into<ListenAddr>) -> io::Result<()> {
        let logging = self.settings.default_logging && crate::log::init();
        let listener = addr.into().bind().await?;
        tracing::info!(target: "tether", "listening on http://{}", listener.local_addr()?);
        let result = self.serve(listener).await;
        if logging {
            crate::log::flush();
        }
        result
    }

    /// Serves on `listener` until SIGINT or SIGTERM, then shuts down gracefully; a
    /// second signal while it drains exits the process at once (status 130 or 143).
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let signal = crate::serve::signal::first_signal_then_exit_on_second();
        self.serve_with_shutdown(listener, signal).await.map(|_| ())
    }

    /// Serves on `listener` until `signal` completes, then shuts down gracefully: stops
    /// accepting, lets in-flight requests finish and closes idle connections; at the
    /// shutdown deadline (`shutdown_timeout`, 10 s by default) cuts off what is left, and
    /// logs and reports it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// let server = tokio::spawn(tether::Engine::new().serve_with_shutdown(listener, async {
    ///     rx.await.ok();
    /// }));
    /// tx.send(()).unwrap();
    /// let report = server.await.unwrap()?;
    /// assert_eq!(report.requests_cut, 0);
    /// # Ok(()) }
    /// ```
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send,
    ) -> io::Result<ShutdownReport> {
        self.serve_listener(listener, None, signal).await
    }

    /// The accept loop and shutdown, for plain TCP or TLS.
    pub(crate) async fn serve_listener(
        self,
        listener: TcpListener,
        tls: Option<crate::serve::tls::TlsConfig>,
        signal: impl Future<Output = ()> + Send,
    ) -> io::Result<ShutdownReport> {
        let service = Arc::new(self.into_service());
        let settings = service.shared().settings.clone();
        if settings.quiet_repeated_panics {
            crate::serve::panics::install();
        }
        let tls = tls.map(|t| if settings.http2 { t } else { t.http1_only() });
        let permits = Arc::new(Semaphore::new(settings.max_connections));
        let conns = Arc::new(Connections::default());
        let watcher = conns.watch(&settings);
        // Shutdown begins with readiness: it turns 503 at once, and the server goes on
        // serving for the shutdown delay so that load balancers stop sending first.
        let shared = service.shared().clone();
        let signal = async move {
            signal.await;
            shared.stats.draining.store(true, Relaxed);
            let delay = shared.settings.shutdown_delay;
            if !delay.is_zero() {
                tracing::info!(target: "tether", ?delay, "shutting down: readiness is 503; serving on for the delay");
                tokio::time::sleep(delay).await;
            }
        };
        tokio::pin!(signal);
        loop {
            let permit = tokio::select! {
                biased;
                _ = &mut signal => break,
                p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            };
            let (stream, peer) = tokio::select! {
                biased;
                _ = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(e) => {
                        // Out of file descriptors and the like: say so once a second, not
                        // twenty times, and give the open connections time to close.
                        tracing::warn!(target: "tether", error = %e, "accept failed; retrying in 1 s");
                        tokio::select! {
                            biased;
                            _ = &mut signal => break,
                            _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        }
                    }
                },
            };
            // Registered here, before the task runs, so that a shutdown that starts now
            // reaches this connection too.
            let conn = connection::Conn { service: service.clone(), guard: conns.open(peer), permit };
            // `serve`'s own future is the task: wrapped in another, its arguments would be
            // held twice.
            tokio::spawn(connection::serve(conn, stream, tls.clone()));
        }
        drop(listener);
        let stats = &service.shared().stats;
        tracing::info!(
            target: "tether",
            connections = conns.len(),
            in_flight = stats.in_flight.load(Relaxed),
            "shutting down: no new connections; finishing in-flight requests"
        );
        let hub = &service.shared().hub;
        conns.shut_down();
        hub.begin_shutdown();
        let everything = async { tokio::join!(conns.all_closed(), hub.drained()) };
        let drained = tokio::time::timeout(settings.shutdown_timeout, everything).await.is_ok();
        let mut report = ShutdownReport::default();
        if drained {
            tracing::info!(target: "tether", "shutdown complete: every request and task finished");
        } else {
            // A response still sending is a request cut too: a stream not yet ended, or
            // (ended or not) one stuck on a client that does not read. One stuck stream is
            // both, hence the larger of the two rather than the sum.
            let sending = stats.streams_open.load(Relaxed).max(conns.stalled_responses());
            report.requests_cut = stats.in_flight.load(Relaxed) + sending;
            report.connections_cut = conns.len();
            tracing::warn!(
                target: "tether",
                requests_cut = report.requests_cut,
                connections_cut = report.connections_cut,
                tasks_running = hub.in_flight(),
                deadline = ?settings.shutdown_timeout,
                "shutdown deadline passed: cutting off what is left"
            );
            // Tasks tied to the requests cut here are cancelled with them: they count too.
            let cancelled = &hub.registry.totals.cancelled;
            let before = cancelled.load(Relaxed);
            conns.close_all();
            conns.all_closed().await;
            hub.cut_off().await;
            report.tasks_cancelled = (cancelled.load(Relaxed) - before) as usize;
        }
        drop(watcher);
        Ok(report)
    }
}

/// How long the accept loop waits after an accept error that is not one connection's
/// (out of file descriptors, out of memory): the condition lasts, and a tight loop of
/// warnings would only fill the log.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// An accept error that concerns one connection only (it was reset before we took it):
/// the next accept may well succeed at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_connections_errors_skip_the_backoff() {
        assert!(is_connection_error(&io::Error::from(io::ErrorKind::ConnectionAborted)));
        // EMFILE: the process is out of file descriptors, and will be for a while.
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
        assert!(ACCEPT_BACKOFF >= Duration::from_secs(1));
    }
}
