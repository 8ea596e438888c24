//! [`Group`]: routes under a common prefix with their own middleware.

use http::Method;

use crate::handler::{share, Handler, SharedHandler};
use crate::router::join_paths;
use crate::Engine;

/// Routes under a common prefix, with middleware that runs for them only (after the
/// engine's). Created by `app.group("/v1")`; groups nest with `.group(..)`.
///
/// Middleware added with `.with` applies to the routes registered after it, as in Gin.
pub struct Group<'e> {
    engine: &'e mut Engine,
    prefix: String,
    middleware: Vec<SharedHandler>,
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
    pub(crate) fn new(engine: &'e mut Engine, prefix: String, middleware: Vec<SharedHandler>) -> Self {
        Group { engine, prefix, middleware }
    }

    /// Adds middleware for the routes registered on this group (and its subgroups) from now on.
    pub fn with(&mut self, middleware: impl Handler) -> &mut Self {
        self.middleware.push(share(middleware));
        self
    }

    /// A subgroup under `prefix`, inheriting this group's middleware.
    pub fn group(&mut self, prefix: &str) -> Group<'_> {
        let prefix = join_paths(&self.prefix, prefix);
        Group::new(self.engine, prefix, self.middleware.clone())
    }

    crate::mount::mount_methods!();

    /// The group's full prefix: `/v1/admin`.
    pub fn base_path(&self) -> &str {
        &self.prefix
    }

    /// Registers `handler` for `method` requests to `path` under this group.
    pub fn handle(&mut self, method: Method, path: &str, handler: impl Handler) -> &mut Self {
        let full = join_paths(&self.prefix, path);
        self.engine.add_route(Some(method), &full, &self.middleware, share(handler));
        self
    }

    /// Registers `handler` for every method at `path` under this group.
    pub fn any(&mut self, path: &str, handler: impl Handler) -> &mut Self {
        let full = join_paths(&self.prefix, path);
        self.engine.add_route(None, &full, &self.middleware, share(handler));
        self
    }

    method_shortcuts!();
}

/// `get`, `post`, ... as shortcuts of `handle`, for `Engine` and `Group` alike.
macro_rules! method_shortcuts {
    () => {
        $crate::group::method_shortcuts!(@one get GET "GET");
        $crate::group::method_shortcuts!(@one post POST "POST");
        $crate::group::method_shortcuts!(@one put PUT "PUT");
        $crate::group::method_shortcuts!(@one delete DELETE "DELETE");
        $crate::group::method_shortcuts!(@one patch PATCH "PATCH");
        $crate::group::method_shortcuts!(@one head HEAD "HEAD");
        $crate::group::method_shortcuts!(@one options OPTIONS "OPTIONS");
    };
    (@one $name:ident $method:ident $text:literal) => {
        #[doc = concat!("Registers `handler` for ", $text, " requests to `path`.")]
        pub fn $name(&mut self, path: &str, handler: impl $crate::Handler) -> &mut Self {
            self.handle(::http::Method::$method, path, handler)
        }
    };
}
pub(crate) use method_shortcuts;
