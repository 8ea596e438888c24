//! Leak-proof background work: [`ContextCopy`], tracked tasks, and the leak registry.
//!
//! The engine owns a `TaskHub` (task settings, the registry, shutdown tokens) and `Context`
//! starts work here through `copy`, `go` and `detach`. The hub is handed the route
//! patterns as data when the engine freezes, to name a task's route, so nothing here
//! imports the engine and `detach` sits outside every module cycle
//! (`scripts/module_cycles.py`).

mod copy;
mod handle;
mod head;
pub(crate) mod hub;
pub(crate) mod registry;
mod spawn;
mod tasks;

pub use copy::{ContextCopy, Detach};
pub use handle::{Outcome, TaskControl, TaskHandle};
pub use hub::Overflow;
pub use tasks::{TaskBuilder, TaskStats, Tasks};
