//! What a handler is: an async function of `&mut Context`.
//!
//! Handlers and middleware share one shape. `async fn h(c: &mut Context)` and
//! non-capturing `async |c: &mut Context| { .. }` closures are handlers as they are.
//! A type that needs configuration (most middleware) implements [`Handler`] itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use stackfuture::StackFuture;

use crate::Context;

/// A boxed handler future; converts into a [`HandlerFuture`] with `.into()`.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Bytes a handler's future may take and still be stored without a heap allocation.
/// Most handlers' futures are far smaller; a larger one is boxed.
const INLINE: usize = 64;

pin_project_lite::pin_project! {
    /// The future a [`Handler`] returns. It is stored inline when it takes at most 64
    /// bytes, as most handlers' futures do, and boxed otherwise; either way calling
    /// a handler is a virtual call, like `Box<dyn Future>`, without an allocation per
    /// request in the common case.
    pub struct HandlerFuture<'a> {
        #[pin]
        inner: StackFuture<'a, (), INLINE>,
    }
}

impl<'a> HandlerFuture<'a> {
    /// Wraps `future`: inline when it fits, boxed when it does not.
    pub fn new(future: impl Future<Output = ()> + Send + 'a) -> Self {
        HandlerFuture { inner: StackFuture::from_or_box(future) }
    }
}

impl<'a> From<BoxFuture<'a>> for HandlerFuture<'a> {
    fn from(boxed: BoxFuture<'a>) -> Self {
        HandlerFuture { inner: StackFuture::from(boxed) }
    }
}

impl Future for HandlerFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.project().inner.poll(cx)
    }
}

impl std::fmt::Debug for HandlerFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandlerFuture")
    }
}

/// Something that handles a request through its [`Context`].
///
/// You rarely implement this: any `async fn(&mut Context)` already is one. Implement it
/// for a struct when the handler carries configuration, as middleware usually does:
///
/// ```
/// use tether::{Context, Handler, HandlerFuture};
///
/// struct Tag(&'static str);
///
/// impl Handler for Tag {
///     fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
///         HandlerFuture::new(async move {
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
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a>;
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
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(self.call_fn(c))
    }
}

/// A handler behind a shared pointer, as the route table stores it.
pub(crate) type SharedHandler = Arc<dyn Handler>;

/// A route's whole chain: global middleware, group middleware, then the handler.
pub(crate) type Chain = Arc<[SharedHandler]>;

pub(crate) fn share(h: impl Handler) -> SharedHandler {
    Arc::new(h)
}

/// What a route, a group or the engine's middleware is given: one [`Handler`], or a tuple
/// of them that run in order, as Gin's `r.GET(path, mw1, mw2, h)`: `app.get(path, (auth,
/// h))` runs `auth`, whose `c.next()` runs `h`. Implemented for every handler and for
/// tuples of up to eight; you never implement it yourself.
///
/// ```
/// # use tether::Context;
/// async fn auth(c: &mut Context) { c.next().await }
/// async fn audit(c: &mut Context) { c.next().await }
/// async fn report(c: &mut Context) { c.string(200, "ok") }
/// let mut app = tether::Engine::new();
/// app.get("/report", (auth, audit, report));
/// ```
pub trait Handlers {
    /// Appends the handlers, in order, to `chain`.
    #[doc(hidden)]
    fn append_to(self, chain: &mut Vec<Arc<dyn Handler>>);
}

impl<H: Handler> Handlers for H {
    fn append_to(self, chain: &mut Vec<Arc<dyn Handler>>) {
        chain.push(Arc::new(self));
    }
}

/// No handlers: `app.group_with("/v1", ())` is `app.group("/v1")`.
impl Handlers for () {
    fn append_to(self, _chain: &mut Vec<Arc<dyn Handler>>) {}
}

macro_rules! tuple_handlers {
    ($($name:ident)+) => {
        impl<$($name: Handler),+> Handlers for ($($name,)+) {
            #[allow(non_snake_case)]
            fn append_to(self, chain: &mut Vec<Arc<dyn Handler>>) {
                let ($($name,)+) = self;
                $(chain.push(Arc::new($name));)+
            }
        }
    };
}

tuple_handlers!(A);
tuple_handlers!(A B);
tuple_handlers!(A B C);
tuple_handlers!(A B C D);
tuple_handlers!(A B C D E);
tuple_handlers!(A B C D E F);
tuple_handlers!(A B C D E F G);
tuple_handlers!(A B C D E F G H);

/// The handlers of `handlers`, in order.
pub(crate) fn chain_of(handlers: impl Handlers) -> Vec<SharedHandler> {
    let mut chain = Vec::new();
    handlers.append_to(&mut chain);
    chain
}
