//! Streamed responses and server-sent events over real sockets; a client that goes away
//! ends the producer, and the leak registry shows nothing left behind.

use std::time::Duration;

use crate::support::Server;
use bytes::Bytes;
use futures_util::StreamExt;
use tether::sse::Event;
use tether::{Context, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn receiver_stream(
    mut rx: tokio::sync::mpsc::Receiver<Event>,
) -> impl futures_util::Stream<Item = Event> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn ticks(c: &mut Context) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    c.detach().name("ticker").tied().no_timeout().go(move |_cp| async move {
        for n in 0u64.. {
            if tx.send(Event::data(format!("tick {n}")).event("tick").id(n.to_string())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    c.sse(receiver_stream(rx));
}

#[tokio::test]
async fn chunks_are_streamed_as_they_come() {
    let mut app = Engine::new();
    app.get("/numbers", async |c: &mut Context| {
        let chunks = futures_util::stream::iter(1..=3).then(|i| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, std::io::Error>(Bytes::from(format!("{i}\n")))
        });
        c.stream(200, "text/plain", chunks);
    });
    let server = Server::start(app).await;
    let reply = crate::support::get(server.addr, "/numbers").await;
    assert_eq!(reply.text(), "1\n2\n3\n");
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    server.shutdown().await;
}

#[tokio::test]
async fn server_sent_events_flow_and_a_client_that_leaves_ends_the_producer() {
    let mut app = Engine::new();
    app.get("/events", ticks);
    let tasks = app.tasks();
    let server = Server::start(app).await;

    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("tick 3") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).to_string();
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("cache-control: no-cache"), "{text}");
    assert!(text.contains("event: tick\nid: 0\ndata: tick 0\n\n"), "{text}");
    assert_eq!(tasks.stats().live_tasks, 1, "the producer runs while the client listens");

    drop(stream);
    let mut waited = 0;
    while tasks.stats().live_tasks > 0 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    let stats = tasks.stats();
    assert_eq!((stats.live_tasks, stats.live_copies), (0, 0), "nothing left behind: {stats:?}");
    assert_eq!(stats.completed + stats.cancelled, 1, "{stats:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_quiet_event_stream_sends_keep_alive_comments() {
    let mut app = Engine::new();
    app.get("/quiet", async |c: &mut Context| {
        let never = futures_util::stream::pending::<Event>();
        c.sse_with(tether::sse::Sse::new(never).keep_alive(Some(Duration::from_millis(20))));
    });
    let server = Server::start(app).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /quiet HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while seen.matches(":\n\n").count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    drop(stream);
    server.shutdown().await;
}
