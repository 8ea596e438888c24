//! Starting one tracked task: the cap, the registry entry, the deadline, the caught
//! panic, and the [`Ledger`] that books how it ended however that happens.

use std::borrow::Cow;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::handle::{stopped_outcome, Outcome, TaskHandle};
use super::hub::{Overflow, TaskHub};
use super::registry::{Kind, Origin, Registration};

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
    hub.task_alive();
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
    TaskHandle::started(join, deadline)
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
        hub.task_gone(self.has_slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskControl;

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
}
