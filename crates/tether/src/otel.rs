//! OpenTelemetry traces (feature `otlp`): a span per request from
//! [`middleware::otel`](crate::middleware::otel), its `c.go` tasks as child spans, and
//! [`otlp_http`] to export them to a collector.
//!
//! ```no_run
//! use tether::middleware::otel;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Spans go to the collector in batches, from a thread of their own.
//! let provider = tether::otel::otlp_http("http://127.0.0.1:4318", "shop")?;
//! let mut app = tether::Engine::new();
//! app.with(otel().provider(&provider));
//! app.get("/user/:id", async |c: &mut tether::Context| {
//!     // A child span of `GET /user/:id`, ended when the task ends, however it ends.
//!     c.go(|cp| async move { let _ = cp.param("id"); });
//!     c.string(200, "ok");
//! });
//! // ... serve; then, before the process exits, send what is still queued:
//! provider.shutdown()?;
//! # Ok(()) }
//! ```
//!
//! Inside a handler after the middleware, and inside its tasks,
//! `opentelemetry::Context::current()` is the request's (or the task's) span, for calls
//! that pass the trace on.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{FutureExt, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

pub use opentelemetry;
pub use opentelemetry_sdk;

/// A tracer provider that exports spans by OTLP over HTTP (protobuf) to `endpoint` (a
/// collector's base URL, `http://host:4318`; `/v1/traces` is added unless given), in
/// batches from a thread of its own, each export bounded by 10 s. `service_name` is the
/// `service.name` of every span. Call its `shutdown()` before the process exits so that
/// queued spans are sent.
pub fn otlp_http(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider, ExporterBuildError> {
    let endpoint = endpoint.trim_end_matches('/');
    let url =
        if endpoint.ends_with("/v1/traces") { endpoint.to_owned() } else { format!("{endpoint}/v1/traces") };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build())
        .build())
}

/// The W3C `traceparent` of the current span (the request's in a handler after
/// [`otel`](crate::middleware::otel), the task's inside a `c.go` task), for a call this
/// service makes to another: the callee's spans then join this trace. `None` outside a
/// traced request or task.
///
/// ```no_run
/// async fn charge(c: &mut tether::Context) {
///     let parent = tether::otel::current_traceparent();
///     // http_client.post(url).header("traceparent", parent) ...
///     # let _ = parent;
///     c.string(202, "charging");
/// }
/// ```
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::propagation::TextMapPropagator;
    let cx = OtelContext::current();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut fields = std::collections::HashMap::new();
    opentelemetry_sdk::propagation::TraceContextPropagator::new().inject_context(&cx, &mut fields);
    fields.remove("traceparent")
}

/// The request's span, kept in its extensions by the middleware so that its tasks can
/// be its children.
#[derive(Clone)]
pub(crate) struct RequestSpan {
    pub(crate) cx: OtelContext,
    pub(crate) tracer: Arc<BoxedTracer>,
}

/// `work` in a span of its own, a child of the request's: named `task {name}` (or `task
/// file:line`), ended when the task ends. A task that panics, or is stopped before its
/// end (deadline, cancel, shutdown), ends its span with an error status saying which.
pub(crate) fn traced_task<F>(
    parent: &RequestSpan,
    name: Option<&str>,
    site: &'static Location<'static>,
    work: F,
) -> impl Future<Output = ()> + Send + 'static
where
    F: Future<Output = ()> + Send + 'static,
{
    let site_text = format!("{}:{}", site.file(), site.line());
    let span_name = match name {
        Some(name) => format!("task {name}"),
        None => format!("task {site_text}"),
    };
    let mut attributes = vec![
        KeyValue::new("tether.task.site", site_text),
        KeyValue::new("code.file.path", site.file()),
        KeyValue::new("code.line.number", i64::from(site.line())),
    ];
    if let Some(name) = name {
        attributes.push(KeyValue::new("tether.task.name", name.to_owned()));
    }
    let span = parent
        .tracer
        .span_builder(span_name)
        .with_kind(SpanKind::Internal)
        .with_attributes(attributes)
        .start_with_context(&*parent.tracer, &parent.cx);
    let cx = parent.cx.with_span(span);
    async move {
        let mut end = EndTaskSpan { cx: cx.clone(), finished: false };
        work.with_context(cx).await;
        end.finished = true;
    }
}

/// Ends a task's span however the task ends: run to its end, panicked (unwinding through
/// here) or dropped from outside.
struct EndTaskSpan {
    cx: OtelContext,
    finished: bool,
}

impl Drop for EndTaskSpan {
    fn drop(&mut self) {
        let span = self.cx.span();
        let outcome = if self.finished {
            "completed"
        } else if std::thread::panicking() {
            span.set_status(Status::error("the task panicked"));
            "panicked"
        } else {
            span.set_status(Status::error(
                "the task was stopped before its end (deadline, cancel or shutdown)",
            ));
            "stopped"
        };
        span.set_attribute(KeyValue::new("tether.task.outcome", outcome));
        span.end();
    }
}

/// Ends a request's server span with the response status (5xx is an error, 4xx is the
/// client's and not, as the HTTP conventions say).
pub(crate) fn end_request_span(cx: &OtelContext, status: u16) {
    let span = cx.span();
    span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
    if status >= 500 {
        span.set_status(Status::error(""));
    }
    span.end();
}

/// Starts the server span of a request.
pub(crate) fn start_request_span(
    tracer: &BoxedTracer,
    parent: &OtelContext,
    name: String,
    attributes: Vec<KeyValue>,
) -> OtelContext {
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    parent.with_span(span)
}
