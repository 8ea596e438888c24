//! The engine's per-route figures, as recorded for `/metrics`; `diag/exposition.rs`
//! encodes them (feature `metrics`). Core code: the request path records here and never
//! reaches into `diag`.
//!
//! Recording is tether's own and costs a request a few relaxed atomic additions: each
//! route has its counters and latency histogram allocated when the engine is frozen, so a
//! request never looks a label set up in a map. `prometheus-client` (the Prometheus
//! project's own Rust client) only encodes, at scrape time, through a collector that reads
//! these atomics; it was chosen over `metrics` + `metrics-exporter-prometheus` because it
//! needs no process-wide recorder (two engines in one process, as in tests, keep separate
//! figures) and its collector interface fits figures kept elsewhere.
//!
//! Labels are bounded: the route *pattern* (`/user/:id`, never `/user/42`), the route's
//! method, and the status code (at most 8 distinct codes per route, then `other`).

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::context::ChainRef;

/// Latency bucket upper bounds, in seconds.
pub(crate) const BUCKETS: [f64; 12] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
/// Distinct status codes kept per route; more are counted as `other`.
const STATUS_SLOTS: usize = 8;
/// The status recorded for a request cut short (the client went away, or shutdown), as
/// nginx does.
pub(crate) const CUT: u16 = 499;

#[derive(Debug, Default)]
pub(crate) struct StatusSlot {
    pub(crate) code: AtomicU16,
    pub(crate) count: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct RouteStats {
    pub(crate) statuses: [StatusSlot; STATUS_SLOTS],
    pub(crate) other: AtomicU64,
    /// Per-bucket counts; the last one is past the largest bound.
    pub(crate) buckets: [AtomicU64; BUCKETS.len() + 1],
    pub(crate) sum_nanos: AtomicU64,
}

/// The figures of every route (and of unmatched requests), kept when `/metrics` is on.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// One per route, then: no route, method not allowed, redirect.
    pub(crate) routes: Box<[RouteStats]>,
}

impl Metrics {
    pub(crate) fn new(routes: usize) -> Self {
        Metrics { routes: (0..routes + 3).map(|_| RouteStats::default()).collect() }
    }

    fn index(&self, chain: ChainRef) -> usize {
        let n = self.routes.len() - 3;
        match chain {
            ChainRef::Route(id) => id,
            ChainRef::NoRoute => n,
            ChainRef::NoMethod => n + 1,
            ChainRef::Redirect | ChainRef::None => n + 2,
        }
    }

    /// Records one answered (or cut) request.
    pub(crate) fn record(&self, chain: ChainRef, status: u16, elapsed: Duration) {
        let r = &self.routes[self.index(chain)];
        let counted = r.statuses.iter().any(|slot| {
            let code = slot.code.load(Relaxed);
            let mine = code == status
                || (code == 0
                    && match slot.code.compare_exchange(0, status, Relaxed, Relaxed) {
                        Ok(_) => true,
                        Err(other) => other == status,
                    });
            if mine {
                slot.count.fetch_add(1, Relaxed);
            }
            mine
        });
        if !counted {
            r.other.fetch_add(1, Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        r.buckets[bucket].fetch_add(1, Relaxed);
        r.sum_nanos.fetch_add(elapsed.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
    }
}
