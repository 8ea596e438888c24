//! A request's life in a pooled context: filled and routed (`begin`), cleared for the
//! next one (`reset`), and the token that tells its `tied()` tasks it is over.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use super::Request;
use crate::app::frozen::FrozenEngine;
use crate::context::keys::Keys;
use crate::response::body::RequestBody;
use crate::routing::router::{Lookup, Matched};

impl Request {
    pub(super) fn new() -> Self {
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
            started: None,
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
        // A reset context's body is `Empty`, which holds nothing: it is replaced without
        // running its drop. Any other body is dropped as usual (its budget given back).
        if matches!(self.body, RequestBody::Empty) {
            std::mem::forget(std::mem::replace(&mut self.body, body));
        } else {
            self.body = body;
        }
        self.remote_addr = remote_addr;
        let head = self.head.insert(head);
        let path = head.uri.path();
        let lookup = shared.router.lookup(&head.method, path, &mut self.params);
        // A plain loop over each value, not `contains` (a `memchr` call per value): values
        // are short, and the calls cost 31 instructions a request on the GitHub routes
        // (bench/routes_irq.sh).
        let bytes = path.as_bytes();
        #[allow(clippy::manual_contains)]
        let encoded = self.params.iter().any(|r| bytes[r.clone()].iter().any(|&b| b == b'%'));
        if encoded {
            decode_params(path, &mut self.params, &mut self.param_text);
            self.params_decoded = true;
        }
        self.shared = Some(shared);
        lookup
    }

    /// The request head, between requests too (`None` then).
    pub(super) fn head_mut(&mut self) -> Option<&mut http::request::Parts> {
        self.head.as_mut()
    }

    /// Clears everything the request left, so the context can serve another.
    pub(crate) fn reset(&mut self) {
        // Dropping the head and body here matters: header values are slices of the
        // connection's read buffer, which a pooled context must not keep alive.
        // (`Context::reset` has usually swapped the head's header map, emptied, into the
        // writer for the next response.)
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
    #[inline]
    pub(crate) fn end_request(&mut self) {
        // Few requests tie tasks: the test stays inline, the cancel out of line.
        if self.request_token.get().is_some() {
            self.cancel_tied();
        }
    }

    #[cold]
    fn cancel_tied(&mut self) {
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

    /// The request head. Every context a handler sees has one.
    pub(crate) fn head(&self) -> &http::request::Parts {
        self.head.as_ref().expect("a context in use holds its request")
    }

    pub(super) fn shared(&self) -> &FrozenEngine {
        self.shared.as_deref().expect("a context in use has its engine")
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

/// Percent-decodes every parameter value into `text`, and points the ranges there.
fn decode_params(path: &str, params: &mut [Range<usize>], text: &mut String) {
    for r in params.iter_mut() {
        let start = text.len();
        text.push_str(&percent_encoding::percent_decode_str(&path[r.clone()]).decode_utf8_lossy());
        *r = start..text.len();
    }
}
