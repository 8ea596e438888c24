//! Heap allocations per request stay flat once the context pool is warm.
//!
//! `GET /user/:id` is dispatched in-process, through the same service a server runs; a
//! counting global allocator measures the allocations of the requests at 1,000 and at
//! 10,000. A pool that leaked, or failed to reuse its buffers, would show a rising count.

#[path = "support/counting.rs"]
mod counting;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::service::Service;
use tether::{Context, Engine, TetherService};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

async fn user(c: &mut Context) {
    let id = c.param("id").to_owned();
    c.set("seen", 1u32);
    c.json(200, &tether::json!({ "id": id }));
}

/// Allocations made by one request, measured over `n` requests, the request itself
/// (built outside the measurement) excluded.
async fn allocations_per_request(svc: &TetherService, n: u64) -> f64 {
    let requests: Vec<_> = (0..n)
        .map(|i| {
            // The headers every HTTP/1.1 client sends: a request's header map has room.
            http::Request::get(format!("/user/{i}"))
                .header("host", "localhost")
                .header("accept", "*/*")
                .body(Empty::<Bytes>::new())
                .unwrap()
        })
        .collect();
    let before = counting::allocations();
    for req in requests {
        let res = svc.call(req).await.unwrap();
        assert_eq!(res.status(), 200);
        drop(res);
    }
    (counting::allocations() - before) as f64 / n as f64
}

// One test, not two: the counters are process-wide, and tests run on parallel threads.
#[tokio::test(flavor = "current_thread")]
async fn allocations_and_live_memory_per_request_do_not_grow() {
    let mut app = Engine::new();
    app.get("/user/:id", user);
    app.get("/many", async |c: &mut Context| {
        // A hostile request: a 10,000-pair query read, and a thousand keys set.
        let n = c.query_array("a").len();
        for i in 0..1000 {
            c.set(format!("k{i}"), i);
        }
        c.string(200, n.to_string());
    });
    let svc = app.into_service();

    allocations_per_request(&svc, 100).await; // warm the pool
    let live_before = counting::live_bytes();
    let at_1k = allocations_per_request(&svc, 1_000).await;
    let at_10k = allocations_per_request(&svc, 10_000).await;
    let grown = counting::live_bytes() - live_before;
    println!("GET /user/:id in-process: {at_1k:.2} allocations per request over 1,000 requests, {at_10k:.2} over 10,000");
    println!("live heap after 11,000 more requests: {grown:+} bytes");
    assert!(at_10k <= at_1k, "allocations per request grew: {at_1k} -> {at_10k}");
    assert!(grown < 16 * 1024, "live heap grew by {grown} bytes over 11,000 requests");
    // What they are: TetherService's boxed future (a server's own connections skip it),
    // the handler's id String, the json! value (a map node, its key and its value), the
    // JSON body at its exact size, and the key's value. The handler's future is stored
    // inline; the context and its buffers come from the pool, and the response's header
    // map is the previous request's, emptied (it was 2 allocations more).
    assert!(at_10k <= 7.0, "{at_10k} allocations per request");

    // Requests that fill a context's buffers far past the common sizes leave nothing
    // behind in the pool: the buffers go with the request.
    let query = "a=1&".repeat(10_000);
    let live_before = counting::live_bytes();
    for _ in 0..64 {
        let req = http::Request::get(format!("/many?{query}")).body(Empty::<Bytes>::new()).unwrap();
        let res = svc.call(req).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let kept = counting::live_bytes() - live_before;
    println!("live heap after 64 requests of 10,000 query pairs and 1,000 keys: {kept:+} bytes");
    assert!(kept < 64 * 1024, "pooled contexts kept {kept} bytes of large buffers");
    github_routes_dispatch_without_allocating().await;
}

/// The 203-route GitHub API set of Gin's router benchmarks, each route's path requested
/// through `TetherService::handle` (no boxed future) with an empty handler, as Gin's
/// `GithubAll` does: no allocation at all, the routes with four parameters included (their
/// ranges go to the pooled context's own list).
async fn github_routes_dispatch_without_allocating() {
    const ROUTES: &str = include_str!("../benches/data/github_api_routes.txt");
    let routes: Vec<(http::Method, &'static str)> = ROUTES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (method, path) = l.split_once(' ').unwrap();
            (method.parse().unwrap(), path)
        })
        .collect();
    let mut app = Engine::new();
    for (method, path) in &routes {
        app.handle(method.clone(), path, async |_: &mut Context| {});
    }
    let svc = app.into_service();
    let round = || -> Vec<_> {
        routes
            .iter()
            .map(|(method, path)| {
                let req = http::Request::builder().method(method.clone()).uri(http::Uri::from_static(path));
                req.body(Empty::<Bytes>::new()).unwrap()
            })
            .collect()
    };
    for req in round() {
        assert_eq!(svc.handle(req).await.unwrap().status(), 200);
    }
    let requests = round();
    let before = counting::allocations();
    for req in requests {
        let res = svc.handle(req).await.unwrap();
        drop(res);
    }
    let allocations = counting::allocations() - before;
    let four_params = routes.iter().filter(|(_, p)| p.matches(':').count() > 3).count();
    println!("GitHub API routes: {allocations} allocations for {} requests", routes.len());
    assert_eq!(four_params, 2, "the set has routes with four parameters");
    assert_eq!(allocations, 0, "no request allocates");
}
