//! Slow and stalled clients: a body that trickles in, a response nobody reads, a second
//! head that never completes, a huge head, a preface cut in two. Each is bounded by a
//! limit the engine sets by default; the tests shorten the limits to keep them quick.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{Full, StreamBody};
use tether::{Context, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{get, raw, Server};

/// An engine whose `/echo` answers the length of the body it read, or the body error.
fn echo_app() -> Engine {
    let mut app = Engine::new();
    app.post("/echo", async |c: &mut Context| match c.body_bytes().await {
        Ok(body) => c.string(200, body.len().to_string()),
        Err(e) => c.string(e.status(), e.to_string()),
    });
    app.get("/", async |c: &mut Context| c.string(200, "ok"));
    app
}

/// Reads from `stream` until the server closes it or `within` passes; returns what came
/// and whether the end was seen.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

#[tokio::test]
async fn a_body_that_trickles_in_times_out_with_408_and_the_connection_closes() {
    let mut app = echo_app();
    app.body_read_timeout(Duration::from_millis(300));
    let server = Server::start(app).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 100 ms: each earns ~1 ms at the default 1 KiB/s minimum rate.
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            if writer.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    let mut response = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(4), reader.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("too slowly"), "{response}");
    assert!(closed.is_ok(), "the connection is closed after the 408");
    assert!(started.elapsed() < Duration::from_secs(3), "cut at the timeout, not at the end of the trickle");
    trickle.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn a_large_body_at_a_fair_pace_is_never_cut() {
    let mut app = echo_app();
    app.body_read_timeout(Duration::from_millis(300));
    let server = Server::start(app).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let chunk = vec![b'x'; 4096];
    stream.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n").await.unwrap();
    // 16 chunks of 4 KiB, 100 ms apart: 1.6 s in all, past the 300 ms head start, but
    // each chunk earns 4 s at 1 KiB/s.
    for _ in 0..16 {
        stream.write_all(&chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&buf[..n]);
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("65536"), "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn http2_streams_whose_body_never_comes_free_their_handlers() {
    let mut app = echo_app();
    app.body_read_timeout(Duration::from_millis(300));
    let server = Server::start(app).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut senders = Vec::new();
    let mut replies = Vec::new();
    for _ in 0..20 {
        // A body that never sends a byte nor ends.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(1);
        senders.push(tx);
        let body = StreamBody::new(tokio_stream_from(rx));
        let req = Request::post(server.url("/echo")).body(body).unwrap();
        let mut sender = sender.clone();
        replies.push(tokio::spawn(async move { sender.send_request(req).await.map(|r| r.status()) }));
    }
    let started = Instant::now();
    for reply in replies {
        let status =
            tokio::time::timeout(Duration::from_secs(4), reply).await.expect("answered").unwrap().unwrap();
        assert_eq!(status, 408);
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    server.shutdown().await;
}

/// A receiver as a stream of body frames.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn bodies_held_in_memory_share_a_budget_and_past_it_get_503() {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let mut app = Engine::new();
    app.body_limit(64 * 1024).body_memory(128 * 1024, 128 * 1024);
    app.state(gate.clone()).debug_routes("/debug");
    app.post("/hold", async |c: &mut Context| match c.body_bytes().await {
        Ok(body) => {
            // Keep the body (and its place in the budget) until the test lets go.
            let gate = c.state::<std::sync::Arc<tokio::sync::Semaphore>>().clone();
            let _permit = gate.acquire().await;
            c.string(200, body.len().to_string());
        }
        Err(e) => c.string(e.status(), e.to_string()),
    });
    let server = Server::start(app).await;
    let post = |addr| async move {
        let req = Request::post(format!("http://{addr}/hold"))
            .body(Full::new(Bytes::from(vec![b'x'; 64 * 1024])))
            .unwrap();
        crate::support::send(addr, req).await
    };
    let held: Vec<_> = (0..2).map(|_| tokio::spawn(post(server.addr))).collect();
    // Wait until both bodies are read and held.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let vars = get(server.addr, "/debug/vars").await;
        if vars.status == 200 && vars.json()["http"]["body_bytes_buffered"] == 128 * 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "two bodies held: {}", vars.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = post(server.addr).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("try again"), "{}", refused.text());
    gate.add_permits(3);
    for h in held {
        assert_eq!(h.await.unwrap().status, 200);
    }
    let again = post(server.addr).await;
    assert_eq!(
        (again.status.as_u16(), again.text()),
        (200, "65536".to_string()),
        "the budget was given back"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_reads_its_response_is_closed_at_the_write_timeout() {
    let big = Bytes::from(vec![b'x'; 64 * 1024 * 1024]);
    let mut app = Engine::new();
    app.write_timeout(Duration::from_millis(300));
    app.state(big);
    app.get("/big", async |c: &mut Context| {
        let big = c.state::<Bytes>().clone();
        c.data(200, "application/octet-stream", big)
    });
    let server = Server::start(app).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    // Read nothing while the server fills the socket and stalls.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (got, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "the server closed the connection");
    assert!(got.len() < 64 * 1024 * 1024, "cut before the end: {} bytes", got.len());
    server.shutdown().await;
}

#[tokio::test]
async fn a_second_head_that_trickles_gets_the_header_timeout_not_the_idle_one() {
    let mut app = echo_app();
    app.header_read_timeout(Duration::from_millis(300)).keep_alive_timeout(Duration::from_secs(30));
    let server = Server::start(app).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Half a second head, then nothing.
    stream.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "closed by the header timeout");
    assert!(started.elapsed() < Duration::from_secs(2), "closed after {:?}", started.elapsed());
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_not_cut_by_the_header_timeout() {
    let mut app = echo_app();
    app.header_read_timeout(Duration::from_millis(200)).keep_alive_timeout(Duration::from_secs(30));
    let server = Server::start(app).await;
    let mut h1 = crate::support::H1::connect(server.addr).await;
    assert_eq!(h1.get("/").await.status, 200);
    let body = Full::new(Bytes::from(vec![b'x'; 100_000]));
    let req = Request::post(server.url("/echo")).header("expect", "100-continue").body(body).unwrap();
    assert_eq!(h1.send(req).await.text(), "100000");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!h1.is_closed(), "idle, not a head in progress");
    assert_eq!(h1.get("/").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_head_past_the_limit_is_refused_with_431() {
    let server = Server::start(echo_app()).await;
    let cookie = "a".repeat(40 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    let response = raw(server.addr, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{}", &response[..response.len().min(200)]);
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    let response = raw(server.addr, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    // Within the limits: served.
    let request =
        format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nConnection: close\r\n\r\n", "a".repeat(8 * 1024));
    let response = raw(server.addr, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_cut_after_its_first_byte_is_served_as_http1() {
    let server = Server::start(echo_app()).await;
    // "P" could begin the HTTP/2 preface or "POST": the server must wait for more bytes
    // without spinning, then serve the request whole.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"P").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream
        .write_all(b"OST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        .await
        .unwrap();
    let (got, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let response = String::from_utf8_lossy(&got);
    assert!(closed && response.starts_with("HTTP/1.1 200") && response.ends_with("\r\n\r\n3"), "{response}");
    // And the preface itself, cut in two, still opens HTTP/2.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"PRI * HT").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(b"TP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    // An HTTP/2 server speaks first after the preface: a SETTINGS frame (type 4).
    let mut frame = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut frame)).await.unwrap().unwrap();
    assert_eq!(frame[3], 4, "a SETTINGS frame: {frame:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_http2_client_that_answers_no_ping_is_closed() {
    let mut app = echo_app();
    app.http2_keep_alive(Some(Duration::from_millis(200)));
    let server = Server::start(app).await;
    // A client that sends the preface and its SETTINGS, then reads and answers nothing.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "closed after an unanswered ping");
    server.shutdown().await;
}
