//! `cache(ttl)`: a response cache for GET, bounded in time and in bytes (moka).

use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "redis")]
use bytes::Bytes;
use headers::CacheControl;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use super::cache_entry::Entry;
#[cfg(feature = "redis")]
use super::redis_store::{RedisStore, StoreOp};
use crate::app::handler::HandlerFuture;
use crate::{Context, Handler};

/// Caches `200 OK` answers to `GET` (and serves `HEAD` from them) by host, path and
/// query, for `ttl` (or the response's shorter `max-age` / `s-maxage`), in at most
/// [`max_bytes`](ResponseCache::max_bytes) (64 MiB by default). A hit is answered from
/// memory with `X-Cache: HIT` and the rest of the chain does not run; a miss runs it and
/// says `X-Cache: MISS`.
///
/// A shared cache must not hand one user's answer to another (RFC 9111 §3, §3.5), so:
///
/// - the answer to a request with `Authorization` or `Cookie` is stored only when the
///   response says `Cache-Control: public` or `s-maxage`, and such a request is served
///   only entries that said so;
/// - not stored: other statuses, streamed bodies, bodies over
///   [`max_body`](ResponseCache::max_body) (1 MiB), responses with `Set-Cookie` or
///   `Vary`, and `Cache-Control` with `private`, `no-store`, `no-cache`, a zero
///   `max-age`, or a value that does not parse. Directives are read by a real parser
///   (the `headers` crate), in any case.
///
/// A request's own `Cache-Control` is not obeyed: a client cannot make the server do the
/// work the cache saves.
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

/// Responses held in this process, each with when its own `max-age` / `s-maxage` runs
/// out (when shorter than the cache's ttl).
type Memory = moka::sync::Cache<String, (Arc<Entry>, Instant)>;

/// Where the responses are kept.
#[derive(Clone)]
enum Store {
    /// In this process, bounded in bytes.
    Memory(Memory),
    /// In Redis, shared by every instance; each key expires with its response.
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}

fn store(ttl: Duration, max_bytes: u64) -> Store {
    Store::Memory(
        moka::sync::Cache::builder()
            .time_to_live(ttl)
            .max_capacity(max_bytes)
            .weigher(|key: &String, (e, _): &(Arc<Entry>, Instant)| {
                let headers: usize = e.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
                u32::try_from(key.len() + headers + e.body.len() + 96).unwrap_or(u32::MAX)
            })
            .build(),
    )
}

impl Store {
    /// The response stored under `key`, if any and still fresh. A store that fails
    /// counts as a miss (the failure is counted and logged by the store).
    async fn get(&self, key: &str) -> Option<Arc<Entry>> {
        match self {
            Store::Memory(memory) => {
                let (entry, expires) = memory.get(key)?;
                if expires <= Instant::now() {
                    memory.invalidate(key);
                    return None;
                }
                Some(entry)
            }
            #[cfg(feature = "redis")]
            Store::Redis(redis) => {
                let key = redis.key("c:", key.as_bytes());
                let value: Option<Vec<u8>> = redis
                    .call(StoreOp::CacheGet, async |mut con| {
                        redis::cmd("GET").arg(&key).query_async(&mut con).await
                    })
                    .await
                    .ok()?;
                Entry::decode(Bytes::from(value?)).map(Arc::new)
            }
        }
    }

    async fn put(&self, key: String, entry: Entry, ttl: Duration) {
        match self {
            Store::Memory(memory) => {
                memory.insert(key, (Arc::new(entry), Instant::now() + ttl));
            }
            #[cfg(feature = "redis")]
            Store::Redis(redis) => {
                let key = redis.key("c:", key.as_bytes());
                let millis = ttl.as_millis().max(1) as u64;
                let value = entry.encode();
                let _ = redis
                    .call(StoreOp::CachePut, async |mut con| {
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(value)
                            .arg("PX")
                            .arg(millis)
                            .query_async::<()>(&mut con)
                            .await
                    })
                    .await;
            }
        }
    }
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
        if matches!(self.store, Store::Memory(_)) {
            self.store = store(self.ttl, bytes);
        }
        self
    }

    /// The largest body that is cached (default 1 MiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Keeps the responses in Redis, shared by every instance, instead of in this
    /// process: a response one instance stored answers the same request at any other.
    /// The rules above hold the same; each key expires with its response's ttl, so
    /// `max_bytes` does not apply (bound Redis with its `maxmemory`). When Redis cannot
    /// be reached a request runs as on a miss. See [`RedisStore`].
    #[cfg(feature = "redis")]
    pub fn store(mut self, redis: RedisStore) -> Self {
        self.store = Store::Redis(redis);
        self
    }

    /// Responses held now in this process (after pending expiries and evictions have
    /// run); 0 when they are kept in Redis (feature `redis`).
    pub fn entries(&self) -> u64 {
        match &self.store {
            Store::Memory(memory) => {
                memory.run_pending_tasks();
                memory.entry_count()
            }
            #[cfg(feature = "redis")]
            Store::Redis(_) => 0,
        }
    }

    /// How long the response may be kept, and whether it may answer requests with
    /// credentials; `None` when it must not be stored.
    fn storable(&self, c: &Context, credentials: bool) -> Option<(Duration, bool)> {
        if c.response_status() != StatusCode::OK {
            return None;
        }
        let body = c.response_body().as_bytes()?;
        let headers = c.response_headers();
        if body.len() > self.max_body
            || headers.contains_key(header::SET_COOKIE)
            || headers.contains_key(header::VARY)
        {
            return None;
        }
        let mut ttl = self.ttl;
        let mut shared = false;
        if headers.contains_key(header::CACHE_CONTROL) {
            // Present but unreadable: better not to guess what it meant.
            let cc = cache_control(headers)?;
            if cc.private() || cc.no_store() || cc.no_cache() {
                return None;
            }
            if let Some(age) = cc.s_max_age().or(cc.max_age()) {
                ttl = ttl.min(age);
            }
            shared = cc.public() || cc.s_max_age().is_some();
        }
        if ttl.is_zero() || (credentials && !shared) {
            return None;
        }
        Some((ttl, shared))
    }
}

/// The response's `Cache-Control`, read by the `headers` crate's parser. Directive names
/// are compared case-insensitively (RFC 9111 §5.2), which that parser does not do, so the
/// values are lowercased first. The qualified forms `private="field"` and
/// `no-cache="field"`, which the parser passes over, count as their plain forms: a shared
/// cache may treat them so, and it is the safe reading. `None` when a value does not parse.
fn cache_control(headers: &HeaderMap) -> Option<CacheControl> {
    let lowered: Vec<HeaderValue> = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .map(|v| HeaderValue::from_bytes(&v.as_bytes().to_ascii_lowercase()))
        .collect::<Result<_, _>>()
        .ok()?;
    let qualified = lowered.iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|d| {
            let d = d.trim_ascii();
            d.starts_with(b"private=") || d.starts_with(b"no-cache=")
        })
    });
    if qualified {
        return Some(CacheControl::new().with_private());
    }
    let mut values = lowered.iter();
    <CacheControl as headers::Header>::decode(&mut values).ok()
}

/// The request carries credentials: its answer may be about this one user.
fn has_credentials(c: &Context) -> bool {
    let h = c.request_headers();
    h.contains_key(header::AUTHORIZATION) || h.contains_key(header::COOKIE)
}

/// The cache key: host, path and query. Without the host, one virtual host's answers
/// would be served for another's.
fn key(c: &Context) -> String {
    let host = c.uri().authority().map(|a| a.as_str()).or_else(|| c.get_header("host")).unwrap_or("");
    let pq = c.uri().path_and_query().map_or_else(|| c.path(), |pq| pq.as_str());
    let mut key = String::with_capacity(host.len() + pq.len());
    key.push_str(host);
    key.push_str(pq);
    key
}

static HIT: HeaderValue = HeaderValue::from_static("HIT");
static MISS: HeaderValue = HeaderValue::from_static("MISS");

impl Handler for ResponseCache {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            if c.method() != Method::GET && c.method() != Method::HEAD {
                return;
            }
            let key = key(c);
            let credentials = has_credentials(c);
            if let Some(hit) = self.store.get(&key).await {
                if hit.shared || !credentials {
                    c.abort();
                    c.status(StatusCode::OK);
                    let headers = c.response_headers_mut();
                    // Repeated headers (Link, say) come back whole, in their order.
                    for name in hit.headers.keys() {
                        headers.remove(name);
                    }
                    for (name, value) in hit.headers.iter() {
                        headers.append(name.clone(), value.clone());
                    }
                    headers.insert("x-cache", HIT.clone());
                    c.set_response_body(hit.body.clone());
                    return;
                }
            }
            // Headers set before the cache ran (a request id) belong to this request only.
            let earlier: Vec<header::HeaderName> = c.response_headers().keys().cloned().collect();
            c.next().await;
            if let Some((ttl, shared)) = self.storable(c, credentials) {
                let body = c.response_body().as_bytes().cloned().unwrap_or_default();
                let mut headers = HeaderMap::new();
                for (name, value) in c.response_headers().iter().filter(|(n, _)| !earlier.contains(n)) {
                    headers.append(name.clone(), value.clone());
                }
                self.store.put(key, Entry { headers, body, shared }, ttl).await;
            }
            c.response_headers_mut().insert("x-cache", MISS.clone());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(values: &[&str]) -> Option<CacheControl> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        cache_control(&headers)
    }

    #[test]
    fn directive_names_are_read_in_any_case_and_across_repeated_headers() {
        let cc = parsed(&["PUBLIC", "Max-Age=30"]).expect("parses");
        assert!(cc.public());
        assert_eq!(cc.max_age(), Some(Duration::from_secs(30)));
        let cc = parsed(&["s-MAXAGE=5, No-Store"]).expect("parses");
        assert!(cc.no_store());
        assert_eq!(cc.s_max_age(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_qualified_private_or_no_cache_counts_as_the_plain_directive() {
        assert!(parsed(&["max-age=60, private=\"set-cookie\""]).unwrap().private());
        assert!(parsed(&["no-cache=\"x-user\", public"]).unwrap().private());
        // A word that merely contains one is no such directive.
        assert!(!parsed(&["max-age=60, x-privateish"]).unwrap().private());
    }

    #[test]
    fn a_value_that_does_not_parse_is_none_and_is_not_guessed_at() {
        assert!(parsed(&["max-age=soon"]).is_none());
        assert!(parsed(&["max-age=60, public", "max-age=-1"]).is_none());
    }

    #[test]
    fn the_memory_store_bounds_bytes_and_honours_a_shorter_max_age() {
        let store = store(Duration::from_secs(60), 10_000);
        #[allow(irrefutable_let_patterns)] // refutable only with the `redis` feature
        let Store::Memory(memory) = &store
        else {
            unreachable!()
        };
        let entry = |n: usize| Entry {
            headers: HeaderMap::new(),
            body: bytes::Bytes::from(vec![b'x'; n]),
            shared: false,
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            store.put("short".into(), entry(10), Duration::ZERO).await;
            assert!(store.get("short").await.is_none(), "an entry past its own max-age is a miss");
            for i in 0..100 {
                store.put(format!("k{i}"), entry(1_000), Duration::from_secs(60)).await;
            }
        });
        memory.run_pending_tasks();
        assert!(memory.weighted_size() <= 10_000, "{} bytes held", memory.weighted_size());
        assert!(memory.entry_count() < 100);
    }
}
