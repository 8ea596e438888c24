//! `/debug/vars`: figures that move as they should.

use std::time::Duration;

use crate::support::{Server, H1};
use tether::{Context, Engine};

fn rss_from_proc() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line[6..].trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_move_with_tasks_connections_and_requests() {
    let mut app = Engine::new();
    app.debug_routes("/debug");
    app.get("/work/:n", async |c: &mut Context| {
        let n: usize = c.param("n").parse().unwrap();
        for _ in 0..n {
            c.go(|_cp| async move { tokio::time::sleep(Duration::from_millis(300)).await });
        }
        c.string(202, "started");
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let before = h1.get("/debug/vars").await.json();
    assert_eq!(before["detach"]["live_tasks"], 0, "{before}");
    assert_eq!(before["http"]["connections_open"], 1);
    assert_eq!(before["http"]["requests_in_flight"], 1, "the /debug/vars request itself");
    assert_eq!(before["runtime"]["workers"], 2);

    assert_eq!(h1.get("/work/25").await.status, 202);
    let during = h1.get("/debug/vars").await.json();
    assert_eq!(during["detach"]["live_tasks"], 25, "{during}");
    assert_eq!(during["detach"]["tasks_in_flight"], 25);
    assert!(during["runtime"]["alive_tasks"].as_u64().unwrap() >= 25);
    assert_eq!(
        during["http"]["requests_served"].as_u64().unwrap(),
        before["http"]["requests_served"].as_u64().unwrap() + 2
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = h1.get("/debug/vars").await.json();
    assert_eq!(after["detach"]["live_tasks"], 0, "{after}");
    assert_eq!(after["detach"]["tasks_completed"], 25);

    let rss = after["process"]["rss_bytes"].as_u64().unwrap();
    let proc_rss = rss_from_proc();
    assert!(rss > 0);
    let ratio = rss as f64 / proc_rss as f64;
    assert!((0.8..1.25).contains(&ratio), "vars says {rss}, /proc says {proc_rss}");
    assert!(after["process"]["peak_rss_bytes"].as_u64().unwrap() >= rss);
    assert!(after["uptime_secs"].as_f64().unwrap() > 0.5);

    // The second connection counts once the server has accepted it and its task ran:
    // a moment after the client's connect returns, so look until it shows (2 s at most).
    let other = H1::connect(server.addr).await;
    let mut open = 0;
    for _ in 0..200 {
        open = h1.get("/debug/vars").await.json()["http"]["connections_open"].as_u64().unwrap();
        if open == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open, 2);
    drop(other);
    server.shutdown().await;
}

#[tokio::test]
async fn vars_are_guarded_like_every_debug_route() {
    let mut app = Engine::new();
    app.debug_routes("/debug");
    let client = tether::testing::TestClient::new(app);
    let res = client.get("/debug/vars").remote_addr("198.51.100.7:80".parse().unwrap()).send().await;
    assert_eq!((res.status().as_u16(), res.text()), (403, "forbidden".into()));
    let res = client.get("/debug/vars").remote_addr("127.0.0.1:80".parse().unwrap()).send().await;
    assert_eq!(res.status(), 200);
}
