//! [`FrozenEngine`]: the engine once frozen for serving, what every request reads — the
//! router with each route's chain, the state, the settings and the live counters.
//!
//! The context holds one of these, not the [`Engine`](crate::Engine): with the builder out
//! of its reach, the only modules that import each other are the context, the handler
//! types and this one.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use crate::app::handler::{Chain, SharedHandler};
use crate::app::settings::Settings;
use crate::app::state::StateMap;
use crate::detach::hub::TaskHub;
use crate::routing::router::{Matched, Router};
use crate::serve::route_stats::Metrics;

/// The engine, frozen: what every request reads.
pub(crate) struct FrozenEngine {
    pub(crate) router: Router<SharedHandler>,
    pub(super) no_route: Chain,
    pub(super) no_method: Chain,
    /// The global middleware, then the trailing-slash redirect.
    pub(super) redirect: Chain,
    pub(crate) state: StateMap,
    pub(crate) settings: Settings,
    pub(crate) stats: Stats,
    pub(crate) hub: Arc<TaskHub>,
    /// When the engine was frozen for serving.
    pub(crate) started: std::time::Instant,
    /// Per-route figures, when `/metrics` is mounted.
    pub(crate) metrics: Option<Metrics>,
    /// Bytes of request bodies the server holds in memory.
    pub(crate) body_budget: Arc<crate::response::body_guard::Budget>,
}

impl FrozenEngine {
    /// The handlers a request runs.
    pub(crate) fn chain(&self, which: Matched) -> &[SharedHandler] {
        match which {
            Matched::Route(id) => &self.router.routes[id].chain,
            Matched::NoRoute => &self.no_route,
            Matched::NoMethod => &self.no_method,
            Matched::Redirect => &self.redirect,
            Matched::None => &[],
        }
    }
}

/// Live counters of the engine.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Requests being handled now.
    pub(crate) in_flight: AtomicUsize,
    /// Requests answered since start.
    pub(crate) served: AtomicU64,
    /// Connections open now.
    pub(crate) connections: AtomicUsize,
    /// Streamed responses (`c.stream`, `c.sse`) still sending.
    pub(crate) streams_open: AtomicUsize,
    /// Shutdown has begun: readiness answers 503.
    pub(crate) draining: std::sync::atomic::AtomicBool,
}
