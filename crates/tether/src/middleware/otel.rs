//! `otel()`: an OpenTelemetry server span per request (feature `otlp`).

use std::sync::Arc;

use http::HeaderMap;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{FutureExt, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;

use crate::app::handler::HandlerFuture;
use crate::otel::{end_request_span, start_request_span, RequestSpan};
use crate::{Context, Handler};

/// A server span for each request, as Gin's `otelgin.Middleware`:
///
/// - the parent is the caller's W3C `traceparent` (and `tracestate`) when it sent a valid
///   one, else the span starts a trace;
/// - it is named by method and **route pattern** (`GET /user/:id`), never by the raw path,
///   which would make a name per user id and carry whatever ids or tokens a path holds;
///   a request no route matched is named by its method alone;
/// - attributes: `http.request.method`, `http.route`, `network.protocol.version`,
///   `client.address` (from `c.client_ip()`), `http.response.status_code`; a 5xx sets
///   the error status;
/// - tasks started with `c.go` / `c.detach()` after it are child spans (see
///   [`crate::otel`]), and `opentelemetry::Context::current()` is the request's span in
///   the handlers after it.
///
/// Spans go to the global tracer provider unless [`provider`](Otel::provider) names one.
/// Put it first (`app.with(otel())` before the rest) so the span covers the whole chain.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = tether::otel::otlp_http("http://127.0.0.1:4318", "shop")?;
/// let mut app = tether::Engine::new();
/// app.with(tether::middleware::otel().provider(&provider));
/// # Ok(()) }
/// ```
pub fn otel() -> Otel {
    Otel { tracer: None }
}

/// The `otel()` middleware and its settings.
#[derive(Clone, Default)]
pub struct Otel {
    /// `None`: the global provider's tracer, looked up per request (it may be set after
    /// the app is built).
    tracer: Option<Arc<BoxedTracer>>,
}

impl std::fmt::Debug for Otel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otel")
            .field("provider", &if self.tracer.is_some() { "given" } else { "global" })
            .finish()
    }
}

impl Otel {
    /// Sends the spans to this provider instead of the global one.
    pub fn provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        self.tracer = Some(Arc::new(BoxedTracer::new(Box::new(provider.tracer("tether")))));
        self
    }
}

/// Reads propagation headers from a request head.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

impl Handler for Otel {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            let tracer = match &self.tracer {
                Some(tracer) => tracer.clone(),
                None => Arc::new(global::tracer("tether")),
            };
            let parent = TraceContextPropagator::new().extract(&Headers(c.request_headers()));
            let method = c.method().as_str().to_owned();
            let route = c.full_path().to_owned();
            let name = if route.is_empty() { method.clone() } else { format!("{method} {route}") };
            let version = match c.head().version {
                http::Version::HTTP_2 => "2",
                http::Version::HTTP_10 => "1.0",
                _ => "1.1",
            };
            let mut attributes = vec![
                KeyValue::new("http.request.method", method),
                KeyValue::new("network.protocol.version", version),
            ];
            if !route.is_empty() {
                attributes.push(KeyValue::new("http.route", route));
            }
            if let Some(ip) = c.client_ip() {
                attributes.push(KeyValue::new("client.address", ip.to_string()));
            }
            let cx = start_request_span(&tracer, &parent, name, attributes);
            c.extensions_mut().insert(RequestSpan { cx: cx.clone(), tracer });
            c.next().with_context(cx.clone()).await;
            end_request_span(&cx, c.response_status().as_u16());
        })
    }
}
