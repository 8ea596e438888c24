//! tower interop over real sockets: a tower-http layer around the engine, a layer's error
//! as a 500, and the engine mounted inside an axum router.

use std::io::Read;

use crate::support::{Server, H1};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::{Context, Engine};

fn app() -> Engine {
    let mut app = Engine::new();
    app.get("/big", async |c: &mut Context| c.string(200, "tether ".repeat(2_000)));
    app.get("/hello", async |c: &mut Context| {
        let ip = c.client_ip().map(|ip| ip.to_string()).unwrap_or_default();
        c.string(200, format!("hello from {ip}"));
    });
    app
}

#[tokio::test]
async fn a_tower_http_layer_wraps_every_response() {
    let mut app = app();
    app.layer(tower_http::compression::CompressionLayer::new());
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let gz =
        h1.send(Request::get("/big").header("accept-encoding", "gzip").body(Full::default()).unwrap()).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(gz.body.len() < 1_000, "{} bytes compressed", gz.body.len());
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz.body[..]).read_to_string(&mut plain).unwrap();
    assert_eq!(plain, "tether ".repeat(2_000));

    let identity = h1.get("/big").await;
    assert_eq!((identity.header("content-encoding"), identity.body.len()), (None, 14_000));
    assert_eq!(h1.get("/hello").await.text(), "hello from 127.0.0.1", "the peer reaches the engine");
    assert_eq!(h1.get("/missing").await.status, 404, "unrouted requests pass the layers too");
    server.shutdown().await;
}

#[derive(Clone)]
struct Failing<S>(S);

impl<S> tower::Service<Request<tether::Body>> for Failing<S>
where
    S: tower::Service<Request<tether::Body>, Response = http::Response<tether::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tether::Body>;
    type Error = String;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, String>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), String>> {
        self.0.poll_ready(cx).map_err(|_| "not ready".to_owned())
    }

    fn call(&mut self, req: Request<tether::Body>) -> Self::Future {
        if req.uri().path() == "/fail" {
            return Box::pin(async { Err("the layer refused".to_owned()) });
        }
        // A layer finds the client's address under its own type.
        if !req.extensions().get::<tether::PeerAddr>().is_some_and(|p| p.0.ip().is_loopback()) {
            return Box::pin(async { Err("no peer address".to_owned()) });
        }
        let inner = self.0.call(req);
        Box::pin(async move { inner.await.map_err(|_| "inner failed".to_owned()) })
    }
}

#[tokio::test]
async fn a_layer_error_is_a_500_and_the_server_goes_on() {
    let mut app = app();
    app.layer(tower::layer::layer_fn(Failing));
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    let failed = h1.get("/fail").await;
    assert_eq!((failed.status.as_u16(), failed.text().as_str()), (500, "internal server error"));
    let hello = h1.get("/hello").await;
    assert_eq!((hello.status.as_u16(), hello.text().as_str()), (200, "hello from 127.0.0.1"));
    server.shutdown().await;
}

#[tokio::test]
async fn the_engine_runs_inside_axum() {
    let router = axum::Router::new()
        .route("/axum", axum::routing::get(|| async { "from axum" }))
        .fallback_service(app().into_service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    });
    assert_eq!(crate::support::get(addr, "/axum").await.text(), "from axum");
    let reply =
        crate::support::send(addr, Request::get("/hello").body(Full::<Bytes>::default()).unwrap()).await;
    assert_eq!(reply.status, 200);
    assert!(reply.text().starts_with("hello from"), "{}", reply.text());
    server.abort();
}
