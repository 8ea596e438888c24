//! The room every copy and task of an engine shares ([`TaskHub`]): the task settings, the
//! cap on tasks in flight and its waiters, the drain on shutdown, the registry, and the
//! route patterns a leak report names routes by.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::registry::Registry;

/// What happens to a task started when the cap on tasks in flight is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The task is not started: its handle reports [`Outcome::Rejected`](crate::Outcome::Rejected), and the
    /// rejection is counted and logged. The default: load never piles up unseen.
    #[default]
    Reject,
    /// The task is started but waits for a free slot before it runs; its deadline runs
    /// while it waits, so a wait is bounded too.
    Wait,
}

/// The engine's settings for tasks; atomics, so that `app.tasks()` handed out before the
/// engine is served still sees later changes.
#[derive(Debug)]
pub(crate) struct TaskSettings {
    /// Default deadline in milliseconds; 0 means none.
    timeout_ms: AtomicU64,
    max: AtomicUsize,
    overflow: AtomicU8,
}

/// Everything the engine's copies and tasks share.
///
/// Nothing here is a lock that every task takes: the cap is an atomic count, deadlines and
/// shutdown's cut-off are enforced by the registry's watchdog through each task's
/// `AbortHandle`, and draining waits on an atomic in-flight count.
#[derive(Debug)]
pub(crate) struct TaskHub {
    pub(crate) registry: Arc<Registry>,
    pub(crate) settings: TaskSettings,
    /// Tasks counted against the cap (running).
    running: AtomicUsize,
    /// Tasks alive (running, or waiting for a slot under `Overflow::Wait`).
    alive: AtomicUsize,
    /// Tasks waiting for a slot; only then does a finishing task notify.
    waiting: AtomicUsize,
    slot_freed: Notify,
    /// Set when shutdown begins; only then does the last task to end notify.
    shutting_down: AtomicBool,
    drained: Notify,
    /// Cancelled when shutdown begins: copies and tasks are told to wrap up.
    pub(crate) stopping: CancellationToken,
    /// The route patterns of the frozen engine, by route id, once it is frozen: what a
    /// leak report names a task's or copy's route by. Data, not the engine itself, so
    /// that this room does not reach back into the engine.
    route_patterns: std::sync::OnceLock<Box<[Box<str>]>>,
}

/// Defaults: deadline 30 s, 10,000 tasks in flight, reject past the cap, leak threshold 60 s.
impl Default for TaskHub {
    fn default() -> Self {
        TaskHub {
            registry: Registry::new(Duration::from_secs(60)),
            settings: TaskSettings {
                timeout_ms: AtomicU64::new(30_000),
                max: AtomicUsize::new(10_000),
                overflow: AtomicU8::new(0),
            },
            running: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            slot_freed: Notify::new(),
            shutting_down: AtomicBool::new(false),
            drained: Notify::new(),
            stopping: CancellationToken::new(),
            route_patterns: std::sync::OnceLock::new(),
        }
    }
}

impl TaskHub {
    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |d| d.as_millis().max(1) as u64);
        self.settings.timeout_ms.store(ms, Relaxed);
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        match self.settings.timeout_ms.load(Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn set_max(&self, max: usize) {
        self.settings.max.store(max.max(1), Relaxed);
        self.slot_freed.notify_waiters();
    }

    pub(crate) fn max(&self) -> usize {
        self.settings.max.load(Relaxed)
    }

    pub(crate) fn set_overflow(&self, overflow: Overflow) {
        self.settings.overflow.store(overflow as u8, Relaxed);
    }

    pub(crate) fn overflow(&self) -> Overflow {
        match self.settings.overflow.load(Relaxed) {
            0 => Overflow::Reject,
            _ => Overflow::Wait,
        }
    }

    /// Keeps the route patterns of the engine being frozen (by route id).
    pub(crate) fn set_route_patterns(&self, patterns: Box<[Box<str>]>) {
        let _ = self.route_patterns.set(patterns);
    }

    /// `GET /user/:id` for a task or copy made by a request of `method` on route `id`;
    /// `GET (no route)` when it matched none or the engine is not frozen yet.
    pub(crate) fn route_label(&self, method: &http::Method, id: Option<usize>) -> String {
        match id.and_then(|id| self.route_patterns.get()?.get(id)) {
            Some(pattern) => format!("{method} {pattern}"),
            None => format!("{method} (no route)"),
        }
    }

    /// Tasks in flight (running or waiting for a slot).
    pub(crate) fn in_flight(&self) -> usize {
        // Relaxed: a figure for reports; draining reads it SeqCst.
        self.alive.load(Relaxed)
    }

    // Two handshakes here are Dekker patterns: each side writes one counter, then reads
    // the other's, and one of them must see the other's write or a wake-up is lost. Only
    // SeqCst orders a store before a later load of another location, so every access in
    // them is SeqCst:
    // - a waiter counts itself in `waiting`, then tries `running`; a finishing task gives
    //   back `running`, then reads `waiting` to decide whether to notify;
    // - shutdown sets `shutting_down`, then reads `alive`; the last task decrements
    //   `alive`, then reads `shutting_down` to decide whether to notify.
    // (The Notified future is made before the check, so a notify between the check and
    // the await is not lost either.)

    /// Takes a slot under the cap, if one is free.
    pub(super) fn try_take_slot(&self) -> bool {
        if self.running.fetch_add(1, SeqCst) < self.max() {
            return true;
        }
        self.running.fetch_sub(1, SeqCst);
        false
    }

    /// Waits for a slot (`Overflow::Wait`). A task aborted while it waits is counted out
    /// of `waiting` by the guard.
    pub(super) async fn take_slot(&self) {
        self.waiting.fetch_add(1, SeqCst);
        let _waiting = Waiting(&self.waiting);
        loop {
            let freed = self.slot_freed.notified();
            if self.try_take_slot() {
                break;
            }
            freed.await;
        }
    }

    fn give_slot(&self) {
        self.running.fetch_sub(1, SeqCst);
        if self.waiting.load(SeqCst) > 0 {
            self.slot_freed.notify_one();
        }
    }

    /// A task was started (it may still wait for a slot).
    pub(super) fn task_alive(&self) {
        // SeqCst with the decrement: the alive / shutting_down handshake.
        self.alive.fetch_add(1, SeqCst);
    }

    /// A task ended, however: its slot (if it had one) goes to a waiter, and the last
    /// task to end during shutdown wakes the drain.
    pub(super) fn task_gone(&self, had_slot: bool) {
        if had_slot {
            self.give_slot();
        }
        // SeqCst: the alive / shutting_down handshake (see `try_take_slot`).
        if self.alive.fetch_sub(1, SeqCst) == 1 && self.shutting_down.load(SeqCst) {
            self.drained.notify_waiters();
        }
    }

    /// Tasks waiting for a slot.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(SeqCst)
    }

    /// Shutdown begins: copies and tasks are told to wrap up.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, SeqCst);
        self.stopping.cancel();
    }

    /// Completes when every task has ended.
    pub(crate) async fn drained(&self) {
        loop {
            let drained = self.drained.notified();
            if self.alive.load(SeqCst) == 0 {
                return;
            }
            drained.await;
        }
    }

    /// The grace period is over: stops every task still running (each is logged and
    /// counted as cancelled) and waits for them to unwind.
    pub(crate) async fn cut_off(&self) {
        self.shutting_down.store(true, SeqCst);
        self.registry.abort_all();
        // An aborted task ends at its next poll; one stuck in blocking code is given a
        // little longer, then left to the runtime.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.drained()).await;
    }
}

/// Counts a waiting task out of `waiting` however its wait ends (a slot, or an abort).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    /// Many tasks through a cap of 2 on two worker threads: every hand-over of a slot
    /// must wake a waiter, and the last task must wake the drain. A lost wake-up shows as
    /// a hang, caught by the timeout.
    #[test]
    fn slot_and_drain_handshakes_lose_no_wake_up_under_contention() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            for round in 0..20 {
                let mut app = crate::Engine::new();
                app.max_tasks(2).task_overflow(Overflow::Wait);
                let tasks = app.tasks();
                let handles: Vec<_> = (0..200)
                    .map(|_| {
                        tasks.detach().go(|_| async {
                            tokio::task::yield_now().await;
                        })
                    })
                    .collect();
                let hub = tasks.hub.clone();
                hub.begin_shutdown();
                let all = async {
                    for h in handles {
                        assert_eq!(h.outcome().await, Outcome::Completed);
                    }
                    hub.drained().await;
                };
                tokio::time::timeout(Duration::from_secs(10), all).await.unwrap_or_else(|_| {
                    panic!("round {round}: a wake-up was lost ({} in flight)", hub.in_flight())
                });
                assert_eq!(hub.waiting(), 0);
            }
        });
    }

    #[test]
    fn a_task_aborted_while_it_waits_for_a_slot_is_counted_out() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut app = crate::Engine::new();
            app.max_tasks(1).task_overflow(Overflow::Wait);
            let tasks = app.tasks();
            let holder = tasks.detach().go(|ctl| async move { ctl.cancelled().await });
            let waiter = tasks.detach().go(|_| async {});
            tokio::task::yield_now().await;
            assert_eq!(tasks.hub.waiting(), 1);
            waiter.cancel();
            assert_eq!(waiter.outcome().await, Outcome::Cancelled);
            assert_eq!(tasks.hub.waiting(), 0, "the aborted waiter no longer counts");
            holder.cancel();
            holder.outcome().await;
        });
    }
}
