//! `/debug/pprof/profile`, read by the real `go tool pprof`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Server, H1};
use tether::{Context, Engine};

/// `go`, when installed. `.ci/run` installs Debian's golang-go; under CI its absence fails.
fn go() -> Option<&'static str> {
    let found = Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("CI").is_some() {
        panic!("`go` is not installed: .ci/run should have installed golang-go");
    }
    found.then_some("go")
}

/// The CPU profiler is process-wide: the tests in this file take turns.
static PROFILER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn app() -> Engine {
    let mut app = Engine::new();
    app.debug_routes("/debug");
    app.get("/user/:id", async |c: &mut Context| {
        let (req, w) = c.split();
        w.json(200, &tether::json!({ "id": req.param("id") }));
    });
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_profile_under_load_is_read_by_go_tool_pprof() {
    let Some(go) = go() else {
        eprintln!("skipped: `go` is not installed (CI installs it)");
        return;
    };
    let _turn = PROFILER.lock().await;
    let server = Server::start(app()).await;
    let addr = server.addr;
    let load = tokio::spawn(async move {
        let mut h1 = H1::connect(addr).await;
        let until = Instant::now() + Duration::from_millis(2500);
        let mut n = 0u64;
        while Instant::now() < until {
            h1.get(&format!("/user/{n}")).await;
            n += 1;
        }
        n
    });
    let res = support::get(addr, "/debug/pprof/profile?seconds=2").await;
    let served = load.await.unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(served > 100, "the load ran ({served} requests)");
    let dir = std::env::temp_dir().join(format!("tether-pprof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cpu.pb");
    std::fs::write(&file, &res.body).unwrap();
    let out =
        Command::new(go).args(["tool", "pprof", "-top", "-nodecount=2000"]).arg(&file).output().unwrap();
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "go tool pprof failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(top.contains("Type: cpu"), "{top}");
    assert!(top.contains("tether::"), "tether's own functions are in the profile:\n{top}");
    std::fs::remove_dir_all(dir).ok();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_profile_at_a_time_and_bad_lengths_are_400() {
    let _turn = PROFILER.lock().await;
    let server = Server::start(app()).await;
    let addr = server.addr;
    for bad in ["abc", "0", "9999", "-1"] {
        let res = support::get(addr, &format!("/debug/pprof/profile?seconds={bad}")).await;
        assert_eq!(res.status, 400, "seconds={bad}");
        assert!(res.json()["error"].as_str().unwrap().contains("seconds"));
    }
    let first = tokio::spawn(async move { support::get(addr, "/debug/pprof/profile?seconds=1").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = support::get(addr, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(second.status, 409, "{}", second.text());
    assert_eq!(first.await.unwrap().status, 200);
    let third = support::get(addr, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(third.status, 200, "the next profile may start once one has ended");
    server.shutdown().await;
}

#[cfg(not(feature = "jemalloc"))]
#[tokio::test]
async fn without_jemalloc_the_heap_profile_is_501_with_how_to_enable_it() {
    let server = Server::start(app()).await;
    let res = support::get(server.addr, "/debug/pprof/heap").await;
    assert_eq!(res.status, 501);
    let why = res.json()["error"].as_str().unwrap().to_owned();
    assert!(why.contains("`jemalloc` feature") && why.contains("_RJEM_MALLOC_CONF=prof:true"), "{why}");
    assert!(why.contains("#[global_allocator]"), "{why}");
    server.shutdown().await;
}
