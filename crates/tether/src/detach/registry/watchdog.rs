//! The registry's watchdog: a thread that, a few times per leak threshold and per
//! shortest task deadline, stops tasks past their deadline and logs entries past the
//! threshold; and the stop of every task when shutdown's grace runs out.

use std::borrow::Cow;
use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Weak;
use std::time::Duration;

use super::{Kind, Registry};

impl Registry {
    /// Stops every task whose deadline has passed. Returns how many.
    ///
    /// It also sets the watchdog's cadence to the shortest deadline among the tasks still
    /// live, so that one short-lived task does not keep the watchdog ticking fast forever.
    pub(crate) fn expire(&self) -> usize {
        let now = self.now_ms();
        let mut stopped = 0;
        let mut shortest = u64::MAX;
        // A deadline is the coarse birth time + the timeout + the tick at that time.
        for shard in self.shards.iter() {
            for (_, e) in shard.lock().unwrap_or_else(|e| e.into_inner()).slab.iter_mut() {
                if e.deadline_ms == 0 {
                    continue;
                }
                if e.deadline_ms <= now {
                    if let Some(abort) = e.abort.take() {
                        abort.abort();
                        stopped += 1;
                    }
                } else {
                    // The timeout as given: the deadline also holds the tick of its time,
                    // which the watchdog may have changed since.
                    shortest = shortest.min(u64::from(e.timeout_ms.max(1)));
                }
            }
        }
        // A task registered during the scan and not seen by it is seen by the next one,
        // at most a tick (≤ 1 s) later.
        self.shortest_timeout_ms.store(shortest, Relaxed);
        stopped
    }

    /// Stops every live task (shutdown's grace period is over). Returns how many.
    pub(crate) fn abort_all(&self) -> usize {
        let mut stopped = 0;
        for shard in self.shards.iter() {
            for (_, e) in shard.lock().unwrap_or_else(|e| e.into_inner()).slab.iter_mut() {
                if let Some(abort) = e.abort.take() {
                    abort.abort();
                    stopped += 1;
                }
            }
        }
        stopped
    }

    /// Logs, once each, the entries that have outlived the leak threshold. Returns how
    /// many were newly flagged. The lines are written after each shard's lock is released,
    /// so a slow log never holds up a registration.
    pub(crate) fn flag_old(&self) -> usize {
        let threshold = self.threshold();
        let now = self.now_ms();
        let mut found: Vec<(Kind, &'static Location<'static>, Duration, Option<Cow<'static, str>>)> =
            Vec::new();
        for shard in self.shards.iter() {
            for (_, e) in shard.lock().unwrap_or_else(|e| e.into_inner()).slab.iter_mut() {
                let age = Duration::from_millis(now.saturating_sub(e.born_ms));
                if e.flagged || age < threshold {
                    continue;
                }
                e.flagged = true;
                found.push((e.kind, e.site, age, e.name.clone()));
            }
        }
        for (kind, site, age, name) in &found {
            tracing::warn!(
                target: "tether::leak",
                kind = kind.as_str(),
                site = %format_args!("{}:{}:{}", site.file(), site.line(), site.column()),
                age = ?age,
                name = name.as_deref().unwrap_or(""),
                "a {} has outlived the leak threshold of {:?}",
                kind.as_str(),
                threshold
            );
        }
        self.totals.leaks_flagged.fetch_add(found.len() as u64, Relaxed);
        found.len()
    }
}

/// The watchdog thread: a few times per leak threshold and per shortest task deadline, it
/// stops tasks past their deadline and logs entries past the threshold. It ends when the
/// registry is dropped. A thread rather than tokio timers: a timer per task costs every
/// task a lock on the runtime's timer wheel, twice, and a registry can outlive a runtime.
pub(super) fn watch(weak: Weak<Registry>) {
    let spawned = std::thread::Builder::new().name("tether-watchdog".into()).spawn(move || loop {
        let Some(registry) = weak.upgrade() else { return };
        let shortest = Duration::from_millis(registry.shortest_timeout_ms.load(Relaxed));
        let tick =
            (registry.threshold().min(shortest) / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        registry.tick_ms.store(tick.as_millis() as u64, Relaxed);
        registry.coarse_ms.store(registry.now_ms(), Relaxed);
        registry.expire();
        registry.flag_old();
        drop(registry);
        std::thread::sleep(tick);
    });
    if let Err(e) = spawned {
        tracing::warn!(target: "tether", error = %e, "could not start the watchdog thread: deadlines and leak logs are off");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detach::registry::Registration;

    /// Registers a task with `deadline` at the registry's current coarse time.
    fn task(r: &Registry, deadline: Duration) -> (Registration, tokio::task::JoinHandle<()>) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let handle = rt.spawn(std::future::pending::<()>());
        let reg = r.add(Kind::Task, Location::caller(), None, None, Some(deadline));
        r.set_abort(&reg, handle.abort_handle());
        // The runtime is dropped here; the abort handle still reports the abort call.
        (reg, handle)
    }

    #[test]
    fn the_cadence_recovers_after_a_short_deadline_ends() {
        let r = Registry::new(Duration::from_secs(3600));
        let (short, _a) = task(&r, Duration::from_millis(20));
        let (long, _b) = task(&r, Duration::from_secs(30));
        assert_eq!(r.shortest_timeout_ms.load(Relaxed), 20);
        r.remove(&short);
        r.expire();
        // Within a tick of 30 s: the watchdog may have changed its tick since the add.
        let cadence = r.shortest_timeout_ms.load(Relaxed);
        assert!((29_000..=30_000).contains(&cadence), "back to the live tasks' shortest: {cadence}");
        r.remove(&long);
        r.expire();
        assert_eq!(r.shortest_timeout_ms.load(Relaxed), u64::MAX);
    }

    #[test]
    fn deadlines_hold_after_fifty_days_of_uptime() {
        let r = Registry::new(Duration::from_secs(3600));
        r.advance(Duration::from_secs(50 * 24 * 3600));
        let (reg, _h) = task(&r, Duration::from_secs(30));
        assert_eq!(r.expire(), 0, "a 30 s task must not be stopped at once on day 50");
        r.advance(Duration::from_secs(29));
        assert_eq!(r.expire(), 0, "nor before its deadline");
        r.advance(Duration::from_secs(2) + Duration::from_millis(r.tick_ms.load(Relaxed)));
        assert_eq!(r.expire(), 1, "and it is stopped once the deadline has passed");
        r.remove(&reg);
    }

    #[test]
    fn deadlines_and_ages_across_the_32_bit_wrap() {
        let r = Registry::new(Duration::from_secs(3600));
        // Ten seconds before 2^32 ms (49.7 days), where a u32 clock saturated.
        r.advance(Duration::from_millis(u32::MAX as u64 - 10_000));
        let (reg, _h) = task(&r, Duration::from_secs(30));
        r.advance(Duration::from_secs(20));
        assert_eq!(r.expire(), 0, "still 10 s to go after the wrap");
        let sites = r.sites(None, &[]);
        assert_eq!(sites[0].oldest.as_secs(), 20, "the age is counted across the wrap");
        assert_eq!(r.flag_old(), 0, "20 s is not past a 1 h threshold");
        r.advance(Duration::from_secs(12));
        assert_eq!(r.expire(), 1);
        r.remove(&reg);
    }

    #[test]
    fn old_entries_are_flagged_once() {
        let r = Registry::new(Duration::from_millis(0));
        let a = r.add(Kind::Task, Location::caller(), None, None, None);
        assert_eq!(r.flag_old(), 1);
        assert_eq!(r.flag_old(), 0, "each entry is logged once");
        assert_eq!(r.totals.leaks_flagged.load(Relaxed), 1);
        r.remove(&a);
    }
}
