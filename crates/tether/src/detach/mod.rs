//! Leak-proof background work: [`ContextCopy`], tracked tasks, and the leak registry.
//!
//! The engine owns a `TaskHub` (task settings, the registry, shutdown tokens) and `Context`
//! starts work here through `copy`, `go` and `detach`. The registry reaches back to the
//! engine (a `Weak`) only to name a task's route; that edge is what keeps `registry` and
//! `tasks` in the core's module cycle (`scripts/module_cycles.py`).

mod copy;
mod head;
pub(crate) mod registry;
pub(crate) mod tasks;

pub use copy::{ContextCopy, Detach};
pub use tasks::{Outcome, Overflow, TaskBuilder, TaskControl, TaskHandle, TaskStats, Tasks};
