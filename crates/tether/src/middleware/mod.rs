//! Middleware that ships with tether. Each is a function returning a [`Handler`].
//!
//! [`Handler`]: crate::Handler

mod basic_auth;
#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "cache")]
mod cache_entry;
mod cors;
mod json_logger;
mod logger;
#[cfg(feature = "otlp")]
mod otel;
#[cfg(feature = "rate-limit")]
mod rate_limit;
mod recovery;
#[cfg(feature = "redis")]
pub(crate) mod redis_store;
mod request_id;
mod timeout;

pub use basic_auth::{basic_auth, BasicAuth, AUTH_USER_KEY};
#[cfg(feature = "cache")]
pub use cache::{cache, ResponseCache};
pub use cors::{cors, Cors};
/// How many requests a [`RateLimit`] allows per period, with its burst (governor's).
#[cfg(feature = "rate-limit")]
pub use governor::Quota;
pub use json_logger::{json_logger, JsonLogger};
pub use logger::logger;
#[cfg(feature = "otlp")]
pub use otel::{otel, Otel};
#[cfg(feature = "rate-limit")]
pub use rate_limit::{rate_limit, RateLimit};
pub use recovery::recovery;
#[cfg(feature = "redis")]
/// The error of [`RedisStore::open`] (a URL that is not one), from the redis crate.
#[cfg(feature = "redis")]
pub use redis::RedisError;
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, StoreError, StoreFailure};
pub use request_id::{request_id, RequestId, REQUEST_ID_KEY};
pub use timeout::{timeout, Timeout};
