//! What a handler is: an async function of `&mut Context`.
//!
//! Handlers and middleware share one shape. `async fn h(c: &mut Context)` and
//! non-capturing `async |c: &mut Context| { .. }` closures are handlers as they are.
//! A type that needs configuration (most middleware) implements [`Handler`] itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::Context;

/// The boxed future a [`Handler`] returns: one allocation per handler call.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Something that handles a request through its [`Context`].
///
/// You rarely implement this: any `async fn(&mut Context)` already is one. Implement it
/// for a struct when the handler carries configuration, as middleware usually does:
///
/// ```
/// use tether::{BoxFuture, Context, Handler};
///
/// struct Tag(&'static str);
///
/// impl Handler for Tag {
///     fn call<'a>(&'a self, c: &'a mut Context) -> BoxFuture<'a> {
///         Box::pin(async move {
///             c.next().await;
///             c.header("x-tag", self.0);
///         })
///     }
/// }
///
/// let mut app = tether::Engine::new();
/// app.with(Tag("v1"));
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Runs the handler on `c`.
    fn call<'a>(&'a self, c: &'a mut Context) -> BoxFuture<'a>;
}

/// The shape of an async function of `&mut Context`, with its future named per lifetime.
///
/// This is the helper that lets `async fn h(c: &mut Context)` be a [`Handler`] on stable
/// Rust: the future borrows `c`, so its type depends on the borrow's lifetime, which a
/// plain `Fn(&mut Context) -> F` bound cannot say. It is implemented for every such
/// function and closure; you never implement it yourself.
pub trait HandlerFn<'a>: Send + Sync + 'static {
    /// The future returned for a borrow of lifetime `'a`.
    type Future: Future<Output = ()> + Send + 'a;
    /// Calls the function.
    fn call_fn(&self, c: &'a mut Context) -> Self::Future;
}

impl<'a, F, Fut> HandlerFn<'a> for F
where
    F: Fn(&'a mut Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'a,
{
    type Future = Fut;

    fn call_fn(&self, c: &'a mut Context) -> Fut {
        self(c)
    }
}

impl<F> Handler for F
where
    F: for<'a> HandlerFn<'a>,
{
    fn call<'a>(&'a self, c: &'a mut Context) -> BoxFuture<'a> {
        Box::pin(self.call_fn(c))
    }
}

/// A handler behind a shared pointer, as the route table stores it.
pub(crate) type SharedHandler = Arc<dyn Handler>;

/// A route's whole chain: global middleware, group middleware, then the handler.
pub(crate) type Chain = Arc<[SharedHandler]>;

pub(crate) fn share(h: impl Handler) -> SharedHandler {
    Arc::new(h)
}
