//! [`Writer`]: the response side of a request — status, headers and body — written by
//! handlers and readable (and changeable) by middleware after `c.next().await`.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use serde::Serialize;

use crate::response::body::Body;

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

/// JSON bodies up to this size are copied out of the context's scratch buffer, which is
/// kept; larger ones take the buffer with them, so a pooled context never holds more.
const SCRATCH_KEPT: usize = 16 * 1024;

/// A status code, as a [`StatusCode`] or a plain number (`200`).
pub trait IntoStatus {
    /// The status code. Panics on a number outside 100..=999: that is a bug in the app.
    fn into_status(self) -> StatusCode;
}

impl IntoStatus for StatusCode {
    fn into_status(self) -> StatusCode {
        self
    }
}

impl IntoStatus for u16 {
    #[track_caller]
    fn into_status(self) -> StatusCode {
        StatusCode::from_u16(self).unwrap_or_else(|_| panic!("tether: {self} is not an HTTP status code"))
    }
}

/// The response side of a [`Context`](crate::Context): status, headers and body, written by handlers and
/// readable (and changeable) by middleware after `c.next().await`. `Context` has the same
/// methods; `c.split()` hands out the writer beside the request.
pub struct Writer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    /// Reused buffer that JSON is rendered into before it is copied out at its exact size.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// Header entries of room a pooled context keeps for the next response.
const KEPT_HEADER_ROOM: usize = 32;

/// Header entries a kept map holds without growing (four slots). A map from a request
/// with one header has one slot, and growing it on each next head costs more than this
/// does once; growing to eight slots (what `http` gives a new map) saved 27 instructions
/// a request more but held 330 KiB more with 1,000 idle connections, each keeping one.
const RESPONSE_ROOM: usize = 3;

impl Writer {
    pub(crate) fn new() -> Self {
        Writer { status: StatusCode::OK, headers: HeaderMap::new(), body: Body::empty(), scratch: Vec::new() }
    }

    /// Makes `spare` (the finished request's header map) the room for the next
    /// response's headers, when the writer has none: one allocation and one free fewer
    /// per request, since the response's map otherwise leaves with it and the next
    /// `render` allocates another. `spare` is emptied first (its values are slices of the
    /// connection's read buffer, which a pooled context must not keep alive), kept only
    /// at a common size, and swapped in place: `spare` is left with the writer's empty
    /// map, dropped with the request head.
    pub(crate) fn take_room(&mut self, spare: &mut HeaderMap) {
        // Headers a cut request left (no response was taken) go first.
        if !self.headers.is_empty() {
            self.headers = HeaderMap::new();
        }
        // `len` counts every value, so a request that repeated one header a hundred
        // times (whose map keeps room for them beside its few entries) is not kept.
        let common = spare.capacity() <= KEPT_HEADER_ROOM && spare.len() <= KEPT_HEADER_ROOM;
        // A map with no room (a request built without headers) is no help, and growing it
        // here would allocate for every such request.
        if self.headers.capacity() == 0 && spare.capacity() > 0 && common {
            spare.clear();
            // Room for a few more than a small request brought: the map goes back to
            // hyper with the response and comes round again for a request's head, and
            // a map filled to half its slots probes further on every look-up there. It
            // grows once; then it circulates at that size.
            spare.reserve(RESPONSE_ROOM);
            std::mem::swap(&mut self.headers, spare);
        }
    }

    /// Clears the response for the next request (its header map: see
    /// [`take_room`](Self::take_room)).
    pub(crate) fn reset(&mut self) {
        self.status = StatusCode::OK;
        if !self.headers.is_empty() {
            self.headers = HeaderMap::new();
        }
        self.body = Body::empty();
    }

    /// Sets the response status (the default is 200).
    pub fn status(&mut self, code: impl IntoStatus) {
        self.status = code.into_status();
    }

    /// Sets the response header `key` to `value`, replacing earlier values; an empty
    /// value removes it, as Gin's `c.Header` does. An invalid name or value is logged
    /// and ignored.
    pub fn header<K, V>(&mut self, key: K, value: V)
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let Ok(name) = key.try_into() else {
            tracing::warn!(target: "tether", "ignored a response header with an invalid name");
            return;
        };
        match value.try_into() {
            Ok(v) if v.is_empty() => {
                self.headers.remove(&name);
            }
            Ok(v) => {
                self.headers.insert(name, v);
            }
            Err(_) => {
                tracing::warn!(target: "tether", header = %name, "ignored an invalid response header value")
            }
        }
    }

    /// Answers `code` with a plain-text body.
    pub fn string(&mut self, code: impl IntoStatus, body: impl Into<Body>) {
        self.render(code.into_status(), TEXT, body.into());
    }

    /// Answers `code` with `value` as JSON. If `value` cannot be serialized, answers 500
    /// and logs why.
    pub fn json<T: Serialize + ?Sized>(&mut self, code: impl IntoStatus, value: &T) {
        self.scratch.clear();
        match serde_json::to_writer(&mut self.scratch, value) {
            Ok(()) => {
                let body = if self.scratch.len() <= SCRATCH_KEPT {
                    // One allocation of the exact size; the scratch buffer stays for reuse.
                    // (Handing over the Vec itself would cost a second allocation, for the
                    // shared header `Bytes` puts on a Vec whose length is not its capacity.)
                    Bytes::copy_from_slice(&self.scratch)
                } else {
                    Bytes::from(std::mem::take(&mut self.scratch))
                };
                self.render(code.into_status(), JSON, body.into())
            }
            Err(e) => {
                tracing::error!(target: "tether", error = %e, "could not render JSON; answered 500");
                self.render(StatusCode::INTERNAL_SERVER_ERROR, TEXT, "failed to render JSON".into());
            }
        }
    }

    /// Answers `code` with `body` and the given content type.
    pub fn data(&mut self, code: impl IntoStatus, content_type: &str, body: impl Into<Body>) {
        let ctype = HeaderValue::try_from(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        self.render(code.into_status(), ctype, body.into());
    }

    /// Answers `code` with an HTML body.
    pub fn html(&mut self, code: impl IntoStatus, body: impl Into<Body>) {
        self.render(code.into_status(), HTML, body.into());
    }

    /// Redirects to `location` with `code` (301, 302, 303, 307 or 308). A `location` that
    /// cannot be a header value (a newline, say) is refused: the answer is a 500 and an
    /// error in the log, never a redirect without a `Location`.
    pub fn redirect(&mut self, code: impl IntoStatus, location: &str) {
        match HeaderValue::from_str(location) {
            Ok(v) => {
                self.status = code.into_status();
                self.headers.insert(header::LOCATION, v);
                self.body = Body::empty();
            }
            Err(_) => {
                // A 3xx without Location strands the client; this is a bug in the handler.
                tracing::error!(target: "tether", location = ?location, "redirect to a location that is not a valid header value; answered 500");
                self.string(StatusCode::INTERNAL_SERVER_ERROR, "500 internal server error");
            }
        }
    }

    /// Answers with the contents of the file at `path`, its type guessed from the
    /// extension unless a `Content-Type` was set; 404 when there is no such file. Large
    /// files are streamed.
    pub async fn file(&mut self, path: impl AsRef<std::path::Path>) {
        let path = path.as_ref();
        match crate::response::file::open(path).await {
            Ok((body, len)) => {
                // A content type set before is kept, as Go's `ServeFile` keeps it.
                if !self.headers.contains_key(header::CONTENT_TYPE) {
                    let mime = mime_guess::from_path(path).first_or_octet_stream();
                    if let Ok(v) = HeaderValue::try_from(mime.as_ref()) {
                        self.headers.insert(header::CONTENT_TYPE, v);
                    }
                }
                self.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                self.status = StatusCode::OK;
                self.body = body;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.string(StatusCode::NOT_FOUND, "404 page not found");
            }
            Err(e) => {
                tracing::error!(target: "tether", path = %path.display(), error = %e, "could not serve file");
                self.string(StatusCode::INTERNAL_SERVER_ERROR, "500 internal server error");
            }
        }
    }

    /// Adds a `Set-Cookie` header for `cookie`.
    ///
    /// ```
    /// use tether::cookie::Cookie;
    /// async fn login(c: &mut tether::Context) {
    ///     c.set_cookie(Cookie::build(("session", "abc")).path("/").http_only(true).build());
    ///     c.string(200, "welcome");
    /// }
    /// ```
    pub fn set_cookie(&mut self, cookie: cookie::Cookie<'_>) {
        match HeaderValue::try_from(cookie.encoded().to_string()) {
            Ok(v) => {
                self.headers.append(header::SET_COOKIE, v);
            }
            Err(_) => tracing::warn!(target: "tether", "ignored a cookie that is not a valid header"),
        }
    }

    /***** reading the response back (middleware) *****/

    /// The response status written so far.
    pub fn response_status(&self) -> StatusCode {
        self.status
    }

    /// The response headers written so far.
    pub fn response_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The response headers, to change.
    pub fn response_headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The response body written so far.
    pub fn response_body(&self) -> &Body {
        &self.body
    }

    /// Replaces the response body; returns the old one.
    pub fn set_response_body(&mut self, body: impl Into<Body>) -> Body {
        std::mem::replace(&mut self.body, body.into())
    }

    /// True once a body was written.
    pub fn written(&self) -> bool {
        !self.body.is_empty()
    }

    /// Sets the status and body, and the content type unless one was set already: as in
    /// Gin, a `Content-Type` a handler or middleware chose (`application/problem+json`,
    /// say) is kept by `json`, `string` and the other writers.
    fn render(&mut self, code: StatusCode, content_type: HeaderValue, body: Body) {
        self.status = code;
        // Most responses have no headers yet: a plain insert then, the entry's search only
        // when there are some.
        if self.headers.is_empty() {
            self.headers.insert(header::CONTENT_TYPE, content_type);
        } else {
            self.headers.entry(header::CONTENT_TYPE).or_insert(content_type);
        }
        self.body = body;
    }

    /// Moves the response out of the context.
    #[inline(always)]
    pub(crate) fn take_response(&mut self) -> http::Response<Body> {
        let mut res = http::Response::new(std::mem::take(&mut self.body));
        *res.status_mut() = self.status;
        // Swap rather than assign: the context keeps the response's fresh empty map, and
        // no empty map is dropped on the way.
        std::mem::swap(res.headers_mut(), &mut self.headers);
        res
    }
}

/// A response with a plain-text body, outside any context.
pub(crate) fn plain(code: StatusCode, body: &'static str) -> http::Response<Body> {
    let mut res = http::Response::new(Body::from(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = code;
    res.headers_mut().insert(header::CONTENT_TYPE, TEXT);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_headers(n: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        for i in 0..n {
            h.insert(http::HeaderName::try_from(format!("x-h{i}")).unwrap(), HeaderValue::from_static("v"));
        }
        h
    }

    #[test]
    fn a_content_type_set_before_is_kept_as_gin_keeps_it() {
        let mut w = Writer::new();
        w.header("content-type", "application/problem+json");
        w.json(422, &serde_json::json!({"title": "invalid"}));
        assert_eq!(w.headers["content-type"], "application/problem+json");
        assert_eq!(w.headers.get_all("content-type").iter().count(), 1);
        let mut w = Writer::new();
        w.json(200, &1);
        assert_eq!(w.headers["content-type"], "application/json; charset=utf-8");
    }

    #[test]
    fn a_finished_requests_header_map_becomes_the_next_responses_room_emptied() {
        let mut w = Writer::new();
        w.string(200, "hi");
        drop(w.take_response());
        w.take_room(&mut request_headers(5));
        w.reset();
        assert!(w.headers.is_empty(), "no request header may reach the next response");
        assert!(w.headers.capacity() >= 5);
        w.string(200, "again");
        assert_eq!(w.headers.len(), 1);
    }

    #[test]
    fn a_request_map_with_no_room_is_left_alone() {
        let mut w = Writer::new();
        let mut none = HeaderMap::new();
        w.take_room(&mut none);
        assert_eq!(w.headers.capacity(), 0);
        assert_eq!(none.capacity(), 0, "not grown for nothing");
    }

    #[test]
    fn a_large_request_header_map_is_not_kept() {
        let mut w = Writer::new();
        w.take_room(&mut request_headers(KEPT_HEADER_ROOM + 20));
        w.reset();
        assert_eq!(w.headers.capacity(), 0);
    }

    #[test]
    fn a_request_that_repeated_one_header_many_times_is_not_kept() {
        let mut many = HeaderMap::new();
        for _ in 0..KEPT_HEADER_ROOM + 8 {
            many.append("x-a", HeaderValue::from_static("v"));
        }
        assert!(many.capacity() <= KEPT_HEADER_ROOM, "one entry, many values");
        let mut w = Writer::new();
        w.take_room(&mut many);
        w.reset();
        assert_eq!(w.headers.capacity(), 0);
    }

    #[test]
    fn headers_a_cut_request_left_are_dropped_before_the_room_is_taken() {
        let mut w = Writer::new();
        w.header("x-left", "over");
        w.take_room(&mut request_headers(3));
        w.reset();
        assert!(w.headers.is_empty());
        assert!(w.headers.capacity() >= 3);
    }
}
