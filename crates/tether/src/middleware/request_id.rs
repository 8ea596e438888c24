//! `request_id()`: every request carries an id, in the keys, the response and the logs.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use http::{HeaderName, HeaderValue};

use crate::app::handler::HandlerFuture;
use crate::{Context, Handler};

/// The key the request id is stored under (a `String`): `c.get::<String>(REQUEST_ID_KEY)`.
pub const REQUEST_ID_KEY: &str = "request_id";

/// Reads the request's `X-Request-Id`, or makes one, and puts it in the keys (under
/// [`REQUEST_ID_KEY`]) and on the response. `logger()` and `json_logger()` print it.
///
/// An incoming id is kept only if it is 1 to 128 characters of `A-Z a-z 0-9 - _ . :`
/// (anything else could forge log lines); otherwise, or when
/// [`trust_incoming(false)`](RequestId::trust_incoming), a new one is made: a random
/// per-process prefix and a counter, `5f0c2a9b3e4d1c77-42`, unique in the process and
/// cheap (no system call per request).
///
/// ```
/// use tether::middleware::{request_id, REQUEST_ID_KEY};
///
/// let mut app = tether::Engine::new();
/// app.with(request_id());
/// app.get("/", async |c: &mut tether::Context| {
///     let id = c.must_get::<String>(REQUEST_ID_KEY).clone();
///     c.string(200, id);
/// });
/// ```
pub fn request_id() -> RequestId {
    RequestId {
        header: HeaderName::from_static("x-request-id"),
        trust_incoming: true,
        generate: Arc::new(next_id),
    }
}

/// The `request_id()` middleware and its settings.
#[derive(Clone)]
pub struct RequestId {
    header: HeaderName,
    trust_incoming: bool,
    generate: Arc<dyn Fn() -> String + Send + Sync>,
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestId")
            .field("header", &self.header)
            .field("trust_incoming", &self.trust_incoming)
            .finish_non_exhaustive()
    }
}

impl RequestId {
    /// The header to read and write (default `X-Request-Id`).
    ///
    /// # Panics
    /// If `name` is not a valid header name.
    pub fn header(mut self, name: &str) -> Self {
        self.header = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("request_id: {name:?} is not a valid header name"));
        self
    }

    /// Keep a valid incoming id (default `true`: the id a proxy or caller gave is kept,
    /// so one id follows the request across services).
    pub fn trust_incoming(mut self, trust: bool) -> Self {
        self.trust_incoming = trust;
        self
    }

    /// Makes ids with `generate` instead (a UUID, say). An id it makes that is not a
    /// valid header value is replaced by a default one.
    pub fn generator(mut self, generate: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.generate = Arc::new(generate);
        self
    }

    fn id_for(&self, c: &Context) -> (String, HeaderValue) {
        if self.trust_incoming {
            if let Some(given) = c.request_headers().get(&self.header) {
                if given.to_str().is_ok_and(is_valid_id) {
                    let text = given.to_str().unwrap_or_default().to_owned();
                    return (text, given.clone());
                }
            }
        }
        let made = (self.generate)();
        match HeaderValue::from_str(&made) {
            Ok(value) => (made, value),
            Err(_) => {
                let id = next_id();
                let value = HeaderValue::from_str(&id).expect("hex and digits are a valid header value");
                (id, value)
            }
        }
    }
}

impl Handler for RequestId {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        let (id, value) = self.id_for(c);
        c.response_headers_mut().insert(self.header.clone(), value);
        c.set(REQUEST_ID_KEY, id);
        HandlerFuture::new(std::future::ready(()))
    }
}

fn is_valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `<16 hex digits, random per process>-<counter>`.
fn next_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        h.write_u32(std::process::id());
        h.finish()
    });
    format!("{prefix:016x}-{}", COUNTER.fetch_add(1, Relaxed) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_valid() {
        let (a, b) = (next_id(), next_id());
        assert_ne!(a, b);
        assert!(is_valid_id(&a) && is_valid_id(&b), "{a} {b}");
        assert_eq!(a.split('-').next(), b.split('-').next(), "one prefix per process");
    }

    #[test]
    fn forged_ids_are_refused() {
        assert!(is_valid_id("abc-123_x.y:z"));
        for bad in ["", "a b", "line\nbreak", "quote\"", &"x".repeat(129)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
