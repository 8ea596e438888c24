//! The server the benchmarks load: `/plaintext`, `/json`, `/user/:id`, `/copy/:id`, no
//! logging.
//!
//! `/copy/:id` is Gin's `cCp := c.Copy(); go func() {..}()` done the tether way: four keys
//! are set, a tracked task gets a copy, sleeps 1 ms and reads the parameter and a key from
//! it, and the response (`ok`) does not wait for it.
//!
//! With `METRICS=1`, `/metrics` is mounted, so per-route figures are recorded: the
//! overhead comparison runs the same binary with and without it. With `LOGGER=1`, the
//! access log runs as `Engine::default()` has it (`logger()`, non-blocking writer to
//! standard output), so its cost is the difference between the two runs.
//!
//! With `MIDDLEWARE=n`, n middleware steps that only call `next()` run before each route
//! (what one step costs is the difference per step); with `RECOVERY=1`, `recovery()` does.
//!
//! `PORT` (default 8080) and `WORKERS` (tokio worker threads, default: the core count)
//! come from the environment, as for the raw hyper and axum peers in `crates/peers`.

use serde::Serialize;
use tether::{Context, Engine};

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Serialize)]
struct User<'a> {
    id: &'a str,
}

async fn plaintext(c: &mut Context) {
    c.string(200, "Hello, World!");
}

async fn json(c: &mut Context) {
    c.json(200, &Message { message: "Hello, World!" });
}

async fn user(c: &mut Context) {
    // The request and response sides at once: the id is written straight from the path.
    let (req, w) = c.split();
    w.json(200, &User { id: req.param("id") });
}

async fn copy(c: &mut Context) {
    c.set("user", String::from("ada"));
    c.set("role", String::from("admin"));
    c.set("tenant", String::from("acme"));
    c.set("trace", String::from("0af7651916cd43dd8448eb211c80319c"));
    c.go(|cp| async move {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let seen = cp.param("id").len() + cp.get::<String>("user").map_or(0, String::len);
        std::hint::black_box(seen);
    });
    c.string(200, "ok");
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        rt.worker_threads(n);
    }
    rt.enable_all().build()?.block_on(async {
        let mut app = Engine::new();
        if std::env::var_os("LOGGER").is_some_and(|v| v == "1") {
            tether::log::init();
            app.with(tether::middleware::logger());
        }
        // MIDDLEWARE=n: n middleware steps that only call `next()`, to measure what a
        // step costs; RECOVERY=1: `recovery()`, as `Engine::default()` has it.
        let steps: usize = std::env::var("MIDDLEWARE").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
        for _ in 0..steps {
            app.with(async |c: &mut Context| c.next().await);
        }
        if std::env::var_os("RECOVERY").is_some_and(|v| v == "1") {
            app.with(tether::middleware::recovery());
        }
        if std::env::var_os("METRICS").is_some() {
            app.metrics_route("/metrics");
        }
        app.get("/plaintext", plaintext).get("/json", json).get("/user/:id", user).get("/copy/:id", copy);
        app.run(("127.0.0.1", port)).await
    })
}
