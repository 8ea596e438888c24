//! `LeakCheck`: tracked work left behind fails a user's test, with the line that made it.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::FutureExt;
use tether::testing::{LeakCheck, TestClient};
use tether::{Context, ContextCopy, Engine};

static LEAK_LINE: AtomicU32 = AtomicU32::new(0);

fn app() -> Engine {
    let mut app = Engine::new();
    app.get("/leak", async |c: &mut Context| {
        LEAK_LINE.store(line!() + 1, SeqCst);
        c.detach().name("forever").no_timeout().go(|cp| async move { cp.cancelled().await });
        c.string(200, "leaked");
    });
    app.get("/short", async |c: &mut Context| {
        c.go(|_cp| async move { tokio::time::sleep(Duration::from_millis(30)).await });
        c.string(200, "ok");
    });
    app
}

async fn panic_message_of(fut: impl std::future::Future<Output = ()>) -> Option<String> {
    let err = AssertUnwindSafe(fut).catch_unwind().await.err()?;
    Some(err.downcast_ref::<String>().cloned().unwrap_or_default())
}

#[tokio::test]
async fn a_task_that_never_ends_fails_the_check_at_its_line() {
    let app = app();
    let check = LeakCheck::start(&app).wait(Duration::from_millis(200));
    let client = TestClient::new(app);
    client.get("/leak").send().await;
    let message = panic_message_of(check.verify()).await.expect("the check fails");
    let site = format!("{}:{}:", file!(), LEAK_LINE.load(SeqCst));
    assert!(message.contains(&site), "the report names {site}:\n{message}");
    assert!(message.contains("task x1"), "{message}");
    assert!(message.contains("named forever"), "{message}");
    assert!(message.contains("from GET /leak"), "{message}");
}

#[tokio::test]
async fn tasks_that_end_within_the_bound_pass() {
    let app = app();
    let client = TestClient::new(app);
    let check = client.leak_check();
    for _ in 0..5 {
        client.get("/short").send().await;
    }
    let report = check.report().await;
    assert!(report.is_clean(), "{report}");
    assert!(
        report.to_string().contains("raw tokio::spawn is invisible"),
        "the wording says what it cannot see"
    );
    check.verify().await;
}

#[tokio::test]
async fn ignored_sites_and_names_pass() {
    let client = TestClient::new(app());
    client.get("/leak").send().await; // before the checks: records the handler's line
    let site = format!("{}:{}", file!(), LEAK_LINE.load(SeqCst));
    let by_site = client.leak_check().wait(Duration::from_millis(100)).ignore_site(site);
    let by_name = client.leak_check().wait(Duration::from_millis(100)).ignore_name("forever");
    let unfiltered = client.leak_check().wait(Duration::from_millis(100));
    client.get("/leak").send().await;
    by_site.verify().await;
    by_name.verify().await;
    assert_eq!(unfiltered.report().await.leaks().len(), 1, "without the ignores, it is a leak");
}

#[tokio::test]
async fn work_from_before_the_check_is_not_its_business() {
    let app = app();
    let client = TestClient::new(app);
    client.get("/leak").send().await;
    let check = client.leak_check().wait(Duration::from_millis(50));
    client.get("/short").send().await;
    check.verify().await;
}

#[tokio::test]
async fn copies_kept_in_a_static_are_reported_as_copies() {
    static KEPT: Mutex<Vec<ContextCopy>> = Mutex::new(Vec::new());
    static LINE: AtomicU32 = AtomicU32::new(0);
    let mut app = Engine::new();
    app.get("/keep", async |c: &mut Context| {
        LINE.store(line!() + 1, SeqCst);
        let cp = c.copy();
        KEPT.lock().unwrap().push(cp);
        c.string(200, "kept");
    });
    let check = LeakCheck::start(&app).wait(Duration::from_millis(100));
    let client = TestClient::new(app);
    client.get("/keep").send().await;
    client.get("/keep").send().await;
    let report = check.report().await;
    let leak = &report.leaks()[0];
    assert_eq!((leak.kind, leak.count), ("copy", 2), "{report}");
    assert!(leak.site.starts_with(&format!("{}:{}:", file!(), LINE.load(SeqCst))), "{report}");
    KEPT.lock().unwrap().clear();
    assert!(check.report().await.is_clean());
}

/// Two engines checked at the same time: each check sees only its own engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_on_two_engines_do_not_interfere() {
    let (leaky, clean) = (TestClient::new(app()), TestClient::new(app()));
    let leaky_check = leaky.leak_check().wait(Duration::from_millis(200));
    let clean_check = clean.leak_check().wait(Duration::from_millis(200));
    let (a, b) = tokio::join!(
        async {
            leaky.get("/leak").send().await;
            leaky_check.report().await
        },
        async {
            clean.get("/short").send().await;
            clean_check.report().await
        }
    );
    assert!(!a.is_clean());
    assert!(b.is_clean(), "{b}");
}

/// The same on a real server: the check is started on the engine before it is served.
#[tokio::test]
async fn a_check_on_a_running_server() {
    let app = app();
    let check = LeakCheck::start(&app).wait(Duration::from_millis(200));
    let server = crate::support::Server::start(app).await;
    assert_eq!(crate::support::get(server.addr, "/short").await.status, 200);
    check.verify().await;
    server.shutdown().await;
}
