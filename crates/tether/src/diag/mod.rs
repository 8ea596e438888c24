//! Diagnostics routes, off unless mounted: `app.debug_routes("/debug")` mounts
//! `/debug/` (a live page charting the figures below), `/debug/leaks` (live copies and tasks by call site), `/debug/vars` (the process and the
//! engine in numbers), `/debug/pprof/profile` (CPU) and `/debug/pprof/heap` (heap, with
//! the `jemalloc` feature) behind an access guard (loopback peers only, by default).
//!
//! Nothing on the request path imports this folder: the engine mounts these routes when
//! asked, and they read its registry and counters (`scripts/module_cycles.py` shows
//! `diag` outside every cycle).

mod access;
#[cfg(feature = "metrics")]
mod exposition;
pub(crate) mod health;
mod heap;
mod leaks;
#[cfg(feature = "pprof")]
mod pprof;
mod vars;

pub(crate) use access::constant_time_eq;
pub use access::DebugAccess;

use crate::Engine;

impl Engine {
    /// Mounts the diagnostics routes under `prefix` (`/debug/`, a live page in the
    /// browser; `/debug/leaks`, `/debug/vars`, `/debug/pprof/profile`,
    /// `/debug/pprof/heap`), answering only
    /// peers on the loopback interface; anyone else gets a bare 403. Use
    /// [`debug_routes_with`](Self::debug_routes_with) for a token or to open them up.
    ///
    /// CPU profiles name functions from the binary's debug info: build releases with
    /// `debug = "limited"` (or more) so that inlined frames read `hyper::…` and
    /// `tether::…`; `"line-tables-only"` leaves them bare (`run`, `{closure#0}`).
    ///
    /// ```
    /// let mut app = tether::Engine::new();
    /// app.debug_routes("/debug");
    /// ```
    pub fn debug_routes(&mut self, prefix: &str) -> &mut Self {
        self.debug_routes_with(prefix, DebugAccess::Loopback)
    }

    /// Records per-route request counts and latencies, and serves them at `path` in the
    /// Prometheus text format: `tether_http_requests_total{route="/user/:id",method="GET",
    /// status="200"}`, a latency histogram, requests in flight, open connections, live
    /// copies and tasks, task outcomes, leak-threshold crossings, resident memory. The
    /// route label is the pattern, never the raw path, so label cardinality is bounded.
    /// Off unless mounted; mounted, a request pays a few relaxed atomic additions.
    ///
    /// ```
    /// let mut app = tether::Engine::new();
    /// app.metrics_route("/metrics");
    /// ```
    ///
    /// The route answers anyone, as Prometheus scrapes from elsewhere; use
    /// [`metrics_route_with`](Self::metrics_route_with) to guard it.
    pub fn metrics_route(&mut self, path: &str) -> &mut Self {
        self.metrics_route_with(path, DebugAccess::AllowAll)
    }

    /// Like [`metrics_route`](Self::metrics_route), answering only what `access` allows.
    ///
    /// ```
    /// let mut app = tether::Engine::new();
    /// app.metrics_route_with("/metrics", tether::DebugAccess::bearer("scraper-token"));
    /// ```
    ///
    /// Without the `metrics` feature (on by default) the route answers 501 saying so,
    /// and nothing is recorded.
    pub fn metrics_route_with(&mut self, path: &str, access: DebugAccess) -> &mut Self {
        let mut group = self.group("");
        group.with(access);
        #[cfg(feature = "metrics")]
        {
            group.get(path, exposition::metrics);
            self.settings.metrics = true;
        }
        #[cfg(not(feature = "metrics"))]
        group.get(path, async |c: &mut crate::Context| {
            c.abort_with_error(http::StatusCode::NOT_IMPLEMENTED, "metrics need tether's `metrics` feature");
        });
        self
    }

    /// Mounts the diagnostics routes under `prefix` with the given access rule.
    ///
    /// ```
    /// use tether::DebugAccess;
    /// let mut app = tether::Engine::new();
    /// app.debug_routes_with("/debug", DebugAccess::bearer("s3cret"));
    /// ```
    pub fn debug_routes_with(&mut self, prefix: &str, access: DebugAccess) -> &mut Self {
        let mut debug = self.group(prefix);
        debug.with(access);
        debug
            .get("/", live)
            .get("/leaks", leaks::leaks)
            .get("/vars", vars::vars)
            .get("/pprof/profile", pprof::profile)
            .get("/pprof/heap", heap::heap);
        self
    }
}

/// The live page at the debug prefix: one self-contained HTML file (no library, no CDN)
/// that charts resident memory, requests per second and live copies and tasks, and lists
/// the live call sites, reading `vars` and `leaks` once a second. A site with work past
/// the leak threshold is highlighted.
async fn live(c: &mut crate::Context) {
    c.header("cache-control", "no-store");
    c.header(
        "content-security-policy",
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
    );
    c.data(200, "text/html; charset=utf-8", include_str!("live.html"));
}

/// Without the `pprof` feature (on by default): the CPU profile route says what is missing.
#[cfg(not(feature = "pprof"))]
mod pprof {
    pub(super) async fn profile(c: &mut crate::Context) {
        c.abort_with_error(http::StatusCode::NOT_IMPLEMENTED, "CPU profiles need tether's `pprof` feature");
    }
}
