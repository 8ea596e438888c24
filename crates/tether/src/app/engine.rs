//! [`Engine`]: the application — routes, groups, middleware, state and settings — and how
//! it freezes into the [`FrozenEngine`] every request reads.

use std::sync::Arc;

use http::Method;

use crate::app::frozen::{FrozenEngine, Stats};
use crate::app::group::Group;
use crate::app::handler::{chain_of, share, Chain, Handler, Handlers, SharedHandler};
use crate::app::settings::Settings;
use crate::app::state::StateMap;
use crate::detach::hub::TaskHub;
use crate::detach::Tasks;
use crate::routing::pattern::join_paths;
use crate::routing::route_table::RouteTable;
use crate::serve::route_stats::Metrics;

/// The application: register routes and middleware, then serve it.
///
/// ```no_run
/// use tether::{Context, Engine};
///
/// async fn ping(c: &mut Context) {
///     c.string(200, "pong");
/// }
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     let mut app = Engine::default(); // logger + recovery
///     app.get("/ping", ping);
///     app.run("127.0.0.1:8080").await
/// }
/// ```
pub struct Engine {
    routes: RouteTable<SharedHandler>,
    global: Vec<SharedHandler>,
    no_route: Option<SharedHandler>,
    no_method: Option<SharedHandler>,
    pub(crate) layers: Vec<crate::serve::layered::Wrap>,
    state: StateMap,
    pub(crate) settings: Settings,
    hub: Arc<TaskHub>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("router", &self.routes)
            .field("middleware", &self.global.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with no middleware, as Gin's `gin.New()`.
    pub fn new() -> Self {
        Engine {
            routes: RouteTable::default(),
            global: Vec::new(),
            no_route: None,
            no_method: None,
            layers: Vec::new(),
            state: StateMap::default(),
            settings: Settings::default(),
            hub: Arc::new(TaskHub::default()),
        }
    }

    /// Adds middleware that runs for every request, routes registered before or after it
    /// alike (and 404 / 405 answers), in the order added. A tuple adds several.
    pub fn with(&mut self, middleware: impl Handlers) -> &mut Self {
        self.global.extend(chain_of(middleware));
        self
    }

    /// A group of routes under `prefix`, with middleware of its own.
    ///
    /// ```
    /// # async fn list(c: &mut tether::Context) {}
    /// # async fn auth(c: &mut tether::Context) {}
    /// let mut app = tether::Engine::new();
    /// let mut v1 = app.group("/v1");
    /// v1.with(auth);
    /// v1.get("/users", list); // GET /v1/users runs auth, then list
    /// ```
    ///
    /// The group does not borrow the engine: routes may go on the engine and on other
    /// groups while it lives.
    pub fn group(&mut self, prefix: &str) -> Group<'static> {
        self.group_with(prefix, ())
    }

    /// A group under `prefix` whose routes run `middleware` (one handler or a tuple) after
    /// the engine's, as Gin's `r.Group("/admin", auth)`.
    ///
    /// ```
    /// # async fn list(c: &mut tether::Context) {}
    /// # async fn auth(c: &mut tether::Context) { c.next().await }
    /// let mut app = tether::Engine::new();
    /// app.group_with("/admin", auth).get("/users", list);
    /// ```
    pub fn group_with(&mut self, prefix: &str, middleware: impl Handlers) -> Group<'static> {
        Group::new(self.routes.clone(), join_paths("/", prefix), chain_of(middleware))
    }

    /// Registers `handler` for `method` requests to `path` (Gin syntax: `/user/:id`,
    /// `/files/*path`). A tuple `(mw, handler)` runs route middleware first. Panics if the
    /// route conflicts with one registered before.
    pub fn handle(&mut self, method: Method, path: &str, handler: impl Handlers) -> &mut Self {
        self.routes.add(Some(method), path, &[], chain_of(handler));
        self
    }

    /// Registers `handler` for every method at `path`.
    pub fn any(&mut self, path: &str, handler: impl Handlers) -> &mut Self {
        self.routes.add(None, path, &[], chain_of(handler));
        self
    }

    crate::app::group::method_shortcuts!();

    /// The handler for requests no route matches. It runs after the global middleware,
    /// with the status already 404; if it writes no body, Gin's `404 page not found` is sent.
    pub fn no_route(&mut self, handler: impl Handler) -> &mut Self {
        self.no_route = Some(share(handler));
        self
    }

    /// The handler for requests whose path exists for other methods only. It runs with the
    /// status already 405 and the `Allow` header set.
    pub fn no_method(&mut self, handler: impl Handler) -> &mut Self {
        self.no_method = Some(share(handler));
        self
    }

    /// Registers a shared value (a database pool, a client, settings) that handlers read
    /// with `c.state::<T>()`. One value per type; a second of the same type replaces the first.
    ///
    /// ```
    /// struct Greeting(&'static str);
    /// async fn hello(c: &mut tether::Context) {
    ///     let text = c.state::<Greeting>().0;
    ///     c.string(200, text);
    /// }
    /// let mut app = tether::Engine::new();
    /// app.state(Greeting("hello")).get("/", hello);
    /// ```
    pub fn state<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.state.insert(value);
        self
    }

    /// Tracked background work not started from a request (a periodic job). The handle
    /// works before and after the engine is served.
    pub fn tasks(&self) -> Tasks {
        Tasks { hub: self.hub.clone() }
    }

    pub(crate) fn route_table(&self) -> &RouteTable<SharedHandler> {
        &self.routes
    }

    pub(crate) fn hub(&self) -> &Arc<TaskHub> {
        &self.hub
    }

    /// Freezes the engine for serving.
    pub(crate) fn into_shared(mut self) -> Arc<FrozenEngine> {
        let mut router = self.routes.take();
        router.no_slash_redirects = !self.settings.redirect_trailing_slash;
        router.no_method_not_allowed = !self.settings.handle_method_not_allowed;
        router.freeze(&self.global);
        let tail = |h: Option<SharedHandler>| -> Chain { self.global.iter().cloned().chain(h).collect() };
        let no_route = tail(self.no_route.take());
        let no_method = tail(self.no_method.take());
        let redirect = tail(Some(share(crate::routing::redirect::trailing_slash_redirect)));
        let hub = self.hub;
        let metrics = self.settings.metrics.then(|| Metrics::new(router.routes.len()));
        hub.set_route_patterns(router.routes.iter().map(|r| r.pattern.clone()).collect());
        Arc::new(FrozenEngine {
            router,
            no_route,
            no_method,
            redirect,
            state: self.state,
            stats: Stats::default(),
            hub,
            started: std::time::Instant::now(),
            metrics,
            body_budget: Arc::new(self.settings.process_body_budget()),
            settings: self.settings,
        })
    }
}

impl Engine {
    crate::routing::mount::mount_methods!();
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
    pub fn routes(&self) -> Vec<crate::RouteInfo> {
        self.route_table().infos()
    }
}
