//! A copy keeps its request head, compactly, and nothing of the connection.
//!
//! 10,000 requests arrive over real sockets, each on its own connection, and each handler
//! keeps a `ContextCopy` alive. A counting allocator measures the heap the live copies
//! retain. If a copy kept hyper's header slices, each would pin its connection's read
//! buffer (8 KiB or more): the per-copy figure would be far above the request head's size.

#[path = "support/counting.rs"]
mod counting;

use std::sync::Mutex;
use std::time::Duration;

use tether::{Context, ContextCopy, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

static KEPT: Mutex<Vec<ContextCopy>> = Mutex::new(Vec::new());
/// The negative control: raw header maps, whose values are slices of hyper's read buffer.
static PINNED: Mutex<Vec<http::HeaderMap>> = Mutex::new(Vec::new());
const REQUESTS: usize = 10_000;

fn request(i: usize, host: &str) -> String {
    format!(
        "GET /mem/{i}?page=3&sort=desc HTTP/1.1\r\nhost: {host}\r\nuser-agent: tether-test/1.0\r\n\
         accept: application/json\r\nx-request-id: {i:032}\r\nconnection: close\r\n\r\n"
    )
}

async fn send(addr: std::net::SocketAddr, i: usize) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request(i, &addr.to_string()).as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&out));
}

/// Waits until the server's closed connections have been dropped: the live heap stops
/// moving (three equal readings 20 ms apart), or 5 s pass.
async fn settled() -> i64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut last = counting::live_bytes();
    let mut same = 0;
    while same < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = counting::live_bytes();
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_copies_retain_their_head_and_not_the_connection_buffer() {
    let mut app = Engine::new();
    app.leak_threshold(Duration::from_secs(3600));
    // No keys: they are the application's data, shared with the copy on purpose; what
    // this measures is what the copy itself costs.
    app.get("/mem/:id", async |c: &mut Context| {
        let cp = c.copy();
        KEPT.lock().unwrap().push(cp);
        c.string(200, "kept");
    });
    app.get("/pin/:id", async |c: &mut Context| {
        PINNED.lock().unwrap().push(c.request_headers().clone());
        c.string(200, "pinned");
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve_with_shutdown(listener, async {
        rx.await.ok();
    }));
    KEPT.lock().unwrap().reserve(REQUESTS);
    // Warm up: connection and task machinery, the registry's slabs, then drop those copies.
    for i in 0..200 {
        send(addr, i).await;
    }
    KEPT.lock().unwrap().clear();
    let before = settled().await;
    let mut clients = Vec::new();
    for worker in 0..8 {
        clients.push(tokio::spawn(async move {
            for i in (worker..REQUESTS).step_by(8) {
                send(addr, i).await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let retained = settled().await - before;
    let head = request(REQUESTS - 1, &addr.to_string()).len();
    {
        let kept = KEPT.lock().unwrap();
        assert_eq!(kept.len(), REQUESTS);
        let per_copy = retained as f64 / REQUESTS as f64;
        println!(
            "{REQUESTS} live copies retain {retained} bytes: {per_copy:.0} bytes per copy \
             (request head {head} bytes; snapshot {} bytes; ContextCopy struct {} bytes, kept in a Vec)",
            kept[0].head_size(),
            std::mem::size_of::<ContextCopy>()
        );
        let cp = kept.iter().find(|cp| cp.param("id") == "42").expect("the copy of request 42");
        assert_eq!(cp.path(), "/mem/42");
        assert_eq!(cp.query("sort"), Some("desc"));
        assert_eq!(cp.get_header("user-agent"), Some("tether-test/1.0"));
        assert_eq!(cp.get_header("X-Request-Id"), Some(format!("{:032}", 42).as_str()));
        assert!(
            per_copy <= (head + 256) as f64,
            "a live copy retains {per_copy:.0} bytes; its request head is {head} bytes"
        );
    }
    KEPT.lock().unwrap().clear();

    // The same measurement sees the difference when the connection's buffer is pinned.
    const PINS: usize = 1_000;
    PINNED.lock().unwrap().reserve(PINS);
    let before = counting::live_bytes();
    for i in 0..PINS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request(i, &addr.to_string()).replace("/mem/", "/pin/").as_bytes()).await.unwrap();
        s.read_to_end(&mut Vec::new()).await.unwrap();
    }
    let per_pin = (settled().await - before) as f64 / PINS as f64;
    println!("negative control: a kept raw header map retains {per_pin:.0} bytes (the read buffer)");
    assert!(per_pin > 4.0 * (head + 256) as f64, "the measurement should see a pinned buffer: {per_pin:.0}");
    PINNED.lock().unwrap().clear();
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
