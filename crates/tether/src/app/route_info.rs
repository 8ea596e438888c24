//! [`RouteInfo`]: one registered route, as `Engine::routes` (Gin's `r.Routes()`) lists them.

/// One registered route.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteInfo {
    /// The method (`GET`), or `ANY` for a route of every method.
    pub method: String,
    /// The pattern as registered, with its group's prefix: `/api/v1/todos/:id`.
    pub path: String,
}
