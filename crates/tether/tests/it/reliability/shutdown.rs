//! Shutdown ends what would otherwise hold it to the deadline (open streams, a CPU
//! profile), and what it has to cut is counted.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tether::sse::Event;
use tether::{Context, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Server;

/// Reads the response head from `stream` (up to the blank line).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn an_open_event_stream_ends_when_shutdown_begins() {
    let mut app = Engine::new();
    app.shutdown_timeout(Duration::from_secs(20));
    app.get("/events", async |c: &mut Context| {
        let first = futures_util::stream::once(async { Event::data("hello") });
        c.sse(futures_util::StreamExt::chain(first, futures_util::stream::pending()));
    });
    let mut server = Server::start(app).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    server.begin_shutdown();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the stream ended long before the 20 s deadline")
        .unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        rest.contains("data: hello") && rest.ends_with("0\r\n\r\n"),
        "ended as a whole response: {rest:?}"
    );
    let report = server.finished().await;
    assert_eq!(report.requests_cut, 0, "{report:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_stream_stuck_on_a_client_that_does_not_read_is_counted_as_cut() {
    let mut app = Engine::new();
    app.shutdown_timeout(Duration::from_millis(500));
    app.get("/flood", async |c: &mut Context| {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        c.stream(200, "application/octet-stream", chunks);
    });
    let mut server = Server::start(app).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    read_head(&mut stream).await;
    // Read nothing more: the server's writes stall, and the stream is never polled again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.begin_shutdown();
    let report = server.finished().await;
    assert_eq!(report.requests_cut, 1, "the stalled stream is reported: {report:?}");
    assert_eq!(report.connections_cut, 1, "{report:?}");
}

#[tokio::test]
async fn tasks_tied_to_cut_requests_are_counted_as_cancelled() {
    let mut app = Engine::new();
    app.shutdown_timeout(Duration::from_millis(300));
    app.get("/slow", async |c: &mut Context| {
        c.detach().tied().go(|_cp| std::future::pending::<()>());
        // The handler itself outlives the deadline.
        tokio::time::sleep(Duration::from_secs(30)).await;
        c.string(200, "late");
    });
    let mut server = Server::start(app).await;
    let addr = server.addr;
    let client = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.begin_shutdown();
    let report = server.finished().await;
    assert_eq!(report.requests_cut, 1, "{report:?}");
    assert_eq!(report.tasks_cancelled, 1, "the tied task went with its request: {report:?}");
    client.await.unwrap();
}

#[tokio::test]
async fn a_cpu_profile_in_progress_ends_at_shutdown() {
    let mut app = Engine::new();
    app.shutdown_timeout(Duration::from_secs(20)).debug_routes("/debug");
    let mut server = Server::start(app).await;
    let addr = server.addr;
    let profile =
        tokio::spawn(async move { crate::support::get(addr, "/debug/pprof/profile?seconds=60").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    server.begin_shutdown();
    let reply = tokio::time::timeout(Duration::from_secs(5), profile)
        .await
        .expect("the profile was answered at shutdown, not after 60 s")
        .unwrap();
    assert_eq!(reply.status, 200, "the profile so far");
    assert!(!reply.body.is_empty());
    let report = server.finished().await;
    assert_eq!(report.requests_cut, 0, "{report:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
