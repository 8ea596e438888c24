//! The access log obeys the filter it was installed with, on the direct path too: with
//! `tether::access=warn`, a 200 writes no line and a 5xx does. Its own test binary: it
//! installs the process-wide `tracing` subscriber with that filter.

mod support;

use tether::middleware::logger;
use tether::{Context, Engine};

use support::lines::Lines;
use support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lines_below_the_filters_level_are_not_written() {
    let out = Lines::default();
    assert!(tether::log::Setup::new().filter("info,tether::access=warn").init_with_writer(out.clone()));

    let mut app = Engine::new();
    app.with(logger());
    app.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    app.get("/fail", async |c: &mut Context| c.string(503, "later"));
    let server = Server::start(app).await;

    for _ in 0..3 {
        support::get(server.addr, "/ping").await;
    }
    support::get(server.addr, "/fail").await;
    // The 503 comes after the three 200s on the same path through the sink: once it is
    // there, any 200 line would be too.
    let lines = out.wait_for(1, |l| l.contains("tether::access"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(" WARN tether::access: 503 | "), "{}", lines[0]);
    server.shutdown().await;
}
