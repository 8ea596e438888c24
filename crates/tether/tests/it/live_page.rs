//! The live leak page in a real browser: headless Chromium loads `/debug/`, the page reads
//! the JSON routes once a second and redraws, and a task leaked by a route shows under its
//! file:line, highlighted once it is past the leak threshold. `.ci/run` installs Debian's
//! chromium; without it this test fails and says so.

use std::time::{Duration, Instant};

use crate::support::browser::dump_dom;
use crate::support::{get, Server};
use tether::{Context, Engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_charts_and_shows_a_leaked_task_under_its_line() {
    let mut app = Engine::new();
    app.debug_routes("/debug")
        .leak_threshold(Duration::from_millis(500))
        .shutdown_timeout(Duration::from_millis(500));
    app.get("/leak", async |c: &mut Context| {
        // Never ends, never times out: a leak.
        c.detach().name("stuck").no_timeout().go(async |_cp| std::future::pending::<()>().await);
        c.string(200, "leaked");
    });
    let server = Server::start(app).await;
    assert_eq!(get(server.addr, "/leak").await.status, 200);

    // Where the registry says the task was started, and past the threshold.
    let deadline = Instant::now() + Duration::from_secs(5);
    let site = loop {
        let report = get(server.addr, "/debug/leaks").await.json();
        let site = &report["sites"][0];
        if site["past_threshold"].as_u64() == Some(1) {
            break site["site"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the task never passed the threshold: {report}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(site.contains("live_page.rs:"), "{site}");

    let page = get(server.addr, "/debug/").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "the page loads nothing from elsewhere"
    );

    let profile = std::env::temp_dir().join(format!("tether-live-{}", std::process::id()));
    let url = format!("http://{}/debug/", server.addr);
    let out =
        tokio::task::spawn_blocking(move || dump_dom(&url, Duration::from_secs(4), profile)).await.unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !dom.is_empty(),
        "no DOM from chromium:
{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // It updated several times (once a second), and lists the site, highlighted.
    let updates: u32 = dom
        .split("data-updates=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the page never updated:\n{dom}"));
    assert!(updates >= 3, "{updates} updates in 4 s:\n{dom}");
    let row =
        dom.split("<tr").find(|r| r.contains(&site)).unwrap_or_else(|| panic!("no row for {site}:\n{dom}"));
    assert!(row.contains("class=\"leak\""), "the leaking site is not highlighted: {row}");
    assert!(row.contains("stuck"), "{row}");
    assert!(dom.contains("<title>LEAK · tether live</title>"), "{dom}");
    assert!(dom.contains("1 leaking site"), "{dom}");
    server.shutdown().await;
}
