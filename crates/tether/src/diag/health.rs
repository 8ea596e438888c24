//! Health for orchestrators: liveness, readiness with the application's own checks, and
//! a readiness that turns 503 as soon as shutdown begins, while the server still serves,
//! so that a load balancer stops sending before the listener closes.

use std::fmt::Display;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::StatusCode;

use crate::app::settings::ReadyCheck;
use crate::{Context, Engine};

impl Engine {
    /// Mounts a liveness route at `live` and a readiness route at `ready`, as Kubernetes
    /// and load balancers use them:
    ///
    /// - `live` answers 200 `{"status":"ok"}` while the process serves, shutdown
    ///   included (an orchestrator must not kill a server that is draining).
    /// - `ready` answers 200 `{"status":"ready"}` when every [`ready_check`] passes; 503
    ///   `{"status":"unready","checks":[..]}` naming each failed check, its call site and
    ///   error, when one fails or takes longer than [`ready_timeout`]; and 503
    ///   `{"status":"draining"}` from the moment shutdown begins. With a
    ///   [`shutdown_delay`] the server goes on serving for that long first, so load
    ///   balancers see the 503 and stop sending before the listener closes.
    ///
    /// Both answer anyone: probes come from elsewhere. (With `logger()` on, a 503 from
    /// readiness is logged at `warn` like any 5xx.)
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut app = tether::Engine::new();
    /// app.health_routes("/healthz", "/readyz").shutdown_delay(Duration::from_secs(5));
    /// app.ready_check(|| async { Ok::<(), String>(()) }); // say, ping the database
    /// ```
    ///
    /// [`ready_check`]: Engine::ready_check
    /// [`ready_timeout`]: Engine::ready_timeout
    /// [`shutdown_delay`]: Engine::shutdown_delay
    pub fn health_routes(&mut self, live: &str, ready: &str) -> &mut Self {
        self.get(live, async |c: &mut Context| c.json(200, &serde_json::json!({ "status": "ok" })));
        self.get(ready, readiness);
        self
    }

    /// Adds a check that readiness runs on every probe: the database answers, a queue is
    /// reachable. An `Err` (its text is in the 503's body) or a check slower than
    /// [`ready_timeout`](Engine::ready_timeout) makes the server unready. Checks run
    /// concurrently; each is named by the line that registered it.
    #[track_caller]
    pub fn ready_check<F, Fut, E>(&mut self, check: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let run = Arc::new(move || -> BoxFuture<'static, Result<(), String>> {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        self.settings.ready_checks.push(ReadyCheck { site: Location::caller(), run });
        self
    }

    /// How long one readiness check may take before it counts as failed. Default is
    /// 2 seconds: a probe never hangs on a dependency that does not answer.
    pub fn ready_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.ready_timeout = timeout;
        self
    }

    /// How long the server goes on accepting and serving after shutdown begins, with
    /// readiness already 503, before it closes the listener and drains. Default is 0;
    /// behind a load balancer that probes readiness, set it to a little more than the
    /// probe interval times the failure threshold (Kubernetes' defaults: 10 s × 3, so
    /// often 5 s with tuned probes). The [`shutdown_timeout`](Engine::shutdown_timeout)
    /// for draining starts after it.
    pub fn shutdown_delay(&mut self, delay: Duration) -> &mut Self {
        self.settings.shutdown_delay = delay;
        self
    }
}

/// The readiness answer.
async fn readiness(c: &mut Context) {
    let shared = c.shared.clone().expect("a context in use has its engine");
    if shared.stats.draining.load(Relaxed) {
        return c.json(503, &serde_json::json!({ "status": "draining" }));
    }
    let timeout = shared.settings.ready_timeout;
    let runs = shared.settings.ready_checks.iter().map(|check| async move {
        let result = match tokio::time::timeout(timeout, (check.run)()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        (check.site, result)
    });
    let failed: Vec<serde_json::Value> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .filter_map(|(site, result)| result.err().map(|error| (site, error)))
        .map(|(site, error)| serde_json::json!({ "check": site.to_string(), "error": error }))
        .collect();
    if failed.is_empty() {
        c.json(200, &serde_json::json!({ "status": "ready" }));
    } else {
        c.json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "status": "unready", "checks": failed }),
        );
    }
}
