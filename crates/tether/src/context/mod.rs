//! The request context: what a handler reads (request, params, query, keys), the flow of
//! the chain (`next`, `abort`), and — in `response.rs` — what it answers.
//!
//! A handler only ever receives `&mut Context`, so the context cannot outlive the request
//! or be sent to another task: contexts are pooled and reused safely. Work that must go on
//! after the response takes an owned copy instead.

pub(crate) mod binding;
pub(crate) mod client_ip;
pub(crate) mod form;
pub(crate) mod form_de;
pub(crate) mod keys;
pub(crate) mod pool;
pub(crate) mod post_form;
pub(crate) mod upload;
pub(crate) mod upload_limits;
#[cfg(feature = "validation")]
pub(crate) mod validation;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use http::header::HeaderMap;
use http::{Method, Uri, Version};
use tokio_util::sync::CancellationToken;

use crate::app::frozen::FrozenEngine;
use crate::context::keys::Keys;
use crate::response::body::RequestBody;
use crate::response::writer::Writer;
use crate::routing::router::{Lookup, Matched};

/// The request context handed to every handler and middleware.
///
/// It reads like Gin's: request methods (`param`, `query`, `get_header`, keys, ...) come
/// from its request side, [`Request`], which it derefs to; response methods (`json`,
/// `string`, `header`, ...) write to its response side, [`Writer`]. When a response is
/// built from request data, [`split`](Context::split) hands out both at once, so that
/// nothing needs copying:
///
/// ```
/// #[derive(serde::Serialize)]
/// struct User<'a> {
///     id: &'a str,
/// }
///
/// async fn show_user(c: &mut tether::Context) {
///     let verbose = c.default_query("verbose", "false") == "true";
///     let (req, w) = c.split();
///     w.json(200, &User { id: req.param("id") });
///     let _ = verbose;
/// }
/// let mut app = tether::Engine::new();
/// app.get("/user/:id", show_user);
/// ```
pub struct Context {
    pub(crate) req: Request,
    pub(crate) res: Writer,
    index: usize,
    aborted: bool,
}

/// The request side of a [`Context`]: what the handler reads. `Context` derefs to it.
pub struct Request {
    /// The request head; `None` only between requests, while the context is pooled.
    head: Option<http::request::Parts>,
    pub(crate) body: RequestBody,
    pub(crate) remote_addr: Option<SocketAddr>,
    /// Byte ranges of the parameter values, in `path()` or, when any value was
    /// percent-encoded, in `param_text`.
    pub(crate) params: Vec<Range<usize>>,
    param_text: String,
    params_decoded: bool,
    /// The query, decoded on first use: a request that never reads its query (a 404, a
    /// static file) never pays for decoding it.
    query: OnceLock<Query>,
    pub(crate) keys: Keys,
    /// Cancelled when the request ends; made on first use, by a `tied()` task.
    request_token: OnceLock<CancellationToken>,
    pub(crate) shared: Option<Arc<FrozenEngine>>,
    pub(crate) chain: Matched,
    /// The multipart form once read, or why it could not be (its temporary files go
    /// when it is dropped).
    pub(crate) form: Option<crate::context::form::FormRead>,
}

impl std::ops::Deref for Context {
    type Target = Request;

    fn deref(&self) -> &Request {
        &self.req
    }
}

impl std::ops::DerefMut for Context {
    fn deref_mut(&mut self) -> &mut Request {
        &mut self.req
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("req", &self.req)
            .field("res", &self.res)
            .field("aborted", &self.aborted)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.head.as_ref().map(|h| &h.method))
            .field("uri", &self.head.as_ref().map(|h| &h.uri))
            .field("full_path", &self.full_path())
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// An empty context, as the pool creates it.
    pub(crate) fn new() -> Self {
        Context { req: Request::new(), res: Writer::new(), index: 0, aborted: false }
    }

    /// Clears everything the request left, so the context can serve another.
    pub(crate) fn reset(&mut self) {
        self.req.reset();
        self.res.reset();
        self.index = 0;
        self.aborted = false;
    }

    /// The request side and the response side at once: for writing a response built from
    /// request data (`w.json(200, &User { id: req.param("id") })`) without copying it.
    pub fn split(&mut self) -> (&Request, &mut Writer) {
        (&self.req, &mut self.res)
    }

    /// The response side alone.
    pub fn writer(&mut self) -> &mut Writer {
        &mut self.res
    }

    /***** flow *****/

    /// Runs the rest of the chain: the next middleware and, in the end, the handler.
    ///
    /// Middleware calls this to wrap what follows; what it does after `next().await`
    /// sees the response the handler wrote, and may change it. A middleware that does not
    /// call `next` still lets the chain go on after it returns, unless it aborted.
    ///
    /// ```
    /// async fn timing(c: &mut tether::Context) {
    ///     let start = std::time::Instant::now();
    ///     c.next().await;
    ///     let ms = start.elapsed().as_millis().to_string();
    ///     c.header("x-elapsed-ms", ms);
    /// }
    /// ```
    pub async fn next(&mut self) {
        let Some(shared) = self.shared.clone() else { return };
        let chain = shared.chain(self.req.chain);
        while self.index < chain.len() && !self.aborted {
            let handler = &chain[self.index];
            self.index += 1;
            handler.call(self).await;
        }
    }

    /// Stops the chain: the handlers after the current one do not run. What the current
    /// and earlier handlers do after `next().await` still runs.
    pub fn abort(&mut self) {
        self.aborted = true;
    }

    /// True once `abort` (or an `abort_with_*`) was called.
    pub fn is_aborted(&self) -> bool {
        self.aborted
    }
}

impl Request {
    fn new() -> Self {
        Request {
            head: None,
            body: RequestBody::Empty,
            remote_addr: None,
            params: Vec::new(),
            param_text: String::new(),
            params_decoded: false,
            query: OnceLock::new(),
            keys: Keys::default(),
            request_token: OnceLock::new(),
            shared: None,
            chain: Matched::None,
            form: None,
        }
    }

    /// Fills the context for one request and routes it. Returns the router's decision.
    pub(crate) fn begin(
        &mut self,
        shared: Arc<FrozenEngine>,
        head: http::request::Parts,
        body: RequestBody,
        remote_addr: Option<SocketAddr>,
    ) -> Lookup {
        debug_assert!(matches!(self.body, RequestBody::Empty), "a pooled context was reset");
        // The context was reset: its body is `Empty`, so this assignment drops nothing
        // (and `replace` + `forget` spares the drop's test).
        std::mem::forget(std::mem::replace(&mut self.body, body));
        self.remote_addr = remote_addr;
        let head = self.head.insert(head);
        let path = head.uri.path();
        let lookup = shared.router.lookup(&head.method, path, &mut self.params);
        if self.params.iter().any(|r| path[r.clone()].contains('%')) {
            decode_params(path, &mut self.params, &mut self.param_text);
            self.params_decoded = true;
        }
        self.shared = Some(shared);
        lookup
    }

    /// Clears everything the request left, so the context can serve another.
    pub(crate) fn reset(&mut self) {
        // Dropping the head and body here matters: header values are slices of the
        // connection's read buffer, which a pooled context must not keep alive.
        self.head = None;
        if !matches!(self.body, RequestBody::Empty) {
            self.body = RequestBody::Empty;
        }
        self.remote_addr = None;
        // Buffers are kept for the next request only at common sizes: a request with
        // 10,000 parameters or a 30 KiB path must not leave its room in a pooled context.
        clear_capped(&mut self.params, KEPT_PARAMS);
        if self.param_text.capacity() > KEPT_PARAM_TEXT {
            self.param_text = String::new();
        }
        self.param_text.clear();
        self.params_decoded = false;
        self.query = OnceLock::new();
        self.keys.clear();
        self.end_request();
        self.shared = None;
        self.chain = Matched::None;
        // Most requests read no form: a test is cheaper than dropping a `None`.
        if self.form.is_some() {
            self.form = None;
        }
    }

    /// The request is over: tasks tied to it are cancelled.
    pub(crate) fn end_request(&mut self) {
        if let Some(token) = self.request_token.take() {
            token.cancel();
        }
    }

    /// Hands the request's token (if a tied task made one) to a streamed body, which
    /// cancels it when the client is done with it.
    pub(crate) fn take_request_token(&mut self) -> Option<CancellationToken> {
        self.request_token.take()
    }

    /// The token cancelled when this request ends (for `tied()` tasks).
    pub(crate) fn request_token(&self) -> CancellationToken {
        self.request_token.get_or_init(CancellationToken::new).clone()
    }

    /// Decoded query pairs.
    pub(crate) fn query_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let query = self.decoded_query();
        query.pairs.iter().map(|(k, v)| (&query.text[k.clone()], &query.text[v.clone()]))
    }

    /// The query, decoded on first use.
    fn decoded_query(&self) -> &Query {
        self.query.get_or_init(|| Query::parse(self.head().uri.query().unwrap_or("")))
    }

    /// The request head. Every context a handler sees has one.
    pub(crate) fn head(&self) -> &http::request::Parts {
        self.head.as_ref().expect("a context in use holds its request")
    }

    fn shared(&self) -> &FrozenEngine {
        self.shared.as_deref().expect("a context in use has its engine")
    }

    /***** request *****/

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head().method
    }

    /// The request path, as sent (not percent-decoded): `/user/42`.
    pub fn path(&self) -> &str {
        self.head().uri.path()
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        &self.head().uri
    }

    /// The HTTP version of the request.
    pub fn version(&self) -> Version {
        self.head().version
    }

    /// The pattern of the matched route, `/user/:id`; empty when no route matched.
    pub fn full_path(&self) -> &str {
        match (self.chain, &self.shared) {
            (Matched::Route(id), Some(s)) => &s.router.routes[id].pattern,
            _ => "",
        }
    }

    /// The value of the path parameter `name` (percent-decoded), or `""` when the route
    /// has no such parameter. A catch-all value keeps its leading `/`, as in Gin.
    pub fn param(&self, name: &str) -> &str {
        let (Matched::Route(id), Some(shared)) = (self.chain, &self.shared) else { return "" };
        let names = &shared.router.routes[id].param_names;
        match names.iter().position(|n| n.as_bytes() == name.as_bytes()) {
            Some(i) => self.param_at(i),
            None => "",
        }
    }

    #[inline]
    pub(crate) fn param_at(&self, i: usize) -> &str {
        let Some(r) = self.params.get(i) else { return "" };
        let text = if self.params_decoded {
            self.param_text.as_str()
        } else {
            self.head.as_ref().map_or("", |h| h.uri.path())
        };
        text.get(r.clone()).unwrap_or("")
    }

    /// All path parameters as `(name, value)` pairs, in path order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let names: &[Box<str>] = match self.chain {
            Matched::Route(id) => &self.shared().router.routes[id].param_names,
            _ => &[],
        };
        names.iter().enumerate().map(|(i, n)| (&**n, self.param_at(i)))
    }

    /// The first value of the query parameter `key`, decoded; `None` when absent.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query_values(key).next()
    }

    /// The query parameter `key`, or `default` when it is absent.
    pub fn default_query<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.query(key).unwrap_or(default)
    }

    /// Every value of the query parameter `key` (`?t=a&t=b` gives `["a", "b"]`).
    pub fn query_array(&self, key: &str) -> Vec<&str> {
        self.query_values(key).collect()
    }

    fn query_values<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        let query = self.decoded_query();
        query
            .pairs
            .iter()
            .filter(move |(k, _)| &query.text[k.clone()] == key)
            .map(|(_, v)| &query.text[v.clone()])
    }

    /// The raw query string, without the `?`.
    pub fn raw_query(&self) -> &str {
        self.head().uri.query().unwrap_or("")
    }

    /// The request header `name` as text; `None` when absent or not visible ASCII.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.head().headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The request's media type without parameters, as Gin's `c.ContentType()`:
    /// `application/json` for `application/json; charset=utf-8`. `None` when absent.
    pub fn content_type(&self) -> Option<&str> {
        let value = self.get_header("content-type")?;
        Some(value.split(';').next().unwrap_or("").trim())
    }

    /// All request headers.
    pub fn request_headers(&self) -> &HeaderMap {
        &self.head().headers
    }

    /// The request's extensions (values put there by tower layers or hyper).
    pub fn extensions(&self) -> &http::Extensions {
        &self.head().extensions
    }

    /// The request's extensions, to put a typed value there for the handlers after this
    /// one (what a tower layer would do); [`set`](Request::set) is the Gin way.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.head.as_mut().expect("a context in use holds its request").extensions
    }

    /// The socket address of the peer, when served over a socket.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The client's IP address: the socket peer's, unless the peer is one of the
    /// engine's [`trusted_proxies`](crate::Engine::trusted_proxies); then the address
    /// it forwarded (`X-Forwarded-For`, read from the right past trusted hops, then
    /// `X-Real-IP`). With no trusted proxies (the default) headers are never believed.
    pub fn client_ip(&self) -> Option<IpAddr> {
        let peer = self.remote_addr.map(|a| a.ip());
        match self.shared.as_deref() {
            Some(shared) if !shared.settings.proxies.nets.is_empty() => {
                let headers = &self.head().headers;
                shared
                    .settings
                    .proxies
                    .client_ip(peer, |name| headers.get(name).and_then(|v| v.to_str().ok()))
            }
            _ => peer,
        }
    }

    /// The value of the request cookie `name`, percent-decoded.
    pub fn cookie(&self, name: &str) -> Option<Cow<'_, str>> {
        self.head()
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| {
                let v = v.trim_matches('"');
                percent_encoding::percent_decode_str(v).decode_utf8_lossy()
            })
    }

    /***** keys *****/

    /// Stores `value` under `key` for the rest of this request (and copies taken later).
    pub fn set<T: Send + Sync + 'static>(&mut self, key: impl Into<Cow<'static, str>>, value: T) {
        self.keys.set(key.into(), value);
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn get<T: 'static>(&self, key: &str) -> Option<&T> {
        self.keys.get(key)
    }

    /// The value under `key`; panics when it is missing or of another type (a bug in the
    /// app: the middleware that sets it did not run).
    #[track_caller]
    pub fn must_get<T: 'static>(&self, key: &str) -> &T {
        match self.keys.get::<T>(key) {
            Some(v) => v,
            None if self.keys.raw(key).is_some() => {
                panic!("tether: key {key:?} holds another type than {}", std::any::type_name::<T>())
            }
            None => panic!("tether: key {key:?} does not exist"),
        }
    }

    /// Moves the value under `key` out of the keys, as Gin's `c.Get` then delete, for a
    /// value that is not `Clone` (a transaction, a guard). `None`, leaving the key in
    /// place, when it is missing, of another type, or shared with a copy of the context
    /// taken before (`c.copy()`, `c.go`): the copy keeps its value.
    ///
    /// ```
    /// struct Tx(u32);
    /// async fn h(c: &mut tether::Context) {
    ///     c.set("tx", Tx(7));
    ///     let tx: Tx = c.take("tx").expect("set above");
    ///     assert!(c.get::<Tx>("tx").is_none());
    ///     c.string(200, tx.0.to_string());
    /// }
    /// ```
    pub fn take<T: Send + Sync + 'static>(&mut self, key: &str) -> Option<T> {
        self.keys.take(key)
    }

    /// Removes `key`; true if it was there.
    pub fn delete(&mut self, key: &str) -> bool {
        self.keys.delete(key)
    }

    /// The names of the keys set so far.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.keys.names()
    }

    /// The application state of type `T` registered with `app.state(..)`.
    ///
    /// Panics when none was registered: that is a bug in the app's setup, not the request.
    #[track_caller]
    pub fn state<T: Send + Sync + 'static>(&self) -> &T {
        crate::app::state::registered(self.try_state::<T>())
    }

    /// The application state of type `T`, or `None` when none was registered.
    pub fn try_state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.shared.as_deref()?.state.get::<T>()
    }

    pub(crate) fn body_limit(&self) -> usize {
        self.shared.as_deref().map_or(usize::MAX, |s| s.settings.body_limit)
    }
}

/// Parameter ranges a pooled context keeps room for.
const KEPT_PARAMS: usize = 16;
/// Bytes of decoded parameter text a pooled context keeps room for.
const KEPT_PARAM_TEXT: usize = 1024;

/// Empties `v`, and lets its buffer go when it grew past `cap`.
fn clear_capped<T>(v: &mut Vec<T>, cap: usize) {
    if v.capacity() > cap {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

/// A decoded query: keys and values back to back in `text`, `pairs` ranges into it.
#[derive(Debug, Default)]
struct Query {
    text: String,
    pairs: Vec<(Range<usize>, Range<usize>)>,
}

impl Query {
    fn parse(query: &str) -> Self {
        let mut parsed = Query::default();
        if query.is_empty() {
            return parsed;
        }
        parsed.text.reserve(query.len());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let ks = parsed.text.len();
            parsed.text.push_str(&k);
            let vs = parsed.text.len();
            parsed.text.push_str(&v);
            parsed.pairs.push((ks..vs, vs..parsed.text.len()));
        }
        parsed
    }
}

/// Percent-decodes every parameter value into `text`, and points the ranges there.
fn decode_params(path: &str, params: &mut [Range<usize>], text: &mut String) {
    for r in params.iter_mut() {
        let start = text.len();
        text.push_str(&percent_encoding::percent_decode_str(&path[r.clone()]).decode_utf8_lossy());
        *r = start..text.len();
    }
}
