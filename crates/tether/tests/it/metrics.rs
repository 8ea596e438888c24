//! `/metrics`: Prometheus exposition, checked by a Prometheus text parser.

use std::collections::HashMap;

use crate::support::{Server, H1};
use prometheus_parse::{Scrape, Value};
use tether::{Context, Engine};

fn app() -> Engine {
    let mut app = Engine::new();
    app.metrics_route("/metrics");
    app.get("/user/:id", async |c: &mut Context| c.string(200, "user"));
    app.post("/user/:id", async |c: &mut Context| c.string(201, "made"));
    app.get("/boom", async |_c: &mut Context| panic!("boom"));
    app.get("/work", async |c: &mut Context| {
        c.go(|_cp| async move {});
        c.string(202, "started");
    });
    app
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn value_of(scrape: &Scrape, metric: &str, want: &[(&str, &str)]) -> Option<f64> {
    let want = labels(want);
    scrape.samples.iter().find(|s| s.metric == metric && *s.labels == want).map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
        Value::Summary(_) => f64::NAN,
    })
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_method_and_status() {
    let server = Server::start(app()).await;
    let mut h1 = H1::connect(server.addr).await;
    for path in ["/user/42", "/user/7", "/user/7", "/nope", "/boom", "/work"] {
        h1.get(path).await;
    }
    let post = http::Request::post("/user/1").body(Default::default()).unwrap();
    assert_eq!(h1.send(post).await.status, 201);
    let put = http::Request::put("/user/1").body(Default::default()).unwrap();
    assert_eq!(h1.send(put).await.status, 405);

    let res = h1.get("/metrics").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = res.text();
    let scrape = parse(&text);

    let requests = "tether_http_requests_total";
    let get_user = [("route", "/user/:id"), ("method", "GET"), ("status", "200")];
    assert_eq!(value_of(&scrape, requests, &get_user), Some(3.0), "{text}");
    let post_user = [("route", "/user/:id"), ("method", "POST"), ("status", "201")];
    assert_eq!(value_of(&scrape, requests, &post_user), Some(1.0));
    assert_eq!(
        value_of(&scrape, requests, &[("route", "/boom"), ("method", "GET"), ("status", "500")]),
        Some(1.0)
    );
    let no_route = [("route", "(no route)"), ("method", "*"), ("status", "404")];
    assert_eq!(value_of(&scrape, requests, &no_route), Some(1.0));
    let no_method = [("route", "(method not allowed)"), ("method", "*"), ("status", "405")];
    assert_eq!(value_of(&scrape, requests, &no_method), Some(1.0));
    assert!(
        !text.contains("/user/42") && !text.contains("/user/7"),
        "raw paths never become labels:\n{text}"
    );

    let duration = "tether_http_request_duration_seconds";
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == duration
                && s.labels.get("route") == Some("/user/:id")
                && s.labels.get("method") == Some("GET")
        })
        .unwrap_or_else(|| panic!("a latency histogram for GET /user/:id:\n{text}"));
    let Value::Histogram(buckets) = &hist.value else { panic!("a histogram") };
    assert_eq!(buckets.last().map(|b| b.count), Some(3.0), "{buckets:?}");
    assert!(text.contains("tether_http_request_duration_seconds_count{route=\"/user/:id\",method=\"GET\"} 3"));

    assert_eq!(value_of(&scrape, "tether_http_requests_in_flight", &[]), Some(1.0), "the scrape itself");
    assert_eq!(value_of(&scrape, "tether_http_connections_open", &[]), Some(1.0));
    assert!(value_of(&scrape, "tether_process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert_eq!(
        value_of(&scrape, "tether_tasks_finished_total", &[("outcome", "completed")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value_of(&scrape, "tether_live_tasks", &[]), Some(0.0));
    server.shutdown().await;
}

#[tokio::test]
async fn without_the_route_nothing_is_recorded_or_served() {
    let mut app = Engine::new();
    app.get("/", async |c: &mut Context| c.string(200, "hi"));
    let client = tether::testing::TestClient::new(app);
    client.get("/").send().await;
    assert_eq!(client.get("/metrics").send().await.status(), 404);
}

#[tokio::test]
async fn a_guarded_metrics_route_answers_403_to_others() {
    let mut app = Engine::new();
    app.metrics_route_with("/metrics", tether::DebugAccess::bearer("scrape"));
    let client = tether::testing::TestClient::new(app);
    assert_eq!(client.get("/metrics").send().await.status(), 403);
    let res = client.get("/metrics").header("authorization", "Bearer scrape").send().await;
    assert_eq!(res.status(), 200);
    assert!(res.text().contains("# TYPE tether_http_requests_total counter"), "{}", res.text());
}
