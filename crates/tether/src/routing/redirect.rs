//! The trailing-slash redirect: what runs when a path matched no route but its twin with
//! (or without) a trailing slash did.

use http::{Method, StatusCode};

use crate::Context;

/// The trailing-slash redirect, the last handler of its chain (after the global
/// middleware, so it is logged and gets a request id): 301 for GET, 307 otherwise, as
/// Gin; the query is kept.
pub(crate) async fn trailing_slash_redirect(c: &mut Context) {
    let mut location = crate::routing::pattern::slash_twin(c.path());
    if let Some(q) = c.uri().query() {
        location.push('?');
        location.push_str(q);
    }
    let code = if c.method() == Method::GET {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::TEMPORARY_REDIRECT
    };
    c.redirect(code, &location);
}
