//! The Prometheus text format of what [`Metrics`](crate::serve::route_stats::Metrics) recorded, with
//! prometheus-client (feature `metrics`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::app::frozen::FrozenEngine;
use crate::serve::route_stats::BUCKETS;
use crate::Context;

/// Answers the exposition.
pub(super) async fn metrics(c: &mut Context) {
    let shared = c.shared.clone().expect("a context in use has its engine");
    match exposition(shared) {
        Ok(text) => c.data(200, "text/plain; version=0.0.4; charset=utf-8", text),
        Err(e) => {
            tracing::error!(target: "tether", error = %e, "could not encode metrics");
            c.string(500, "could not encode metrics");
        }
    }
}

/// The whole exposition of one engine, in the Prometheus text format.
fn exposition(shared: Arc<FrozenEngine>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(EngineCollector(shared)));
    let mut text = String::with_capacity(4096);
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

struct EngineCollector(Arc<FrozenEngine>);

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
        .encode_counter::<NoLabelSet, _, u64>(&crate::serve::panics::quieted(), None)?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::routing::router::Matched;
    use crate::Engine;

    /// An engine with `/metrics` on and two routes, frozen as for serving.
    fn shared() -> Arc<FrozenEngine> {
        let mut app = Engine::new();
        app.metrics_route("/metrics");
        app.get("/user/:id", async |c: &mut Context| c.string(200, "u"));
        app.post("/user", async |c: &mut Context| c.string(201, "made"));
        app.into_shared()
    }

    fn route(shared: &FrozenEngine, pattern: &str) -> Matched {
        Matched::Route(shared.router.routes.iter().position(|r| &*r.pattern == pattern).expect("the route"))
    }

    fn samples(text: &str) -> Vec<prometheus_parse::Sample> {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        prometheus_parse::Scrape::parse(lines).expect("parses as Prometheus text").samples
    }

    fn value(samples: &[prometheus_parse::Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let s = samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))?;
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn requests_are_encoded_by_route_pattern_method_and_status() {
        let shared = shared();
        let metrics = shared.metrics.as_ref().unwrap();
        let user = route(&shared, "/user/:id");
        for _ in 0..3 {
            metrics.record(user, 200, Duration::from_micros(300));
        }
        metrics.record(user, 404, Duration::from_millis(30));
        metrics.record(route(&shared, "/user"), 201, Duration::from_secs(9));
        metrics.record(Matched::NoRoute, 404, Duration::from_micros(10));
        metrics.record(Matched::NoMethod, 405, Duration::from_micros(10));

        let text = exposition(shared.clone()).unwrap();
        let s = samples(&text);
        let requests = "tether_http_requests_total";
        assert_eq!(
            value(&s, requests, &[("route", "/user/:id"), ("method", "GET"), ("status", "200")]),
            Some(3.0)
        );
        assert_eq!(value(&s, requests, &[("route", "/user/:id"), ("status", "404")]), Some(1.0));
        assert_eq!(
            value(&s, requests, &[("route", "/user"), ("method", "POST"), ("status", "201")]),
            Some(1.0)
        );
        assert_eq!(value(&s, requests, &[("route", "(no route)"), ("method", "*")]), Some(1.0));
        assert_eq!(value(&s, requests, &[("route", "(method not allowed)"), ("status", "405")]), Some(1.0));
        // Statuses never seen, and routes never hit, are not encoded at all.
        assert_eq!(value(&s, requests, &[("route", "/metrics")]), None);
        assert!(!text.contains("status=\"other\""), "{text}");
    }

    #[test]
    fn the_latency_histogram_is_cumulative_with_sum_and_count() {
        let shared = shared();
        let metrics = shared.metrics.as_ref().unwrap();
        let user = route(&shared, "/user/:id");
        metrics.record(user, 200, Duration::from_micros(300)); // <= 0.0005
        metrics.record(user, 200, Duration::from_millis(30)); // <= 0.05
        metrics.record(user, 200, Duration::from_secs(9)); // past 5 s: only in +Inf
        let text = exposition(shared.clone()).unwrap();
        let s = samples(&text);
        let h = s
            .iter()
            .find(|s| {
                s.metric == "tether_http_request_duration_seconds"
                    && s.labels.get("route") == Some("/user/:id")
            })
            .expect("a histogram for the route");
        let prometheus_parse::Value::Histogram(buckets) = &h.value else { panic!("{:?}", h.value) };
        let at = |le: f64| buckets.iter().find(|b| b.less_than == le).map(|b| b.count);
        assert_eq!(at(0.0005), Some(1.0));
        assert_eq!(at(0.025), Some(1.0));
        assert_eq!(at(0.05), Some(2.0), "buckets are cumulative");
        assert_eq!(at(5.0), Some(2.0));
        assert_eq!(at(f64::INFINITY), Some(3.0));
        let count = s.iter().find(|s| s.metric == "tether_http_request_duration_seconds_count").unwrap();
        assert!(
            matches!(
                count.value,
                prometheus_parse::Value::Untyped(3.0) | prometheus_parse::Value::Counter(3.0)
            ),
            "{count:?}"
        );
        let sum = s.iter().find(|s| s.metric == "tether_http_request_duration_seconds_sum").unwrap();
        let (prometheus_parse::Value::Untyped(sum) | prometheus_parse::Value::Counter(sum)) = sum.value
        else {
            panic!()
        };
        assert!((sum - 9.0303).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn every_family_has_help_and_type_and_gauges_start_at_zero() {
        let text = exposition(shared()).unwrap();
        for family in [
            "tether_http_requests_in_flight",
            "tether_live_tasks",
            "tether_tasks_finished_total",
            "tether_log_lines_dropped_total",
        ] {
            assert!(text.contains(&format!("# HELP {family} ")), "{family}: {text}");
            assert!(text.contains(&format!("# TYPE {family} ")), "{family}: {text}");
        }
        let s = samples(&text);
        assert_eq!(value(&s, "tether_http_requests_in_flight", &[]), Some(0.0));
        assert_eq!(value(&s, "tether_tasks_finished_total", &[("outcome", "timed_out")]), Some(0.0));
        // The 0.0.4 text format the route declares has no OpenMetrics `# EOF` line.
        assert!(text.ends_with('\n') && !text.contains("# EOF"), "{:?}", &text[text.len() - 80..]);
    }
}
