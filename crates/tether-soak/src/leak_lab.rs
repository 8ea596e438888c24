//! The leak lab: one server with each leak that Gin services hit, beside its safe form.
//!
//! | leaking route | what it keeps | safe route | why it holds its level |
//! |---|---|---|---|
//! | `/leak/cache` | a map without TTL or bound, one 2 KiB page per request | `/safe/cache` | moka: 1 s TTL, 10,000 entries at most |
//! | `/leak/task` | a plain `tokio::spawn` that waits forever, holding 2 KiB | `/safe/task` | `c.detach()` with a 500 ms deadline |
//! | `/leak/copy-big` | a task holding every key (an 8 KiB report) and the body, with no deadline | `/safe/copy-big` | only the `user` key (`copy_only`), 500 ms deadline |
//! | `/leak/ticker` | a 10 s interval task started per request, never stopped | `/safe/ticker` | one ticker owned by `app.tasks()`, cancelled on shutdown |
//! | `/leak/pinned` | a task keeping the raw request head (its bytes are hyper's read buffer) | `/safe/pinned` | a `ContextCopy` (one compact allocation), 500 ms deadline |
//!
//! The lab raises the engine's cap on tasks to 1,000,000 so that the leaks can grow: with
//! the default cap (10,000) tether would stop the task leaks there, and reject the rest.
//! It flags tracked work older than 2 s in `/debug/leaks` (the default is 60 s).
//!
//! ```text
//! cargo run --release -p tether-soak --example leak_lab          # serve it on :8080
//! cargo run --release -p tether-soak -- lab                      # soak every route, judge each
//! ```

use std::collections::HashMap;
use std::future::pending;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tether::{Context, Engine};

/// Bytes of the page, upload or state that a leaking route keeps per request.
const PAYLOAD: usize = 2048;
/// Bytes of the report a middleware puts in the keys of the copy-big routes.
const REPORT: usize = 8192;
/// The deadline of every safe form's task.
const SAFE_DEADLINE: Duration = Duration::from_millis(500);

/// One leak and its safe form, as the lab soaks them.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Short name: `cache`, `task`, `copy-big`, `ticker`, `pinned`.
    pub name: &'static str,
    /// What the leaking route does wrong, in a line.
    pub leak: &'static str,
    /// What the safe route does instead, in a line.
    pub fix: &'static str,
}

impl Scenario {
    /// The leaking route's path.
    pub fn leak_path(&self) -> String {
        format!("/leak/{}", self.name)
    }

    /// The safe route's path.
    pub fn safe_path(&self) -> String {
        format!("/safe/{}", self.name)
    }
}

/// Every scenario of the lab, in the order the lab runs them.
pub const SCENARIOS: [Scenario; 5] = [
    Scenario { name: "cache", leak: "a map without TTL or bound", fix: "moka with a TTL and a size bound" },
    Scenario { name: "task", leak: "tokio::spawn that never ends", fix: "c.detach() with a deadline" },
    Scenario {
        name: "copy-big",
        leak: "a task holding every key and the body",
        fix: "only the key it needs, with a deadline",
    },
    Scenario { name: "ticker", leak: "an interval task per request", fix: "one ticker owned by app.tasks()" },
    Scenario {
        name: "pinned",
        leak: "a task keeping the raw request head",
        fix: "a ContextCopy with a deadline",
    },
];

/// The cache that leaks: a key per request, no TTL, no bound.
#[derive(Default)]
struct LeakyCache(Mutex<HashMap<String, Bytes>>);

/// The cache that does not: entries live 1 s, and there are never more than 10,000.
struct BoundedCache(moka::sync::Cache<String, Bytes>);

/// What the one owned ticker last saw.
#[derive(Default)]
struct Ticks(AtomicU64);

static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

/// A key that is new on every request, like `user:{id}:{timestamp}` in a real cache.
fn fresh_key() -> String {
    format!("page:{}", NEXT_KEY.fetch_add(1, Relaxed))
}

/// A page, an upload, some state: bytes that are written, so they are resident.
fn payload(len: usize) -> Bytes {
    Bytes::from(vec![b'x'; len])
}

async fn leak_cache(c: &mut Context) {
    let page = payload(PAYLOAD);
    c.state::<LeakyCache>().0.lock().unwrap().insert(fresh_key(), page.clone());
    c.data(200, "text/plain", page);
}

async fn safe_cache(c: &mut Context) {
    let page = payload(PAYLOAD);
    c.state::<BoundedCache>().0.insert(fresh_key(), page.clone());
    c.data(200, "text/plain", page);
}

async fn leak_task(c: &mut Context) {
    let upload = payload(PAYLOAD);
    // Waits for a reply that never comes. Nothing owns it, nothing ends it, and no
    // registry sees it: only the runtime's count of alive tasks grows.
    tokio::spawn(async move {
        pending::<()>().await;
        drop(upload);
    });
    c.string(202, "queued");
}

async fn safe_task(c: &mut Context) {
    let upload = payload(PAYLOAD);
    c.detach().name("upload").timeout(SAFE_DEADLINE).go(move |_cp| async move {
        pending::<()>().await;
        drop(upload);
    });
    c.string(202, "queued");
}

/// Middleware of the copy-big routes: the signed-in user, and a big decoded report.
async fn load_report(c: &mut Context) {
    c.set("user", String::from("ada"));
    c.set("report", payload(REPORT));
}

async fn leak_copy_big(c: &mut Context) {
    let body = c.body_bytes().await.unwrap_or_default();
    // Gin's `cCp := c.Copy(); go ..`: every key (the report among them) and the body, for
    // as long as a stalled job waits.
    c.detach().name("report-mail").no_timeout().go(move |cp| async move { hold_forever((cp, body)).await }); // blamed: copy-big
    c.string(202, "mailing");
}

async fn safe_copy_big(c: &mut Context) {
    c.detach().name("report-mail").only(&["user"]).timeout(SAFE_DEADLINE).go(|cp| async move {
        let _user = cp.get::<String>("user").cloned();
        pending::<()>().await;
    });
    c.string(202, "mailing");
}

async fn leak_ticker(c: &mut Context) {
    let state = payload(PAYLOAD);
    // "Refresh this user's feed every 10 s": started per request, stopped never.
    c.detach().name("feed-refresh").no_timeout().go(move |_cp| async move { tick_forever(state).await }); // blamed: ticker
    c.string(200, "refreshing");
}

async fn safe_ticker(c: &mut Context) {
    let seen = c.state::<Arc<Ticks>>().0.load(Relaxed);
    c.string(200, format!("refreshed {seen} times"));
}

async fn leak_pinned(c: &mut Context) {
    // The raw head: its header values are slices of the connection's read buffer.
    let head = c.request_headers().clone();
    c.detach().name("session-watch").no_timeout().go(move |_cp| async move { hold_forever(head).await }); // blamed: pinned
    c.string(200, "watching");
}

async fn safe_pinned(c: &mut Context) {
    c.detach().name("session-watch").timeout(SAFE_DEADLINE).go(|cp| async move {
        let _agent = cp.get_header("user-agent").map(str::to_owned);
        pending::<()>().await;
    });
    c.string(200, "watching");
}

/// Keeps `value` until the task is cancelled.
async fn hold_forever<T>(value: T) {
    pending::<()>().await;
    drop(value);
}

/// Ticks every 10 s, touching `state`, until the task is cancelled.
async fn tick_forever(state: Bytes) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        std::hint::black_box(&state);
    }
}

/// The lab server. Call it inside a Tokio runtime: the safe ticker starts at once.
pub fn app() -> Engine {
    let mut app = Engine::new();
    app.max_tasks(1_000_000).leak_threshold(Duration::from_secs(2));
    app.debug_routes("/debug");
    app.state(LeakyCache::default());
    app.state(BoundedCache(
        moka::sync::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(1)).build(),
    ));
    let ticks = Arc::new(Ticks::default());
    app.state(ticks.clone());

    // The one ticker: owned by the engine's tasks, cancelled on shutdown.
    let seen = ticks;
    app.tasks().detach().name("feed-refresh").no_timeout().go(move |ctl| async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = ctl.cancelled() => return,
                _ = tick.tick() => { seen.0.fetch_add(1, Relaxed); }
            }
        }
    });

    app.get("/leak/cache", leak_cache).get("/safe/cache", safe_cache);
    app.get("/leak/task", leak_task).get("/safe/task", safe_task);
    let mut reports = app.group("");
    reports.with(load_report);
    reports.get("/leak/copy-big", leak_copy_big).get("/safe/copy-big", safe_copy_big);
    app.get("/leak/ticker", leak_ticker).get("/safe/ticker", safe_ticker);
    app.get("/leak/pinned", leak_pinned).get("/safe/pinned", safe_pinned);
    app
}
