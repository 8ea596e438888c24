//! Server and request limits, with safe defaults. Each is a setter on `Engine`.

use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

/// The engine's limits. Defaults are documented on each `Engine` setter.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) body_limit: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    /// Bytes per second a body must keep up after `body_read_timeout`'s head start.
    pub(crate) body_min_rate: u32,
    /// Bytes of request bodies held in memory by the whole server, and by one connection.
    pub(crate) body_memory: usize,
    pub(crate) body_memory_per_connection: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) h2_max_streams: u32,
    pub(crate) h2_stream_window: u32,
    pub(crate) h2_connection_window: u32,
    pub(crate) h2_keep_alive: Option<Duration>,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_timeout: Duration,
    /// Serving goes on this long after shutdown begins, readiness already 503.
    pub(crate) shutdown_delay: Duration,
    /// What the readiness route runs, and how long each may take.
    pub(crate) ready_checks: Vec<ReadyCheck>,
    pub(crate) ready_timeout: Duration,
    pub(crate) http2: bool,
    /// Per-route metrics are recorded (`metrics_route` was called).
    pub(crate) metrics: bool,
    /// Peers whose forwarding headers `client_ip` believes (none by default).
    pub(crate) proxies: crate::context::client_ip::TrustedProxies,
    /// Limits on multipart uploads.
    pub(crate) uploads: crate::context::upload_limits::UploadLimits,
    /// `run` installs tether's non-blocking log subscriber when none is set
    /// (`Engine::default()`).
    pub(crate) default_logging: bool,
    /// Repeated panics at one location are counted instead of reported in full.
    pub(crate) quiet_repeated_panics: bool,
    /// Trailing-slash redirects (Gin's `RedirectTrailingSlash`).
    pub(crate) redirect_trailing_slash: bool,
    /// 405 for a path known for other methods (404 when off, Gin's default).
    pub(crate) handle_method_not_allowed: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            body_limit: 2 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            body_min_rate: 1024,
            body_memory: 64 * 1024 * 1024,
            body_memory_per_connection: 8 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            h2_max_streams: 128,
            h2_stream_window: 256 * 1024,
            h2_connection_window: 1024 * 1024,
            h2_keep_alive: Some(Duration::from_secs(20)),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            ready_checks: Vec::new(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            http2: true,
            metrics: false,
            proxies: Default::default(),
            uploads: Default::default(),
            default_logging: false,
            quiet_repeated_panics: true,
            redirect_trailing_slash: true,
            handle_method_not_allowed: true,
        }
    }
}

impl Settings {
    /// The pace rules and budgets for a request body: the server's budget, and the
    /// connection's when it comes through one. Each budget fits at least one body at the
    /// body limit.
    pub(crate) fn body_guard(
        &self,
        process: &std::sync::Arc<crate::response::body_guard::Budget>,
        connection: Option<&crate::response::body_guard::ConnectionBudget>,
    ) -> crate::response::body_guard::BodyGuard {
        use crate::response::body_guard::{BodyGuard, BodyRules, Budgets};
        let per_connection = self.body_memory_per_connection.max(self.body_limit);
        BodyGuard {
            rules: BodyRules::new(self.body_read_timeout, self.body_min_rate),
            budgets: Budgets {
                process: process.clone(),
                connection: connection.map(|c| c.get(per_connection)),
            },
        }
    }

    /// The budget every request body of the server shares.
    pub(crate) fn process_body_budget(&self) -> crate::response::body_guard::Budget {
        crate::response::body_guard::Budget::new(self.body_memory.max(self.body_limit))
    }
}

/// How long one readiness check may take before it counts as failed (default of
/// [`Engine::ready_timeout`]).
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(2);

/// One readiness check registered with [`Engine::ready_check`], named by its call site.
#[derive(Clone)]
pub(crate) struct ReadyCheck {
    pub(crate) site: &'static Location<'static>,
    pub(crate) run: Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

impl std::fmt::Debug for ReadyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadyCheck({})", self.site)
    }
}
