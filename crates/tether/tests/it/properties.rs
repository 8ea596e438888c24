//! Property tests of what parses client input: routing (Gin patterns and lookup), query
//! decoding, cookies, client-ip walking, multipart, SSE encoding. No input panics or
//! answers 5xx, and what goes in encoded comes out decoded.
//!
//! CI runs 256 cases of each (proptest's default). The long run, 100,000 cases each, is
//! the ignored test at the end:
//! `cargo test -p tether --release --test it properties -- --ignored`.

use std::sync::OnceLock;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use proptest::prelude::*;
use tether::sse::Event;
use tether::testing::TestClient;
use tether::{Context, Engine};

/// Everything but unreserved characters is encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

/// One engine for every case: routes with parameters and a catch-all, echo handlers.
fn client() -> &'static TestClient {
    static CLIENT: OnceLock<TestClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut app = Engine::new();
        app.trusted_proxies(["10.0.0.0/8"]);
        app.get("/a/:x/b/:y", async |c: &mut Context| {
            let body = format!("{}|{}", c.param("x"), c.param("y"));
            c.string(200, body);
        });
        app.get("/files/*rest", async |c: &mut Context| {
            let rest = c.param("rest").to_owned();
            c.string(200, rest);
        });
        app.get("/q", async |c: &mut Context| {
            let values: Vec<String> = c.query_array("k").into_iter().map(str::to_owned).collect();
            c.json(200, &values);
        });
        app.get("/cookie", async |c: &mut Context| {
            let v = c.cookie("a").map(|v| v.into_owned()).unwrap_or_default();
            c.string(200, v);
        });
        app.get("/ip", async |c: &mut Context| {
            let ip = c.client_ip().map(|ip| ip.to_string()).unwrap_or_default();
            c.string(200, ip);
        });
        app.post("/form", async |c: &mut Context| match c.multipart_form().await {
            Ok(form) => c.string(200, form.values.len().to_string()),
            Err(e) => c.json(e.status(), &e.to_json()),
        });
        TestClient::new(app)
    })
}

fn no_server_error(status: http::StatusCode) -> Result<(), TestCaseError> {
    prop_assert!(!status.is_server_error(), "answered {status}");
    Ok(())
}

fn routing_decodes_parameters(x: &str, y: &str) -> Result<(), TestCaseError> {
    let path = format!("/a/{}/b/{}", utf8_percent_encode(x, SEGMENT), utf8_percent_encode(y, SEGMENT));
    let res = runtime().block_on(client().get(&path).send());
    prop_assert_eq!(res.status(), 200);
    prop_assert_eq!(res.text(), format!("{x}|{y}"));
    Ok(())
}

fn any_path_is_answered_without_a_server_error(path: &str) -> Result<(), TestCaseError> {
    let path = format!("/{path}");
    prop_assume!(http::Uri::try_from(path.as_str()).is_ok());
    let res = runtime().block_on(client().get(&path).send());
    no_server_error(res.status())
}

fn query_round_trips(pairs: &[(String, String)]) -> Result<(), TestCaseError> {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let res = runtime().block_on(client().get(&format!("/q?{query}")).send());
    prop_assert_eq!(res.status(), 200);
    let want: Vec<&str> = pairs.iter().filter(|(k, _)| k == "k").map(|(_, v)| v.as_str()).collect();
    let got: Vec<String> = res.json();
    prop_assert_eq!(got, want);
    Ok(())
}

fn cookie_round_trips(value: &str, noise: &str) -> Result<(), TestCaseError> {
    let encoded = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
    let header = format!("{noise}; a={encoded}; b=2");
    prop_assume!(http::HeaderValue::from_str(&header).is_ok());
    let res = runtime().block_on(client().get("/cookie").header("cookie", &header).send());
    prop_assert_eq!(res.status(), 200);
    // The noise may hold an `a=` of its own, which comes first.
    if !noise.split(';').any(|p| p.trim().starts_with("a=")) {
        prop_assert_eq!(res.text(), value);
    }
    Ok(())
}

fn forwarded_for_never_fails(header: &str) -> Result<(), TestCaseError> {
    prop_assume!(http::HeaderValue::from_str(header).is_ok());
    let res = runtime().block_on(
        client()
            .get("/ip")
            .header("x-forwarded-for", header)
            .remote_addr("10.1.2.3:4000".parse().unwrap())
            .send(),
    );
    prop_assert_eq!(res.status(), 200);
    let ip = res.text();
    prop_assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{ip:?}");
    Ok(())
}

fn multipart_never_fails_with_a_server_error(body: &[u8]) -> Result<(), TestCaseError> {
    let res = runtime().block_on(
        client()
            .post("/form")
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body.to_vec())
            .send(),
    );
    no_server_error(res.status())
}

fn sse_data_round_trips(data: &str) -> Result<(), TestCaseError> {
    let wire = Event::data(data).to_string();
    prop_assert!(!wire.contains('\r'), "a bare CR reached the wire: {wire:?}");
    prop_assert!(wire.ends_with("\n\n"));
    // What a browser reads back: the data lines joined by LF.
    let lines: Vec<&str> = wire[..wire.len() - 2].split('\n').collect();
    prop_assert!(lines.iter().all(|l| l.starts_with("data: ")), "{wire:?}");
    let read: Vec<&str> = lines.iter().map(|l| &l["data: ".len()..]).collect();
    let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
    prop_assert_eq!(read.join("\n"), normalized);
    Ok(())
}

/// A multipart body: real parts with random names and contents, sometimes cut or
/// corrupted.
fn multipart_body() -> impl Strategy<Value = Vec<u8>> {
    let part = ("[a-z]{0,8}", proptest::collection::vec(any::<u8>(), 0..64), any::<bool>());
    (proptest::collection::vec(part, 0..4), any::<bool>(), any::<u16>()).prop_map(|(parts, close, cut)| {
        let mut body = Vec::new();
        for (name, data, file) in parts {
            body.extend_from_slice(b"--XyZ\r\n");
            let filename = if file { "; filename=\"f\"" } else { "" };
            body.extend_from_slice(
                format!("content-disposition: form-data; name=\"{name}\"{filename}\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\r\n");
        }
        if close {
            body.extend_from_slice(b"--XyZ--\r\n");
        }
        let keep = body.len().saturating_sub(cut as usize % 8);
        body.truncate(keep);
        body
    })
}

/// Runs every property with `cases` cases.
fn run_all(cases: u32) {
    // Some generated paths and headers are not valid HTTP and are skipped (prop_assume).
    let config = ProptestConfig {
        cases,
        max_global_rejects: cases * 4,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    runner.run(&(".{1,12}", ".{1,12}"), |(x, y)| routing_decodes_parameters(&x, &y)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    runner.run(&"[ -~]{0,40}", |p| any_path_is_answered_without_a_server_error(&p)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    let pairs = proptest::collection::vec(("k|[a-z&=+%]{0,3}", ".{0,8}"), 0..6);
    runner.run(&pairs, |p| query_round_trips(&p)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    runner.run(&(".{0,16}", "[ -~]{0,24}"), |(v, n)| cookie_round_trips(&v, &n)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    runner.run(&"[0-9a-f.:, ]{0,40}", |h| forwarded_for_never_fails(&h)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    runner.run(&multipart_body(), |b| multipart_never_fails_with_a_server_error(&b)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner.run(&"(.|\r|\n|\r\n){0,24}", |d| sse_data_round_trips(&d)).unwrap();
}

#[test]
fn client_input_never_panics_and_round_trips() {
    run_all(256);
}

#[test]
#[ignore = "the long run (100,000 cases each, minutes); run with --ignored, ideally --release"]
fn client_input_never_panics_and_round_trips_long() {
    run_all(100_000);
}
