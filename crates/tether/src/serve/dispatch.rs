//! One request, start to end: take a context, route, run the chain, answer, recycle.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use http::{header, Response, StatusCode};

use crate::app::frozen::FrozenEngine;
use crate::response::body::{Body, RequestBody};
use crate::routing::router::Lookup;
use crate::routing::router::Matched;
use crate::serve::slot::InFlight;
use crate::{context::pool, Context};

/// Starts one request: takes a context, fills and routes it. The returned future runs
/// the chain; it holds the context's box, the engine, the connection's in-flight mark
/// (let go with the context) and a waiting handler's future, 120 bytes in all (a test
/// below holds that), so it is small to create and move. It answers in the `Result`
/// hyper's service expects, so the connection hands it over as it is, with no adapter
/// future (and no move of the response) between.
pub(crate) fn dispatch(
    shared: Arc<FrozenEngine>,
    head: http::request::Parts,
    body: RequestBody,
    remote: Option<SocketAddr>,
    in_flight: Option<InFlight>,
) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send {
    shared.stats.in_flight.fetch_add(1, Relaxed);
    let mut lease = Lease { ctx: Some(pool::take()), done: false, panicked: false, _in_flight: in_flight };
    let ctx = lease.ctx();
    ctx.started = shared.metrics.is_some().then(Instant::now);
    match ctx.begin(shared.clone(), head, body, remote) {
        Lookup::Found(id) => ctx.chain = Matched::Route(id),
        Lookup::NotFound => {
            ctx.chain = Matched::NoRoute;
            ctx.res.status = StatusCode::NOT_FOUND;
        }
        Lookup::MethodNotAllowed(allow) => {
            ctx.chain = Matched::NoMethod;
            ctx.res.status = StatusCode::METHOD_NOT_ALLOWED;
            ctx.res.headers.insert(header::ALLOW, allow);
        }
        Lookup::Redirect => ctx.chain = Matched::Redirect,
    }
    // Nothing more is held across the `.await` below: hyper keeps this future in a box
    // of its own for as long as the connection is open.
    async move {
        // The chain's first level runs here rather than through `Context::next`: one
        // future fewer between hyper and the handler. Each handler's future is polled
        // under `catch_unwind`; a panic ends the chain.
        loop {
            let ctx = lease.ctx();
            let Some(handler) = ctx.next_handler(shared.chain(ctx.chain)) else { break };
            if let Err(panic) = AssertUnwindSafe(handler.call(ctx)).catch_unwind().await {
                lease.panicked = true;
                // recovery() answers and logs panics with the request's details; this is
                // the floor under it, so that an engine without it still answers 500.
                let ctx = lease.ctx();
                tracing::error!(
                    target: "tether",
                    method = %ctx.method(), path = ctx.path(),
                    panic = crate::serve::panics::panic_message(&*panic),
                    "handler panicked; answered 500"
                );
                return Ok(crate::response::writer::plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 internal server error",
                ));
            }
        }
        lease.done = true;
        let ctx = lease.ctx();
        if matches!(ctx.chain, Matched::NoRoute | Matched::NoMethod) {
            fill_default_body(ctx);
        }
        Ok(ctx.res.take_response())
    }
}

/// Gin's default bodies when a 404 / 405 chain wrote none.
#[cold]
fn fill_default_body(ctx: &mut Context) {
    let text = match (ctx.chain, ctx.res.status) {
        (Matched::NoRoute, StatusCode::NOT_FOUND) => "404 page not found",
        (Matched::NoMethod, StatusCode::METHOD_NOT_ALLOWED) => "405 method not allowed",
        _ => return,
    };
    if ctx.res.body.is_empty() {
        ctx.string(ctx.res.status, text);
    }
}

/// A context on loan to one request. A request that finished returns it to the pool; one
/// cut short (the client went away, or a handler panicked) frees it instead.
struct Lease {
    ctx: Option<Box<Context>>,
    done: bool,
    /// A handler panicked and the engine answered 500 (the context is not reused).
    panicked: bool,
    /// The connection counts the request out when this drops: after the context is
    /// back (the fields of a struct drop after its `drop`).
    _in_flight: Option<InFlight>,
}

impl Lease {
    fn ctx(&mut self) -> &mut Context {
        self.ctx.as_mut().expect("the context is on loan until the lease drops")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut ctx) = self.ctx.take() else { return };
        if let Some(shared) = &ctx.shared {
            shared.stats.in_flight.fetch_sub(1, Relaxed);
            if self.done {
                shared.stats.served.fetch_add(1, Relaxed);
            }
            if let (Some(metrics), Some(started)) = (&shared.metrics, ctx.started) {
                let status = match (self.done, self.panicked) {
                    (true, _) => ctx.res.status.as_u16(),
                    (false, true) => 500,
                    (false, false) => crate::serve::route_stats::CUT,
                };
                metrics.record(ctx.chain, status, started.elapsed());
            }
        }
        // The request is over: tasks tied to it are cancelled (by the reset, for a
        // context going back to the pool).
        if self.done {
            pool::give(ctx);
        } else {
            ctx.end_request();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hyper keeps a connection's request future in a box of its own for as long as the
    /// connection is open: what this future holds, every open connection holds.
    #[test]
    fn the_request_future_stays_small() {
        let service = crate::Engine::new().into_service();
        let (head, ()) = http::Request::new(()).into_parts();
        let future = dispatch(service.shared().clone(), head, RequestBody::Empty, None, None);
        let size = std::mem::size_of_val(&future);
        println!("request future: {size} bytes");
        assert!(size <= 136, "the request future takes {size} bytes (120 when this was written)");
    }
}
