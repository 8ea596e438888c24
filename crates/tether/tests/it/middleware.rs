//! The middleware set over real sockets: request ids, timeouts under load, Basic
//! authentication, JSON access logs, and the client's address behind trusted proxies.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use crate::support::lines::Lines;
use crate::support::{Server, H1};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::middleware::{basic_auth, json_logger, request_id, timeout, AUTH_USER_KEY, REQUEST_ID_KEY};
use tether::{Context, Engine};

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::default()).unwrap()
}

#[tokio::test]
async fn request_id_is_made_or_kept_and_is_in_the_keys_and_the_response() {
    let mut app = Engine::new();
    app.with(request_id());
    app.get("/", async |c: &mut Context| {
        let id = c.must_get::<String>(REQUEST_ID_KEY).clone();
        c.string(200, id);
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let (a, b) = (h1.get("/").await, h1.get("/").await);
    let id = a.header("x-request-id").unwrap().to_owned();
    assert_eq!(a.text(), id, "the handler sees the id the response carries");
    assert_ne!(id, b.header("x-request-id").unwrap(), "a new id per request");

    let kept = h1.send(get_with("/", &[("x-request-id", "upstream-7f3a:1")])).await;
    assert_eq!(
        (kept.header("x-request-id"), kept.text().as_str()),
        (Some("upstream-7f3a:1"), "upstream-7f3a:1")
    );

    let forged = h1.send(get_with("/", &[("x-request-id", "x\" level=error msg=forged")])).await;
    assert_ne!(forged.text(), "x\" level=error msg=forged", "a forged id is replaced");
    assert!(forged.text().contains('-'));
    server.shutdown().await;
}

/// Counts handlers whose future was dropped before they finished.
struct Unfinished(&'static AtomicUsize, bool);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_handler_never_writes_into_any_response_under_load() {
    static CANCELLED: AtomicUsize = AtomicUsize::new(0);
    let mut app = Engine::new();
    app.with(request_id()).with(timeout(Duration::from_millis(40)));
    app.get("/slow/:ms", async |c: &mut Context| {
        let mut guard = Unfinished(&CANCELLED, false);
        let ms: u64 = c.param("ms").parse().unwrap();
        c.header("x-partial", "written before the sleep");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let me = c.param("ms").to_owned();
        c.string(200, format!("slept {me}"));
        guard.1 = true;
    });
    let server = Server::start(app).await;

    // 40 connections x 15 requests, sleeps spread over 0-99 ms around the 40 ms deadline.
    let mut clients = Vec::new();
    for conn in 0..40u64 {
        let addr = server.addr;
        clients.push(tokio::spawn(async move {
            let mut h1 = H1::connect(addr).await;
            let mut seen = Vec::new();
            for i in 0..15u64 {
                let ms = (conn * 37 + i * 53) % 100;
                let reply = h1.get(&format!("/slow/{ms}")).await;
                seen.push((ms, reply));
            }
            seen
        }));
    }
    let (mut ok, mut timed_out) = (0, 0);
    for client in clients {
        for (ms, reply) in client.await.unwrap() {
            assert!(reply.header("x-request-id").is_some(), "headers set before the timeout are kept");
            match reply.status.as_u16() {
                200 => {
                    assert_eq!(reply.text(), format!("slept {ms}"), "a response is its own request's");
                    assert!(ms < 80, "{ms} ms answered 200 past a 40 ms deadline");
                    ok += 1;
                }
                503 => {
                    // (A short sleep may time out too on a loaded machine: no lower bound.)
                    assert_eq!(reply.json()["error"], "request timed out");
                    assert_eq!(reply.header("x-partial"), None, "the cancelled handler's headers are gone");
                    timed_out += 1;
                }
                other => panic!("{other} for {ms} ms"),
            }
        }
    }
    assert_eq!(ok + timed_out, 600);
    assert!(ok > 50 && timed_out > 100, "{ok} ok, {timed_out} timed out");
    // Every 503 is a handler that was stopped, and none of them ran on afterwards.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(CANCELLED.load(SeqCst), timed_out);
    server.shutdown().await;
}

#[tokio::test]
async fn basic_auth_answers_401_with_a_challenge_and_lets_the_right_account_in() {
    let mut app = Engine::new();
    let mut admin = app.group("/admin");
    admin.with(basic_auth([("ada", "lovelace"), ("alan", "turing")]).realm("ops"));
    admin.get("/", async |c: &mut Context| {
        let user = c.must_get::<String>(AUTH_USER_KEY).clone();
        c.string(200, format!("hello {user}"));
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let none = h1.get("/admin/").await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some("Basic realm=\"ops\", charset=\"UTF-8\""));
    // Documented: a JSON body where Gin sends none.
    assert_eq!(none.json(), tether::json!({ "error": "unauthorized" }));
    // "ada:wrong" and a malformed header
    for bad in ["Basic YWRhOndyb25n", "Basic !!!", "Bearer YWRhOmxvdmVsYWNl"] {
        let reply = h1.send(get_with("/admin/", &[("authorization", bad)])).await;
        assert_eq!(reply.status, 401, "{bad}");
    }
    // "ada:lovelace"
    let ok = h1.send(get_with("/admin/", &[("authorization", "Basic YWRhOmxvdmVsYWNl")])).await;
    assert_eq!((ok.status.as_u16(), ok.text().as_str()), (200, "hello ada"));
    server.shutdown().await;
}

#[tokio::test]
async fn json_logger_writes_one_parsable_line_per_request_with_the_request_id() {
    let lines = Lines::default();
    let mut app = Engine::new();
    app.with(request_id()).with(json_logger().writer(lines.clone()));
    app.get("/user/:id", async |c: &mut Context| {
        let id = c.param("id").to_owned();
        c.string(200, id);
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    let a = h1.send(get_with("/user/42?full=1", &[("user-agent", "soak/1")])).await;
    let b = h1.get("/nope").await;
    server.shutdown().await;

    // The lines reach the writer from the logger's own thread: wait for them.
    lines.wait_for(2, |_| true);
    let text = lines.text();
    let logged: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(logged.len(), 2, "{text}");
    let first = &logged[0];
    assert_eq!(first["status"], 200);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/user/42");
    assert_eq!(first["route"], "/user/:id");
    assert_eq!(first["query"], "full=1");
    assert_eq!(first["ip"], "127.0.0.1");
    assert_eq!(first["user_agent"], "soak/1");
    assert_eq!(first["bytes"], 2);
    assert_eq!(first["level"], "info");
    assert_eq!(first["request_id"], a.header("x-request-id").unwrap());
    assert!(first["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!((logged[1]["status"].as_u64(), logged[1]["level"].as_str()), (Some(404), Some("warn")));
    assert_eq!(logged[1]["request_id"], b.header("x-request-id").unwrap());
}

async fn who(c: &mut Context) {
    let ip = c.client_ip().map(|ip| ip.to_string()).unwrap_or_default();
    let (tx, rx) = tokio::sync::oneshot::channel();
    c.go(move |cp| async move {
        tx.send(cp.client_ip().map(|ip| ip.to_string()).unwrap_or_default()).ok();
    });
    let in_task = rx.await.unwrap_or_default();
    c.string(200, format!("{ip} {in_task}"));
}

#[tokio::test]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    let spoof = [("x-forwarded-for", "6.6.6.6, 198.51.100.7"), ("x-real-ip", "7.7.7.7")];

    let mut untrusting = Engine::new();
    untrusting.get("/who", who);
    let server = Server::start(untrusting).await;
    let reply = crate::support::send(server.addr, get_with("/who", &spoof)).await;
    assert_eq!(reply.text(), "127.0.0.1 127.0.0.1", "by default nobody is believed");
    server.shutdown().await;

    let mut behind_proxy = Engine::new();
    behind_proxy.trusted_proxies(["127.0.0.0/8"]).get("/who", who);
    let server = Server::start(behind_proxy).await;
    let reply = crate::support::send(server.addr, get_with("/who", &spoof)).await;
    assert_eq!(reply.text(), "198.51.100.7 198.51.100.7", "the nearest untrusted hop, in copies too");
    let real_ip = crate::support::send(server.addr, get_with("/who", &[("x-real-ip", "7.7.7.7")])).await;
    assert_eq!(real_ip.text(), "7.7.7.7 7.7.7.7");
    server.shutdown().await;
}

#[tokio::test]
async fn cors_answers_preflights_and_marks_allowed_origins_only() {
    let mut app = Engine::new();
    app.with(
        tether::middleware::cors()
            .allow_origins(["https://app.example.com"])
            .allow_methods(["GET", "POST", "DELETE"])
            .allow_headers(["content-type", "authorization"])
            .allow_credentials(true)
            .max_age(Duration::from_secs(600)),
    );
    app.get("/items", async |c: &mut Context| c.string(200, "items"));
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let preflight = |origin: &'static str| {
        Request::options("/items")
            .header("origin", origin)
            .header("access-control-request-method", "DELETE")
            .header("access-control-request-headers", "authorization")
            .body(Full::default())
            .unwrap()
    };
    let ok = h1.send(preflight("https://app.example.com")).await;
    assert_eq!(ok.status, 204, "a preflight to a GET-only route is answered by cors, not 405");
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(ok.header("access-control-allow-methods"), Some("GET,POST,DELETE"));
    assert_eq!(ok.header("access-control-allow-headers"), Some("content-type,authorization"));
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    assert!(ok.header("vary").unwrap().contains("origin"));

    let evil = h1.send(preflight("https://evil.example")).await;
    assert_eq!(evil.header("access-control-allow-origin"), None, "the browser will refuse");

    let actual = h1.send(get_with("/items", &[("origin", "https://app.example.com")])).await;
    assert_eq!((actual.status.as_u16(), actual.text().as_str()), (200, "items"));
    assert_eq!(actual.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(actual.header("vary"), Some("origin"));
    let other = h1.send(get_with("/items", &[("origin", "https://evil.example")])).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let same_origin = h1.get("/items").await;
    assert_eq!(same_origin.header("vary"), None, "no Origin, no CORS");
    server.shutdown().await;
}

#[tokio::test]
async fn over_the_rate_is_429_with_retry_after_per_client() {
    let mut app = Engine::new();
    app.with(tether::middleware::rate_limit(1, 3).key(|c| c.get_header("x-client").map(str::to_owned)));
    app.get("/", async |c: &mut Context| c.string(200, "ok"));
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(h1.send(get_with("/", &[("x-client", "a")])).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    assert_eq!(statuses[3].header("retry-after"), Some("1"));
    assert_eq!(statuses[3].json()["error"], "too many requests");
    assert_eq!(h1.send(get_with("/", &[("x-client", "b")])).await.status, 200, "b has its own bucket");
    assert_eq!(h1.get("/").await.status, 200, "no key, no limit");
    server.shutdown().await;
}

#[tokio::test]
async fn cache_serves_hits_from_memory_until_the_ttl_and_skips_private_answers() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let mut app = Engine::new();
    app.with(request_id()).with(tether::middleware::cache(Duration::from_millis(300)));
    app.get("/page", async |c: &mut Context| {
        let n = RUNS.fetch_add(1, SeqCst) + 1;
        c.header("x-render", n.to_string());
        c.string(200, format!("render {n} of {}", c.query("q").unwrap_or("-")));
    });
    app.get("/me", async |c: &mut Context| {
        c.header("cache-control", "private");
        c.string(200, "yours");
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let first = h1.get("/page?q=a").await;
    let second = h1.get("/page?q=a").await;
    assert_eq!((first.header("x-cache"), second.header("x-cache")), (Some("MISS"), Some("HIT")));
    assert_eq!(first.text(), second.text());
    assert_eq!(second.header("x-render"), Some("1"), "the handler's headers are cached");
    assert_ne!(first.header("x-request-id"), second.header("x-request-id"), "not the earlier request's id");
    assert_eq!(h1.get("/page?q=b").await.text(), "render 2 of b", "the query is part of the key");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h1.get("/page?q=a").await.text(), "render 3 of a", "expired after the TTL");
    assert_eq!(h1.get("/me").await.header("x-cache"), Some("MISS"));
    assert_eq!(h1.get("/me").await.header("x-cache"), Some("MISS"), "private answers are not cached");
    server.shutdown().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let mut app = Engine::new();
    app.trusted_proxies(["127.0.0.1"]).with(tether::middleware::rate_limit(1, 2));
    app.get("/", async |c: &mut Context| c.string(200, "ok"));
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    let from = |ip: &str| get_with("/", &[("x-forwarded-for", ip)]);
    let a: Vec<u16> = [
        h1.send(from("198.51.100.1")).await,
        h1.send(from("198.51.100.1")).await,
        h1.send(from("198.51.100.1")).await,
    ]
    .iter()
    .map(|r| r.status.as_u16())
    .collect();
    assert_eq!(a, [200, 200, 429]);
    assert_eq!(h1.send(from("198.51.100.2")).await.status, 200, "another client behind the same proxy");
    server.shutdown().await;
}
