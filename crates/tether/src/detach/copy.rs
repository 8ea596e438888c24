//! [`ContextCopy`]: what a task may keep of its request, and the `Context` methods that
//! make copies and start tracked tasks (`copy`, `copy_only`, `go`, `detach`).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::panic::Location;
use std::sync::Arc;

use http::Method;

use super::handle::{TaskControl, TaskHandle};
use super::head::{Head, Parts};
use super::registry::{Kind, Origin, Registration};
use super::spawn::{spawn, timeout_for, Spec};
use crate::app::frozen::FrozenEngine;
use crate::context::keys::Keys;
use crate::context::Request;
use crate::routing::router::Matched;
use crate::routing::router::RouteId;

/// An owned copy of a request's context, for work that goes on after the response:
/// `Send + 'static`, read-only, and lean.
///
/// - It reads like the context: `method`, `path`, `full_path`, `param`, `params`,
///   `query`, `get_header`, `client_ip`, `get::<T>`.
/// - It cannot write a response, and never holds the request body.
/// - Keys are shared with the context, not cloned: a copy costs the same with 0 keys or
///   100, and a `c.set` after the copy does not change it (copy-on-write).
/// - The request head is one compact allocation of its own, never slices of hyper's read
///   buffer, so a copy does not keep the connection's buffer alive.
/// - It is registered, with the line of code that made it, in the leak registry
///   (`/debug/leaks`) until it is dropped; server shutdown signals it (`cancelled()`).
///
/// Made by `c.copy()`, `c.copy_only(&[..])`, and handed to the closure of `c.go(..)`.
pub struct ContextCopy {
    head: Head,
    method: Method,
    keys: Keys,
    remote: Option<SocketAddr>,
    route: Option<RouteId>,
    shared: Arc<FrozenEngine>,
    /// A task's control; `None` for a plain copy, which answers from the engine.
    control: Option<TaskControl>,
    /// Copies made for a task are accounted for by the task's own registration.
    registration: Option<Registration>,
}

impl std::fmt::Debug for ContextCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextCopy")
            .field("method", &self.method)
            .field("path", &self.path())
            .field("full_path", &self.full_path())
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Drop for ContextCopy {
    fn drop(&mut self) {
        if let Some(reg) = &self.registration {
            self.shared.hub.registry.remove(reg);
        }
    }
}

impl ContextCopy {
    /// When the task holding this copy will be stopped; `None` for no deadline (and for
    /// a plain copy).
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.control.as_ref().and_then(TaskControl::deadline)
    }

    /// True once the work holding this copy has been asked to stop: shutdown began, or
    /// (for a task) its request ended under `tied()` or its deadline passed.
    pub fn is_cancelled(&self) -> bool {
        match &self.control {
            Some(c) => c.is_cancelled(),
            None => self.shared.hub.stopping.is_cancelled(),
        }
    }

    /// Completes when the work holding this copy is asked to stop (see
    /// [`is_cancelled`](Self::is_cancelled)).
    pub async fn cancelled(&self) {
        match &self.control {
            Some(c) => c.cancelled().await,
            None => self.shared.hub.stopping.cancelled().await,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request path, as sent.
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The pattern of the matched route (`/user/:id`); empty when none matched.
    pub fn full_path(&self) -> &str {
        self.route.map_or("", |id| &self.shared.router.routes[id].pattern)
    }

    /// The path parameter `name`, or `""`.
    pub fn param(&self, name: &str) -> &str {
        let names = self.param_names();
        match names.iter().position(|n| &**n == name) {
            Some(i) => self.head.params().nth(i).unwrap_or(""),
            None => "",
        }
    }

    /// All path parameters as `(name, value)` pairs.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.param_names().iter().map(|n| &**n).zip(self.head.params())
    }

    fn param_names(&self) -> &[Box<str>] {
        self.route.map_or(&[], |id| &self.shared.router.routes[id].param_names)
    }

    /// The first value of the query parameter `key`, decoded.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.head.query().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every value of the query parameter `key`.
    pub fn query_array(&self, key: &str) -> Vec<&str> {
        self.head.query().filter(|(k, _)| *k == key).map(|(_, v)| v).collect()
    }

    /// The request header `name` (any case), when it was visible ASCII.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.head.headers().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The client's IP address, as `c.client_ip()` gave it (trusted proxies included).
    pub fn client_ip(&self) -> Option<IpAddr> {
        let proxies = &self.shared.settings.proxies;
        proxies.client_ip(self.remote.map(|a| a.ip()), |name| self.get_header(name.as_str()))
    }

    /// The socket address of the peer.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// The value under `key` when the copy was taken, if it is of type `T`.
    pub fn get<T: 'static>(&self, key: &str) -> Option<&T> {
        self.keys.get(key)
    }

    /// The names of the keys the copy holds.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.keys.names()
    }

    /// The application state of type `T`, as [`Request::state`](crate::Request::state)
    /// gives it.
    ///
    /// # Panics
    /// If no state of type `T` was registered with `app.state(..)`.
    #[track_caller]
    pub fn state<T: Send + Sync + 'static>(&self) -> &T {
        crate::app::state::registered(self.try_state::<T>())
    }

    /// The application state of type `T`, if registered.
    pub fn try_state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.shared.state.get::<T>()
    }

    /// Bytes of the request head this copy holds (its one allocation).
    pub fn head_size(&self) -> usize {
        self.head.size()
    }
}

impl Request {
    /// An owned, read-only copy of this request's context, for work that outlives the
    /// request. Keys are shared (O(1)), the head is one compact allocation, and the copy
    /// is listed in the leak registry with this line of code until it is dropped.
    ///
    /// Prefer [`go`](Self::go), which also bounds the work with a deadline and a cap.
    #[track_caller]
    pub fn copy(&self) -> ContextCopy {
        self.make_copy(self.keys.clone(), Some(Location::caller()), None)
    }

    /// Like [`copy`](Self::copy), keeping only the named keys: a task that needs the user
    /// does not keep the 5 MB report someone else put in the keys.
    #[track_caller]
    pub fn copy_only(&self, keys: &[&str]) -> ContextCopy {
        self.make_copy(self.keys.only(keys), Some(Location::caller()), None)
    }

    /// Starts `f` with a copy of this context as a tracked task: the engine's deadline
    /// (30 s by default), the cap on tasks in flight, cancellation on shutdown, panics
    /// caught and counted — the Rust answer to Gin's `cCp := c.Copy(); go func() {..}()`.
    ///
    /// ```
    /// async fn signup(c: &mut tether::Context) {
    ///     c.set("email", String::from("ada@example.com"));
    ///     c.go(|cp| async move {
    ///         let email = cp.get::<String>("email").cloned();
    ///         // send the welcome mail; the request has long been answered
    ///         let _ = email;
    ///     });
    ///     c.string(202, "welcome");
    /// }
    /// ```
    #[track_caller]
    pub fn go<F, Fut>(&self, f: F) -> TaskHandle
    where
        F: FnOnce(ContextCopy) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Detach { ctx: self, spec: Spec::new(Location::caller()), only: None, tied: false }.go(f)
    }

    /// A tracked task with options: `.name("email")`, `.timeout(d)` / `.no_timeout()`,
    /// `.only(&["user"])`, `.tied()`, then `.go(|cp| ..)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// async fn upload(c: &mut tether::Context) {
    ///     c.detach()
    ///         .name("thumbnail")
    ///         .timeout(Duration::from_secs(5))
    ///         .only(&["user"])
    ///         .go(|cp| async move { let _ = cp.param("id"); });
    ///     c.string(202, "queued");
    /// }
    /// ```
    #[track_caller]
    pub fn detach(&self) -> Detach<'_> {
        Detach { ctx: self, spec: Spec::new(Location::caller()), only: None, tied: false }
    }

    fn make_copy(
        &self,
        keys: Keys,
        site: Option<&'static Location<'static>>,
        control: Option<TaskControl>,
    ) -> ContextCopy {
        let shared = self.shared.clone().expect("a context in use has its engine");
        let head = self.head();
        let route = match self.chain {
            Matched::Route(id) => Some(id),
            _ => None,
        };
        let param_count = route.map_or(0, |id| shared.router.routes[id].param_names.len());
        let snapshot = Head::new(Parts {
            path: head.uri.path(),
            params: || (0..param_count).map(|i| self.param_at(i)),
            query: || self.query_pairs(),
            headers: || head.headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
        });
        let registration = site.map(|site| {
            shared.hub.registry.totals.copies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let origin = Origin { method: head.method.clone(), route };
            shared.hub.registry.add(Kind::Copy, site, None, Some(origin), None)
        });
        ContextCopy {
            head: snapshot,
            method: head.method.clone(),
            keys,
            remote: self.remote_addr(),
            route,
            shared,
            control,
            registration,
        }
    }
}

/// Options for a tracked task started from a request; made by `c.detach()`.
#[derive(Debug)]
pub struct Detach<'c> {
    ctx: &'c Request,
    spec: Spec,
    only: Option<Vec<String>>,
    tied: bool,
}

impl Detach<'_> {
    super::tasks::task_options!();

    /// The copy keeps only these keys.
    pub fn only(mut self, keys: &[&str]) -> Self {
        self.only = Some(keys.iter().map(|k| (*k).to_owned()).collect());
        self
    }

    /// Cancels the task when its request ends (the response is sent, or the client
    /// goes away). By default a task outlives its request.
    pub fn tied(mut self) -> Self {
        self.tied = true;
        self
    }

    /// Starts `f` with the copy.
    #[track_caller]
    pub fn go<F, Fut>(mut self, f: F) -> TaskHandle
    where
        F: FnOnce(ContextCopy) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spec.site = Location::caller();
        let ctx = self.ctx;
        let shared = ctx.shared.as_ref().expect("a context in use has its engine");
        let hub = &shared.hub;
        if self.tied {
            self.spec.tied = Some(ctx.request_token());
        }
        self.spec.origin = Some(Origin {
            method: ctx.method().clone(),
            route: match ctx.chain {
                Matched::Route(id) => Some(id),
                _ => None,
            },
        });
        let timeout = timeout_for(hub, &self.spec);
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        let control = TaskControl::new(hub, self.spec.tied.clone(), deadline);
        let keys = match &self.only {
            Some(names) => ctx.keys.only(&names.iter().map(String::as_str).collect::<Vec<_>>()),
            None => ctx.keys.clone(),
        };
        let copy = ctx.make_copy(keys, None, Some(control));
        #[cfg(feature = "otlp")]
        if let Some(parent) = ctx.extensions().get::<crate::otel::RequestSpan>() {
            let work = crate::otel::traced_task(parent, self.spec.name.as_deref(), self.spec.site, f(copy));
            return spawn(hub, self.spec, timeout, deadline, work);
        }
        spawn(hub, self.spec, timeout, deadline, f(copy))
    }
}
