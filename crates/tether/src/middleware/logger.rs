//! `logger()`: one line per request, as Gin's logger writes it, through `tracing`.

use std::time::Instant;

use crate::{Context, Handler};

/// Logs one line per request at `info` level (target `tether::access`) as Gin's logger
/// writes it: `200 |   41.2µs |  127.0.0.1 | GET     "/ping"`, then the request id when
/// `request_id()` ran before it. Errors (5xx) log at `warn`.
///
/// ```
/// let mut app = tether::Engine::new();
/// app.with(tether::middleware::logger());
/// ```
pub fn logger() -> impl Handler {
    log_request
}

async fn log_request(c: &mut Context) {
    let start = Instant::now();
    c.next().await;
    let latency = start.elapsed();
    let status = c.response_status().as_u16();
    let ip = c.client_ip().map(|ip| ip.to_string()).unwrap_or_default();
    let (method, path) = (c.method().as_str(), c.path());
    let id = c.get::<String>(super::REQUEST_ID_KEY).map_or("", String::as_str);
    let sep = if id.is_empty() { "" } else { " | " };
    if status >= 500 {
        tracing::warn!(target: "tether::access", "{status} | {latency:>10.3?} | {ip:>15} | {method:<7} {path:?}{sep}{id}");
    } else {
        tracing::info!(target: "tether::access", "{status} | {latency:>10.3?} | {ip:>15} | {method:<7} {path:?}{sep}{id}");
    }
}
