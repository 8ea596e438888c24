//! `app.layer(L)`: any tower `Layer` around the whole engine (tower-http's compression,
//! tracing, timeouts, limits), applied to every request, routed or not.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tower::util::BoxCloneSyncService;
use tower_layer::Layer;
use tower_service::Service;

use crate::response::body::{Body, BoxError};
use crate::Engine;

use super::layered::Layered;

impl Engine {
    /// Wraps the whole engine in a tower `Layer`. Layers see every request before
    /// routing and every response after the middleware, in the order they were added:
    /// the first one added is the outermost. A layer's error becomes a logged 500.
    ///
    /// Without layers the server calls the engine directly; with one, each request pays
    /// for a boxed service call and a boxed body, the price of tower's generality.
    ///
    /// ```
    /// use tower_http::compression::CompressionLayer;
    ///
    /// let mut app = tether::Engine::new();
    /// app.layer(CompressionLayer::new());
    /// ```
    pub fn layer<L, B>(&mut self, layer: L) -> &mut Self
    where
        L: Layer<Layered> + Send + Sync + 'static,
        L::Service: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request<Body>>>::Future: Send + 'static,
        <L::Service as Service<Request<Body>>>::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.layers.push(Box::new(move |inner: Layered| {
            BoxCloneSyncService::new(Normalize { inner: layer.layer(inner), not_ready: None })
        }));
        self
    }
}

/// A layered service with tether's body and no error: a layer's error is a logged 500.
struct Normalize<S> {
    inner: S,
    /// What `poll_ready` failed with, answered by the next call.
    not_ready: Option<String>,
}

impl<S: Clone> Clone for Normalize<S> {
    fn clone(&self) -> Self {
        Normalize { inner: self.inner.clone(), not_ready: None }
    }
}

fn internal_error(e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(target: "tether::layer", "a layer failed: {e}");
    crate::response::writer::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

impl<S, B> Service<Request<Body>> for Normalize<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        // A layer that cannot get ready is not called: the call answers its error, a 500.
        self.inner.poll_ready(cx).map(|ready| {
            self.not_ready = ready.err().map(|e| e.into().to_string());
            Ok(())
        })
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if let Some(e) = self.not_ready.take() {
            return Box::pin(std::future::ready(Ok(internal_error(&e))));
        }
        let response = self.inner.call(req);
        Box::pin(async move {
            Ok(match response.await {
                Ok(response) => response.map(Body::from_stream),
                Err(e) => internal_error(&e.into()),
            })
        })
    }
}
