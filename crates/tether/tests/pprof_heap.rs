//! `/debug/pprof/heap` with the `jemalloc` feature, read by the real `go tool pprof`.
//! Run: `cargo test -p tether --features jemalloc --test pprof_heap`.
#![cfg(feature = "jemalloc")]
#![allow(unsafe_code)]

mod support;

use std::process::Command;
use std::sync::Mutex;

use tether::{Context, ContextCopy, Engine};

#[global_allocator]
static ALLOC: tether::Jemalloc = tether::Jemalloc;

/// Switches jemalloc's sampling profiler on from the start, as `_RJEM_MALLOC_CONF` would:
/// a sample every 8 KiB on average, so that a short test has plenty.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"prof:true,prof_active:true,lg_prof_sample:13\0";

static KEPT: Mutex<Vec<ContextCopy>> = Mutex::new(Vec::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heap_profile_is_read_by_go_tool_pprof() {
    let mut app = Engine::new();
    app.debug_routes("/debug");
    app.get("/keep/:id", async |c: &mut Context| {
        KEPT.lock().unwrap().push(c.copy());
        c.string(200, "kept");
    });
    let server = support::Server::start(app).await;
    let mut h1 = support::H1::connect(server.addr).await;
    for i in 0..1500 {
        h1.get(&format!("/keep/{i}?padding={}", "x".repeat(200))).await;
    }
    let vars = h1.get("/debug/vars").await.json();
    assert_eq!(vars["allocator"]["name"], "jemalloc", "{vars}");
    assert!(vars["allocator"]["allocated_bytes"].as_u64().unwrap() > 1_000_000, "{vars}");

    let res = h1.get("/debug/pprof/heap").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let file = std::env::temp_dir().join(format!("tether-heap-{}.pb.gz", std::process::id()));
    std::fs::write(&file, &res.body).unwrap();
    let go_found = Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    if !go_found {
        assert!(std::env::var_os("CI").is_none(), "`go` is not installed: .ci/run should have installed it");
        eprintln!("skipped the go tool pprof step: `go` is not installed");
        return;
    }
    // As with a Go service's heap profile, the binary goes beside the profile: pprof
    // symbolizes the addresses from the binary's debug info, down to file and line.
    let binary = std::env::current_exe().unwrap();
    let out = Command::new("go")
        .args(["tool", "pprof", "-top", "-lines", "-nodecount=2000"])
        .arg(&binary)
        .arg(&file)
        .output()
        .unwrap();
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "go tool pprof failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(top.contains("inuse_space"), "{top}");
    // The copies kept alive above are the bulk of the live heap: the top list blames the
    // snapshot allocation in tether's own source, as a leak hunt would want.
    assert!(
        top.contains("crates/tether/src/detach/head.rs"),
        "tether's own allocation sites are in the profile:\n{top}"
    );
    std::fs::remove_file(file).ok();
    KEPT.lock().unwrap().clear();
    drop(h1);
    server.shutdown().await;
}
