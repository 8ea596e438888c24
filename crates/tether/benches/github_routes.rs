//! Dispatch on the 203-route GitHub API set that Gin's router benchmarks use: every
//! route registered with an empty handler, every route's path requested in turn, as Gin's
//! `BenchmarkGin_GithubAll` does (the pattern itself is the path, so `:owner` is the
//! parameter's value).
//!
//! What one request costs here is what Gin's `ServeHTTP` costs there: a context from the
//! pool, the route lookup with its parameters, the handler call, the context back. The
//! request is built beforehand (with a static URI, so dropping it frees nothing) and the
//! response is dropped unsent. Reports allocations per request (a counting allocator) and
//! time per request (criterion). `bench/routes_irq.sh` runs it under callgrind for the
//! instructions per request, the figure comparable with Gin's 1,122.
//!
//! Run: `cargo bench -p tether --bench github_routes`; `ROUNDS=n` with `--measure-only`
//! runs n rounds of the 203 requests in `measured_rounds` and nothing else (what the
//! callgrind script does).

use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use bytes::Bytes;
use criterion::{criterion_group, Criterion};
use http_body_util::Empty;
use tether::{Context, Engine, TetherService};

#[path = "../tests/support/counting.rs"]
mod counting;
use counting::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUTES: &str = include_str!("data/github_api_routes.txt");

/// The routes as (method, path), the path being the Gin pattern.
fn routes() -> Vec<(http::Method, &'static str)> {
    ROUTES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (method, path) = l.split_once(' ').expect("METHOD /path");
            (method.parse().expect("a method"), path)
        })
        .collect()
}

async fn empty(_: &mut Context) {}

fn service() -> TetherService {
    let mut app = Engine::new();
    for (method, path) in routes() {
        app.handle(method, path, empty);
    }
    app.into_service()
}

/// One round: every route's request, built ahead.
fn round() -> Vec<http::Request<Empty<Bytes>>> {
    routes()
        .into_iter()
        .map(|(method, path)| {
            http::Request::builder()
                .method(method)
                .uri(http::Uri::from_static(path))
                .body(Empty::new())
                .expect("a valid request")
        })
        .collect()
}

/// Serves one request to its end. The handlers are synchronous, so the first poll
/// answers; anything else is a bug in the benchmark.
fn serve(svc: &TetherService, req: http::Request<Empty<Bytes>>) {
    let mut fut = pin!(svc.handle(req));
    match fut.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(Ok(res)) => assert_eq!(res.status(), 200, "every route answers"),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("an empty handler finished at once"),
    }
}

/// The measured loop (callgrind collects inside this function only): `rounds` rounds of
/// the 203 requests. Returns how many requests it served.
#[inline(never)]
fn measured_rounds(svc: &TetherService, rounds: Vec<Vec<http::Request<Empty<Bytes>>>>) -> usize {
    let mut served = 0;
    for round in rounds {
        for req in round {
            serve(svc, req);
            served += 1;
        }
    }
    served
}

/// Requests served, and the allocations they made, over `n` rounds.
fn allocations_per_request(svc: &TetherService, n: usize) -> f64 {
    let rounds: Vec<_> = (0..n).map(|_| round()).collect();
    let before = counting::allocations();
    let served = measured_rounds(svc, rounds);
    (counting::allocations() - before) as f64 / served as f64
}

fn github_all(c: &mut Criterion) {
    let svc = service();
    allocations_per_request(&svc, 10); // warm the context pool
    println!("GitHub API, 203 routes: {:.3} allocations per request", allocations_per_request(&svc, 100));
    c.bench_function("github_all (203 requests)", |b| {
        b.iter_batched(round, |reqs| measured_rounds(&svc, vec![reqs]), criterion::BatchSize::SmallInput)
    });
}

criterion_group!(benches, github_all);

fn main() {
    if std::env::args().any(|a| a == "--measure-only") {
        let rounds: usize = std::env::var("ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(50);
        let svc = service();
        // Warm the context pool outside `measured_rounds`, where callgrind does not collect.
        for req in (0..10).flat_map(|_| round()) {
            serve(&svc, req);
        }
        let served = measured_rounds(&svc, (0..rounds).map(|_| round()).collect());
        println!("served {served}");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
