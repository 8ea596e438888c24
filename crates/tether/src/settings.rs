//! Server and request limits, with safe defaults. Each is a setter on `Engine`.

use std::time::Duration;

/// The engine's limits. Defaults are documented on each `Engine` setter.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) body_limit: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) http2: bool,
    /// Per-route metrics are recorded (`metrics_route` was called).
    pub(crate) metrics: bool,
    /// Peers whose forwarding headers `client_ip` believes (none by default).
    pub(crate) proxies: crate::client_ip::TrustedProxies,
    /// Limits on multipart uploads.
    pub(crate) uploads: crate::upload::UploadLimits,
    /// `run` installs tether's non-blocking log subscriber when none is set
    /// (`Engine::default()`).
    pub(crate) default_logging: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            body_limit: 2 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
            http2: true,
            metrics: false,
            proxies: Default::default(),
            uploads: Default::default(),
            default_logging: false,
        }
    }
}
