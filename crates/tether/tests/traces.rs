//! OpenTelemetry traces end to end: a server with `otel()` exports by OTLP/HTTP to a
//! receiver in this test, which decodes the protobuf it is sent (opentelemetry-proto) and
//! checks the spans: parents from `traceparent`, tasks as children of their request,
//! named by route, never by raw path. Run with `--features otlp` (scripts/test.sh does).
#![cfg(feature = "otlp")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message;
use tether::middleware::otel;
use tether::{Context, Engine};

use support::{send, Server};

/// What the receiver got: each span with the `service.name` of its resource.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

/// An OTLP/HTTP receiver: decodes each export and keeps its spans.
fn collector(received: Received) -> Engine {
    let mut app = Engine::new();
    app.state(received);
    app.post("/v1/traces", async |c: &mut Context| {
        assert_eq!(c.get_header("content-type"), Some("application/x-protobuf"));
        let body = c.body_bytes().await.expect("the export's body");
        let export = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
        let received = c.state::<Received>().clone();
        let mut spans = received.0.lock().unwrap();
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| text(a.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        drop(spans);
        c.data(200, "application/x-protobuf", Vec::new());
    });
    app
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| text(a.value.as_ref()?.value.as_ref()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// GET `path` with these headers.
async fn get_with(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(addr, req.body(Full::new(Bytes::new())).unwrap()).await.status.as_u16()
}

/// The `traceparent`s handlers and tasks would send on.
#[derive(Clone, Default)]
struct Parents(Arc<Mutex<Vec<String>>>);

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_task_spans_reach_an_otlp_receiver_with_their_parents() {
    let received = Received::default();
    let receiver = Server::start(collector(received.clone())).await;
    let provider = tether::otel::otlp_http(&format!("http://{}", receiver.addr), "shop").unwrap();

    let mut app = Engine::new();
    app.with(otel().provider(&provider));
    let parents_seen = Parents::default();
    app.state(parents_seen.clone());
    app.get("/user/:id", async |c: &mut Context| {
        let parents = c.state::<Parents>().clone();
        parents.0.lock().unwrap().push(tether::otel::current_traceparent().expect("in a traced handler"));
        c.detach().name("welcome").go(|cp| async move {
            let _ = cp.param("id");
            tokio::time::sleep(Duration::from_millis(5)).await;
            parents.0.lock().unwrap().push(tether::otel::current_traceparent().expect("in a traced task"));
        });
        c.string(200, "ok");
    });
    app.get("/slow-task", async |c: &mut Context| {
        c.detach().timeout(Duration::from_millis(20)).go(|_| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        c.string(202, "queued");
    });
    app.get("/fail", async |c: &mut Context| c.string(500, "broken"));
    let server = Server::start(app).await;

    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    assert_eq!(get_with(server.addr, "/user/42", &[("traceparent", &traceparent)]).await, 200);
    assert_eq!(get_with(server.addr, "/user/7", &[]).await, 200);
    assert_eq!(get_with(server.addr, "/user/8", &[("traceparent", "00-not-a-trace-01")]).await, 200);
    assert_eq!(get_with(server.addr, "/nowhere/123", &[]).await, 404);
    assert_eq!(get_with(server.addr, "/fail", &[]).await, 500);
    assert_eq!(get_with(server.addr, "/slow-task", &[]).await, 202);

    // Flush until every span has arrived: 6 requests, 3 welcome tasks, 1 stopped task.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = provider.clone();
        tokio::task::spawn_blocking(move || p.force_flush()).await.unwrap().expect("flushed");
        if received.0.lock().unwrap().len() >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "spans missing: {:#?}", received.0.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans: Vec<(String, Span)> = received.0.lock().unwrap().clone();
    assert!(spans.iter().all(|(service, _)| service == "shop"), "service.name on every span");
    let spans: Vec<Span> = spans.into_iter().map(|(_, s)| s).collect();
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();

    // The request that came with a traceparent continues the caller's trace.
    let requests = named("GET /user/:id");
    assert_eq!(
        requests.len(),
        3,
        "named by route pattern: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let joined =
        requests.iter().find(|s| hex(&s.trace_id) == TRACE).expect("the caller's trace is continued");
    assert_eq!(hex(&joined.parent_span_id), CALLER_SPAN);
    assert_eq!(joined.kind, SpanKind::Server as i32);
    assert_eq!(attr(joined, "http.route").as_deref(), Some("/user/:id"));
    assert_eq!(attr(joined, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr(joined, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attr(joined, "client.address").as_deref(), Some("127.0.0.1"));
    // Without one (or with a malformed one), each request starts a trace of its own.
    for root in requests.iter().filter(|s| hex(&s.trace_id) != TRACE) {
        assert!(root.parent_span_id.is_empty(), "a root span: {root:?}");
    }
    assert_ne!(requests[0].trace_id, requests[1].trace_id);

    // The raw path is nowhere: not in a name, not in an attribute.
    for s in &spans {
        for raw in ["/user/42", "/user/7", "/nowhere/123"] {
            assert!(!s.name.contains(raw), "{}", s.name);
            assert!(s.attributes.iter().all(|a| !format!("{:?}", a.value).contains(raw)), "{s:?}");
        }
    }

    // Each `c.detach().go` is a child span of its request, in the same trace.
    let tasks = named("task welcome");
    assert_eq!(tasks.len(), 3);
    let child = tasks.iter().find(|t| hex(&t.trace_id) == TRACE).expect("the task is in its request's trace");
    assert_eq!(child.parent_span_id, joined.span_id, "the task's parent is its request's span");
    assert_eq!(child.kind, SpanKind::Internal as i32);
    assert_eq!(attr(child, "tether.task.outcome").as_deref(), Some("completed"));
    assert!(attr(child, "tether.task.site").unwrap().contains("traces.rs:"), "{child:?}");
    for t in &tasks {
        let parent =
            requests.iter().find(|r| r.span_id == t.parent_span_id).expect("every task has its request");
        assert_eq!(parent.trace_id, t.trace_id);
    }

    // A task stopped at its deadline ends its span with an error saying so.
    let stopped =
        spans.iter().find(|s| s.name.starts_with("task ") && s.name.contains("traces.rs:")).unwrap();
    assert_eq!(attr(stopped, "tether.task.outcome").as_deref(), Some("stopped"));
    assert_eq!(stopped.status.as_ref().unwrap().code, StatusCode::Error as i32);
    let slow = named("GET /slow-task");
    assert_eq!(slow[0].span_id, stopped.parent_span_id);

    // No route: named by the method alone, not an error (4xx is the client's).
    let unrouted = named("GET");
    assert_eq!(unrouted.len(), 1);
    assert_eq!(attr(unrouted[0], "http.route"), None);
    assert_eq!(attr(unrouted[0], "http.response.status_code").as_deref(), Some("404"));
    assert_ne!(unrouted[0].status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    // A 5xx is.
    let failed = named("GET /fail");
    assert_eq!(failed[0].status.as_ref().unwrap().code, StatusCode::Error as i32);

    // What a handler or a task would pass on names its own span, in its trace.
    let parents = parents_seen.0.lock().unwrap().clone();
    assert!(parents.contains(&format!("00-{TRACE}-{}-01", hex(&joined.span_id))), "{parents:?}");
    assert!(parents.contains(&format!("00-{TRACE}-{}-01", hex(&child.span_id))), "{parents:?}");
    assert_eq!(tether::otel::current_traceparent(), None, "outside a traced request");

    tokio::task::spawn_blocking(move || provider.shutdown()).await.unwrap().expect("shut down");
}

/// A `Write` that keeps what it is given, for the log lines.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Kept {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_costs_the_requests_nothing_and_is_logged() {
    let logs = Kept::default();
    tether::log::Setup::new().filter("info").init_with_writer(logs.clone());
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let provider = tether::otel::otlp_http(&format!("http://{closed}"), "shop").unwrap();
    let mut app = Engine::new();
    app.with(otel().provider(&provider));
    app.get("/user/:id", async |c: &mut Context| c.string(200, "ok"));
    let server = Server::start(app).await;
    for _ in 0..3 {
        assert_eq!(get_with(server.addr, "/user/1", &[]).await, 200);
    }
    let p = provider.clone();
    let flushed = tokio::task::spawn_blocking(move || p.force_flush()).await.unwrap();
    assert!(flushed.is_err(), "the export cannot succeed: {flushed:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
        if text.contains("BatchSpanProcessor.ExportError") {
            break;
        }
        assert!(Instant::now() < deadline, "the failed export was not logged: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
}
