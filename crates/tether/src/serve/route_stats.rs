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

use crate::routing::router::Matched;

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

    fn index(&self, chain: Matched) -> usize {
        let n = self.routes.len() - 3;
        match chain {
            Matched::Route(id) => id,
            Matched::NoRoute => n,
            Matched::NoMethod => n + 1,
            Matched::Redirect | Matched::None => n + 2,
        }
    }

    /// Records one answered (or cut) request.
    pub(crate) fn record(&self, chain: Matched, status: u16, elapsed: Duration) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_keeps_eight_statuses_and_counts_the_rest_as_other() {
        let m = Metrics::new(1);
        let route = Matched::Route(0);
        for code in 200..210u16 {
            m.record(route, code, Duration::from_millis(1));
        }
        m.record(route, 200, Duration::from_millis(1));
        m.record(route, 209, Duration::from_millis(1));
        let r = &m.routes[0];
        let kept: Vec<(u16, u64)> =
            r.statuses.iter().map(|s| (s.code.load(Relaxed), s.count.load(Relaxed))).collect();
        assert_eq!(kept[0], (200, 2));
        assert_eq!(kept.iter().map(|k| k.0).collect::<Vec<_>>(), (200..208).collect::<Vec<_>>());
        assert_eq!(r.other.load(Relaxed), 3, "208, 209 and 209 again");
    }

    #[test]
    fn unmatched_requests_have_their_own_rows() {
        let m = Metrics::new(2);
        m.record(Matched::NoRoute, 404, Duration::ZERO);
        m.record(Matched::NoMethod, 405, Duration::ZERO);
        m.record(Matched::Redirect, 301, Duration::ZERO);
        m.record(Matched::None, 500, Duration::ZERO);
        let count = |i: usize| m.routes[i].statuses.iter().map(|s| s.count.load(Relaxed)).sum::<u64>();
        assert_eq!((count(0), count(1), count(2), count(3), count(4)), (0, 0, 1, 1, 2));
    }

    #[test]
    fn a_bucket_bound_is_inclusive_and_the_last_is_past_five_seconds() {
        let m = Metrics::new(1);
        let route = Matched::Route(0);
        m.record(route, 200, Duration::from_micros(500));
        m.record(route, 200, Duration::from_micros(501));
        m.record(route, 200, Duration::from_secs(6));
        let b: Vec<u64> = m.routes[0].buckets.iter().map(|b| b.load(Relaxed)).collect();
        assert_eq!((b[0], b[1], b[BUCKETS.len()]), (1, 1, 1));
        assert_eq!(m.routes[0].sum_nanos.load(Relaxed), 6_001_001_000);
    }

    #[test]
    fn threads_racing_for_the_free_slots_lose_no_count() {
        let m = std::sync::Arc::new(Metrics::new(1));
        let threads: Vec<_> = (0..4u16)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u16 {
                        m.record(Matched::Route(0), 200 + (i + t) % 12, Duration::from_micros(1));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let r = &m.routes[0];
        let codes: Vec<u16> = r.statuses.iter().map(|s| s.code.load(Relaxed)).collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8, "no code takes two slots: {codes:?}");
        let total: u64 =
            r.statuses.iter().map(|s| s.count.load(Relaxed)).sum::<u64>() + r.other.load(Relaxed);
        assert_eq!(total, 40_000);
    }
}
