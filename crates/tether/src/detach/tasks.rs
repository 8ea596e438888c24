//! Tracked background work: every task has a deadline, counts against a cap, can be
//! cancelled, has its panics caught, and is drained (then cut off) on shutdown — with
//! every outcome counted and the unusual ones logged with the task's name and call site.

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::registry::{Kind, Origin, Registration, Registry};

/// What happens to a task started when the cap on tasks in flight is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The task is not started: its handle reports [`Outcome::Rejected`], and the
    /// rejection is counted and logged. The default: load never piles up unseen.
    #[default]
    Reject,
    /// The task is started but waits for a free slot before it runs; its deadline runs
    /// while it waits, so a wait is bounded too.
    Wait,
}

/// How a tracked task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It ran to its end.
    Completed,
    /// Its deadline passed first; it was stopped.
    TimedOut,
    /// It was cancelled: by shutdown, by the end of its request (`tied()`), or by
    /// [`TaskHandle::cancel`].
    Cancelled,
    /// It panicked; the panic was caught and logged.
    Panicked,
    /// It never ran: the cap on tasks in flight was reached (`Overflow::Reject`).
    Rejected,
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
    fn try_take_slot(&self) -> bool {
        if self.running.fetch_add(1, SeqCst) < self.max() {
            return true;
        }
        self.running.fetch_sub(1, SeqCst);
        false
    }

    /// Waits for a slot (`Overflow::Wait`). A task aborted while it waits is counted out
    /// of `waiting` by the guard.
    async fn take_slot(&self) {
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

/// A task's view of its own life: its deadline, and whether it has been asked to stop.
/// `ContextCopy` answers the same questions for the task that holds it.
#[derive(Clone, Debug)]
pub struct TaskControl {
    /// The engine's hub, for its shutdown token. (Held through the hub's `Arc` rather than
    /// a token clone: cloning and dropping a `CancellationToken` each take a lock, which
    /// was a fifth of the cost of a copy.)
    hub: Arc<TaskHub>,
    tied: Option<CancellationToken>,
    deadline: Option<Instant>,
}

impl TaskControl {
    pub(crate) fn new(
        hub: &Arc<TaskHub>,
        tied: Option<CancellationToken>,
        deadline: Option<Instant>,
    ) -> Self {
        TaskControl { hub: hub.clone(), tied, deadline }
    }

    /// When the task will be stopped if it has not ended; `None` for no deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// True once the task has been asked to stop: shutdown began, its request ended
    /// (`tied()`), or its deadline passed.
    pub fn is_cancelled(&self) -> bool {
        self.hub.stopping.is_cancelled()
            || self.tied.as_ref().is_some_and(CancellationToken::is_cancelled)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Completes when the task is asked to stop (see [`is_cancelled`](Self::is_cancelled)).
    /// Use it to wind down cleanly:
    ///
    /// ```no_run
    /// # async fn demo(cp: tether::ContextCopy) {
    /// tokio::select! {
    ///     _ = cp.cancelled() => { /* save progress, then return */ }
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => { /* the work */ }
    /// }
    /// # }
    /// ```
    pub async fn cancelled(&self) {
        let tied = async {
            match &self.tied {
                Some(t) => t.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.hub.stopping.cancelled() => {}
            _ = tied => {}
            _ = deadline => {}
        }
    }
}

/// The handle of a tracked task. Dropping it leaves the task running (it is tracked
/// anyway); await [`outcome`](Self::outcome) to learn how it ended.
#[derive(Debug)]
pub struct TaskHandle {
    join: Option<JoinHandle<Outcome>>,
    deadline: Option<Instant>,
}

impl TaskHandle {
    fn rejected() -> Self {
        TaskHandle { join: None, deadline: None }
    }

    /// True when the task was rejected at the cap and never ran.
    pub fn is_rejected(&self) -> bool {
        self.join.is_none()
    }

    /// True once the task has ended (or was rejected).
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the task now; it ends as [`Outcome::Cancelled`].
    pub fn cancel(&self) {
        if let Some(j) = &self.join {
            j.abort();
        }
    }

    /// Waits for the task to end and tells how.
    pub async fn outcome(self) -> Outcome {
        match self.join {
            None => Outcome::Rejected,
            Some(j) => match j.await {
                Ok(outcome) => outcome,
                // Stopped from outside: by its deadline, or cancelled.
                Err(_) => stopped_outcome(self.deadline),
            },
        }
    }
}

/// How a task stopped from outside ended: timed out if its deadline has passed.
fn stopped_outcome(deadline: Option<Instant>) -> Outcome {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        Outcome::TimedOut
    } else {
        Outcome::Cancelled
    }
}

/// How to run one task.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) name: Option<Cow<'static, str>>,
    /// `None`: the engine's default. `Some(None)`: explicitly no deadline.
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) tied: Option<CancellationToken>,
    pub(crate) site: &'static Location<'static>,
    pub(crate) origin: Option<Origin>,
}

impl Spec {
    pub(crate) fn new(site: &'static Location<'static>) -> Self {
        Spec { name: None, timeout: None, tied: None, site, origin: None }
    }
}

/// The task's deadline from its spec and the engine's default.
pub(crate) fn timeout_for(hub: &TaskHub, spec: &Spec) -> Option<Duration> {
    spec.timeout.unwrap_or_else(|| hub.timeout())
}

/// Starts a tracked task running `work`; its `TaskControl` was made for `timeout`, which
/// ends at `deadline`.
pub(crate) fn spawn<F>(
    hub: &Arc<TaskHub>,
    spec: Spec,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    work: F,
) -> TaskHandle
where
    F: Future<Output = ()> + Send + 'static,
{
    let totals = &hub.registry.totals;
    let has_slot = hub.try_take_slot();
    if !has_slot && hub.overflow() == Overflow::Reject {
        totals.rejected.fetch_add(1, Relaxed);
        tracing::warn!(
            target: "tether::task",
            name = spec.name.as_deref().unwrap_or(""),
            site = %spec.site,
            max = hub.max(),
            "task rejected: the cap on tasks in flight is reached"
        );
        return TaskHandle::rejected();
    }
    totals.spawned.fetch_add(1, Relaxed);
    // SeqCst with the decrement: the alive / shutting_down handshake.
    hub.alive.fetch_add(1, SeqCst);
    let registration = hub.registry.add(Kind::Task, spec.site, spec.name, spec.origin, timeout);
    let entry = registration.shard_key();
    let ledger =
        Ledger { hub: hub.clone(), registration, deadline, site: spec.site, has_slot, outcome: None };
    // The future tokio stores and moves is kept small: the ledger carries only what the
    // end of the task needs, and the work is wrapped once, here.
    let work = AssertUnwindSafe(work).catch_unwind();
    let join = match (spec.tied, has_slot) {
        (None, true) => tokio::spawn(run(ledger, work)),
        (tied, _) => tokio::spawn(run_waiting(ledger, async move {
            match tied {
                None => Some(work.await),
                Some(tied) => tokio::select! {
                    biased;
                    done = work => Some(done),
                    _ = tied.cancelled() => None,
                },
            }
        })),
    };
    hub.registry.set_abort(&entry, join.abort_handle());
    TaskHandle { join: Some(join), deadline }
}

/// Runs a task that may first wait for a slot (`Overflow::Wait`; its deadline runs, and
/// the watchdog may stop it while it waits) or be tied to its request.
async fn run_waiting<W, R>(mut ledger: Ledger, work: W) -> Outcome
where
    W: Future<Output = R>,
    R: Into<Option<std::thread::Result<()>>>,
{
    if !ledger.has_slot {
        ledger.hub.take_slot().await;
        ledger.has_slot = true;
    }
    run(ledger, work).await
}

/// Runs a task's work: `Some(result)` when it ran to its end (or panicked), `None` when
/// its request ended first (`tied()`). The common case, kept to the smallest future.
async fn run<W, R>(mut ledger: Ledger, work: W) -> Outcome
where
    W: Future<Output = R>,
    R: Into<Option<std::thread::Result<()>>>,
{
    let outcome = match work.await.into() {
        Some(Ok(())) => Outcome::Completed,
        Some(Err(panic)) => {
            ledger.log_panic(crate::serve::panics::panic_message(&*panic));
            Outcome::Panicked
        }
        None => Outcome::Cancelled,
    };
    ledger.outcome = Some(outcome);
    outcome
}

/// Books a task's end, whatever it is — also when the task is stopped from outside
/// (deadline, shutdown, `TaskHandle::cancel`) or dropped with the runtime: then it counts
/// as timed out if its deadline has passed, as cancelled otherwise.
struct Ledger {
    hub: Arc<TaskHub>,
    registration: Registration,
    deadline: Option<Instant>,
    site: &'static Location<'static>,
    has_slot: bool,
    outcome: Option<Outcome>,
}

impl Ledger {
    fn name(&self) -> String {
        self.hub.registry.name_of(&self.registration).unwrap_or_default()
    }

    fn log_panic(&self, message: &str) {
        tracing::error!(target: "tether::task", name = %self.name(), site = %self.site, panic = message, "task panicked");
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let hub = &self.hub;
        let totals = &hub.registry.totals;
        let outcome = self.outcome.unwrap_or_else(|| stopped_outcome(self.deadline));
        let counter = match outcome {
            Outcome::Completed => &totals.completed,
            Outcome::TimedOut => &totals.timed_out,
            Outcome::Cancelled => &totals.cancelled,
            Outcome::Panicked => &totals.panicked,
            Outcome::Rejected => &totals.rejected,
        };
        counter.fetch_add(1, Relaxed);
        if matches!(outcome, Outcome::TimedOut | Outcome::Cancelled) {
            tracing::warn!(
                target: "tether::task",
                name = %self.name(),
                site = %self.site,
                "task {}",
                if outcome == Outcome::TimedOut { "timed out: its deadline passed" } else { "cancelled" }
            );
        }
        hub.registry.remove(&self.registration);
        if self.has_slot {
            hub.give_slot();
        }
        // SeqCst: the alive / shutting_down handshake (see `TaskHub::try_take_slot`).
        if hub.alive.fetch_sub(1, SeqCst) == 1 && hub.shutting_down.load(SeqCst) {
            hub.drained.notify_waiters();
        }
    }
}

/// Tracked background work that no request started — a periodic job, a cache refresher.
/// Same tracking as `c.go`: deadline, cap, cancellation on shutdown, panics caught, listed
/// in `/debug/leaks`. Get it with `app.tasks()`; it is cheap to clone.
///
/// ```no_run
/// # async fn demo() {
/// let app = tether::Engine::new();
/// let tasks = app.tasks();
/// // A ticker that stops on shutdown. No deadline: that has to be said explicitly.
/// tasks.detach().name("ticker").no_timeout().go(|ctl| async move {
///     let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
///     loop {
///         tokio::select! {
///             _ = ctl.cancelled() => return,
///             _ = tick.tick() => { /* refresh something */ }
///         }
///     }
/// });
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Tasks {
    pub(crate) hub: Arc<TaskHub>,
}

impl Tasks {
    /// Starts `f` as a tracked task with the engine's default deadline.
    #[track_caller]
    pub fn go<F, Fut>(&self, f: F) -> TaskHandle
    where
        F: FnOnce(TaskControl) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        TaskBuilder { tasks: self, spec: Spec::new(Location::caller()) }.go(f)
    }

    /// A task with options: `.name(..)`, `.timeout(..)` / `.no_timeout()`, then `.go(..)`.
    #[track_caller]
    pub fn detach(&self) -> TaskBuilder<'_> {
        TaskBuilder { tasks: self, spec: Spec::new(Location::caller()) }
    }

    /// Tasks in flight now.
    pub fn in_flight(&self) -> usize {
        self.hub.in_flight()
    }

    /// Counters of the engine's tasks and copies since it was made.
    pub fn stats(&self) -> TaskStats {
        let t = &self.hub.registry.totals;
        let (live_copies, live_tasks) = self.hub.registry.live();
        TaskStats {
            spawned: t.spawned.load(Relaxed),
            completed: t.completed.load(Relaxed),
            timed_out: t.timed_out.load(Relaxed),
            cancelled: t.cancelled.load(Relaxed),
            panicked: t.panicked.load(Relaxed),
            rejected: t.rejected.load(Relaxed),
            copies: t.copies.load(Relaxed),
            leaks_flagged: t.leaks_flagged.load(Relaxed),
            in_flight: self.hub.in_flight(),
            live_copies,
            live_tasks,
        }
    }
}

/// Counters of an engine's tracked tasks and copies (from [`Tasks::stats`]). A task is
/// counted once as spawned, then once by how it ended; a rejected one only as rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskStats {
    /// Tasks started.
    pub spawned: u64,
    /// Tasks that ran to their end.
    pub completed: u64,
    /// Tasks stopped at their deadline.
    pub timed_out: u64,
    /// Tasks cancelled (shutdown, `tied()`, `TaskHandle::cancel`).
    pub cancelled: u64,
    /// Tasks that panicked.
    pub panicked: u64,
    /// Tasks refused at the cap.
    pub rejected: u64,
    /// Copies made with `c.copy()` / `c.copy_only()`.
    pub copies: u64,
    /// Copies and tasks logged for outliving the leak threshold.
    pub leaks_flagged: u64,
    /// Tasks in flight now.
    pub in_flight: usize,
    /// Copies alive now (outside tasks).
    pub live_copies: usize,
    /// Tasks alive now.
    pub live_tasks: usize,
}

/// Options for a task of [`Tasks`].
#[derive(Debug)]
pub struct TaskBuilder<'t> {
    tasks: &'t Tasks,
    spec: Spec,
}

/// `name`, `timeout` and `no_timeout`, for both task builders (they keep a `spec: Spec`).
macro_rules! task_options {
    () => {
        /// Names the task in logs, `/debug/leaks` and leak checks.
        pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
            self.spec.name = Some(name.into());
            self
        }

        /// Stops the task after `timeout` instead of the engine's default.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.spec.timeout = Some(Some(timeout));
            self
        }

        /// No deadline: the task runs until it ends, is cancelled, or the server shuts
        /// down. It has to be asked for: a task without a deadline is how leaks start.
        pub fn no_timeout(mut self) -> Self {
            self.spec.timeout = Some(None);
            self
        }
    };
}
pub(crate) use task_options;

impl TaskBuilder<'_> {
    task_options!();

    /// Starts `f`.
    #[track_caller]
    pub fn go<F, Fut>(mut self, f: F) -> TaskHandle
    where
        F: FnOnce(TaskControl) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spec.site = Location::caller();
        let hub = &self.tasks.hub;
        let timeout = timeout_for(hub, &self.spec);
        let deadline = timeout.map(|d| Instant::now() + d);
        let control = TaskControl::new(hub, None, deadline);
        spawn(hub, self.spec, timeout, deadline, f(control))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_future_is_small() {
        let hub = Arc::new(TaskHub::default());
        let registration = hub.registry.add(Kind::Task, Location::caller(), None, None, None);
        let ledger = Ledger {
            hub: hub.clone(),
            registration,
            deadline: None,
            site: Location::caller(),
            has_slot: true,
            outcome: None,
        };
        let control = TaskControl::new(&hub, None, None);
        let user = async move {
            let _c = control;
            std::hint::black_box(1u64);
        };
        let work = AssertUnwindSafe(user).catch_unwind();
        let fut = run(ledger, work);
        let size = std::mem::size_of_val(&fut);
        println!("ledger {} bytes, task future {size} bytes", std::mem::size_of::<Ledger>());
        // The ledger, the user's future twice (argument and awaited), and little else.
        assert!(size <= 192, "{size}");
    }

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
