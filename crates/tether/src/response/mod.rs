//! The response side of [`Context`]: status, headers and body, written by handlers and
//! readable (and changeable) by middleware after `c.next().await`. The state is the
//! [`Writer`](crate::Writer) (`writer.rs`); this file puts its methods on the context, as
//! Gin has them.

pub(crate) mod body;
pub(crate) mod body_guard;
pub(crate) mod file;
pub mod sse;
pub mod stream;
pub(crate) mod writer;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use http::StatusCode;
use serde::Serialize;

use crate::response::body::Body;
use crate::Context;
use writer::IntoStatus;

/// The writer's methods, on the context itself (as Gin has them).
impl Context {
    /// Sets the response status (the default is 200).
    pub fn status(&mut self, code: impl IntoStatus) {
        self.res.status(code)
    }

    /// Sets a response header (an empty value removes it). See [`Writer::header`](crate::Writer::header).
    pub fn header<K, V>(&mut self, key: K, value: V)
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        self.res.header(key, value)
    }

    /// Answers `code` with a plain-text body.
    pub fn string(&mut self, code: impl IntoStatus, body: impl Into<Body>) {
        self.res.string(code, body)
    }

    /// Answers `code` with `value` as JSON (500, logged, if it cannot be serialized).
    pub fn json<T: Serialize + ?Sized>(&mut self, code: impl IntoStatus, value: &T) {
        self.res.json(code, value)
    }

    /// Answers `code` with `body` and the given content type.
    pub fn data(&mut self, code: impl IntoStatus, content_type: &str, body: impl Into<Body>) {
        self.res.data(code, content_type, body)
    }

    /// Answers `code` with an HTML body.
    pub fn html(&mut self, code: impl IntoStatus, body: impl Into<Body>) {
        self.res.html(code, body)
    }

    /// Redirects to `location` with `code`.
    pub fn redirect(&mut self, code: impl IntoStatus, location: &str) {
        self.res.redirect(code, location)
    }

    /// Answers with the contents of the file at `path`. See [`Writer::file`](crate::Writer::file).
    pub async fn file(&mut self, path: impl AsRef<std::path::Path>) {
        self.res.file(path).await
    }

    /// Adds a `Set-Cookie` header. See [`Writer::set_cookie`](crate::Writer::set_cookie).
    pub fn set_cookie(&mut self, cookie: cookie::Cookie<'_>) {
        self.res.set_cookie(cookie)
    }

    /// The response status written so far.
    pub fn response_status(&self) -> StatusCode {
        self.res.status
    }

    /// The response headers written so far.
    pub fn response_headers(&self) -> &HeaderMap {
        &self.res.headers
    }

    /// The response headers, to change.
    pub fn response_headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.res.headers
    }

    /// The response body written so far.
    pub fn response_body(&self) -> &Body {
        &self.res.body
    }

    /// Replaces the response body; returns the old one.
    pub fn set_response_body(&mut self, body: impl Into<Body>) -> Body {
        self.res.set_response_body(body)
    }

    /// True once a body was written.
    pub fn written(&self) -> bool {
        self.res.written()
    }

    /// Answers `code` with no body, and stops the chain.
    pub fn abort_with_status(&mut self, code: impl IntoStatus) {
        self.res.status = code.into_status();
        self.abort();
    }

    /// Answers `code` with `value` as JSON, and stops the chain.
    pub fn abort_with_status_json<T: Serialize + ?Sized>(&mut self, code: impl IntoStatus, value: &T) {
        self.res.json(code, value);
        self.abort();
    }

    /// Answers `code` with `{"error": "<err>"}`, and stops the chain.
    pub fn abort_with_error(&mut self, code: impl IntoStatus, err: impl std::fmt::Display) {
        self.abort_with_status_json(code, &serde_json::json!({ "error": err.to_string() }));
    }
}
