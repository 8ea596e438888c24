//! [`RouteInfo`]: the registered routes, as Gin's `r.Routes()`.

use crate::Engine;

/// One registered route.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteInfo {
    /// The method (`GET`), or `ANY` for a route of every method.
    pub method: String,
    /// The pattern as registered, with its group's prefix: `/api/v1/todos/:id`.
    pub path: String,
}

impl Engine {
    /// The routes registered so far, in order (Gin's `r.Routes()`): for an index page, a
    /// startup log, or a test that the routes a client needs exist.
    ///
    /// ```
    /// # use tether::Context;
    /// let mut app = tether::Engine::new();
    /// app.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    /// app.group("/v1").post("/users", async |c: &mut Context| c.status(201));
    /// let routes: Vec<String> = app.routes().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    /// assert_eq!(routes, ["GET /ping", "POST /v1/users"]);
    /// ```
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.route_table().infos()
    }
}
