//! A short soak against a real server on loopback: a leaking endpoint is judged LEAK, a
//! clean one FLAT. Bounded: 3 seconds at 2,000 requests a second each.

use std::sync::Mutex;
use std::time::Duration;

use tether::{Context, Engine};
use tether_soak::{run, Config, Kind, Rules};

static LEAKED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

async fn server() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut app = Engine::new();
    app.debug_routes("/debug");
    app.get("/leak", async |c: &mut Context| {
        // 4 KiB kept per request, and touched, so that resident memory grows.
        LEAKED.lock().unwrap().push(vec![7u8; 4096]);
        c.string(200, "leaked");
    });
    app.get("/clean", async |c: &mut Context| c.string(200, "clean"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve_with_shutdown(listener, async {
        rx.await.ok();
    }));
    (addr, tx)
}

fn config(addr: std::net::SocketAddr, path: &str) -> Config {
    let mut config = Config::new(vec![format!("http://{addr}{path}").parse().unwrap()]);
    config.connections = 4;
    config.duration = Duration::from_secs(3);
    config.max_requests = Some(10_000);
    config.rate = Some(2_000.0);
    config.interval = Duration::from_millis(100);
    config.rules = Rules { warmup: 0.3, ..Rules::default() };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_is_judged_leak_and_a_clean_endpoint_flat() {
    let (addr, stop) = server().await;
    let clean = run(config(addr, "/clean")).await.unwrap();
    println!("clean: {} requests, {:?}: {}", clean.requests, clean.verdict.kind, clean.verdict.reason);
    let leak = run(config(addr, "/leak")).await.unwrap();
    println!("leak: {} requests, {:?}: {}", leak.requests, leak.verdict.kind, leak.verdict.reason);
    assert!(clean.samples.len() >= 15 && leak.samples.len() >= 15);
    assert_eq!(leak.verdict.kind, Kind::Leak, "{}", leak.verdict.reason);
    assert_eq!(clean.verdict.kind, Kind::Flat, "{}", clean.verdict.reason);
    assert_eq!(clean.errors + leak.errors, 0);
    LEAKED.lock().unwrap().clear();
    stop.send(()).ok();
}

#[tokio::test]
async fn other_machines_are_refused() {
    let mut c = config("127.0.0.1:9".parse().unwrap(), "/");
    c.urls = vec!["http://192.0.2.10:8080/".parse().unwrap()];
    let err = run(c).await.unwrap_err();
    assert!(err.contains("only loads servers on loopback"), "{err}");
}
