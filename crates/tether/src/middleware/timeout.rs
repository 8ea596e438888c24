//! `timeout(d)`: the rest of the chain gets `d`, then the request is answered 503.

use std::time::Duration;

use http::StatusCode;

use crate::app::handler::HandlerFuture;
use crate::{Context, Handler};

/// Runs the rest of the chain with a deadline. When `after` passes, the rest of the chain
/// is cancelled — its future is dropped, so it stops at the `.await` it was waiting on
/// and never runs again — whatever it wrote is discarded, and the request is answered
/// `503 Service Unavailable` (or [`status`](Timeout::status)) with a JSON error. Headers
/// set before this middleware ran (a request id, say) are kept.
///
/// Unlike gin-contrib/timeout, where the late handler goes on in its goroutine and can
/// write into a response that is no longer its own, a cancelled handler here cannot
/// write at all: it no longer exists. Work that must finish anyway belongs in `c.go`.
///
/// ```
/// use std::time::Duration;
///
/// let mut app = tether::Engine::new();
/// app.with(tether::middleware::timeout(Duration::from_secs(5)));
/// ```
pub fn timeout(after: Duration) -> Timeout {
    Timeout { after, status: StatusCode::SERVICE_UNAVAILABLE, message: "request timed out" }
}

/// The `timeout(d)` middleware and its settings.
#[derive(Clone, Debug)]
pub struct Timeout {
    after: Duration,
    status: StatusCode,
    message: &'static str,
}

impl Timeout {
    /// The status of a timed-out request (default 503; 504 suits a gateway).
    ///
    /// # Panics
    /// If `code` is not a valid status code.
    pub fn status(mut self, code: u16) -> Self {
        self.status =
            StatusCode::from_u16(code).unwrap_or_else(|_| panic!("timeout: {code} is not a status code"));
        self
    }

    /// The `error` message in the JSON body (default `"request timed out"`).
    pub fn message(mut self, message: &'static str) -> Self {
        self.message = message;
        self
    }
}

impl Handler for Timeout {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            let headers_before = c.response_headers().clone();
            if tokio::time::timeout(self.after, c.next()).await.is_err() {
                c.abort();
                *c.response_headers_mut() = headers_before;
                c.set_response_body(crate::Body::empty());
                c.json(self.status, &serde_json::json!({ "error": self.message }));
                tracing::warn!(
                    target: "tether::timeout",
                    method = %c.method(),
                    path = c.path(),
                    after = ?self.after,
                    "request cancelled at its deadline"
                );
            }
        })
    }
}
