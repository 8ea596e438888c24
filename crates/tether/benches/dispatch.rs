//! In-process dispatch: a request through routing, the context pool, the handler and
//! back to a response, without sockets. Reports time per request (criterion) and heap
//! allocations per request (a counting allocator), for `/plaintext` and `/user/:id`.
//!
//! Run: `cargo bench -p tether --bench dispatch`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::Empty;
use hyper::service::Service;
use tether::{Context, Engine, TetherService};

#[path = "../tests/support/counting.rs"]
mod counting;
use counting::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(serde::Serialize)]
struct User {
    id: String,
}

async fn plaintext(c: &mut Context) {
    c.string(200, "Hello, World!");
}

async fn user(c: &mut Context) {
    let id = c.param("id").to_owned();
    c.json(200, &User { id });
}

fn service() -> TetherService {
    let mut app = Engine::new();
    app.get("/plaintext", plaintext).get("/user/:id", user);
    app.into_service()
}

fn request(path: &'static str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

async fn one(svc: &TetherService, path: &'static str) {
    send(svc, request(path)).await;
}

async fn send(svc: &TetherService, req: http::Request<Empty<Bytes>>) {
    let res = svc.call(req).await.unwrap();
    assert_eq!(res.status(), 200);
}

/// Allocations of the dispatch alone: the requests are built before the count starts.
fn allocations_per_request(rt: &tokio::runtime::Runtime, svc: &TetherService, path: &'static str) -> f64 {
    const N: u64 = 10_000;
    rt.block_on(async {
        for _ in 0..1_000 {
            one(svc, path).await;
        }
        let requests: Vec<_> = (0..N).map(|_| request(path)).collect();
        let before = counting::allocations();
        for req in requests {
            send(svc, req).await;
        }
        (counting::allocations() - before) as f64 / N as f64
    })
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let svc = service();
    for path in ["/plaintext", "/user/42"] {
        let allocs = allocations_per_request(&rt, &svc, path);
        println!("dispatch {path}: {allocs:.2} allocations per request (building the request not counted)");
        c.bench_function(&format!("dispatch {path}"), |b| b.to_async(&rt).iter(|| one(&svc, path)));
    }
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
