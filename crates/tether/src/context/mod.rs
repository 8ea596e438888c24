//! The request context: the [`Context`] a handler gets, its request side [`Request`]
//! (filled in `request.rs`, read through `read.rs`), and the flow of the chain (`next`,
//! `abort`); what it answers is the [`Writer`](crate::Writer) in `response/`.
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
mod read;
mod request;
pub(crate) mod upload;
pub(crate) mod upload_limits;
#[cfg(feature = "validation")]
pub(crate) mod validation;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::app::frozen::FrozenEngine;
use crate::app::handler::SharedHandler;
use crate::context::keys::Keys;
use crate::response::body::RequestBody;
use crate::response::writer::Writer;
use crate::routing::router::Matched;
use read::Query;

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
    /// When the request began, if the engine records metrics (set for each request).
    pub(crate) started: Option<std::time::Instant>,
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
        if let Some(head) = self.req.head_mut() {
            self.res.take_room(&mut head.headers);
        }
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
        while let Some(handler) = self.next_handler(chain) {
            handler.call(self).await;
        }
    }

    /// The handler of `chain` to run next, counted as run; `None` at the end of the chain
    /// or once aborted.
    #[inline]
    pub(crate) fn next_handler<'c>(&mut self, chain: &'c [SharedHandler]) -> Option<&'c SharedHandler> {
        let handler = chain.get(self.index).filter(|_| !self.aborted)?;
        self.index += 1;
        Some(handler)
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
