//! [`Routes`]: what an engine and a group have in common, as Gin's `IRoutes`.

use std::path::Path;

use http::Method;

use crate::app::handler::Handlers;
use crate::{Engine, Group};

/// Registering routes and middleware, on an [`Engine`] or a [`Group`] alike, as Gin's
/// `IRoutes`: a function that adds a set of routes takes `&mut impl Routes` and can put
/// them at the root or under any prefix.
///
/// `Engine` and `Group` have the same methods of their own, so calling `app.get(..)`
/// needs no import; the trait is for code that takes either.
///
/// ```
/// use tether::{Context, Engine, Routes};
///
/// fn users(r: &mut impl Routes) {
///     r.get("/users", async |c: &mut Context| c.string(200, "every user"));
///     r.get("/users/:id", async |c: &mut Context| {
///         let id = c.param("id").to_owned();
///         c.string(200, id);
///     });
/// }
///
/// let mut app = Engine::new();
/// users(&mut app); //                /users, /users/:id
/// users(&mut app.group("/v2")); //   /v2/users, /v2/users/:id
/// ```
pub trait Routes {
    /// Adds middleware: on an engine, for every request; on a group, for the routes
    /// registered on it from now on (see [`Engine::with`], [`Group::with`]).
    fn with(&mut self, middleware: impl Handlers) -> &mut Self;

    /// Registers `handler` for `method` requests to `path`; a tuple `(mw, h)` runs route
    /// middleware first.
    fn handle(&mut self, method: Method, path: &str, handler: impl Handlers) -> &mut Self;

    /// Registers `handler` for every method at `path`.
    fn any(&mut self, path: &str, handler: impl Handlers) -> &mut Self;

    /// `handle(GET, ..)`.
    fn get(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.handle(Method::GET, path, handler)
    }

    /// `handle(POST, ..)`.
    fn post(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.handle(Method::POST, path, handler)
    }

    /// `handle(PUT, ..)`.
    fn put(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.handle(Method::PUT, path, handler)
    }

    /// `handle(DELETE, ..)`.
    fn delete(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.handle(Method::DELETE, path, handler)
    }

    /// `handle(PATCH, ..)`.
    fn patch(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.handle(Method::PATCH, path, handler)
    }

    /// `handle(HEAD, ..)`.
    fn head(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.handle(Method::HEAD, path, handler)
    }

    /// `handle(OPTIONS, ..)`.
    fn options(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.handle(Method::OPTIONS, path, handler)
    }

    /// Serves the files under `root` at `prefix`, as [`Engine::static_dir`].
    fn static_dir(&mut self, prefix: &str, root: impl AsRef<Path>) -> &mut Self;

    /// Serves one file at `path`, as [`Engine::static_file`].
    fn static_file(&mut self, path: &str, file: impl AsRef<Path>) -> &mut Self;
}

/// Both implementations hand each method to the type's own method of the same name.
macro_rules! routes_by_inherent_methods {
    ($ty:ty) => {
        impl Routes for $ty {
            fn with(&mut self, middleware: impl Handlers) -> &mut Self {
                <$ty>::with(self, middleware)
            }
            fn handle(&mut self, method: Method, path: &str, handler: impl Handlers) -> &mut Self {
                <$ty>::handle(self, method, path, handler)
            }
            fn any(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
                <$ty>::any(self, path, handler)
            }
            fn static_dir(&mut self, prefix: &str, root: impl AsRef<Path>) -> &mut Self {
                <$ty>::static_dir(self, prefix, root)
            }
            fn static_file(&mut self, path: &str, file: impl AsRef<Path>) -> &mut Self {
                <$ty>::static_file(self, path, file)
            }
        }
    };
}

routes_by_inherent_methods!(Engine);
routes_by_inherent_methods!(Group<'_>);
