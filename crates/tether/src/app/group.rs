//! [`Group`]: routes under a common prefix with their own middleware.

use std::marker::PhantomData;

use http::Method;

use crate::app::handler::{chain_of, Handlers, SharedHandler};
use crate::routing::pattern::join_paths;
use crate::routing::route_table::RouteTable;

/// Routes under a common prefix, with middleware that runs for them only (after the
/// engine's). Created by `app.group("/v1")` or `app.group_with("/v1", mw)`; groups nest
/// with `.group(..)`.
///
/// Middleware added with `.with` applies to the routes registered after it, as in Gin.
/// A group does not borrow the engine: several groups and the engine itself can take
/// routes in any order. (The lifetime parameter is kept so that code naming `Group<'_>`
/// compiles; it ties nothing.)
///
/// ```
/// # use tether::Context;
/// # async fn h(c: &mut Context) {}
/// let mut app = tether::Engine::new();
/// let mut v1 = app.group("/v1");
/// let mut v2 = app.group("/v2");
/// v1.get("/users", h);
/// app.get("/health", h);
/// v2.get("/users", h);
/// ```
pub struct Group<'e> {
    routes: RouteTable<SharedHandler>,
    prefix: String,
    middleware: Vec<SharedHandler>,
    _engine: PhantomData<&'e ()>,
}

impl std::fmt::Debug for Group<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("prefix", &self.prefix)
            .field("middleware", &self.middleware.len())
            .finish()
    }
}

impl<'e> Group<'e> {
    pub(crate) fn new(
        routes: RouteTable<SharedHandler>,
        prefix: String,
        middleware: Vec<SharedHandler>,
    ) -> Self {
        Group { routes, prefix, middleware, _engine: PhantomData }
    }

    /// Adds middleware for the routes registered on this group (and its subgroups) from
    /// now on. A tuple adds several, in order.
    pub fn with(&mut self, middleware: impl Handlers) -> &mut Self {
        self.middleware.extend(chain_of(middleware));
        self
    }

    /// A subgroup under `prefix`, inheriting this group's middleware.
    pub fn group(&mut self, prefix: &str) -> Group<'e> {
        self.group_with(prefix, ())
    }

    /// A subgroup under `prefix` with middleware of its own after this group's, as Gin's
    /// `g.Group("/admin", auth)`.
    pub fn group_with(&mut self, prefix: &str, middleware: impl Handlers) -> Group<'e> {
        let prefix = join_paths(&self.prefix, prefix);
        let mut chain = self.middleware.clone();
        middleware.append_to(&mut chain);
        Group::new(self.routes.clone(), prefix, chain)
    }

    crate::routing::mount::mount_methods!();

    /// The group's full prefix: `/v1/admin`.
    pub fn base_path(&self) -> &str {
        &self.prefix
    }

    /// Registers `handler` for `method` requests to `path` under this group. A tuple
    /// `(mw, handler)` runs route middleware first.
    pub fn handle(&mut self, method: Method, path: &str, handler: impl Handlers) -> &mut Self {
        let full = join_paths(&self.prefix, path);
        self.routes.add(Some(method), &full, &self.middleware, chain_of(handler));
        self
    }

    /// Registers `handler` for every method at `path` under this group.
    pub fn any(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        let full = join_paths(&self.prefix, path);
        self.routes.add(None, &full, &self.middleware, chain_of(handler));
        self
    }

    method_shortcuts!();
}

/// `get`, `post`, ... as shortcuts of `handle`, for `Engine` and `Group` alike.
macro_rules! method_shortcuts {
    () => {
        $crate::app::group::method_shortcuts!(@one get GET "GET");
        $crate::app::group::method_shortcuts!(@one post POST "POST");
        $crate::app::group::method_shortcuts!(@one put PUT "PUT");
        $crate::app::group::method_shortcuts!(@one delete DELETE "DELETE");
        $crate::app::group::method_shortcuts!(@one patch PATCH "PATCH");
        $crate::app::group::method_shortcuts!(@one head HEAD "HEAD");
        $crate::app::group::method_shortcuts!(@one options OPTIONS "OPTIONS");
    };
    (@one $name:ident $method:ident $text:literal) => {
        #[doc = concat!("Registers `handler` for ", $text, " requests to `path`; a tuple `(mw, h)` runs route middleware first.")]
        pub fn $name(&mut self, path: &str, handler: impl $crate::app::handler::Handlers) -> &mut Self {
            self.handle(::http::Method::$method, path, handler)
        }
    };
}
pub(crate) use method_shortcuts;
