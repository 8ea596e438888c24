//! # tether
//!
//! A web framework with the API Gin users know — `app.get("/user/:id", h)`, `c.param`,
//! `c.json`, `c.next()`, groups, middleware — and a request context that cannot leak.
//!
//! Handlers receive `&mut Context`. The borrow ends when the handler returns, so the
//! context cannot be used from a spawned task after the request is over: the bug Gin
//! users hit with pooled `*gin.Context` values in goroutines does not compile here.
//!
//! ```no_run
//! use tether::{Context, Engine};
//!
//! async fn user(c: &mut Context) {
//!     let id = c.param("id").to_owned();
//!     c.json(200, &tether::json!({ "id": id }));
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let mut app = Engine::default(); // logger + recovery, as gin.Default()
//!     app.get("/user/:id", user);
//!     let mut v1 = app.group("/v1");
//!     v1.get("/ping", async |c: &mut Context| { c.string(200, "pong") });
//!     app.run("127.0.0.1:8080").await
//! }
//! ```
//!
//! ## Work after the response
//!
//! `c.go(|cp| async move { .. })` runs work with an owned [`ContextCopy`] as a tracked
//! task: a deadline, a cap on tasks in flight, cancellation on shutdown, panics caught and
//! counted, and an entry in the leak registry with the line that started it
//! (`/debug/leaks`, mounted with [`Engine::debug_routes`]). `c.detach()` takes options;
//! `app.tasks()` runs background work that no request started.
//!
//! ## For real services
//!
//! Middleware in [`middleware`]: `request_id`, `timeout`, `basic_auth`, `cors`,
//! `rate_limit`, `cache`, `json_logger`, `logger`, `recovery`. Validation with
//! `should_bind_valid_*` ([`Violation`]); uploads with `c.form_file` / `c.multipart_form`
//! ([`UploadLimits`]); static files with `app.static_dir` / `app.static_file`; streaming
//! with `c.stream` and server-sent events with `c.sse` ([`sse`]); HTTPS with
//! `app.run_tls` ([`TlsConfig`]); tower with `app.layer`, `app.service` and
//! `app.into_service`. The client address behind proxies: `app.trusted_proxies`.
//!
//! ## Features
//!
//! The heavy parts are Cargo features. All but `jemalloc` are on by default, so
//! `cargo add tether` gives what a Gin user reaches for, Gin's contrib middleware and
//! tether's diagnostics included. `default-features = false` with a pick gives a lean
//! build: the core alone is about half the crates (the README has the counts and build
//! times).
//!
//! | feature | brings | without it |
//! |---|---|---|
//! | `tls` | `app.run_tls`, `TlsConfig` (rustls, ring) | plain HTTP only |
//! | `pprof` | CPU profiles at `/debug/pprof/profile` (pprof-rs) | the route answers 501 |
//! | `metrics` | `metrics_route`'s Prometheus text (prometheus-client) | the route answers 501, nothing is recorded |
//! | `validation` | `should_bind_valid_*`, `Validate`, `rules` (validator) | binding without rules |
//! | `multipart` | `multipart/form-data`: `c.form_file`, `c.multipart_form` (multer, tempfile) | such a body is a 415 |
//! | `rate-limit` | `middleware::rate_limit`, `Quota` (governor, moka) | — |
//! | `cache` | `middleware::cache` (moka) | — |
//! | `jemalloc` (off) | heap profiles at `/debug/pprof/heap`, allocator figures | the heap route answers 501 |
//! | `redis` (off) | `middleware::RedisStore`: `rate_limit` and `cache` shared by every instance (redis) | state in each process |
//! | `otlp` (off) | `middleware::otel()`: a span per request and per `c.go` task; `otel::otlp_http` export (opentelemetry) | no traces |
//!
//! ## Paths
//!
//! Gin's syntax: `/user/:id` matches one segment; `/files/*path` matches the rest, and its
//! value keeps the leading `/` (`/files/a/b` gives `/a/b`). Static segments win over
//! parameters (`/user/new` beside `/user/:id` is fine). Routing is on the raw path;
//! parameter values are percent-decoded. No route: 404. The path exists for another
//! method: 405 with `Allow`. The path with or without a trailing slash exists: redirect
//! (301 for GET, 307 otherwise). Routes that conflict panic at registration, naming both.

#![forbid(unsafe_code)]

mod app;
mod context;
mod detach;
mod diag;
pub mod log;
pub mod middleware;
#[cfg(feature = "otlp")]
pub mod otel;
mod response;
mod routing;
mod serve;
pub mod testing;

pub use app::capture::{handler_fn, handler_with, StateFn};
pub use app::engine::Engine;
pub use app::group::Group;
pub use app::handler::{BoxFuture, Handler, HandlerFn, HandlerFuture, Handlers};
pub use app::route_info::RouteInfo;
pub use app::routes::Routes;
pub use context::binding::{BindError, Source, Violation};
pub use context::form::{MultipartForm, UploadError, UploadedFile};
pub use context::upload_limits::UploadLimits;
#[cfg(feature = "validation")]
pub use context::validation::rules;
pub use context::{Context, Request};
pub use detach::{
    ContextCopy, Detach, Outcome, Overflow, TaskBuilder, TaskControl, TaskHandle, TaskStats, Tasks,
};
pub use diag::DebugAccess;
pub use response::body::{Body, BodyError, BoxError};
pub use response::writer::{IntoStatus, Writer};
pub use response::{sse, stream};
pub use serve::listen_addr::ListenAddr;
pub use serve::server::ShutdownReport;
pub use serve::service::{PeerAddr, ResponseFuture, TetherService};
pub use serve::signal::{shutdown_signal, signal, Signal};
#[cfg(feature = "tls")]
pub use serve::tls::TlsConfig;

/// jemalloc, as the global allocator that makes `/debug/pprof/heap` work (feature
/// `jemalloc`). One line in the application:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: tether::Jemalloc = tether::Jemalloc;
/// ```
///
/// and profiling switched on at start: `_RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19`
/// (a sample every 512 KiB allocated on average).
#[cfg(feature = "jemalloc")]
pub use tikv_jemallocator::Jemalloc;

pub use cookie;
pub use http::{self, Method, StatusCode};
pub use serde_json::json;
#[cfg(feature = "validation")]
pub use validator;
/// The validation trait and its derive (`#[derive(tether::Validate)]`). The derive's code
/// names the `validator` crate, so a crate that derives it either adds
/// `validator = { version = "0.20", features = ["derive"] }` to its dependencies or says
/// where to find it: `#[validate(crate = "tether::validator")]` on the struct.
#[cfg(feature = "validation")]
pub use validator::Validate;

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
