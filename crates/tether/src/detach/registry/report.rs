//! What the leak registry reports: live entries grouped by call site ([`SiteReport`]),
//! optionally only those made after a [`Mark`].

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;

use super::{Kind, Registry, RouteId};

impl Registry {
    /// A mark in each shard's numbering: entries made after it are newer than the mark.
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).next_id).collect())
    }

    /// Live entries, grouped by call site and kind, sorted by site. With `since`, only
    /// entries made after that mark; entries named in `skip_names` are left out. Nothing is
    /// formatted while a shard is locked.
    pub(crate) fn sites(&self, since: Option<&Mark>, skip_names: &[String]) -> Vec<SiteReport> {
        let now = self.now_ms();
        let threshold = self.threshold();
        type Key = (&'static str, u32, u32, Kind);
        let mut by_site: BTreeMap<Key, SiteReport> = BTreeMap::new();
        for (i, shard) in self.shards.iter().enumerate() {
            for (_, e) in shard.lock().unwrap_or_else(|e| e.into_inner()).slab.iter() {
                if since.is_some_and(|m| (e.id.wrapping_sub(m.0[i]) as i32) <= 0) {
                    continue;
                }
                if e.name.as_deref().is_some_and(|n| skip_names.iter().any(|s| s == n)) {
                    continue;
                }
                let age = Duration::from_millis(now.saturating_sub(e.born_ms));
                let key = (e.site.file(), e.site.line(), e.site.column(), e.kind);
                let r = by_site.entry(key).or_insert_with(|| SiteReport {
                    site: String::new(),
                    kind: e.kind,
                    live: 0,
                    oldest: Duration::ZERO,
                    past_threshold: 0,
                    names: Vec::new(),
                    origins: Vec::new(),
                });
                r.live += 1;
                r.oldest = r.oldest.max(age);
                if age >= threshold {
                    r.past_threshold += 1;
                }
                if let Some(n) = &e.name {
                    if !r.names.iter().any(|x| x == n) {
                        r.names.push(n.to_string());
                    }
                }
                if let Some(o) = e.origin() {
                    if !r.origins.contains(&o) {
                        r.origins.push(o);
                    }
                }
            }
        }
        by_site
            .into_iter()
            .map(|((file, line, column, _), mut r)| {
                r.site = format!("{file}:{line}:{column}");
                r
            })
            .collect()
    }
}

/// Where each shard's numbering stood at some moment (see [`Registry::mark`]).
#[derive(Clone, Debug)]
pub(crate) struct Mark(Vec<u32>);

/// Live entries at one call site, of one kind.
#[derive(Clone, Debug)]
pub(crate) struct SiteReport {
    pub(crate) site: String,
    pub(crate) kind: Kind,
    pub(crate) live: usize,
    pub(crate) oldest: Duration,
    pub(crate) past_threshold: usize,
    pub(crate) names: Vec<String>,
    pub(crate) origins: Vec<(Method, Option<RouteId>)>,
}
