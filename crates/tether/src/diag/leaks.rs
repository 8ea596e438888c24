//! `/debug/leaks`: live copies and tracked tasks by call site, with totals and settings.

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{json, Value};

use crate::detach::Overflow;
use crate::Context;

/// Answers the leak report as JSON (see the crate docs for its fields).
pub(super) async fn leaks(c: &mut Context) {
    let report = report(c);
    c.json(200, &report);
}

fn report(c: &Context) -> Value {
    let shared = c.shared.as_deref().expect("a context in use has its engine");
    let hub = &shared.hub;
    let registry = &hub.registry;
    let mut sites = registry.sites(None, &[]);
    sites.sort_by(|a, b| b.live.cmp(&a.live).then(b.oldest.cmp(&a.oldest)));
    let sites: Vec<Value> = sites
        .iter()
        .map(|s| {
            let routes: Vec<String> =
                s.origins.iter().map(|(m, id)| shared.hub.route_label(m, *id)).collect();
            json!({
                "site": s.site,
                "kind": s.kind.as_str(),
                "live": s.live,
                "oldest_secs": s.oldest.as_secs_f64(),
                "past_threshold": s.past_threshold,
                "names": s.names,
                "routes": routes,
            })
        })
        .collect();
    let (copies, tasks) = registry.live();
    let t = &registry.totals;
    json!({
        "live": { "copies": copies, "tasks": tasks },
        "sites": sites,
        "totals": {
            "copies": t.copies.load(Relaxed),
            "spawned": t.spawned.load(Relaxed),
            "completed": t.completed.load(Relaxed),
            "timed_out": t.timed_out.load(Relaxed),
            "cancelled": t.cancelled.load(Relaxed),
            "panicked": t.panicked.load(Relaxed),
            "rejected": t.rejected.load(Relaxed),
            "leaks_flagged": t.leaks_flagged.load(Relaxed),
        },
        "settings": {
            "leak_threshold_secs": registry.threshold().as_secs_f64(),
            "task_timeout_secs": hub.timeout().map(|d| d.as_secs_f64()),
            "max_tasks": hub.max(),
            "overflow": match hub.overflow() { Overflow::Reject => "reject", Overflow::Wait => "wait" },
            "tasks_in_flight": hub.in_flight(),
        },
    })
}
