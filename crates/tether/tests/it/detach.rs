//! Leak-proof background work: copies, tracked tasks and the leak registry.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Server, H1};
use serde_json::Value;
use tether::testing::TestClient;
use tether::{Context, DebugAccess, Engine, Outcome, Overflow, TaskHandle};

/// Task handles that handlers hand back to the test.
#[derive(Default)]
struct Handles(Mutex<Vec<TaskHandle>>);

impl Handles {
    fn take(&self) -> Vec<TaskHandle> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn keep(c: &Context, h: TaskHandle) {
    c.state::<Arc<Handles>>().0.lock().unwrap().push(h);
}

/// An engine with the debug routes and a place for task handles that the test keeps.
fn engine() -> (Engine, Arc<Handles>) {
    let handles = Arc::new(Handles::default());
    let mut app = Engine::new();
    app.state(handles.clone()).debug_routes("/debug");
    (app, handles)
}

async fn leaks(client: &TestClient) -> Value {
    let res = client.get("/debug/leaks").remote_addr("127.0.0.1:1".parse().unwrap()).send().await;
    assert_eq!(res.status(), 200, "{}", res.text());
    res.json()
}

async fn outcomes(handles: Vec<TaskHandle>) -> Vec<Outcome> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.outcome().await);
    }
    out
}

#[derive(Default)]
struct Checks {
    done: AtomicUsize,
    mismatches: AtomicUsize,
}

/// Gin #1841: a goroutine reading `c` after the handler returned sees another request's
/// data. Here every task checks that its copy still describes its own request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gin_1841_every_task_sees_its_own_request() {
    const CONNECTIONS: usize = 200;
    const PER_CONNECTION: usize = 50;
    let checks = Arc::new(Checks::default());
    let mut app = Engine::new();
    app.state(checks.clone());
    app.get("/echo/:id", async |c: &mut Context| {
        let id = c.param("id").to_owned();
        c.set("n", id.clone());
        c.set("filler", vec![0u8; 16]);
        c.go(move |cp| async move {
            let n: u64 = id.parse().unwrap();
            // A pseudo-random 0-5 ms wait, so that tasks finish out of order.
            let wait = (n.wrapping_mul(2_654_435_761) >> 7) % 6;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let own = cp.param("id") == id
                && cp.query("q") == Some(id.as_str())
                && cp.get::<String>("n") == Some(&id)
                && cp.get_header("x-n") == Some(id.as_str())
                && cp.full_path() == "/echo/:id";
            let checks = cp.state::<Arc<Checks>>();
            if !own {
                checks.mismatches.fetch_add(1, SeqCst);
            }
            checks.done.fetch_add(1, SeqCst);
        });
        c.string(200, "ok");
    });
    let server = Server::start(app).await;
    let mut clients = Vec::new();
    for conn in 0..CONNECTIONS {
        let addr = server.addr;
        clients.push(tokio::spawn(async move {
            let mut h1 = H1::connect(addr).await;
            for i in 0..PER_CONNECTION {
                let n = conn * PER_CONNECTION + i;
                let req = http::Request::get(format!("/echo/{n}?q={n}"))
                    .header("x-n", n.to_string())
                    .body(Default::default())
                    .unwrap();
                assert_eq!(h1.send(req).await.status, 200);
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let total = CONNECTIONS * PER_CONNECTION;
    let deadline = Instant::now() + Duration::from_secs(20);
    while checks.done.load(SeqCst) < total {
        assert!(Instant::now() < deadline, "only {} of {total} tasks checked in", checks.done.load(SeqCst));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(checks.mismatches.load(SeqCst), 0, "a task saw another request's data");
    server.shutdown().await;
}

#[tokio::test]
async fn keys_are_copy_on_write_and_copy_only_trims_them() {
    let mut app = Engine::new();
    app.get("/k", async |c: &mut Context| {
        c.set("user", String::from("ada"));
        c.set("report", vec![0u8; 1 << 20]);
        let before = c.copy();
        let only = c.copy_only(&["user"]);
        c.set("user", String::from("grace"));
        c.set("late", 1u8);
        let body = serde_json::json!({
            "copy_user": before.get::<String>("user"),
            "copy_late": before.get::<u8>("late"),
            "copy_has_report": before.get::<Vec<u8>>("report").is_some(),
            "only_keys": only.key_names().collect::<Vec<_>>(),
            "ctx_user": c.get::<String>("user"),
        });
        c.json(200, &body);
    });
    let res = TestClient::new(app).get("/k").send().await.json::<Value>();
    assert_eq!(
        res,
        serde_json::json!({
            "copy_user": "ada", "copy_late": null, "copy_has_report": true,
            "only_keys": ["user"], "ctx_user": "grace",
        })
    );
}

#[tokio::test]
async fn a_deadline_stops_the_task_and_is_counted() {
    let (mut app, handles) = engine();
    app.get("/slow", async |c: &mut Context| {
        let h = c.detach().name("slow").timeout(Duration::from_millis(50)).go(|cp| async move {
            assert!(cp.deadline().is_some());
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        keep(c, h);
        c.string(202, "started");
    });
    let client = TestClient::new(app);
    let started = Instant::now();
    client.get("/slow").send().await;
    assert_eq!(leaks(&client).await["live"]["tasks"], 1);
    assert_eq!(outcomes(handles.take()).await, [Outcome::TimedOut]);
    assert!(started.elapsed() < Duration::from_secs(5));
    let report = leaks(&client).await;
    assert_eq!(report["totals"]["timed_out"], 1, "{report}");
    assert_eq!(report["live"]["tasks"], 0);
}

#[tokio::test]
async fn the_engine_default_deadline_applies_and_none_must_be_explicit() {
    let mut app = Engine::new();
    app.task_timeout(Duration::from_millis(30));
    let tasks = app.tasks();
    let default = tasks.go(|ctl| async move {
        assert!(ctl.deadline().is_some());
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let none = tasks.detach().no_timeout().go(|ctl| async move {
        assert!(ctl.deadline().is_none());
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    assert_eq!(outcomes(vec![default, none]).await, [Outcome::TimedOut, Outcome::Completed]);
}

#[tokio::test]
async fn the_cap_rejects_and_the_wait_policy_queues() {
    // Reject: the third task past a cap of two never runs.
    let (mut app, _) = engine();
    app.max_tasks(2);
    let tasks = app.tasks();
    let client = TestClient::new(app);
    let long =
        || tasks.detach().timeout(Duration::from_secs(5)).go(|ctl| async move { ctl.cancelled().await });
    let (a, b, c) = (long(), long(), long());
    assert!(!a.is_rejected() && !b.is_rejected());
    assert!(c.is_rejected());
    assert_eq!(c.outcome().await, Outcome::Rejected);
    assert_eq!(leaks(&client).await["totals"]["rejected"], 1);
    a.cancel();
    b.cancel();
    assert_eq!(outcomes(vec![a, b]).await, [Outcome::Cancelled, Outcome::Cancelled]);
    assert_eq!(leaks(&client).await["totals"]["cancelled"], 2);

    // Wait: the second task waits for the first to finish.
    let mut app = Engine::new();
    app.max_tasks(1).task_overflow(Overflow::Wait);
    let tasks = app.tasks();
    let started = Instant::now();
    let work = || tasks.go(|_| async { tokio::time::sleep(Duration::from_millis(100)).await });
    let (a, b) = (work(), work());
    assert_eq!(outcomes(vec![a, b]).await, [Outcome::Completed, Outcome::Completed]);
    assert!(started.elapsed() >= Duration::from_millis(195), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_panicking_task_is_counted_and_the_server_goes_on() {
    let (mut app, handles) = engine();
    app.get("/boom", async |c: &mut Context| {
        let h = c.detach().name("boom").go(|_cp| async move { panic!("task bug") });
        keep(c, h);
        c.string(200, "ok");
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    assert_eq!(h1.get("/boom").await.status, 200);
    assert_eq!(outcomes(handles.take()).await, [Outcome::Panicked]);
    let report = h1.get("/debug/leaks").await.json();
    assert_eq!(report["totals"]["panicked"], 1, "{report}");
    assert_eq!(h1.get("/boom").await.status, 200, "the server keeps serving");
    server.shutdown().await;
}

#[tokio::test]
async fn tied_tasks_end_with_their_request_and_others_outlive_it() {
    let (mut app, handles) = engine();
    app.get("/tied", async |c: &mut Context| {
        let h = c.detach().tied().go(|cp| async move {
            cp.cancelled().await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        keep(c, h);
        c.string(200, "ok");
    });
    app.get("/free", async |c: &mut Context| {
        let h = c.go(|cp| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!cp.is_cancelled(), "the request ending does not cancel an untied task");
        });
        keep(c, h);
        c.string(200, "ok");
    });
    let client = TestClient::new(app);
    client.get("/tied").send().await;
    client.get("/free").send().await;
    assert_eq!(outcomes(handles.take()).await, [Outcome::Cancelled, Outcome::Completed]);
}

#[tokio::test]
async fn shutdown_drains_what_finishes_in_grace_and_cancels_the_rest() {
    let (mut app, _) = engine();
    app.shutdown_timeout(Duration::from_millis(600));
    app.get("/work/:ms", async |c: &mut Context| {
        let ms: u64 = c.param("ms").parse().unwrap();
        c.detach().name("work").no_timeout().go(move |_cp| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        });
        c.string(202, "ok");
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    for i in 0..100 {
        let ms = if i % 2 == 0 { 100 } else { 60_000 };
        assert_eq!(h1.get(&format!("/work/{ms}")).await.status, 202);
    }
    let report = h1.get("/debug/leaks").await.json();
    assert_eq!(report["live"]["tasks"], 100, "{report}");
    drop(h1);
    let started = Instant::now();
    let shutdown = server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(shutdown.tasks_cancelled, 50, "{shutdown:?}");
}

#[tokio::test]
async fn shutdown_counts_add_up() {
    let (mut app, _) = engine();
    app.shutdown_timeout(Duration::from_millis(300));
    let tasks = app.tasks();
    for i in 0..20 {
        let ms = if i < 12 { 50 } else { 30_000 };
        tasks
            .detach()
            .no_timeout()
            .go(move |_| async move { tokio::time::sleep(Duration::from_millis(ms)).await });
    }
    // A ticker that watches for shutdown ends by itself: completed, not cancelled.
    tasks.detach().name("ticker").no_timeout().go(|ctl| async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = ctl.cancelled() => return,
                _ = tick.tick() => {}
            }
        }
    });
    let server = Server::start(app).await;
    let report = server.shutdown().await;
    assert_eq!(report.tasks_cancelled, 8);
    let stats = tasks.stats();
    assert_eq!((stats.spawned, stats.completed, stats.cancelled), (21, 13, 8), "{stats:?}");
    assert_eq!(stats.spawned, stats.completed + stats.cancelled + stats.timed_out + stats.panicked);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn debug_leaks_names_the_exact_line_of_a_leaked_task() {
    let (mut app, _) = engine();
    app.leak_threshold(Duration::from_millis(50));
    static LINE: AtomicUsize = AtomicUsize::new(0);
    app.get("/leak", async |c: &mut Context| {
        LINE.store(line!() as usize + 1, SeqCst);
        c.detach().name("leaky").no_timeout().go(|cp| async move { cp.cancelled().await });
        c.string(200, "leaked");
    });
    let client = TestClient::new(app);
    client.get("/leak").send().await;
    client.get("/leak").send().await;
    // Until the watchdog has flagged both, past the 50 ms threshold.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let report = loop {
        let report = leaks(&client).await;
        if report["totals"]["leaks_flagged"] == 2 {
            break report;
        }
        assert!(std::time::Instant::now() < deadline, "not flagged within 5 s: {report}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let site = format!("{}:{}:", file!(), LINE.load(SeqCst));
    let row = report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "task")
        .unwrap_or_else(|| panic!("no task row: {report}"));
    assert!(row["site"].as_str().unwrap().starts_with(&site), "{} should start with {site}", row["site"]);
    assert_eq!(row["live"], 2);
    assert_eq!(row["names"], serde_json::json!(["leaky"]));
    assert_eq!(row["routes"], serde_json::json!(["GET /leak"]));
    assert_eq!(row["past_threshold"], 2, "{report}");
    assert!(row["oldest_secs"].as_f64().unwrap() >= 0.05, "past the threshold: {report}");
    assert_eq!(report["totals"]["leaks_flagged"], 2, "each leak is logged once");
}

#[tokio::test]
async fn live_copies_are_listed_until_dropped() {
    let (mut app, _) = engine();
    static KEPT: Mutex<Vec<tether::ContextCopy>> = Mutex::new(Vec::new());
    app.get("/keep/:id", async |c: &mut Context| {
        KEPT.lock().unwrap().push(c.copy());
        c.string(200, "kept");
    });
    let client = TestClient::new(app);
    for i in 0..3 {
        client.get(&format!("/keep/{i}")).send().await;
    }
    let report = leaks(&client).await;
    assert_eq!(report["live"]["copies"], 3);
    let row = &report["sites"][0];
    assert_eq!((row["kind"].as_str(), row["live"].as_u64()), (Some("copy"), Some(3)));
    assert!(row["site"].as_str().unwrap().starts_with(file!()));
    assert_eq!(KEPT.lock().unwrap()[1].param("id"), "1");
    KEPT.lock().unwrap().clear();
    assert_eq!(leaks(&client).await["live"]["copies"], 0);
}

#[tokio::test]
async fn debug_routes_are_guarded() {
    let mut app = Engine::new();
    app.debug_routes("/debug");
    let client = TestClient::new(app);
    let outside = "203.0.113.9:4000".parse().unwrap();
    let res = client.get("/debug/leaks").remote_addr(outside).send().await;
    assert_eq!((res.status().as_u16(), res.text()), (403, "forbidden".into()));
    let res =
        client.get("/debug/leaks").remote_addr(outside).header("x-forwarded-for", "127.0.0.1").send().await;
    assert_eq!(res.status(), 403, "a spoofed forwarding header does not help");
    assert_eq!(client.get("/debug/leaks").send().await.status(), 403, "no peer, no access");
    let res = client.get("/debug/leaks").remote_addr("[::1]:9".parse().unwrap()).send().await;
    assert_eq!(res.status(), 200);

    let mut app = Engine::new();
    app.debug_routes_with("/debug", DebugAccess::bearer("s3cret"));
    let client = TestClient::new(app);
    let res =
        client.get("/debug/leaks").remote_addr(outside).header("authorization", "Bearer s3cret").send().await;
    assert_eq!(res.status(), 200);
    let res =
        client.get("/debug/leaks").remote_addr(outside).header("authorization", "Bearer nope").send().await;
    assert_eq!(res.status(), 403);
}
