//! `c.copy()` with 0, 4 and 16 keys (one path parameter), ns and allocations per copy; and
//! what tracking alone costs: `app.tasks().go` beside a bare `tokio::spawn`. (`c.go` beside
//! `c.copy()` + `tokio::spawn` of the same future is `benches/go_vs_spawn.rs`.)
//!
//! A copy needs a live request, so the measurements run inside a handler, reached through
//! the in-process test client. Gin's `Context.Copy()` on this kind of machine (Go 1.19,
//! Gin 1.8.1, one parameter, median of 5): 0 keys 365 ns, 336 B, 3 allocs; 4 keys 843 ns,
//! 624 B, 4 allocs; 16 keys 3,942 ns, 2,437 B, 6 allocs.
//!
//! Run: `cargo bench -p tether --bench detach`.

#[path = "../tests/support/counting.rs"]
mod counting;

use std::hint::black_box;

use criterion::Criterion;
use tether::testing::TestClient;
use tether::{Context, Engine};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn allocations_per_copy(c: &Context) -> (f64, f64) {
    const N: u64 = 10_000;
    let mut copies = Vec::with_capacity(N as usize);
    let (allocs, bytes) = (counting::allocations(), counting::live_bytes());
    for _ in 0..N {
        copies.push(c.copy());
    }
    let per = (counting::allocations() - allocs) as f64 / N as f64;
    let bytes = (counting::live_bytes() - bytes) as f64 / N as f64;
    drop(copies);
    (per, bytes)
}

async fn bench(c: &mut Context) {
    let mut criterion = Criterion::default().configure_from_args();
    for keys in [0usize, 4, 16] {
        for k in c.key_names().map(str::to_owned).collect::<Vec<_>>() {
            c.delete(&k);
        }
        for k in 0..keys {
            c.set(format!("key{k}"), format!("value number {k}"));
        }
        let (allocs, bytes) = allocations_per_copy(c);
        println!("copy with {keys:>2} keys: {allocs:.2} allocations, {bytes:.0} bytes live per copy");
        criterion.bench_function(&format!("copy/{keys} keys"), |b| b.iter(|| black_box(c.copy())));
    }
    c.string(200, "done");
}

/// Tracking alone: `app.tasks().go` beside `tokio::spawn`, each spawned and awaited on a
/// current-thread runtime, so that no cross-thread hand-off blurs the difference.
fn tracking_overhead(criterion: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tasks = Engine::new().tasks();
    criterion.bench_function("track/tokio::spawn + await", |b| {
        b.to_async(&rt).iter(|| async { tokio::spawn(async { black_box(1u64) }).await.unwrap() })
    });
    criterion.bench_function("track/tasks.go + outcome (deadline 30 s)", |b| {
        b.to_async(&rt).iter(|| async {
            tasks
                .go(|_| async {
                    black_box(1u64);
                })
                .outcome()
                .await
        })
    });
    criterion.bench_function("track/tasks.detach().no_timeout().go + outcome", |b| {
        b.to_async(&rt).iter(|| async {
            tasks
                .detach()
                .no_timeout()
                .go(|_| async {
                    black_box(1u64);
                })
                .outcome()
                .await
        })
    });
}

fn main() {
    tracking_overhead(&mut Criterion::default().configure_from_args());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut app = Engine::new();
        app.get("/bench/:id", bench);
        let res = TestClient::new(app)
            .get("/bench/42?page=1")
            .header("host", "example.com")
            .header("user-agent", "bench/1.0")
            .header("accept", "application/json")
            .send()
            .await;
        assert_eq!(res.status(), 200, "{}", res.text());
    });
}
