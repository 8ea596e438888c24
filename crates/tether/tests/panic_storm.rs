//! A handler that panics on every request: the process's panic hook (a backtrace with
//! RUST_BACKTRACE=1, a stderr write) runs for the first few, and the rest are counted.
//! Its own test binary: it sets the process-wide panic hook.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tether::{Context, Engine};

use support::{get, Server};

static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[tokio::test]
async fn repeated_panics_at_one_site_reach_the_hook_only_a_few_times() {
    // The application's own hook, as a user (or the default one) would have it.
    std::panic::set_hook(Box::new(|_| {
        HOOK_CALLS.fetch_add(1, Relaxed);
    }));
    let mut app = Engine::new();
    app.get("/boom", async |_c: &mut Context| panic!("boom"));
    app.debug_routes("/debug");
    let server = Server::start(app).await;
    for _ in 0..50 {
        assert_eq!(get(server.addr, "/boom").await.status, 500);
    }
    assert_eq!(HOOK_CALLS.load(Relaxed), 3, "the first 3 panics at the site went through the hook");
    let vars = get(server.addr, "/debug/vars").await.json();
    assert_eq!(vars["panics_quieted"], 47);
    server.shutdown().await;
}
