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
    let top = go_top(go, &res.body, &["-top", "-nodecount=200"]);
    assert!(top.contains("Type: cpu"), "{top}");

    // The busiest frames are named by their full path, not a bare `poll_read` or
    // `{closure#0}`, and both the framework and hyper are among them.
    let names: Vec<&str> = top_names(&top);
    assert!(names.iter().any(|n| n.contains("tether::")), "tether's frames are named:\n{top}");
    assert!(names.iter().any(|n| n.contains("hyper::")), "hyper's frames are named:\n{top}");
    for name in &names {
        let rust_item = name.contains('{') || name.contains('<');
        assert!(!rust_item || name.contains("::"), "a bare name, {name:?}, in the profile:\n{top}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_profile_counts_time_spent_in_system_calls() {
    let Some(go) = go() else {
        eprintln!("skipped: `go` is not installed (CI installs it)");
        return;
    };
    let _turn = PROFILER.lock().await;
    let server = Server::start(app()).await;
    let addr = server.addr;
    // A thread that spends nearly all its time in the kernel, as a busy server does in
    // `writev` and `recv`: each signal finds it in libc's `read`.
    let until = Instant::now() + Duration::from_millis(2300);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let busy = std::thread::Builder::new().name("busy-reader".into());
    let busy = busy
        .spawn(move || {
            use std::io::Read;
            tid_tx.send(std::fs::read_link("/proc/thread-self").unwrap()).unwrap();
            let mut zero = std::fs::File::open("/dev/zero").unwrap();
            let mut buf = vec![0u8; 256 * 1024];
            while Instant::now() < until {
                zero.read_exact(&mut buf).unwrap();
            }
        })
        .unwrap();
    let stat = std::path::Path::new("/proc").join(tid_rx.recv().unwrap()).join("stat");
    // The CPU the thread uses over the profile's two seconds (measured, not assumed).
    let cpu_before = cpu_time(&stat);
    let profile = tokio::spawn(async move { support::get(addr, "/debug/pprof/profile?seconds=2").await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_used = cpu_time(&stat) - cpu_before;
    let res = profile.await.unwrap();
    busy.join().unwrap();
    assert_eq!(res.status, 200, "{}", res.text());
    // pprof-rs labels each sample with its thread's name.
    let top = go_top(go, &res.body, &["-top", "-nodecount=20", "-tagfocus=thread=busy-reader"]);
    let sampled = total_samples(&top);
    let ratio = sampled.as_secs_f64() / cpu_used.as_secs_f64();
    // Here the ratio is ~100 %; on a loaded CI machine it fell to 37 %, signals being
    // merged. With libc blocklisted it is ~1 %: the bar sits far from both.
    assert!(
        ratio > 0.15,
        "{sampled:?} of samples for {cpu_used:?} of CPU used ({:.0} %): samples in libc are dropped\n{top}",
        ratio * 100.0
    );
    assert!(top_names(&top).iter().take(3).any(|n| n.contains("read")), "the read is on top:\n{top}");
    server.shutdown().await;
}

/// `go tool pprof` with `args` on `profile`, its text output.
fn go_top(go: &str, profile: &[u8], args: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("tether-pprof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cpu.pb");
    std::fs::write(&file, profile).unwrap();
    let out = Command::new(go).args(["tool", "pprof"]).args(args).arg(&file).output().unwrap();
    std::fs::remove_dir_all(dir).ok();
    assert!(out.status.success(), "go tool pprof failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A thread's CPU time so far, user and system, from its `/proc/<pid>/task/<tid>/stat`.
fn cpu_time(stat: &std::path::Path) -> Duration {
    let stat = std::fs::read_to_string(stat).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces);
    // utime and stime are fields 14 and 15, in clock ticks of 1/100 s.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest.split(' ').skip(11).take(2).map(|f| f.parse().unwrap()).collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

/// `Total samples = 3.52s` (or `980ms`) from pprof's header.
fn total_samples(top: &str) -> Duration {
    let at = top.find("Total samples = ").expect("a total") + "Total samples = ".len();
    let figure = top[at..].split_whitespace().next().unwrap();
    let (number, scale) = match figure.strip_suffix("ms") {
        Some(ms) => (ms, 0.001),
        None => (figure.strip_suffix('s').unwrap(), 1.0),
    };
    Duration::from_secs_f64(number.parse::<f64>().unwrap() * scale)
}

/// The function names of pprof's `-top` table, in order: what follows the five figures.
fn top_names(top: &str) -> Vec<&str> {
    fn name(line: &str) -> Option<&str> {
        let mut rest = line.trim_start();
        for _ in 0..5 {
            rest = rest[rest.find(char::is_whitespace)?..].trim_start();
        }
        (!rest.is_empty()).then_some(rest)
    }
    top.lines().skip_while(|l| !l.trim_start().starts_with("flat")).skip(1).filter_map(name).collect()
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
    // Wait for the first profile to be in its handler (in flight beside this /debug/vars
    // request): it takes the profiler before its first await.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while support::get(addr, "/debug/vars").await.json()["http"]["requests_in_flight"] != 2 {
        assert!(std::time::Instant::now() < deadline, "the first profile never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
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
