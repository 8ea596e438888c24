//! `rate_limit` and `cache` shared through one real redis-server by two engines (two
//! instances behind a load balancer): together they allow the quota once, and one serves
//! what the other cached. Redis down or silent: the chosen policy, counted, no hang.
//! Run with `--features redis` (scripts/test.sh does).
#![cfg(feature = "redis")]

mod support;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::middleware::{cache, rate_limit, Quota, RateLimit, RedisStore, StoreFailure};
use tether::{Context, Engine};

use support::redis_server::RedisServer;
use support::{get, send, Reply, Server};

/// A request with one header.
async fn get_with(addr: std::net::SocketAddr, path: &str, name: &str, value: &str) -> Reply {
    get_headers(addr, path, &[(name, value)]).await
}

/// A request with these headers.
async fn get_headers(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::get(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    send(addr, req.body(Full::new(Bytes::new())).unwrap()).await
}

/// The site both instances serve, as a load balancer passes it on.
const HOST: (&str, &str) = ("host", "shop.example");

/// An engine limiting `/limited` by API key with `limit`.
fn limited_app(limit: RateLimit) -> Engine {
    let mut app = Engine::new();
    app.metrics_route("/metrics");
    let mut g = app.group("/limited");
    g.with(limit.key(|c| c.get_header("x-api-key").map(str::to_owned)));
    g.get("", async |c: &mut Context| c.string(200, "ok"));
    app
}

fn five_a_minute() -> RateLimit {
    RateLimit::with_quota(
        Quota::per_minute(NonZeroU32::new(1).unwrap()).allow_burst(NonZeroU32::new(5).unwrap()),
    )
}

#[tokio::test]
async fn two_instances_together_allow_the_quota_once_not_twice() {
    let redis = RedisServer::start();
    // Two stores opened apart, as two processes would.
    let store = || RedisStore::open(&redis.url()).unwrap().prefix("shared-limit:");
    let a = Server::start(limited_app(five_a_minute().store(store()))).await;
    let b = Server::start(limited_app(five_a_minute().store(store()))).await;

    let mut allowed = 0;
    let mut retry_after = Vec::new();
    for i in 0..12 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let res = get_with(addr, "/limited", "x-api-key", "alice").await;
        match res.status.as_u16() {
            200 => allowed += 1,
            429 => retry_after.push(res.header("retry-after").unwrap().parse::<u64>().unwrap()),
            other => panic!("unexpected {other}: {}", res.text()),
        }
    }
    assert_eq!(allowed, 5, "the burst of 5 is shared by both instances");
    assert!(retry_after.iter().all(|&s| (1..=60).contains(&s)), "{retry_after:?}");
    // Another key has its own bucket.
    assert_eq!(get_with(b.addr, "/limited", "x-api-key", "bob").await.status, 200);

    // The same two instances with the in-process table: each allows the burst, 10 in all.
    let a_local = Server::start(limited_app(five_a_minute())).await;
    let b_local = Server::start(limited_app(five_a_minute())).await;
    let mut allowed_local = 0;
    for i in 0..12 {
        let addr = if i % 2 == 0 { a_local.addr } else { b_local.addr };
        allowed_local += usize::from(get_with(addr, "/limited", "x-api-key", "alice").await.status == 200);
    }
    assert_eq!(allowed_local, 10, "in process, each instance has its own bucket");
}

#[tokio::test]
async fn a_refused_client_may_go_again_after_the_wait_it_was_given() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap().prefix("refill:");
    // 5 a second, no burst: one request, then a wait of up to 200 ms.
    let server = Server::start(limited_app(rate_limit(5, 1).store(store))).await;
    assert_eq!(get_with(server.addr, "/limited", "x-api-key", "k").await.status, 200);
    let refused = get_with(server.addr, "/limited", "x-api-key", "k").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["retry_after_secs"], 1, "200 ms rounds up to 1 s");
    // The bucket refills at the quota's pace: wait one interval, with the server's clock.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(get_with(server.addr, "/limited", "x-api-key", "k").await.status, 200);
    // The key expires once the bucket has refilled: no state left behind.
    let keys = redis.command(&["KEYS", "refill:*"]).unwrap();
    let ttl = redis.command(&["PTTL", keys.lines().nth(2).expect("one key")]).unwrap();
    let ttl: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
    assert!((1..=200).contains(&ttl), "a bucket lives only until refilled: {ttl} ms");
}

/// How often the counting handlers ran.
#[derive(Clone)]
struct Runs(Arc<AtomicUsize>);

/// An engine caching `/page` (public), `/private` and `/short` (max-age=1), counting
/// how often the handler runs.
fn cached_app(store: RedisStore, runs: Arc<AtomicUsize>) -> Engine {
    let mut app = Engine::new();
    app.state(Runs(runs));
    let mut g = app.group("");
    g.with(cache(Duration::from_secs(60)).store(store));
    g.get("/page", async |c: &mut Context| {
        let n = c.state::<Runs>().0.fetch_add(1, Ordering::SeqCst) + 1;
        c.header("link", "</a.css>; rel=preload");
        c.header("x-run", n.to_string());
        c.string(200, "the page")
    });
    g.get("/short", async |c: &mut Context| {
        c.state::<Runs>().0.fetch_add(1, Ordering::SeqCst);
        c.header("cache-control", "max-age=1");
        c.string(200, "short")
    });
    g.get("/cookie", async |c: &mut Context| {
        c.state::<Runs>().0.fetch_add(1, Ordering::SeqCst);
        c.header("set-cookie", "session=1");
        c.string(200, "personal")
    });
    app
}

#[tokio::test]
async fn one_instance_serves_what_the_other_cached_by_the_same_rules() {
    let redis = RedisServer::start();
    let runs = Arc::new(AtomicUsize::new(0));
    let store = || RedisStore::open(&redis.url()).unwrap().prefix("cache-test:");
    let a = Server::start(cached_app(store(), runs.clone())).await;
    let b = Server::start(cached_app(store(), runs.clone())).await;

    // The cache key is host, path and query: the two instances see the same Host.
    let miss = get_headers(a.addr, "/page", &[HOST]).await;
    assert_eq!((miss.status.as_u16(), miss.header("x-cache")), (200, Some("MISS")));
    let hit = get_headers(b.addr, "/page", &[HOST]).await;
    assert_eq!((hit.header("x-cache"), hit.text().as_str()), (Some("HIT"), "the page"));
    assert_eq!(hit.header("x-run"), Some("1"), "the other instance's response, headers and all");
    assert_eq!(hit.header("link"), Some("</a.css>; rel=preload"));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once for both instances");

    // A request with credentials is not served an answer that was not marked public.
    let personal = get_headers(b.addr, "/page", &[HOST, ("cookie", "session=2")]).await;
    assert_eq!(personal.header("x-cache"), Some("MISS"));
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // A shorter max-age is the key's expiry in Redis.
    get_headers(a.addr, "/short", &[HOST]).await;
    let ttl = redis.command(&["PTTL", "cache-test:c:shop.example/short"]).unwrap();
    let ttl: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
    assert!((1..=1000).contains(&ttl), "max-age=1 bounds the entry: {ttl} ms");

    // A response setting a cookie is never stored.
    get_headers(a.addr, "/cookie", &[HOST]).await;
    assert_eq!(get_headers(b.addr, "/cookie", &[HOST]).await.header("x-cache"), Some("MISS"));
    let stored = redis.command(&["EXISTS", "cache-test:c:shop.example/cookie"]).unwrap();
    assert_eq!(stored.trim(), ":0");
    let page = redis.command(&["EXISTS", "cache-test:c:shop.example/page"]).unwrap();
    assert_eq!(page.trim(), ":1", "the key the other checks look beside");
}

/// Runs `n` requests to `path` and returns their statuses, with how long they all took.
async fn statuses(addr: std::net::SocketAddr, path: &str, n: usize) -> (Vec<u16>, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get_with(addr, path, "x-api-key", "k").await.status.as_u16());
    }
    (out, start.elapsed())
}

/// `/open` and `/closed` limited through `store` with each policy, `/cached` cached in it.
fn policy_app(store: &RedisStore, runs: Arc<AtomicUsize>) -> Engine {
    let mut app = Engine::new();
    app.state(Runs(runs));
    app.metrics_route("/metrics");
    app.health_routes("/healthz", "/readyz");
    let redis = store.clone();
    app.ready_check(move || {
        let redis = redis.clone();
        async move { redis.ping().await }
    });
    let key = |c: &tether::Request| c.get_header("x-api-key").map(str::to_owned);
    let mut open = app.group("/open");
    open.with(rate_limit(100, 100).store(store.clone()).key(key));
    open.get("", async |c: &mut Context| c.string(200, "ok"));
    let mut closed = app.group("/closed");
    closed.with(rate_limit(100, 100).store(store.clone()).key(key).on_store_failure(StoreFailure::Closed));
    closed.get("", async |c: &mut Context| c.string(200, "ok"));
    let mut cached = app.group("/cached");
    cached.with(cache(Duration::from_secs(60)).store(store.clone()));
    cached.get("", async |c: &mut Context| {
        c.state::<Runs>().0.fetch_add(1, Ordering::SeqCst);
        c.string(200, "fresh")
    });
    app
}

#[tokio::test]
async fn redis_down_follows_the_policy_is_counted_and_recovers() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("down:")
        .timeout(Duration::from_millis(100))
        .retry_after(Duration::from_millis(100));
    let runs = Arc::new(AtomicUsize::new(0));
    let server = Server::start(policy_app(&store, runs.clone())).await;
    assert_eq!(get_with(server.addr, "/closed", "x-api-key", "k").await.status, 200);
    assert_eq!(get(server.addr, "/readyz").await.status, 200, "ready while Redis answers");
    assert_eq!(store.errors(), 0);

    let port = redis.stop();
    let (open, took_open) = statuses(server.addr, "/open", 5).await;
    assert_eq!(open, [200; 5], "fail open: requests pass unlimited");
    let (closed, took_closed) = statuses(server.addr, "/closed", 5).await;
    assert_eq!(closed, [503; 5], "fail closed: refused");
    let refused = get_with(server.addr, "/closed", "x-api-key", "k").await;
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["error"], "rate limit store unavailable");
    let (cached, _) = statuses(server.addr, "/cached", 3).await;
    assert_eq!(cached, [200; 3], "the cache runs the handler as on a miss");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    // Bounded by the 100 ms deadline, never a hang (generous for a loaded machine).
    assert!(
        took_open < Duration::from_secs(3) && took_closed < Duration::from_secs(3),
        "{took_open:?} {took_closed:?}"
    );

    assert!(store.errors() >= 11, "every affected call is counted: {}", store.errors());
    // Readiness says so, and why, without waiting past the deadline.
    let unready = get(server.addr, "/readyz").await;
    assert_eq!(unready.status, 503);
    let error = unready.json()["checks"][0]["error"].as_str().unwrap().to_owned();
    assert!(!error.is_empty(), "{}", unready.text());
    let metrics = get(server.addr, "/metrics").await.text();
    let counted = |op: &str| -> f64 {
        let prefix = format!("tether_store_errors_total{{op=\"{op}\"}} ");
        let line =
            metrics.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix}\n{metrics}"));
        line[prefix.len()..].parse().unwrap()
    };
    assert!(counted("rate_limit") >= 10.0 && counted("cache_get") >= 3.0, "{metrics}");

    // Redis comes back where it was: within moments the limit is enforced through it again.
    let _redis = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_with(server.addr, "/closed", "x-api-key", "k").await.status != 200 {
        assert!(Instant::now() < deadline, "the store did not recover within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(server.addr, "/readyz").await.status, 200, "ready again");
}

#[tokio::test]
async fn a_redis_that_accepts_and_never_answers_costs_a_request_the_deadline() {
    // Accepts connections and reads nothing: the worst kind of down.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            sockets.push(s);
        }
    });
    let store =
        RedisStore::open(&url).unwrap().timeout(Duration::from_secs(1)).retry_after(Duration::from_secs(30));
    let server = Server::start(policy_app(&store, Arc::new(AtomicUsize::new(0)))).await;

    let start = Instant::now();
    let res = get_with(server.addr, "/closed", "x-api-key", "k").await;
    let took = start.elapsed();
    assert_eq!(res.status, 503);
    assert!(took >= Duration::from_millis(990), "it waited for the deadline: {took:?}");
    assert!(took < Duration::from_secs(4), "and no longer: {took:?}");
    // Within retry_after the store is not asked again: the next requests fail at once.
    let start = Instant::now();
    assert_eq!(get_with(server.addr, "/open", "x-api-key", "k").await.status, 200);
    assert_eq!(get_with(server.addr, "/closed", "x-api-key", "k").await.status, 503);
    assert!(start.elapsed() < Duration::from_millis(900), "not the deadline again: {:?}", start.elapsed());
    assert_eq!(store.errors(), 3);
    held.abort();
}
