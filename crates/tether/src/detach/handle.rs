//! A task as its starter and the task itself see it: [`TaskHandle`] (await its
//! [`Outcome`], cancel it) and [`TaskControl`] (its deadline, whether to stop).

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::hub::TaskHub;

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
    /// The handle of a started task, which ends at `deadline` at the latest.
    pub(super) fn started(join: JoinHandle<Outcome>, deadline: Option<Instant>) -> Self {
        TaskHandle { join: Some(join), deadline }
    }

    /// The handle of a task refused at the cap.
    pub(super) fn rejected() -> Self {
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
pub(super) fn stopped_outcome(deadline: Option<Instant>) -> Outcome {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        Outcome::TimedOut
    } else {
        Outcome::Cancelled
    }
}
