//! Liveness and readiness over real sockets: readiness follows the application's checks,
//! never hangs on one, and turns 503 as soon as a real shutdown begins, while the server
//! still accepts and serves for the shutdown delay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tether::{Context, Engine};

use crate::support::{get, Server};

#[tokio::test]
async fn readiness_follows_the_checks_and_names_the_one_that_fails() {
    let database_up = Arc::new(AtomicBool::new(true));
    let hang = Arc::new(AtomicBool::new(false));
    let mut app = Engine::new();
    app.health_routes("/healthz", "/readyz").ready_timeout(Duration::from_millis(200));
    let up = database_up.clone();
    app.ready_check(move || {
        let up = up.load(Ordering::SeqCst);
        async move {
            if up {
                Ok(())
            } else {
                Err("database: connection refused")
            }
        }
    });
    let hangs = hang.clone();
    app.ready_check(move || {
        let hangs = hangs.load(Ordering::SeqCst);
        async move {
            if hangs {
                std::future::pending::<()>().await;
            }
            Ok::<(), String>(())
        }
    });
    let server = Server::start(app).await;

    let ready = get(server.addr, "/readyz").await;
    assert_eq!((ready.status.as_u16(), ready.json()["status"].as_str()), (200, Some("ready")));

    database_up.store(false, Ordering::SeqCst);
    let unready = get(server.addr, "/readyz").await;
    assert_eq!(unready.status, 503);
    let body = unready.json();
    assert_eq!(body["status"], "unready");
    let checks = body["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{body}");
    assert_eq!(checks[0]["error"], "database: connection refused");
    assert!(checks[0]["check"].as_str().unwrap().contains("health.rs:"), "named by its call site: {body}");
    // Liveness is not readiness: the process still serves.
    assert_eq!(get(server.addr, "/healthz").await.status, 200);

    // A check that never answers fails at the timeout instead of holding the probe.
    database_up.store(true, Ordering::SeqCst);
    hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let slow = get(server.addr, "/readyz").await;
    assert_eq!(slow.status, 503);
    assert!(slow.json()["checks"][0]["error"].as_str().unwrap().starts_with("no answer within"));
    assert!(started.elapsed() < Duration::from_secs(5), "the probe took {:?}", started.elapsed());

    hang.store(false, Ordering::SeqCst);
    assert_eq!(get(server.addr, "/readyz").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn readiness_turns_503_when_shutdown_begins_and_the_server_serves_on_for_the_delay() {
    let delay = Duration::from_millis(1500);
    let mut app = Engine::new();
    app.health_routes("/healthz", "/readyz").shutdown_delay(delay);
    app.get("/work", async |c: &mut Context| c.string(200, "done"));
    let mut server = Server::start(app).await;
    assert_eq!(get(server.addr, "/readyz").await.status, 200);

    let began = Instant::now();
    server.begin_shutdown();
    // Readiness turns 503 at once; polled on new connections, which are still accepted.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = get(server.addr, "/readyz").await;
        if ready.status == 503 {
            assert_eq!(ready.json()["status"], "draining");
            break;
        }
        assert!(Instant::now() < deadline, "readiness never turned 503");
        tokio::task::yield_now().await;
    }
    assert!(began.elapsed() < delay, "503 came only after the delay");
    // During the delay the server still serves everything else, liveness included.
    assert_eq!(get(server.addr, "/work").await.text(), "done");
    assert_eq!(get(server.addr, "/healthz").await.status, 200);

    let addr = server.addr;
    let report = server.finished().await;
    assert!(began.elapsed() >= delay, "the listener closed before the delay: {:?}", began.elapsed());
    assert_eq!((report.requests_cut, report.connections_cut), (0, 0));
    // The listener is closed now.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
