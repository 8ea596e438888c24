//! A real browser: headless Chromium loads a page from `static_dir`, its script opens an
//! `EventSource` on a `c.sse` route, and the events land in the page; the producer task
//! is gone afterwards (the leak registry shows none). The stream ends after three events,
//! with a long `retry`, so that Chromium's virtual time can run out and it dumps the DOM.
//! (A client that leaves an open stream is tested over a raw socket in streaming.rs.)
//!
//! `.ci/run` installs Debian's chromium; without it this test fails and says so.

use std::time::Duration;

use crate::support::browser::dump_dom;
use crate::support::Server;
use tether::sse::Event;
use tether::{Context, Engine};

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>waiting</title></head>
<body><pre id="log"></pre>
<script>
  const log = document.getElementById("log");
  const events = new EventSource("/events");
  let seen = 0;
  events.addEventListener("tick", (e) => {
    log.textContent += e.data + "\n";
    if (++seen === 3) { document.title = "done"; }
  });
</script></body></html>"#;

async fn events(c: &mut Context) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    c.detach().name("ticks").tied().no_timeout().go(move |_cp| async move {
        for n in 0u64..3 {
            let event = Event::data(format!("tick {n}")).event("tick").retry(Duration::from_secs(600));
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    c.sse(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_receives_server_sent_events_from_a_static_page() {
    let root = std::env::temp_dir().join(format!("tether-browser-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), PAGE).unwrap();
    let mut app = Engine::new();
    app.static_dir("/page", &root).get("/events", events);
    let tasks = app.tasks();
    let server = Server::start(app).await;

    let profile = root.join("profile");
    let url = format!("http://{}/page/index.html", server.addr);
    let dom =
        tokio::task::spawn_blocking(move || dump_dom(&url, Duration::from_secs(3), profile)).await.unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        html.contains("tick 0\ntick 1\ntick 2") && html.contains("<title>done</title>"),
        "the page did not get the events:\n{html}\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );

    // The producer ended with its stream; nothing is left behind.
    let mut waited = 0;
    while tasks.stats().live_tasks > 0 && waited < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(tasks.stats().live_tasks, 0, "{:?}", tasks.stats());
    server.shutdown().await;
    std::fs::remove_dir_all(&root).ok();
}
