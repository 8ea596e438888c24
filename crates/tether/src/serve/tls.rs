//! TLS with rustls: the certificate and key, and the acceptor that offers HTTP/2 by ALPN.
//! `app.run_tls` is in `https.rs`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

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
