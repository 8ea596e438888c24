//! `app.run_tls(addr, cert, key)` and `serve_tls_with_shutdown`: the accept loop of
//! `server.rs` with a [`TlsConfig`] (feature `tls`).

use std::io;
use std::path::Path;

use tokio::net::TcpListener;

use crate::serve::tls::TlsConfig;
use crate::{Engine, ShutdownReport};

impl Engine {
    /// Binds `addr` and serves HTTPS with the PEM certificate chain and key at `cert` and
    /// `key` until SIGINT or SIGTERM, then shuts down gracefully. HTTP/2 is offered by
    /// ALPN (unless [`http2(false)`](Engine::http2)). A client whose handshake fails (not
    /// TLS, an unknown certificate authority, a timeout) is disconnected and logged at
    /// `debug`; nothing else is affected.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let app = tether::Engine::default();
    /// app.run_tls("0.0.0.0:8443", "cert.pem", "key.pem").await
    /// # }
    /// ```
    pub async fn run_tls(
        self,
        addr: impl Into<crate::ListenAddr>,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<()> {
        let tls = TlsConfig::from_pem_files(cert, key)?;
        let listener = addr.into().bind().await?;
        tracing::info!(target: "tether", "listening on https://{}", listener.local_addr()?);
        self.serve_tls_with_shutdown(listener, tls, crate::serve::signal::first_signal_then_exit_on_second())
            .await
            .map(|_| ())
    }

    /// Serves HTTPS on `listener` until `signal` completes, as
    /// [`serve_with_shutdown`](Engine::serve_with_shutdown) serves HTTP.
    pub async fn serve_tls_with_shutdown(
        self,
        listener: TcpListener,
        tls: TlsConfig,
        signal: impl std::future::Future<Output = ()> + Send,
    ) -> io::Result<ShutdownReport> {
        self.serve_listener(listener, Some(tls), signal).await
    }
}
