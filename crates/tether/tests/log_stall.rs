//! A log output nobody reads (a stalled pipe) must not stop the server. Its own test
//! binary: it installs the process-wide `tracing` subscriber.

mod support;

use std::time::{Duration, Instant};

use tether::middleware::json_logger;
use tether::{Context, Engine};

use support::{get, Server, H1};

/// A writer whose every write blocks for good, like stdout into a pipe nobody reads.
struct Stalled;

impl std::io::Write for Stalled {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        loop {
            std::thread::park();
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_output_drops_lines_instead_of_requests() {
    assert!(tether::log::Setup::new().buffered_lines(64).init_with_writer(Stalled));
    // logger() and recovery(), as gin.Default(), and a JSON access log too: two lines a request.
    let mut app = Engine::default();
    app.with(json_logger());
    app.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    app.debug_routes("/debug");
    let server = Server::start(app).await;

    // Load on 8 connections: 2,000 requests, several times what stalled it before (~300).
    let load: Vec<_> = (0..8)
        .map(|_| {
            let addr = server.addr;
            tokio::spawn(async move {
                let mut h1 = H1::connect(addr).await;
                for _ in 0..250 {
                    assert_eq!(h1.get("/ping").await.status, 200);
                }
            })
        })
        .collect();
    // A normal client meanwhile: its requests stay fast.
    let mut probe = H1::connect(server.addr).await;
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        assert_eq!(probe.get("/ping").await.status, 200);
        latencies.push(t.elapsed());
    }
    let finished = tokio::time::timeout(Duration::from_secs(60), futures_util::future::join_all(load)).await;
    for r in finished.expect("every request answered while the log output is stalled") {
        r.unwrap();
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(p99 < Duration::from_millis(100), "p99 of a normal GET was {p99:?}");

    let vars = get(server.addr, "/debug/vars").await.json();
    let dropped = vars["log_lines_dropped"].as_u64().unwrap();
    assert!(dropped >= 2000, "the lines that did not fit were counted: {dropped}");
    server.shutdown().await;
}
