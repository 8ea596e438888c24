//! The engine as a `tower::Service` and a `hyper::service::Service`, to run under any
//! server: hyper's own connection builders, hyper-util, axum, or tower middleware.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_util::future::Either;
use http::{Request, Response};

use crate::app::frozen::FrozenEngine;
use crate::response::body::{Body, BoxError, RequestBody};
use crate::serve::dispatch::dispatch;
use crate::serve::layered::{Layered, Wrap};
use crate::Engine;

/// The future a [`TetherService`] returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// The frozen engine as a service. Cloning is cheap (one reference count).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// // Serve one connection with plain hyper.
/// let mut app = tether::Engine::new();
/// app.get("/", async |c: &mut tether::Context| { c.string(200, "hi") });
/// # let _ = app;
/// # let mut app = tether::Engine::new();
/// let service = app.into_service();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let (stream, peer) = listener.accept().await?;
/// let io = hyper_util::rt::TokioIo::new(stream);
/// hyper::server::conn::http1::Builder::new()
///     .serve_connection(io, service.with_remote_addr(peer))
///     .await
///     .ok();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TetherService {
    shared: Arc<FrozenEngine>,
    remote: Option<SocketAddr>,
    /// The engine with its tower layers (`app.layer`), when it has any.
    layered: Option<Layered>,
}

/// The client's socket address, in a request's extensions for tower layers
/// ([`Engine::layer`]) and services ([`Engine::service`]) to read:
/// `req.extensions().get::<tether::PeerAddr>()`. A named type rather than a bare
/// `SocketAddr`, so that it cannot be mistaken for, or overwritten by, some other address
/// a layer stores. A server of the application's own may insert one before calling
/// [`TetherService`]; [`TetherService::with_remote_addr`] does the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

impl std::fmt::Debug for TetherService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TetherService").field("remote", &self.remote).finish_non_exhaustive()
    }
}

impl Engine {
    /// Freezes the engine into a service that any hyper or tower server can run, its
    /// [`layer`](Engine::layer)s included.
    pub fn into_service(mut self) -> TetherService {
        let layers = std::mem::take(&mut self.layers);
        let base = TetherService::new(self.into_shared());
        let layered = build(base.clone(), layers);
        TetherService { layered, ..base }
    }
}

impl TetherService {
    pub(crate) fn new(shared: Arc<FrozenEngine>) -> Self {
        TetherService { shared, remote: None, layered: None }
    }

    /// The same service for a connection from `peer` (what `c.client_ip()` reports).
    pub fn with_remote_addr(mut self, peer: SocketAddr) -> Self {
        self.remote = Some(peer);
        self
    }

    pub(crate) fn shared(&self) -> &Arc<FrozenEngine> {
        &self.shared
    }

    pub(crate) fn layered(&self) -> Option<&Layered> {
        self.layered.as_ref()
    }

    /// Serves one request, as [`Service::call`](hyper::service::Service::call) does but
    /// without boxing the future (an engine with tower [`layer`](Engine::layer)s still
    /// boxes its layered call). For a server loop of your own around hyper, where the
    /// future can be named: `hyper::service::service_fn(move |req| svc.handle(req))`.
    ///
    /// ```
    /// # async fn demo() {
    /// let mut app = tether::Engine::new();
    /// app.get("/ping", async |c: &mut tether::Context| c.string(200, "pong"));
    /// let svc = app.into_service();
    /// let req = http::Request::get("/ping").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    /// let res = svc.handle(req).await.unwrap();
    /// assert_eq!(res.status(), 200);
    /// # }
    /// ```
    pub fn handle<B>(
        &self,
        req: Request<B>,
    ) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + 'static
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match &self.layered {
            Some(layered) => Either::Right(self.through_layers(layered, req)),
            None => Either::Left(self.direct(req)),
        }
    }

    fn respond<B>(&self, req: Request<B>) -> ResponseFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match &self.layered {
            Some(layered) => self.through_layers(layered, req),
            None => Box::pin(self.direct(req)),
        }
    }

    /// The request through the engine's tower layers (boxed: the layers are).
    fn through_layers<B>(&self, layered: &Layered, req: Request<B>) -> ResponseFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut req = req.map(Body::from_stream);
        if let Some(peer) = self.remote {
            req.extensions_mut().insert(PeerAddr(peer));
        }
        Box::pin(tower::ServiceExt::oneshot(layered.clone(), req))
    }

    /// The request straight to its chain.
    fn direct<B>(
        &self,
        req: Request<B>,
    ) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + 'static
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (head, body) = req.into_parts();
        let remote = self.remote.or_else(|| head.extensions.get::<PeerAddr>().map(|p| p.0));
        let body = request_body(body, &self.shared);
        dispatch(self.shared.clone(), head, body, remote, None)
    }
}

/// hyper's own body goes in with its pace rules and the server's memory budget (a service
/// does not know the connection); any other body is boxed.
fn request_body<B>(body: B, shared: &FrozenEngine) -> RequestBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut slot = Some(body);
    let any: &mut dyn std::any::Any = &mut slot;
    if let Some(incoming) = any.downcast_mut::<Option<hyper::body::Incoming>>() {
        let guard = || shared.settings.body_guard(&shared.body_budget, None);
        return RequestBody::incoming(incoming.take().expect("just put there"), guard);
    }
    RequestBody::boxed(slot.take().expect("just put there"))
}

impl<B> hyper::service::Service<Request<B>> for TetherService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<B>) -> ResponseFuture {
        self.respond(req)
    }
}

impl<B> tower_service::Service<Request<B>> for TetherService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        self.respond(req)
    }
}

/// `base` wrapped in `layers`, the first one outermost; `None` without layers.
fn build(base: TetherService, layers: Vec<Wrap>) -> Option<Layered> {
    if layers.is_empty() {
        return None;
    }
    let mut service: Layered = tower::util::BoxCloneSyncService::new(base);
    for wrap in layers.into_iter().rev() {
        service = wrap(service);
    }
    Some(service)
}
