//! The Prometheus text format of what [`Metrics`](crate::route_stats::Metrics) recorded, with
//! prometheus-client (feature `metrics`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::engine::Shared;
use crate::route_stats::BUCKETS;
use crate::Context;

/// Answers the exposition.
pub(super) async fn metrics(c: &mut Context) {
    let shared = c.shared.clone().expect("a context in use has its engine");
    let mut registry = Registry::default();
    registry.register_collector(Box::new(EngineCollector(shared)));
    let mut text = String::with_capacity(4096);
    match prometheus_client::encoding::prometheus_text::encode(&mut text, &registry) {
        Ok(()) => c.data(200, "text/plain; version=0.0.4; charset=utf-8", text),
        Err(e) => {
            tracing::error!(target: "tether", error = %e, "could not encode metrics");
            c.string(500, "could not encode metrics");
        }
    }
}

struct EngineCollector(Arc<Shared>);

impl std::fmt::Debug for EngineCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineCollector")
    }
}

impl Collector for EngineCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let shared = &*self.0;
        let Some(metrics) = shared.metrics.as_ref() else { return Ok(()) };
        let routes = &shared.router.routes;
        let label = |i: usize| -> (String, String) {
            match routes.get(i) {
                Some(r) => (r.pattern.to_string(), r.method.as_ref().map_or("*".into(), |m| m.to_string())),
                None => {
                    let what = ["(no route)", "(method not allowed)", "(redirect)"][i - routes.len()];
                    (what.into(), "*".into())
                }
            }
        };

        let mut family = enc.encode_descriptor(
            "tether_http_requests",
            "Requests answered, by route pattern, method and status (499: cut short).",
            None,
            MetricType::Counter,
        )?;
        for (i, r) in metrics.routes.iter().enumerate() {
            let (route, method) = label(i);
            let slots = r.statuses.iter().map(|s| (s.code.load(Relaxed).to_string(), s.count.load(Relaxed)));
            for (status, count) in slots.chain([("other".to_string(), r.other.load(Relaxed))]) {
                if count == 0 {
                    continue;
                }
                let labels =
                    [("route", route.as_str()), ("method", method.as_str()), ("status", status.as_str())];
                family.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }

        let mut family = enc.encode_descriptor(
            "tether_http_request_duration_seconds",
            "Time from the request head to the response, by route pattern and method.",
            None,
            MetricType::Histogram,
        )?;
        for (i, r) in metrics.routes.iter().enumerate() {
            let counts: Vec<u64> = r.buckets.iter().map(|b| b.load(Relaxed)).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let (route, method) = label(i);
            let buckets: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(counts.iter().copied()).collect();
            let sum = r.sum_nanos.load(Relaxed) as f64 / 1e9;
            let labels = [("route", route.as_str()), ("method", method.as_str())];
            family.encode_family(&labels)?.encode_histogram::<NoLabelSet>(sum, total, &buckets, None)?;
        }

        let stats = &shared.stats;
        let hub = &shared.hub;
        let (live_copies, live_tasks) = hub.registry.live();
        let gauges: [(&str, &str, i64); 6] = [
            (
                "tether_http_requests_in_flight",
                "Requests being handled.",
                stats.in_flight.load(Relaxed) as i64,
            ),
            ("tether_http_connections_open", "Open connections.", stats.connections.load(Relaxed) as i64),
            (
                "tether_http_body_bytes_buffered",
                "Bytes of request bodies held in memory (against the body_memory budget).",
                shared.body_budget.used() as i64,
            ),
            ("tether_live_copies", "Context copies alive (outside tasks).", live_copies as i64),
            ("tether_live_tasks", "Tracked tasks alive.", live_tasks as i64),
            (
                "tether_process_resident_memory_bytes",
                "Resident memory of the process.",
                super::vars::process_memory().map_or(0, |m| m.rss as i64),
            ),
        ];
        for (name, help, value) in gauges {
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)?;
        }

        let t = &hub.registry.totals;
        let mut family = enc.encode_descriptor(
            "tether_tasks_finished",
            "Tracked tasks that ended, by outcome.",
            None,
            MetricType::Counter,
        )?;
        for (outcome, value) in [
            ("completed", &t.completed),
            ("timed_out", &t.timed_out),
            ("cancelled", &t.cancelled),
            ("panicked", &t.panicked),
            ("rejected", &t.rejected),
        ] {
            family
                .encode_family(&[("outcome", outcome)])?
                .encode_counter::<NoLabelSet, _, u64>(&value.load(Relaxed), None)?;
        }
        enc.encode_descriptor(
            "tether_leaks_flagged",
            "Copies and tasks logged for outliving the leak threshold.",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&t.leaks_flagged.load(Relaxed), None)?;
        enc.encode_descriptor(
            "tether_log_lines_dropped",
            "Log lines dropped because the log output could not keep up.",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&crate::log::dropped_lines(), None)?;
        enc.encode_descriptor(
            "tether_panics_quieted",
            "Panics counted instead of passed to the panic hook (repeats at one location).",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, u64>(&crate::panics::quieted(), None)?;
        #[cfg(feature = "redis")]
        {
            use crate::middleware::redis_store::{errors_total, StoreOp};
            let mut family = enc.encode_descriptor(
                "tether_store_errors",
                "Calls to the shared store (Redis) that failed, timed out or were skipped while it was down, by operation.",
                None,
                MetricType::Counter,
            )?;
            for op in StoreOp::ALL {
                family
                    .encode_family(&[("op", op.label())])?
                    .encode_counter::<NoLabelSet, _, u64>(&errors_total(op), None)?;
            }
        }
        Ok(())
    }
}
