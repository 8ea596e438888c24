//! Handlers that capture configuration, as Gin's `func Auth(secret string) gin.HandlerFunc`.
//!
//! A plain `async |c: &mut Context| { .. }` closure is a handler only while it captures
//! nothing: the future it returns would borrow the closure, which the handler's type
//! cannot say. Two ways around it, both without an allocation per request:
//!
//! - [`handler_with`]: the captured value is passed to the closure by reference;
//! - [`handler_fn`]: the closure clones what it needs into an `async move` block.

use std::future::Future;

use crate::{Context, Handler, HandlerFuture};

/// A handler made of `state` and an async closure that receives it by reference on every
/// request: the closure captures nothing, `state` is the configuration.
///
/// ```
/// use tether::{handler_with, Context, Handler};
///
/// /// Gin's `func Auth(secret string) gin.HandlerFunc`.
/// fn auth(secret: String) -> impl Handler {
///     handler_with(secret, async |secret: &String, c: &mut Context| {
///         if c.get_header("x-token") != Some(secret.as_str()) {
///             c.abort_with_status(401);
///             return;
///         }
///         c.next().await;
///     })
/// }
///
/// let mut app = tether::Engine::new();
/// app.with(auth("s3cret".to_owned()));
/// ```
pub fn handler_with<S, F>(state: S, f: F) -> impl Handler
where
    S: Send + Sync + 'static,
    F: for<'a> StateFn<'a, S>,
{
    WithState { state, f }
}

/// An async function of a state reference and the context; see [`handler_with`]. It is
/// implemented for every such function and non-capturing closure.
pub trait StateFn<'a, S: 'a>: Send + Sync + 'static {
    /// The future returned for borrows of lifetime `'a`.
    type Future: Future<Output = ()> + Send + 'a;
    /// Calls the function.
    fn call_with(&self, state: &'a S, c: &'a mut Context) -> Self::Future;
}

impl<'a, S: 'a, F, Fut> StateFn<'a, S> for F
where
    F: Fn(&'a S, &'a mut Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'a,
{
    type Future = Fut;

    fn call_with(&self, state: &'a S, c: &'a mut Context) -> Fut {
        self(state, c)
    }
}

struct WithState<S, F> {
    state: S,
    f: F,
}

impl<S, F> Handler for WithState<S, F>
where
    S: Send + Sync + 'static,
    F: for<'a> StateFn<'a, S>,
{
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(self.f.call_with(&self.state, c))
    }
}

/// A handler from a closure that may capture anything (`move |c| ..`): it returns its
/// future as a [`HandlerFuture`], whose `async move` block owns clones of what it uses.
///
/// ```
/// use std::sync::Arc;
/// use tether::{handler_fn, Context, Handler, HandlerFuture};
///
/// fn greet(greeting: Arc<str>) -> impl Handler {
///     handler_fn(move |c: &mut Context| {
///         let greeting = greeting.clone();
///         HandlerFuture::new(async move {
///             let name = c.param("name").to_owned();
///             c.string(200, format!("{greeting}, {name}"));
///         })
///     })
/// }
///
/// let mut app = tether::Engine::new();
/// app.get("/hello/:name", greet("hello".into()));
/// ```
pub fn handler_fn<F>(f: F) -> impl Handler
where
    F: for<'a> Fn(&'a mut Context) -> HandlerFuture<'a> + Send + Sync + 'static,
{
    Capturing(f)
}

struct Capturing<F>(F);

impl<F> Handler for Capturing<F>
where
    F: for<'a> Fn(&'a mut Context) -> HandlerFuture<'a> + Send + Sync + 'static,
{
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        (self.0)(c)
    }
}
