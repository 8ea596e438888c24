//! What a handler reads from its request: method, path, parameters, query, headers,
//! cookies, the client's address, keys, and the application's state.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use http::header::HeaderMap;
use http::{Method, Uri, Version};

use super::Request;
use crate::routing::router::Matched;

impl Request {
    /// Decoded query pairs.
    pub(crate) fn query_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let query = self.decoded_query();
        query.pairs.iter().map(|(k, v)| (&query.text[k.clone()], &query.text[v.clone()]))
    }

    /// The query, decoded on first use.
    fn decoded_query(&self) -> &Query {
        self.query.get_or_init(|| Query::parse(self.head().uri.query().unwrap_or("")))
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
}

/// A decoded query: keys and values back to back in `text`, `pairs` ranges into it.
#[derive(Debug, Default)]
pub(super) struct Query {
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
