//! `rate_limit(..)`: a token bucket per client (governor), in a bounded table (moka), or
//! in Redis for every instance at once (feature `redis`).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use http::{header, HeaderValue, StatusCode};

#[cfg(feature = "redis")]
use super::redis_store::{RedisStore, StoreFailure};
use crate::app::handler::HandlerFuture;
use crate::{Context, Handler, Request};

/// Lets each client make `per_second` requests a second, in bursts of up to `burst`;
/// past that, `429 Too Many Requests` with `Retry-After` (whole seconds, rounded up) and
/// a JSON error. Clients are told apart by `c.client_ip()` (so set
/// [`trusted_proxies`](crate::Engine::trusted_proxies) behind a proxy), or by
/// [`key`](RateLimit::key).
///
/// Memory is bounded whatever the number of clients: buckets live in a table of at most
/// [`max_keys`](RateLimit::max_keys) entries (100,000 by default, about 100 bytes
/// each; a key longer than 64 bytes is kept as its hash), and a bucket idle long enough to have refilled is dropped, as it is then
/// the same as a new one. When the table is full the least-used buckets give way; one
/// of them coming back starts with a full bucket, which is the price of the bound.
///
/// ```
/// use tether::middleware::rate_limit;
///
/// let mut app = tether::Engine::new();
/// app.with(rate_limit(10, 20)); // 10 requests a second per IP, bursts of 20
/// let mut api = app.group("/api");
/// // Per API key instead; requests without one are not limited here.
/// api.with(rate_limit(100, 100).key(|c| c.get_header("x-api-key").map(str::to_owned)));
/// ```
///
/// # Panics
/// If `per_second` or `burst` is 0.
pub fn rate_limit(per_second: u32, burst: u32) -> RateLimit {
    let rate = NonZeroU32::new(per_second).expect("rate_limit: per_second must be at least 1");
    let burst = NonZeroU32::new(burst).expect("rate_limit: burst must be at least 1");
    RateLimit::with_quota(Quota::per_second(rate).allow_burst(burst))
}

type KeyFn = dyn Fn(&Request) -> Option<String> + Send + Sync;

/// Who a bucket belongs to: the client's address (no string made per request), or what
/// a [`key`](RateLimit::key) function gave; in the table, a key longer than
/// `LONG_KEY` bytes is held as its hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Client {
    Ip(std::net::IpAddr),
    Key(String),
    Hashed(u64),
}

/// Keys longer than this are hashed before they are kept: the client chooses its key
/// (an API key header), and 100,000 buckets of 30 KiB keys would hold 3 GB.
const LONG_KEY: usize = 64;

#[cfg(feature = "redis")]
impl Client {
    /// The client's part of its Redis key: `ip:203.0.113.9`, `k:<key>`, or for a key
    /// longer than 64 bytes `h:<SHA-1 of it>`. A client picks its own key (an API key
    /// header), and each one is a Redis key until its bucket refills: without the bound, a
    /// flood of 30 KiB keys would cost Redis 30 KiB each.
    fn redis_id(&self) -> String {
        match self {
            Client::Ip(ip) => format!("ip:{ip}"),
            Client::Key(key) if key.len() <= LONG_KEY => format!("k:{key}"),
            Client::Key(key) => format!("h:{}", sha1_smol::Sha1::from(key.as_bytes()).digest()),
            // Only the in-process table hashes keys (with its own random key); a Redis
            // limit sees the key itself. Named apart so it could never meet a `k:` key.
            Client::Hashed(h) => format!("x:{h:016x}"),
        }
    }
}

type Buckets = moka::sync::Cache<Client, Arc<DefaultDirectRateLimiter>>;

/// The `rate_limit` middleware and its settings.
#[derive(Clone)]
pub struct RateLimit {
    quota: Quota,
    /// `None`: by client IP.
    key: Option<Arc<KeyFn>>,
    buckets: Buckets,
    max_keys: u64,
    /// Hashes long keys for the table.
    hasher: std::hash::RandomState,
    /// Buckets in Redis instead of `buckets`.
    #[cfg(feature = "redis")]
    shared: Option<RedisStore>,
    #[cfg(feature = "redis")]
    on_store_failure: StoreFailure,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").field("quota", &self.quota).field("max_keys", &self.max_keys).finish()
    }
}

impl RateLimit {
    /// Any governor `Quota` (per minute, per hour, a custom period).
    pub fn with_quota(quota: Quota) -> Self {
        let max_keys = 100_000;
        RateLimit {
            quota,
            key: None,
            buckets: table(quota, max_keys),
            max_keys,
            hasher: std::hash::RandomState::new(),
            #[cfg(feature = "redis")]
            shared: None,
            #[cfg(feature = "redis")]
            on_store_failure: StoreFailure::Open,
        }
    }

    /// Keeps the buckets in Redis, shared by every instance: together they allow the
    /// quota once, not once each. Each request is one atomic script on the server (GCRA,
    /// on the server's clock); a bucket's key expires once it has refilled. `max_keys`
    /// does not apply (bound Redis with its `maxmemory`). See [`RedisStore`] for the
    /// deadline on each call, and [`on_store_failure`](RateLimit::on_store_failure) for
    /// what happens while Redis cannot be reached.
    #[cfg(feature = "redis")]
    pub fn store(mut self, redis: RedisStore) -> Self {
        self.shared = Some(redis);
        self
    }

    /// Whether requests pass unlimited ([`StoreFailure::Open`], the default) or are
    /// refused with 503 ([`StoreFailure::Closed`]) while the [`store`](RateLimit::store)
    /// cannot be reached.
    #[cfg(feature = "redis")]
    pub fn on_store_failure(mut self, policy: StoreFailure) -> Self {
        self.on_store_failure = policy;
        self
    }

    /// Tells clients apart by `key` (an API key, a user id); a request it gives `None`
    /// for is not limited.
    pub fn key(mut self, key: impl Fn(&Request) -> Option<String> + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// The most buckets kept at once (default 100,000).
    pub fn max_keys(mut self, max: u64) -> Self {
        self.max_keys = max.max(1);
        self.buckets = table(self.quota, self.max_keys);
        self
    }

    /// Buckets held now (after pending evictions have run).
    pub fn keys(&self) -> u64 {
        self.buckets.run_pending_tasks();
        self.buckets.entry_count()
    }

    /// `Ok` to go on, or how long until this client may send again.
    fn check(&self, key: Client) -> Result<(), Duration> {
        let key = match key {
            // A hash keyed per limit (SipHash, random keys): a client cannot aim a long key
            // at another client's bucket.
            Client::Key(k) if k.len() > LONG_KEY => {
                Client::Hashed(std::hash::BuildHasher::hash_one(&self.hasher, k.as_bytes()))
            }
            other => other,
        };
        let quota = self.quota;
        let bucket = self.buckets.get_with(key, || Arc::new(governor::RateLimiter::direct(quota)));
        bucket.check().map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The table of buckets: bounded, and a bucket idle for as long as a full refill is gone.
fn table(quota: Quota, max_keys: u64) -> Buckets {
    let refill = quota.replenish_interval() * quota.burst_size().get();
    moka::sync::Cache::builder()
        .max_capacity(max_keys)
        .time_to_idle(refill.max(Duration::from_secs(1)))
        .build()
}

impl Handler for RateLimit {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        let client = match &self.key {
            None => c.client_ip().map(Client::Ip),
            Some(key) => key(c).map(Client::Key),
        };
        let Some(client) = client else { return HandlerFuture::new(std::future::ready(())) };
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.shared {
            return HandlerFuture::new(async move {
                let id = client.redis_id();
                let burst = self.quota.burst_size().get();
                match redis.check_rate(id.as_bytes(), self.quota.replenish_interval(), burst).await {
                    Ok(None) => {}
                    Ok(Some(wait)) => refuse(c, wait),
                    Err(_) if self.on_store_failure == StoreFailure::Open => {}
                    Err(_) => {
                        c.response_headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u32));
                        c.abort_with_status_json(
                            StatusCode::SERVICE_UNAVAILABLE,
                            &serde_json::json!({ "error": "rate limit store unavailable" }),
                        );
                    }
                }
            });
        }
        if let Err(wait) = self.check(client) {
            refuse(c, wait);
        }
        HandlerFuture::new(std::future::ready(()))
    }
}

/// `429` with `Retry-After` in whole seconds, rounded up.
fn refuse(c: &mut Context, wait: Duration) {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    c.response_headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    c.abort_with_status_json(
        StatusCode::TOO_MANY_REQUESTS,
        &serde_json::json!({ "error": "too many requests", "retry_after_secs": seconds }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limit = rate_limit(1, 3);
        for _ in 0..3 {
            assert!(limit.check(Client::Key("a".into())).is_ok());
        }
        let wait = limit.check(Client::Key("a".into())).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limit.check(Client::Key("b".into())).is_ok(), "another client has its own bucket");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_long_client_key_is_hashed_to_a_short_redis_id() {
        assert_eq!(Client::Ip([203, 0, 113, 9].into()).redis_id(), "ip:203.0.113.9");
        assert_eq!(Client::Key("alice".into()).redis_id(), "k:alice");
        let long = Client::Key("x".repeat(30_000)).redis_id();
        assert_eq!(long.len(), 2 + 40, "{long}");
        assert_ne!(long, Client::Key("x".repeat(30_001)).redis_id(), "different keys, different buckets");
        assert_eq!(long, Client::Key("x".repeat(30_000)).redis_id(), "the same key, the same bucket");
    }

    #[test]
    fn long_keys_are_kept_as_hashes_yet_each_has_its_own_bucket() {
        let limit = rate_limit(1, 1);
        let long = |c: char| Client::Key(c.to_string().repeat(30_000));
        assert!(limit.check(long('a')).is_ok());
        assert!(limit.check(long('a')).is_err(), "the same long key is the same bucket");
        assert!(limit.check(long('b')).is_ok(), "another long key has its own");
        limit.buckets.run_pending_tasks();
        let held: usize = limit
            .buckets
            .iter()
            .map(|(k, _)| match &*k {
                Client::Key(s) => s.len(),
                _ => 8,
            })
            .sum();
        assert_eq!(held, 16, "two hashes, no 30 KB strings");
    }

    #[test]
    fn a_hundred_thousand_clients_do_not_grow_the_table_past_its_bound() {
        let limit = rate_limit(5, 5).max_keys(1_000);
        for i in 0..100_000u32 {
            let _ = limit.check(Client::Ip(std::net::IpAddr::from(i.to_be_bytes())));
        }
        assert!(limit.keys() <= 1_000, "{} buckets", limit.keys());
    }
}
