//! `/debug/vars`: the process and the engine in numbers, as JSON (like Go's expvar).
//! The soak tool samples it once a second.

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{json, Value};

use crate::Context;

/// Answers the figures as JSON.
pub(super) async fn vars(c: &mut Context) {
    let figures = figures(c);
    c.json(200, &figures);
}

fn figures(c: &Context) -> Value {
    let shared = c.shared.as_deref().expect("a context in use has its engine");
    let stats = &shared.stats;
    let hub = &shared.hub;
    let (live_copies, live_tasks) = hub.registry.live();
    let t = &hub.registry.totals;
    let memory = process_memory();
    let runtime = tokio::runtime::Handle::try_current().ok().map(|h| {
        let m = h.metrics();
        json!({ "workers": m.num_workers(), "alive_tasks": m.num_alive_tasks() })
    });
    json!({
        "uptime_secs": shared.started.elapsed().as_secs_f64(),
        "process": {
            "rss_bytes": memory.map(|m| m.rss),
            "peak_rss_bytes": memory.map(|m| m.peak),
        },
        "http": {
            "connections_open": stats.connections.load(Relaxed),
            "requests_in_flight": stats.in_flight.load(Relaxed),
            "requests_served": stats.served.load(Relaxed),
            "body_bytes_buffered": shared.body_budget.used(),
        },
        "detach": {
            "live_copies": live_copies,
            "live_tasks": live_tasks,
            "tasks_in_flight": hub.in_flight(),
            "copies_made": t.copies.load(Relaxed),
            "tasks_spawned": t.spawned.load(Relaxed),
            "tasks_completed": t.completed.load(Relaxed),
            "tasks_timed_out": t.timed_out.load(Relaxed),
            "tasks_cancelled": t.cancelled.load(Relaxed),
            "tasks_panicked": t.panicked.load(Relaxed),
            "tasks_rejected": t.rejected.load(Relaxed),
            "leaks_flagged": t.leaks_flagged.load(Relaxed),
        },
        "runtime": runtime,
        "log_lines_dropped": crate::log::dropped_lines(),
        "panics_quieted": crate::serve::panics::quieted(),
        "store_errors": store_errors(),
        "allocator": super::heap::allocator_figures(),
    })
}

/// Failed calls to a shared store (`RedisStore`), by operation; `null` without the
/// `redis` feature.
fn store_errors() -> serde_json::Value {
    #[cfg(feature = "redis")]
    {
        use crate::middleware::redis_store::{errors_total, StoreOp};
        StoreOp::ALL
            .iter()
            .map(|&op| (op.label().to_string(), serde_json::Value::from(errors_total(op))))
            .collect()
    }
    #[cfg(not(feature = "redis"))]
    serde_json::Value::Null
}

/// Resident and peak resident memory, from `/proc/self/status` (Linux); `None` elsewhere.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessMemory {
    pub(crate) rss: u64,
    pub(crate) peak: u64,
}

pub(crate) fn process_memory() -> Option<ProcessMemory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|k| k * 1024)
    };
    Some(ProcessMemory { rss: kib("VmRSS:")?, peak: kib("VmHWM:")? })
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let m = super::process_memory().expect("/proc/self/status");
            assert!(m.rss > 0 && m.peak >= m.rss, "{m:?}");
        }
    }
}
