//! Leak-proof background work: [`ContextCopy`], tracked tasks, and the leak registry.
//!
//! The core does not depend on this room; it hooks in through the engine's `Hub` (task
//! settings, registry, shutdown tokens) and a few `Context` methods (`copy`, `go`, `detach`).

mod copy;
mod head;
pub(crate) mod registry;
pub(crate) mod tasks;

pub use copy::{ContextCopy, Detach};
pub use tasks::{Outcome, Overflow, TaskBuilder, TaskControl, TaskHandle, TaskStats, Tasks};
