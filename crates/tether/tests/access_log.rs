//! The access log as a user sees it, through tether's own subscriber: Gin's line, the
//! request id, `WARN` for 5xx, and a span's name when a middleware entered one. Its own
//! test binary: it installs the process-wide `tracing` subscriber.

mod support;

use std::time::Duration;

use tether::middleware::{logger, request_id};
use tether::{Context, Engine};
use tracing::Instrument;

use support::lines::Lines;
use support::Server;

/// Splits `2026-12-02T01:46:03.123456Z  INFO tether::access: 200 | …` into its time,
/// after checking it is one, and the rest.
fn split_time(line: &str) -> &str {
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(time.len(), 27, "{line}");
    let at = humantime::parse_rfc3339(time).unwrap_or_else(|e| panic!("{time}: {e}"));
    let age = std::time::SystemTime::now().duration_since(at).unwrap();
    assert!(age < Duration::from_secs(60), "{line}");
    rest
}

/// `    41.200µs` → checks the width and the unit.
fn assert_latency(field: &str) {
    assert_eq!(field.chars().count(), 10, "{field:?}");
    let value = field.trim_start();
    let number = value.trim_end_matches(|c: char| c.is_alphabetic() || c == 'µ');
    assert!(["ns", "µs", "ms", "s"].contains(&&value[number.len()..]), "{field:?}");
    number.parse::<f64>().unwrap_or_else(|e| panic!("{field:?}: {e}"));
    assert_eq!(number.split_once('.').unwrap().1.len(), 3, "{field:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_reads_as_gins_and_names_spans() {
    let out = Lines::default();
    assert!(tether::log::Setup::new().filter("info").init_with_writer(out.clone()));

    let mut app = Engine::new();
    // A middleware that runs the rest of the chain inside a span, before the logger for
    // `/traced` only: the line must carry the span, as the formatter writes it.
    app.with(async |c: &mut Context| {
        if c.path() == "/traced" {
            c.next().instrument(tracing::info_span!("job", n = 7)).await;
        }
    });
    app.with(logger()).with(request_id());
    app.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    app.get("/fail", async |c: &mut Context| c.string(503, "later"));
    app.get("/traced", async |c: &mut Context| c.string(200, "ok"));
    let server = Server::start(app).await;

    let ping = support::get(server.addr, "/ping?x=1").await;
    let id = ping.header("x-request-id").unwrap().to_owned();
    support::get(server.addr, "/fail").await;
    support::get(server.addr, "/traced").await;
    let lines = out.wait_for(3, |l| l.contains("tether::access"));

    let rest = split_time(&lines[0]);
    let fields: Vec<&str> = rest.strip_prefix(" INFO tether::access: ").expect(rest).split(" | ").collect();
    assert_eq!(fields[0], "200");
    assert_latency(fields[1]);
    assert_eq!(fields[2], "      127.0.0.1");
    assert_eq!(fields[3], "GET     \"/ping\"");
    assert_eq!(fields[4], id);

    let rest = split_time(&lines[1]);
    let fields: Vec<&str> = rest.strip_prefix(" WARN tether::access: ").expect(rest).split(" | ").collect();
    assert_eq!((fields[0], fields[3]), ("503", "GET     \"/fail\""));

    let rest = split_time(&lines[2]);
    assert!(rest.starts_with(" INFO job{n=7}: tether::access: 200 | "), "{rest}");
    assert!(rest.contains(" | GET     \"/traced\" | "), "{rest}");
    server.shutdown().await;
}
