//! The lean build, `cargo test -p tether --no-default-features --test lean`: what a route
//! or body that needs a missing feature answers. A clear status and a sentence naming the
//! feature, never a 500, a hang or a silent empty answer. (With the default features this
//! file holds no tests.)
#![cfg(not(any(feature = "metrics", feature = "pprof", feature = "multipart")))]

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::{Context, Engine};

use support::{get, send, Server};

#[tokio::test]
async fn missing_features_answer_with_what_to_turn_on() {
    let mut app = Engine::new();
    app.metrics_route("/metrics").debug_routes("/debug");
    app.post("/upload", async |c: &mut Context| match c.multipart_form().await {
        Ok(_) => c.string(200, "read"),
        Err(e) => c.json(e.status(), &e.to_json()),
    });
    app.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    let server = Server::start(app).await;

    let metrics = get(server.addr, "/metrics").await;
    assert_eq!(metrics.status, 501);
    assert!(metrics.text().contains("`metrics` feature"), "{}", metrics.text());

    let profile = get(server.addr, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(profile.status, 501);
    assert!(profile.text().contains("`pprof` feature"), "{}", profile.text());

    let body = "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n";
    let upload = Request::post("/upload")
        .header("content-type", "multipart/form-data; boundary=x")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let upload = send(server.addr, upload).await;
    assert_eq!(upload.status, 415);
    assert!(upload.text().contains("`multipart` feature"), "{}", upload.text());

    // The rest of the diagnostics and the server itself are whole.
    assert_eq!(get(server.addr, "/debug/leaks").await.status, 200);
    assert_eq!(get(server.addr, "/ping").await.text(), "pong");
    server.shutdown().await;
}
