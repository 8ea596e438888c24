//! [`RouteTable`]: the routes while the application is being built, shared by the engine
//! and every group, so that groups do not borrow the engine (Gin's `v1 := r.Group("/v1")`
//! beside `r.GET(..)` and a second group, in any order).

use std::sync::{Arc, Mutex, MutexGuard};

use http::Method;

use crate::routing::router::Router;

/// A handle on the routes being registered, with chains of `H` (the engine's handlers);
/// clones share them.
pub(crate) struct RouteTable<H>(Arc<Mutex<Building<H>>>);

struct Building<H> {
    router: Router<H>,
    /// The engine was served: its routes were taken, and a route added now would be lost.
    frozen: bool,
}

impl<H> Clone for RouteTable<H> {
    fn clone(&self) -> Self {
        RouteTable(self.0.clone())
    }
}

impl<H> Default for RouteTable<H> {
    fn default() -> Self {
        RouteTable(Arc::new(Mutex::new(Building { router: Router::default(), frozen: false })))
    }
}

impl<H: Clone> RouteTable<H> {
    /// Adds a route whose chain is `group_middleware` then `handlers` (the engine's
    /// middleware goes in front when it is frozen).
    ///
    /// # Panics
    /// If the route has no handler, conflicts with one registered before, or the engine
    /// is already served.
    pub(crate) fn add(&self, method: Option<Method>, path: &str, group_middleware: &[H], handlers: Vec<H>) {
        assert!(!handlers.is_empty(), "route {path:?} has no handler");
        let chain: Arc<[H]> = group_middleware.iter().cloned().chain(handlers).collect();
        let mut building = self.lock();
        assert!(
            !building.frozen,
            "route {path:?} registered after the engine was served: register every route before `run`"
        );
        building.router.add(method, path, chain);
    }

    /// The routes registered so far.
    pub(crate) fn infos(&self) -> Vec<crate::RouteInfo> {
        let building = self.lock();
        building
            .router
            .routes
            .iter()
            .map(|r| crate::RouteInfo {
                method: r.method.as_ref().map_or("ANY", |m| m.as_str()).to_owned(),
                path: r.pattern.to_string(),
            })
            .collect()
    }

    /// Takes the routes for serving; later registrations panic.
    pub(crate) fn take(&self) -> Router<H> {
        let mut building = self.lock();
        building.frozen = true;
        std::mem::take(&mut building.router)
    }

    fn lock(&self) -> MutexGuard<'_, Building<H>> {
        // A panic while adding a route (a conflict) leaves the table as it was.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<H: Clone> std::fmt::Debug for RouteTable<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.lock().router.fmt(f)
    }
}
