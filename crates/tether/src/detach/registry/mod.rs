//! The leak registry: every live copy and tracked task, with the line of code that made it.
//!
//! Registering must be cheap, because every `c.copy()` and `c.go(..)` does it: the
//! registry is split into shards, each a slab behind its own lock. A thread always uses
//! the same shard, so two requests on two threads never contend, and a slab reuses freed
//! slots, so a registration allocates nothing once the slab has grown to its working size.
//! Entries are removed on drop, from whichever thread.

use std::borrow::Cow;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http::Method;
use slab::Slab;
use tokio::task::AbortHandle;

mod report;
mod watchdog;

pub(crate) use report::{Mark, SiteReport};
use watchdog::watch;

/// A route's index in the frozen router (`routing::router::RouteId`), kept as a plain
/// number so that the registry needs nothing from the routing code.
type RouteId = usize;

const SHARDS: usize = 16;

/// What a registry entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// A `ContextCopy`.
    Copy,
    /// A tracked task (`c.go`, `c.detach().go`, `app.tasks()`).
    Task,
}

impl Kind {
    /// `"copy"` or `"task"`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Copy => "copy",
            Kind::Task => "task",
        }
    }
}

/// The request a copy or task came from.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) method: Method,
    pub(crate) route: Option<RouteId>,
}

/// One live copy or task. Kept small (it is the registry's whole cost per item): the
/// birth time is milliseconds since the registry started, the origin a method code and a
/// route index.
#[derive(Debug)]
struct Entry {
    site: &'static Location<'static>,
    name: Option<Cow<'static, str>>,
    /// A task's handle to stop it (its deadline passed, or shutdown's grace ran out).
    abort: Option<AbortHandle>,
    /// Tells this entry from a later one in the same slot.
    id: u32,
    /// Milliseconds since the registry started. 64 bits: a `u32` of milliseconds runs out
    /// after 49.7 days of uptime.
    born_ms: u64,
    /// A task's deadline, in the registry's milliseconds; 0 for none.
    deadline_ms: u64,
    /// `u32::MAX`: no route.
    route: u32,
    /// `METHODS` index; `u8::MAX`: no origin; `OTHER_METHOD`: a method outside the list.
    method: u8,
    kind: Kind,
    /// Already logged as past the leak threshold.
    flagged: bool,
    /// The task's timeout, for the watchdog's cadence (capped at `u32::MAX` ms, 49 days:
    /// any longer one gets the slowest tick anyway). Fits in the entry's padding.
    timeout_ms: u32,
}

const METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::CONNECT,
    Method::TRACE,
];
const OTHER_METHOD: u8 = 254;

impl Entry {
    fn origin(&self) -> Option<(Method, Option<RouteId>)> {
        let method = match self.method {
            u8::MAX => return None,
            OTHER_METHOD => Method::from_bytes(b"OTHER").expect("a valid token"),
            i => METHODS[i as usize].clone(),
        };
        Some((method, (self.route != u32::MAX).then_some(self.route as RouteId)))
    }
}

/// One shard: a slab of entries and the counter that numbers them.
#[derive(Debug, Default)]
struct Shard {
    slab: Slab<Entry>,
    next_id: u32,
}

/// Counters of everything the registry has seen.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) copies: AtomicU64,
    pub(crate) spawned: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) rejected: AtomicU64,
    /// Entries logged for outliving the leak threshold.
    pub(crate) leaks_flagged: AtomicU64,
}

/// The registry of one engine.
#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[Mutex<Shard>]>,
    start: Instant,
    /// Added to the clock: lets tests put the registry at day 50 of uptime.
    skew_ms: AtomicU64,
    /// The watchdog thread starts with the first registration.
    watchdog: std::sync::Once,
    /// Milliseconds since `start`, as of the watchdog's last tick: registering reads this
    /// instead of the clock. Birth times are early by at most a tick; deadlines get one
    /// tick added, so that they never fire early.
    coarse_ms: AtomicU64,
    /// The watchdog's current tick, in milliseconds.
    tick_ms: AtomicU64,
    this: Weak<Registry>,
    /// The shortest task deadline asked for, in milliseconds: the watchdog ticks a few
    /// times within it.
    shortest_timeout_ms: AtomicU64,
    pub(crate) totals: Totals,
    /// Leak threshold in milliseconds.
    threshold_ms: AtomicU64,
}

/// A live registration; remove it with [`Registry::remove`] (its owner does, on drop).
#[derive(Debug)]
pub(crate) struct Registration {
    shard: u16,
    key: u32,
    id: u32,
}

impl Registration {
    /// A second handle on the same registration (to reach it after the owner moved).
    pub(crate) fn shard_key(&self) -> Registration {
        Registration { shard: self.shard, key: self.key, id: self.id }
    }
}

thread_local! {
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Relaxed) % SHARDS
    };
}

impl Registry {
    pub(crate) fn new(threshold: Duration) -> Arc<Self> {
        Arc::new_cyclic(|this| Registry {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            start: Instant::now(),
            skew_ms: AtomicU64::new(0),
            watchdog: std::sync::Once::new(),
            coarse_ms: AtomicU64::new(0),
            tick_ms: AtomicU64::new(1000),
            this: this.clone(),
            shortest_timeout_ms: AtomicU64::new(u64::MAX),
            totals: Totals::default(),
            threshold_ms: AtomicU64::new(threshold.as_millis() as u64),
        })
    }

    pub(crate) fn set_threshold(&self, threshold: Duration) {
        self.threshold_ms.store(threshold.as_millis() as u64, Relaxed);
    }

    pub(crate) fn threshold(&self) -> Duration {
        Duration::from_millis(self.threshold_ms.load(Relaxed))
    }

    /// Registers a live copy or task made at `site`; a task with its deadline.
    pub(crate) fn add(
        &self,
        kind: Kind,
        site: &'static Location<'static>,
        name: Option<Cow<'static, str>>,
        origin: Option<Origin>,
        deadline: Option<Duration>,
    ) -> Registration {
        self.watchdog.call_once(|| watch(self.this.clone()));
        let shard = SHARD.try_with(|s| *s).unwrap_or(0);
        let (method, route) = match origin {
            None => (u8::MAX, u32::MAX),
            Some(o) => (
                METHODS.iter().position(|m| *m == o.method).map_or(OTHER_METHOD, |i| i as u8),
                o.route.map_or(u32::MAX, |r| r as u32),
            ),
        };
        let born_ms = self.coarse_ms.load(Relaxed);
        let (deadline_ms, timeout_ms) = match deadline {
            Some(d) => {
                let ms = d.as_millis().clamp(1, u64::MAX as u128) as u64;
                if ms < self.shortest_timeout_ms.load(Relaxed) {
                    self.shortest_timeout_ms.fetch_min(ms, Relaxed);
                }
                let deadline = born_ms.saturating_add(ms).saturating_add(self.tick_ms.load(Relaxed));
                (deadline, ms.min(u32::MAX as u64) as u32)
            }
            None => (0, 0),
        };
        let mut shard_ref = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        // Ids only need to tell apart the entries one slot holds over time: a counter per
        // shard, under the lock already held.
        shard_ref.next_id = shard_ref.next_id.wrapping_add(1);
        let id = shard_ref.next_id;
        let entry = Entry {
            site,
            name,
            abort: None,
            id,
            born_ms,
            deadline_ms,
            route,
            method,
            kind,
            flagged: false,
            timeout_ms,
        };
        let key = shard_ref.slab.insert(entry);
        Registration { shard: shard as u16, key: key as u32, id }
    }

    /// Gives a task's entry the handle that stops it.
    pub(crate) fn set_abort(&self, reg: &Registration, abort: AbortHandle) {
        let mut shard = self.shards[reg.shard as usize].lock().unwrap_or_else(|e| e.into_inner());
        // The task may have ended already, and its slot been reused: check the id.
        if let Some(e) = shard.slab.get_mut(reg.key as usize).filter(|e| e.id == reg.id) {
            e.abort = Some(abort);
        }
    }

    /// Removes a registration.
    pub(crate) fn remove(&self, reg: &Registration) {
        let mut shard = self.shards[reg.shard as usize].lock().unwrap_or_else(|e| e.into_inner());
        if shard.slab.get(reg.key as usize).is_some_and(|e| e.id == reg.id) {
            shard.slab.remove(reg.key as usize);
        }
    }

    /// The name of a live entry.
    pub(crate) fn name_of(&self, reg: &Registration) -> Option<String> {
        let shard = self.shards[reg.shard as usize].lock().unwrap_or_else(|e| e.into_inner());
        shard.slab.get(reg.key as usize).filter(|e| e.id == reg.id)?.name.as_deref().map(str::to_owned)
    }

    /// The registry's clock, in milliseconds since it started. A `u64` of milliseconds
    /// lasts 584 million years.
    pub(crate) fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_millis() as u64).saturating_add(self.skew_ms.load(Relaxed))
    }

    /// Moves the registry's clock forward, and the coarse clock with it (tests of long
    /// uptimes).
    #[cfg(test)]
    fn advance(&self, by: Duration) {
        self.skew_ms.fetch_add(by.as_millis() as u64, Relaxed);
        self.coarse_ms.store(self.now_ms(), Relaxed);
    }

    /// Live entries, by kind.
    pub(crate) fn live(&self) -> (usize, usize) {
        let (mut copies, mut tasks) = (0, 0);
        for shard in self.shards.iter() {
            for (_, e) in shard.lock().unwrap_or_else(|e| e.into_inner()).slab.iter() {
                match e.kind {
                    Kind::Copy => copies += 1,
                    Kind::Task => tasks += 1,
                }
            }
        }
        (copies, tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[track_caller]
    fn add_remove_and_group_by_site() {
        let r = Registry::new(Duration::from_secs(60));
        let a = r.add(Kind::Copy, Location::caller(), None, None, None);
        let b = r.add(Kind::Task, Location::caller(), Some("mail".into()), None, None);
        let c = r.add(Kind::Task, Location::caller(), Some("mail".into()), None, None);
        assert_eq!(r.live(), (1, 2));
        let sites = r.sites(None, &[]);
        assert_eq!(sites.len(), 2);
        let tasks = sites.iter().find(|s| s.kind == Kind::Task).unwrap();
        assert_eq!((tasks.live, tasks.names.clone()), (2, vec!["mail".to_string()]));
        r.remove(&a);
        r.remove(&b);
        r.remove(&c);
        assert_eq!(r.live(), (0, 0));
    }

    #[test]
    fn an_entry_is_small() {
        // 64-bit birth and deadline times made it 72 bytes (from 64): the price of not
        // failing after 49.7 days.
        assert!(std::mem::size_of::<Entry>() <= 72, "{}", std::mem::size_of::<Entry>());
    }

    #[test]
    fn slots_are_reused_without_growing() {
        let r = Registry::new(Duration::from_secs(60));
        let regs: Vec<_> =
            (0..100).map(|_| r.add(Kind::Copy, Location::caller(), None, None, None)).collect();
        regs.iter().for_each(|g| r.remove(g));
        let cap = |r: &Registry| r.shards.iter().map(|s| s.lock().unwrap().slab.capacity()).sum::<usize>();
        let before = cap(&r);
        for _ in 0..1000 {
            let g = r.add(Kind::Copy, Location::caller(), None, None, None);
            r.remove(&g);
        }
        assert_eq!(cap(&r), before);
    }

    #[test]
    fn many_threads_register_and_remove_concurrently() {
        let r = Registry::new(Duration::from_secs(60));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let g = r.add(Kind::Copy, Location::caller(), None, None, None);
                        let h = r.add(Kind::Task, Location::caller(), None, None, None);
                        r.remove(&g);
                        r.remove(&h);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(r.live(), (0, 0));
    }
}
