//! `RedisStore`: one Redis that several instances share for `rate_limit` and `cache`
//! (feature `redis`), with a deadline on every call and a stated policy when it is down.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};

/// A Redis that [`rate_limit`](super::rate_limit) and [`cache`](super::cache) keep their
/// state in, so that every instance behind a load balancer shares one limit and one
/// cache: two instances with `rate_limit(10, 20)` allow 10 requests a second together,
/// not 20.
///
/// The connection is made on first use and kept (redis' connection manager, which
/// reconnects by itself); clones share it. Every call has a deadline
/// ([`timeout`](RedisStore::timeout), 200 ms by default): a Redis that is down, or
/// accepts and never answers, costs a request at most that long. After a failure the
/// store is not asked again for [`retry_after`](RedisStore::retry_after) (1 s), so an
/// outage does not add the deadline to every request. Failures are counted in
/// `tether_store_errors_total{op}` (`/metrics`) and [`errors`](RedisStore::errors), and
/// logged at WARN once when Redis becomes unreachable and at INFO when it answers again.
/// What a request does meanwhile: the cache runs the handler as on a miss; the limit
/// follows [`on_store_failure`](super::RateLimit::on_store_failure) (open by default).
///
/// Keys are `{prefix}rl:{interval}:{burst}:{client}` for limits and `{prefix}c:{host}{path}`
/// for cached responses; the prefix is `tether:` unless [`prefix`](RedisStore::prefix)
/// says otherwise. Memory on the Redis side is bounded by each key's expiry (a bucket
/// lives until it has refilled, a response for its ttl) and by Redis' own `maxmemory`.
///
/// ```no_run
/// use std::time::Duration;
/// use tether::middleware::{cache, rate_limit, RedisStore, StoreFailure};
///
/// let redis = RedisStore::open("redis://10.0.0.5:6379").expect("a redis:// URL");
/// let mut app = tether::Engine::new();
/// app.with(rate_limit(10, 20).store(redis.clone()).on_store_failure(StoreFailure::Closed));
/// let mut public = app.group("/public");
/// public.with(cache(Duration::from_secs(30)).store(redis));
/// ```
#[derive(Clone)]
pub struct RedisStore {
    client: Client,
    prefix: Arc<str>,
    timeout: Duration,
    retry_after: Duration,
    shared: Arc<Shared>,
}

/// What clones of one store share: the connection, and what went wrong.
#[derive(Default)]
struct Shared {
    connection: OnceLock<ConnectionManager>,
    /// While Redis is down: when it may be asked again, in nanoseconds since `epoch`.
    down_until: AtomicU64,
    down: AtomicBool,
    failed: AtomicU64,
    epoch: OnceLock<Instant>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.client.get_connection_info().addr().to_string())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

/// What a rate limit does while its store cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// Let the request through unlimited (the default): an outage of Redis does not
    /// become an outage of the service.
    #[default]
    Open,
    /// Refuse it with `503 Service Unavailable` and `Retry-After: 1`: nothing passes
    /// unlimited.
    Closed,
}

/// Which call failed, as the `op` label of `tether_store_errors_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StoreOp {
    RateLimit,
    CacheGet,
    CachePut,
    Ping,
}

impl StoreOp {
    pub(crate) const ALL: [StoreOp; 4] =
        [StoreOp::RateLimit, StoreOp::CacheGet, StoreOp::CachePut, StoreOp::Ping];

    pub(crate) fn label(self) -> &'static str {
        match self {
            StoreOp::RateLimit => "rate_limit",
            StoreOp::CacheGet => "cache_get",
            StoreOp::CachePut => "cache_put",
            StoreOp::Ping => "ping",
        }
    }
}

/// Calls that failed or were skipped while the store was down, by operation, over the
/// whole process (`tether_store_errors_total`).
static ERRORS: [AtomicU64; 4] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Store calls that failed in this process, for one operation.
pub(crate) fn errors_total(op: StoreOp) -> u64 {
    ERRORS[op as usize].load(Relaxed)
}

/// Why a call to a [`RedisStore`] gave no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis answered with an error, or the connection failed.
    Redis(RedisError),
    /// No answer within the deadline.
    TimedOut,
    /// Not asked: it failed less than `retry_after` ago.
    Down,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Redis(e) => write!(f, "{e}"),
            StoreError::TimedOut => f.write_str("no answer within the deadline"),
            StoreError::Down => f.write_str("not asked: it failed moments ago"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Redis(e) => Some(e),
            _ => None,
        }
    }
}

impl RedisStore {
    /// A store at `url` (`redis://[user:password@]host:port[/db]`). Nothing is connected
    /// yet: only the URL is checked here.
    pub fn open(url: &str) -> Result<RedisStore, RedisError> {
        Ok(RedisStore {
            client: Client::open(url)?,
            prefix: Arc::from("tether:"),
            timeout: Duration::from_millis(200),
            retry_after: Duration::from_secs(1),
            shared: Arc::default(),
        })
    }

    /// Put before every key (default `tether:`): several services, or two limits with the
    /// same quota that must not share buckets, can use one Redis. The connection is shared
    /// with the store this came from.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// The deadline of each call, connecting included (default 200 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long after a failure the store is left alone before it is tried again
    /// (default 1 s); meanwhile calls fail at once.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = wait;
        self
    }

    /// Asks Redis for a `PONG`, within the store's deadline: a readiness check for an
    /// instance that should not take traffic without its shared limits and cache.
    ///
    /// ```no_run
    /// # let redis = tether::middleware::RedisStore::open("redis://10.0.0.5:6379").unwrap();
    /// let mut app = tether::Engine::new();
    /// app.health_routes("/healthz", "/readyz");
    /// app.ready_check(move || {
    ///     let redis = redis.clone();
    ///     async move { redis.ping().await }
    /// });
    /// ```
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pong: String =
            self.call(StoreOp::Ping, async |mut con| redis::cmd("PING").query_async(&mut con).await).await?;
        debug_assert_eq!(pong, "PONG");
        Ok(())
    }

    /// Calls to this store (and its clones) that failed or were skipped while it was down.
    pub fn errors(&self) -> u64 {
        self.shared.failed.load(Relaxed)
    }

    pub(crate) fn key(&self, kind: &str, rest: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + kind.len() + rest.len());
        key.extend_from_slice(self.prefix.as_bytes());
        key.extend_from_slice(kind.as_bytes());
        key.extend_from_slice(rest);
        key
    }

    /// Runs one call within the deadline, and keeps the books on failure.
    pub(crate) async fn call<T>(
        &self,
        op: StoreOp,
        run: impl AsyncFnOnce(ConnectionManager) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let shared = &*self.shared;
        let epoch = *shared.epoch.get_or_init(Instant::now);
        let now = epoch.elapsed().as_nanos() as u64;
        if shared.down.load(Relaxed) && now < shared.down_until.load(Relaxed) {
            return Err(self.failed(op, StoreError::Down));
        }
        let connection = match shared.connection.get() {
            Some(c) => c.clone(),
            None => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(0);
                match ConnectionManager::new_lazy_with_config(self.client.clone(), config) {
                    Ok(c) => shared.connection.get_or_init(|| c).clone(),
                    Err(e) => return Err(self.failed(op, StoreError::Redis(e))),
                }
            }
        };
        match tokio::time::timeout(self.timeout, run(connection)).await {
            Ok(Ok(value)) => {
                if shared.down.swap(false, Relaxed) {
                    tracing::info!(target: "tether", store = "redis", failed = shared.failed.load(Relaxed),
                        "redis store answers again");
                }
                Ok(value)
            }
            Ok(Err(e)) => Err(self.failed(op, StoreError::Redis(e))),
            Err(_) => Err(self.failed(op, StoreError::TimedOut)),
        }
    }

    fn failed(&self, op: StoreOp, error: StoreError) -> StoreError {
        let shared = &*self.shared;
        ERRORS[op as usize].fetch_add(1, Relaxed);
        shared.failed.fetch_add(1, Relaxed);
        if matches!(error, StoreError::Down) {
            return error;
        }
        let epoch = *shared.epoch.get_or_init(Instant::now);
        let until = (epoch.elapsed() + self.retry_after).as_nanos() as u64;
        shared.down_until.store(until, Relaxed);
        if !shared.down.swap(true, Relaxed) {
            tracing::warn!(target: "tether", store = "redis", op = op.label(), error = %error,
                retry_after = ?self.retry_after, "redis store unreachable; requests go on without it");
        }
        error
    }

    /// One request against the client's GCRA bucket: `Ok(None)` to go on, `Ok(Some(wait))`
    /// when refused. The bucket is checked and updated by one script on the server, with
    /// the server's clock, so instances neither race nor need synchronised clocks.
    pub(crate) async fn check_rate(
        &self,
        client: &[u8],
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError> {
        static GCRA: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(GCRA_LUA));
        let interval_us = interval.as_micros().max(1) as u64;
        let scope = format!("rl:{interval_us}:{burst}:");
        let key = self.key(&scope, client);
        let wait_us: u64 = self
            .call(StoreOp::RateLimit, async |mut con| {
                GCRA.key(key).arg(interval_us).arg(burst).invoke_async(&mut con).await
            })
            .await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }
}

/// GCRA (the generic cell rate algorithm) over one key holding the theoretical arrival
/// time in microseconds of the server's clock. ARGV: emission interval (µs), burst.
/// Returns 0 when allowed, else microseconds until the next request would be.
const GCRA_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local next_tat = tat + interval
local allowed_from = next_tat - burst * interval
if allowed_from > now then
  return allowed_from - now
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return 0
";
