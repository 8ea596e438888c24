//! `json_logger()`: one JSON object per request and line, for Loki, ELK and friends.

use std::io::Write;
use std::time::{Instant, SystemTime};

use serde_json::json;

use super::request_id::REQUEST_ID_KEY;
use crate::app::handler::HandlerFuture;
use crate::{Context, Handler};

/// Writes one JSON line per request to standard output (or [`writer`](JsonLogger::writer)):
///
/// ```text
/// {"time":"2026-11-27T23:14:05.120Z","level":"info","status":200,"method":"GET","path":"/user/42",
///  "route":"/user/:id","query":"","ip":"127.0.0.1","latency_ms":0.041,"bytes":17,
///  "user_agent":"curl/8.5.0","request_id":"5f0c2a9b3e4d1c77-42"}
/// ```
///
/// `level` is `error` for 5xx, `warn` for 4xx, else `info`; `request_id` is there when
/// `request_id()` runs before it; `bytes` when the body's length is known. Each line is
/// handed whole to a non-blocking writer ([`tether::log`](crate::log)), so lines from
/// concurrent requests never interleave and a stalled output never holds up a request:
/// when its queue is full, lines are dropped and counted (`log_lines_dropped`).
///
/// ```
/// use tether::middleware::{json_logger, request_id};
///
/// let mut app = tether::Engine::new();
/// app.with(request_id()).with(json_logger());
/// ```
pub fn json_logger() -> JsonLogger {
    JsonLogger { out: crate::log::writer() }
}

/// The `json_logger()` middleware and where it writes.
#[derive(Clone)]
pub struct JsonLogger {
    out: crate::log::LogSink,
}

impl std::fmt::Debug for JsonLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLogger").finish_non_exhaustive()
    }
}

impl JsonLogger {
    /// Writes the lines to `out` instead of the process's log sink (a file, a pipe, a
    /// buffer), through a non-blocking writer of its own
    /// ([`log::non_blocking`](crate::log::non_blocking)).
    pub fn writer(mut self, out: impl Write + Send + 'static) -> Self {
        self.out = crate::log::non_blocking(out, crate::log::DEFAULT_BUFFERED_LINES);
        self
    }
}

impl Handler for JsonLogger {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            let start = Instant::now();
            c.next().await;
            let latency = start.elapsed();
            let status = c.response_status().as_u16();
            let level = match status {
                500.. => "error",
                400..=499 => "warn",
                _ => "info",
            };
            let mut line = json!({
                "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                "level": level,
                "status": status,
                "method": c.method().as_str(),
                "path": c.path(),
                "route": c.full_path(),
                "query": c.raw_query(),
                "ip": c.client_ip().map(|ip| ip.to_string()),
                "latency_ms": latency.as_secs_f64() * 1e3,
                "user_agent": c.get_header("user-agent"),
            });
            if let Some(len) = c.response_body().as_bytes().map(|b| b.len()) {
                line["bytes"] = len.into();
            }
            if let Some(id) = c.get::<String>(REQUEST_ID_KEY) {
                line["request_id"] = id.as_str().into();
            }
            let mut text = line.to_string();
            text.push('\n');
            // One write is one queued line; a full queue drops it (and counts it).
            let _ = self.out.clone().write_all(text.as_bytes());
        })
    }
}
