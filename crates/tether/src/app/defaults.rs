//! `Engine::default()`, Gin's `gin.Default()`: the one place the engine reaches for
//! shipped middleware. Kept apart so that the engine itself imports no middleware (and
//! `scripts/module_cycles.py` sees no edge from the core to `middleware`).

use crate::Engine;

impl Default for Engine {
    /// An engine with the `logger()` and `recovery()` middleware, as Gin's `gin.Default()`.
    /// Its [`run`](Engine::run) installs tether's non-blocking log subscriber
    /// ([`tether::log`](crate::log)) when the application set none, so the access log shows.
    fn default() -> Self {
        let mut app = Engine::new();
        app.with(crate::middleware::logger()).with(crate::middleware::recovery());
        app.settings.default_logging = true;
        app
    }
}
