//! `cache(ttl)`: a response cache for GET, bounded in time and in bytes (moka).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use crate::handler::HandlerFuture;
use crate::{Context, Handler};

/// Caches `200 OK` answers to `GET` (and serves `HEAD` from them) by path and query, for
/// `ttl`, in at most [`max_bytes`](ResponseCache::max_bytes) (64 MiB by default). A hit
/// is answered from memory with `X-Cache: HIT` and the rest of the chain does not run;
/// a miss runs it and says `X-Cache: MISS`.
///
/// Not cached: other statuses, streamed bodies, bodies over
/// [`max_body`](ResponseCache::max_body) (1 MiB), and responses with `Set-Cookie`,
/// `Vary`, or `Cache-Control: private` / `no-store` — they are about one client.
///
/// Every entry expires and the whole is bounded: the cache that grows with every new
/// URL (the seed's leak: a map without TTL) cannot be built with it.
///
/// ```
/// use std::time::Duration;
/// use tether::middleware::cache;
///
/// let mut app = tether::Engine::new();
/// let mut public = app.group("/public");
/// public.with(cache(Duration::from_secs(30)));
/// ```
pub fn cache(ttl: Duration) -> ResponseCache {
    ResponseCache { ttl, max_bytes: 64 << 20, max_body: 1 << 20, store: store(ttl, 64 << 20) }
}

/// One cached response.
#[derive(Debug)]
struct Entry {
    headers: HeaderMap,
    body: Bytes,
}

type Store = moka::sync::Cache<String, Arc<Entry>>;

fn store(ttl: Duration, max_bytes: u64) -> Store {
    moka::sync::Cache::builder()
        .time_to_live(ttl)
        .max_capacity(max_bytes)
        .weigher(|key: &String, e: &Arc<Entry>| {
            let headers: usize = e.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
            u32::try_from(key.len() + headers + e.body.len() + 96).unwrap_or(u32::MAX)
        })
        .build()
}

/// The `cache(ttl)` middleware and its settings.
#[derive(Clone)]
pub struct ResponseCache {
    ttl: Duration,
    max_bytes: u64,
    max_body: usize,
    store: Store,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("ttl", &self.ttl)
            .field("max_bytes", &self.max_bytes)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl ResponseCache {
    /// The most bytes the cache holds (bodies, headers and keys; default 64 MiB).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self.store = store(self.ttl, bytes);
        self
    }

    /// The largest body that is cached (default 1 MiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Responses held now (after pending expiries and evictions have run).
    pub fn entries(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.entry_count()
    }

    fn cacheable(&self, c: &Context) -> bool {
        if c.response_status() != StatusCode::OK {
            return false;
        }
        let Some(body) = c.response_body().as_bytes() else { return false };
        let headers = c.response_headers();
        let private = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("private") || v.contains("no-store"));
        body.len() <= self.max_body
            && !private
            && !headers.contains_key(header::SET_COOKIE)
            && !headers.contains_key(header::VARY)
    }
}

static HIT: HeaderValue = HeaderValue::from_static("HIT");
static MISS: HeaderValue = HeaderValue::from_static("MISS");

impl Handler for ResponseCache {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            if c.method() != Method::GET && c.method() != Method::HEAD {
                return;
            }
            let key =
                c.uri().path_and_query().map_or_else(|| c.path().to_owned(), |pq| pq.as_str().to_owned());
            if let Some(hit) = self.store.get(&key) {
                c.abort();
                c.status(StatusCode::OK);
                let headers = c.response_headers_mut();
                for (name, value) in hit.headers.iter() {
                    headers.insert(name.clone(), value.clone());
                }
                headers.insert("x-cache", HIT.clone());
                c.set_response_body(hit.body.clone());
                return;
            }
            // Headers set before the cache ran (a request id) belong to this request only.
            let earlier: Vec<header::HeaderName> = c.response_headers().keys().cloned().collect();
            c.next().await;
            if self.cacheable(c) {
                let body = c.response_body().as_bytes().cloned().unwrap_or_default();
                let mut headers = HeaderMap::new();
                for (name, value) in c.response_headers().iter().filter(|(n, _)| !earlier.contains(n)) {
                    headers.append(name.clone(), value.clone());
                }
                let entry = Entry { headers, body };
                self.store.insert(key, Arc::new(entry));
            }
            c.response_headers_mut().insert("x-cache", MISS.clone());
        })
    }
}
