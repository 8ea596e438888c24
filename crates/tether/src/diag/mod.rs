//! Diagnostics routes, off unless mounted: `app.debug_routes("/debug")` mounts
//! `/debug/leaks` behind an access guard (loopback peers only, by default).
//!
//! The core does not depend on this room; it reads the engine's registry and counters.

mod access;
mod leaks;

pub use access::DebugAccess;

use crate::Engine;

impl Engine {
    /// Mounts the diagnostics routes under `prefix` (`/debug/leaks`), answering only
    /// peers on the loopback interface; anyone else gets a bare 403. Use
    /// [`debug_routes_with`](Self::debug_routes_with) for a token or to open them up.
    ///
    /// ```
    /// let mut app = tether::Engine::new();
    /// app.debug_routes("/debug");
    /// ```
    pub fn debug_routes(&mut self, prefix: &str) -> &mut Self {
        self.debug_routes_with(prefix, DebugAccess::Loopback)
    }

    /// Mounts the diagnostics routes under `prefix` with the given access rule.
    ///
    /// ```
    /// use tether::DebugAccess;
    /// let mut app = tether::Engine::new();
    /// app.debug_routes_with("/debug", DebugAccess::bearer("s3cret"));
    /// ```
    pub fn debug_routes_with(&mut self, prefix: &str, access: DebugAccess) -> &mut Self {
        let mut debug = self.group(prefix);
        debug.with(access);
        debug.get("/leaks", leaks::leaks);
        self
    }
}
