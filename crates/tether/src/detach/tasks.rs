//! Tracked background work that no request started: [`Tasks`] (from `app.tasks()`), its
//! builder, and the totals ([`TaskStats`]). Every task has a deadline, counts against a
//! cap, can be cancelled, has its panics caught, and is drained (then cut off) on shutdown
//! — with every outcome counted and the unusual ones logged with its name and call site.

use std::future::Future;
use std::panic::Location;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;

use tokio::time::Instant;

use super::handle::{TaskControl, TaskHandle};
use super::hub::TaskHub;
use super::spawn::{spawn, timeout_for, Spec};

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
