//! `c.go(f)` beside `let cp = c.copy(); tokio::spawn(f(cp))`: the same future, copy
//! included on both sides, each spawned and awaited to its end — so the difference is
//! what tracking costs (registry, deadline, cap, cancellation, panic capture, outcome).
//!
//! Runs inside a handler on a current-thread runtime (a copy needs a live request; one
//! thread keeps cross-thread hand-offs out of the figure). Prints the median of 7 rounds
//! of 20,000 tasks each, in ns per task, and the ratio. For instruction counts, which do
//! not drift, run the binary under `valgrind --tool=callgrind` with `ROUNDS=1`.
//!
//! Run: `cargo bench -p tether --bench go_vs_spawn`.

use std::hint::black_box;
use std::time::Instant;

use tether::testing::TestClient;
use tether::{Context, Engine};

const TASKS: u32 = 20_000;

async fn round(c: &Context, tracked: bool) -> f64 {
    let start = Instant::now();
    for _ in 0..TASKS {
        if tracked {
            c.go(|cp| async move {
                black_box(cp.param("id").len());
            })
            .outcome()
            .await;
        } else {
            let cp = c.copy();
            tokio::spawn(async move {
                black_box(cp.param("id").len());
            })
            .await
            .unwrap();
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(TASKS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn bench(c: &mut Context) {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    let (mut plain, mut tracked) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.push(round(c, false).await);
        tracked.push(round(c, true).await);
    }
    let (p, t) = (median(plain.clone()), median(tracked.clone()));
    let spread = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{lo:.0}-{hi:.0}")
    };
    println!("c.copy() + tokio::spawn + await: {p:.0} ns per task (spread {})", spread(&plain));
    println!("c.go + outcome:                  {t:.0} ns per task (spread {})", spread(&tracked));
    println!("ratio: {:.2}x", t / p);
    c.string(200, "done");
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut app = Engine::new();
        app.get("/bench/:id", bench);
        let res = TestClient::new(app)
            .get("/bench/42?page=1")
            .header("host", "example.com")
            .header("user-agent", "bench/1.0")
            .send()
            .await;
        assert_eq!(res.status(), 200);
    });
}
