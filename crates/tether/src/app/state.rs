//! Application state: one value per type, registered on the engine, read by handlers.

use std::any::{Any, TypeId};

/// Values registered with `app.state(..)`, one per type.
#[derive(Default)]
pub(crate) struct StateMap {
    values: Vec<(TypeId, Box<dyn Any + Send + Sync>)>,
}

impl StateMap {
    /// Stores `value`, replacing an earlier value of the same type.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        self.values.retain(|(t, _)| *t != id);
        self.values.push((id, Box::new(value)));
    }

    /// The value of type `T`, if one was stored.
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.values.iter().find(|(t, _)| *t == id)?.1.downcast_ref()
    }
}

impl std::fmt::Debug for StateMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateMap({} values)", self.values.len())
    }
}

/// The state `found`, or the panic that names the type nobody registered: what
/// `c.state()` and `cp.state()` do with a missing state (a bug in the app's setup, not
/// in the request).
#[track_caller]
pub(crate) fn registered<T>(found: Option<&T>) -> &T {
    match found {
        Some(v) => v,
        None => panic!(
            "tether: no state of type {} was registered; call app.state(..) first",
            std::any::type_name::<T>()
        ),
    }
}
