//! `recovery()`: a panic in a handler becomes a 500 for that request, logged with the
//! panic message; the server goes on serving.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use http::{header, StatusCode};

use crate::{Body, Context, Handler};

/// Catches panics in the rest of the chain: logs the panic message with the request's
/// method and path at `error` level, and answers `500 internal server error`. Middleware
/// before it (the logger, say) still sees the request end, with status 500.
///
/// ```
/// let mut app = tether::Engine::new();
/// app.with(tether::middleware::recovery());
/// app.get("/boom", async |_c: &mut tether::Context| { panic!("boom") });
/// ```
pub fn recovery() -> impl Handler {
    recover
}

async fn recover(c: &mut Context) {
    let Err(panic) = AssertUnwindSafe(c.next()).catch_unwind().await else { return };
    tracing::error!(
        target: "tether",
        method = %c.method(), path = c.path(), route = c.full_path(),
        panic = crate::serve::panics::panic_message(&*panic),
        "handler panicked; answered 500"
    );
    c.abort();
    c.response_headers_mut().clear();
    c.set_response_body(Body::empty());
    c.status(StatusCode::INTERNAL_SERVER_ERROR);
    c.response_headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    c.set_response_body("500 internal server error");
}
