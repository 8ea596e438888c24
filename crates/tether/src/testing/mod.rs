//! An in-process client for tests: requests go through the whole engine (routing,
//! middleware, handlers) without a socket.
//!
//! ```
//! use tether::testing::TestClient;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut app = tether::Engine::new();
//! app.get("/user/:id", async |c: &mut tether::Context| {
//!     let id = c.param("id").to_owned();
//!     c.json(200, &tether::json!({ "id": id }));
//! });
//! let client = TestClient::new(app);
//! let res = client.get("/user/42").send().await;
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.json::<serde_json::Value>()["id"], "42");
//! # }
//! ```

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::serve::service::TetherService;
use crate::Engine;

mod leak_check;

pub use leak_check::{Leak, LeakCheck, LeakReport};

/// Sends requests to an engine in-process.
#[derive(Clone, Debug)]
pub struct TestClient {
    service: TetherService,
}

impl TestClient {
    /// Freezes `app` and wraps it.
    pub fn new(app: Engine) -> Self {
        TestClient { service: app.into_service() }
    }

    /// Starts a [`LeakCheck`] on the client's engine.
    pub fn leak_check(&self) -> LeakCheck {
        LeakCheck::on(self.service.shared().hub.clone())
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> TestRequest<'_> {
        TestRequest {
            client: self,
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            remote: None,
        }
    }

    /// A GET request.
    pub fn get(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::GET, path)
    }
    /// A POST request.
    pub fn post(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::POST, path)
    }
    /// A PUT request.
    pub fn put(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PUT, path)
    }
    /// A PATCH request.
    pub fn patch(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, path)
    }
    /// A DELETE request.
    pub fn delete(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, path)
    }
    /// A HEAD request.
    pub fn head(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::HEAD, path)
    }
    /// An OPTIONS request.
    pub fn options(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::OPTIONS, path)
    }
}

/// A request being built; `send().await` runs it.
#[derive(Debug)]
pub struct TestRequest<'c> {
    client: &'c TestClient,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    remote: Option<SocketAddr>,
}

impl TestRequest<'_> {
    /// Adds a request header. Panics on an invalid name or value (a bug in the test).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("a valid header name");
        let value = HeaderValue::try_from(value).expect("a valid header value");
        self.headers.append(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, with its content type.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value).expect("serializable test value").into();
        self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// The peer address the engine sees (`c.client_ip()`); none by default.
    pub fn remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote = Some(addr);
        self
    }

    /// Runs the request through the engine and collects the response.
    pub async fn send(self) -> TestResponse {
        let mut req = Request::builder()
            .method(self.method)
            .uri(&self.path)
            .body(Full::new(self.body))
            .expect("a valid test request");
        *req.headers_mut() = self.headers;
        let mut svc = self.client.service.clone();
        if let Some(addr) = self.remote {
            svc = svc.with_remote_addr(addr);
        }
        let res = hyper::service::Service::call(&svc, req).await.expect("infallible");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        TestResponse { status: parts.status, headers: parts.headers, body }
    }
}

/// A collected response.
#[derive(Clone, Debug)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response header `name` as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON. Panics, showing the body, when it is not `T`.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not the expected JSON ({e}): {}", self.text()))
    }
}
