//! TLS with rustls: `app.run_tls(addr, cert, key)`, HTTP/2 offered by ALPN.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::{Engine, ShutdownReport};

/// A server certificate chain and its private key, ready to serve TLS.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

impl TlsConfig {
    /// From PEM files: the certificate chain (leaf first) and the private key (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_pem = std::fs::read(cert).map_err(|e| invalid(&cert.display().to_string(), e))?;
        let key_pem = std::fs::read(key).map_err(|e| invalid(&key.display().to_string(), e))?;
        Self::from_pem(&cert_pem, &key_pem)
    }

    /// From PEM text, as [`from_pem_files`](Self::from_pem_files) reads it. HTTP/2 and
    /// HTTP/1.1 are offered by ALPN, HTTP/2 first.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> io::Result<Self> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<_, _>>()
            .map_err(|e| invalid("certificate", e))?;
        if chain.is_empty() {
            return Err(invalid("certificate", "no certificate in the PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid("private key", e))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("TLS versions", e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid("certificate and key", e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig { acceptor: TlsAcceptor::from(Arc::new(config)) })
    }

    /// The same, with only HTTP/1.1 offered.
    pub(crate) fn http1_only(&self) -> Self {
        let mut config = (*self.acceptor.config().clone()).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConfig { acceptor: TlsAcceptor::from(Arc::new(config)) }
    }
}

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
