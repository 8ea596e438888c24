//! Without the `tls` feature: the accept loop still takes an optional TLS configuration,
//! but none can be made, so every connection is plain.

/// A TLS configuration that cannot exist.
#[derive(Clone)]
pub(crate) enum TlsConfig {}

impl TlsConfig {
    pub(crate) fn http1_only(&self) -> Self {
        match *self {}
    }
}
