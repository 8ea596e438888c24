//! End to end over real sockets: a server on 127.0.0.1:0, real HTTP/1.1 and HTTP/2
//! clients, shutdown, timeouts and limits.

use std::time::{Duration, Instant};

use crate::support::{Server, H1, H2};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{json, Value};
use tether::{Context, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `/slow` requests that reached their handler. A test that must begin shutdown while a
/// request is in flight waits on this instead of sleeping and hoping it got there.
struct Started(tokio::sync::Semaphore);

impl Started {
    /// Waits (5 s at most) until one more `/slow` request is inside its handler.
    async fn one(&self) {
        let permit = tokio::time::timeout(Duration::from_secs(5), self.0.acquire()).await;
        permit.expect("the request reached its handler").unwrap().forget();
    }
}

fn app() -> Engine {
    app_with_started().0
}

fn app_with_started() -> (Engine, std::sync::Arc<Started>) {
    let started = std::sync::Arc::new(Started(tokio::sync::Semaphore::new(0)));
    let mut app = Engine::new();
    app.state(started.clone());
    app.get("/user/:id", async |c: &mut Context| {
        let id = c.param("id").to_owned();
        let q = c.query("q").map(str::to_owned);
        c.json(200, &json!({ "id": id, "q": q, "version": format!("{:?}", c.version()) }));
    });
    app.get("/boom", async |_c: &mut Context| panic!("handler bug"));
    app.post("/echo", async |c: &mut Context| match c.body_bytes().await {
        Ok(b) => c.data(200, "application/octet-stream", b),
        Err(e) => c.abort_with_error(e.status(), e),
    });
    app.get("/slow/:ms", async |c: &mut Context| {
        let ms: u64 = c.param("ms").parse().unwrap_or(0);
        c.state::<std::sync::Arc<Started>>().0.add_permits(1);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        c.string(200, "slow done");
    });
    (app, started)
}

#[tokio::test]
async fn keep_alive_connection_serves_many_requests() {
    let server = Server::start(app()).await;
    let mut conn = H1::connect(server.addr).await;
    for i in 0..20 {
        let res = conn.get(&format!("/user/{i}?q=x%20y")).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json(), json!({ "id": i.to_string(), "q": "x y", "version": "HTTP/1.1" }));
    }
    let res = conn.get("/nowhere").await;
    assert_eq!(res.status, 404);
    assert_eq!(server.shutdown().await.requests_cut, 0);
}

#[tokio::test]
async fn http2_requests_work() {
    let server = Server::start(app()).await;
    let mut h2 = H2::connect(server.addr).await;
    let res = h2.get(&server.url("/user/7?q=h2")).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({ "id": "7", "q": "h2", "version": "HTTP/2.0" }));
    // Streams on one connection, concurrently.
    let mut handles = Vec::new();
    for i in 0..10 {
        let url = server.url(&format!("/user/{i}"));
        let mut h2 = H2::connect(server.addr).await;
        handles.push(tokio::spawn(async move { h2.get(&url).await.json()["id"].clone() }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), Value::String(i.to_string()));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let server = Server::start(app()).await;
    let mut conn = H1::connect(server.addr).await;
    let res = conn.get("/boom").await;
    assert_eq!(res.status, 500);
    // The same connection and new ones go on working.
    assert_eq!(conn.get("/user/1").await.status, 200);
    assert_eq!(crate::support::get(server.addr, "/user/2").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn body_limit_413_with_and_without_content_length() {
    let mut app = app();
    app.body_limit(64 * 1024);
    let server = Server::start(app).await;
    let ok = crate::support::send(
        server.addr,
        Request::post("/echo").body(Full::from(vec![7u8; 64 * 1024])).unwrap(),
    )
    .await;
    assert_eq!((ok.status.as_u16(), ok.body.len()), (200, 64 * 1024));

    let declared = crate::support::send(
        server.addr,
        Request::post("/echo").body(Full::from(vec![7u8; 100_000])).unwrap(),
    )
    .await;
    assert_eq!(declared.status, 413);
    assert!(declared.json()["error"].as_str().unwrap().contains("65536"));

    // Chunked: no Content-Length, so the limit is enforced while reading.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let chunk = vec![b'a'; 16 * 1024];
    let mut req = b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..8 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&req).await.unwrap();
    let mut head = vec![0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let (app, started) = app_with_started();
    let mut server = Server::start(app).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { crate::support::get(addr, "/slow/400").await });
    started.one().await;
    let idle = H1::connect(addr).await;
    server.begin_shutdown();
    let res = in_flight.await.unwrap();
    assert_eq!((res.status.as_u16(), res.text()), (200, "slow done".into()));
    let report = server.finished().await;
    assert_eq!((report.requests_cut, report.connections_cut), (0, 0));
    // The idle keep-alive connection was closed, and nothing listens any more.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !idle.is_closed() {
        assert!(Instant::now() < deadline, "idle connections close on shutdown");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn shutdown_deadline_cuts_off_and_reports_what_was_left() {
    let (mut app, started) = app_with_started();
    app.shutdown_timeout(Duration::from_millis(200));
    let mut server = Server::start(app).await;
    let addr = server.addr;
    let stuck = tokio::spawn(async move {
        let mut conn = H1::connect(addr).await;
        let req = Request::get("/slow/10000").body(Full::<Bytes>::default()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), conn.try_send(req)).await.expect("no hang")
    });
    started.one().await;
    let started = Instant::now();
    server.begin_shutdown();
    let report = server.finished().await;
    assert!(started.elapsed() < Duration::from_secs(3), "the deadline is kept");
    assert_eq!((report.requests_cut, report.connections_cut), (1, 1));
    // The client sees its connection end without an answer.
    assert!(stuck.await.unwrap().is_err(), "the cut request got no response");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let mut app = app();
    app.keep_alive_timeout(Duration::from_millis(200));
    let server = Server::start(app).await;
    let mut conn = H1::connect(server.addr).await;
    assert_eq!(conn.get("/user/1").await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !conn.is_closed() {
        assert!(Instant::now() < deadline, "an idle connection outlived its keep-alive timeout");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A connection busy with a long request is not cut by the idle timer.
    let res = crate::support::get(server.addr, "/slow/600").await;
    assert_eq!(res.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let mut app = app();
    app.header_read_timeout(Duration::from_millis(200));
    let server = Server::start(app).await;
    for opening in [&b""[..], b"GET /user/1 HT"] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(opening).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
            .await
            .expect("the server closes the connection")
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer, after sending {opening:?}");
        assert!(started.elapsed() >= Duration::from_millis(150));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn max_connections_holds_new_connections_back() {
    let mut app = app();
    app.max_connections(1);
    let server = Server::start(app).await;
    let mut first = H1::connect(server.addr).await;
    assert_eq!(first.get("/user/1").await.status, 200);
    let addr = server.addr;
    let second = tokio::spawn(async move { crate::support::get(addr, "/user/2").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second connection waits while the first is open");
    drop(first);
    let res = tokio::time::timeout(Duration::from_secs(3), second).await.expect("served after").unwrap();
    assert_eq!(res.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn head_requests_get_headers_only() {
    let server = Server::start(app()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"HEAD /user/1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.to_ascii_lowercase().contains("content-length: "), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "no body after the head: {out:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_not_a_crash() {
    let server = Server::start(app()).await;
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        b"GET /user/%zz HTTP/1.1\r\nhost: x\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(raw).await.unwrap();
        let mut buf = vec![0u8; 256];
        let n =
            tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await.unwrap().unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            n == 0 || head.starts_with("HTTP/1.1 4") || head.starts_with("HTTP/1.1 200"),
            "{raw:?} -> {head:?}"
        );
    }
    assert_eq!(crate::support::get(server.addr, "/user/ok").await.status, 200);
    server.shutdown().await;
}
