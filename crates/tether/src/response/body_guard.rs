//! What a request body may cost the server: time (a body that trickles in times out) and
//! memory (bodies read into memory share a budget per connection and per process).
//!
//! Without these, a client that sends a head and then one byte every few seconds holds a
//! handler, a connection slot and whatever was buffered for as long as it likes; a few
//! hundred such clients each holding a body just under the limit pin gigabytes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The body's error type (`crate::BoxError`, spelled out so that the guard needs nothing
/// from the body module that uses it).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How fast a request body must arrive: within `timeout` of the handler's first read,
/// plus one more second for every `min_rate` bytes received.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyRules {
    pub(crate) timeout: Duration,
    /// Time earned per byte received, in nanoseconds (0: none).
    nanos_per_byte: u64,
}

impl BodyRules {
    pub(crate) fn new(timeout: Duration, min_rate: u32) -> Self {
        let nanos_per_byte = if min_rate == 0 { 0 } else { 1_000_000_000 / u64::from(min_rate) };
        BodyRules { timeout, nanos_per_byte }
    }

    fn earned(&self, bytes: usize) -> Duration {
        Duration::from_nanos(self.nanos_per_byte.saturating_mul(bytes as u64))
    }
}

/// Bytes of request bodies held in memory, against a cap.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Budget { used: AtomicUsize::new(0), limit }
    }

    /// Takes `n` bytes, or nothing when that would pass the cap.
    fn take(&self, n: usize) -> bool {
        // Relaxed: the count guards no other memory, only itself.
        self.used
            .fetch_update(Relaxed, Relaxed, |used| used.checked_add(n).filter(|&total| total <= self.limit))
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Relaxed);
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Relaxed)
    }
}

/// The budgets one request body is charged to.
#[derive(Clone, Debug)]
pub(crate) struct Budgets {
    pub(crate) process: Arc<Budget>,
    pub(crate) connection: Option<Arc<Budget>>,
}

impl Budgets {
    /// An empty reservation against these budgets.
    pub(crate) fn reserve(&self) -> Reservation {
        Reservation { budgets: self.clone(), bytes: 0 }
    }
}

/// Bytes taken from the budgets for one body in memory; given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    budgets: Budgets,
    bytes: usize,
}

impl Reservation {
    /// Takes `n` more bytes from every budget, or none from any.
    pub(crate) fn grow(&mut self, n: usize) -> bool {
        if !self.budgets.process.take(n) {
            return false;
        }
        if let Some(conn) = &self.budgets.connection {
            if !conn.take(n) {
                self.budgets.process.give(n);
                return false;
            }
        }
        self.bytes += n;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budgets.process.give(self.bytes);
        if let Some(conn) = &self.budgets.connection {
            conn.give(self.bytes);
        }
    }
}

/// A connection's budget for bodies in memory, made when its first body arrives: most
/// connections (GETs) never send one, and do not hold it.
#[derive(Debug, Default)]
pub(crate) struct ConnectionBudget(std::sync::OnceLock<Arc<Budget>>);

impl ConnectionBudget {
    /// The budget, made with `limit` bytes on first use.
    pub(crate) fn get(&self, limit: usize) -> Arc<Budget> {
        self.0.get_or_init(|| Arc::new(Budget::new(limit))).clone()
    }
}

/// What a connection hands every request body: the pace rules and the budgets.
#[derive(Clone, Debug)]
pub(crate) struct BodyGuard {
    pub(crate) rules: BodyRules,
    pub(crate) budgets: Budgets,
}

/// The body did not arrive at the required pace.
#[derive(Debug)]
pub(crate) struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body arrived too slowly")
    }
}

impl std::error::Error for TimedOut {}

/// True when `e` (or what it wraps) is a body that arrived too slowly.
pub(crate) fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.is::<TimedOut>() {
            return true;
        }
        // io::Error's `source()` skips the error it wraps: look at that one too.
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            if is_timeout(inner) {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

/// hyper's request body with a deadline: [`BodyRules`] decide when it runs out.
pub(crate) struct GuardedBody {
    inner: hyper::body::Incoming,
    rules: BodyRules,
    /// Set at the first read; pushed back by every chunk received.
    deadline: Option<Instant>,
    /// Armed only when a read has to wait.
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: bool,
    pub(crate) budgets: Budgets,
}

impl GuardedBody {
    pub(crate) fn new(inner: hyper::body::Incoming, guard: &BodyGuard) -> Self {
        GuardedBody {
            inner,
            rules: guard.rules,
            deadline: None,
            sleep: None,
            timed_out: false,
            budgets: guard.budgets.clone(),
        }
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(None);
        }
        let rules = this.rules;
        let deadline = *this.deadline.get_or_insert_with(|| {
            let now = Instant::now();
            now.checked_add(rules.timeout).unwrap_or(now + Duration::from_secs(86_400 * 365))
        });
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.deadline = deadline.checked_add(rules.earned(data.len())).or(Some(deadline));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.timed_out = true;
                        Poll::Ready(Some(Err(Box::new(TimedOut))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.timed_out || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_takes_from_both_budgets_and_gives_back_on_drop() {
        let process = Arc::new(Budget::new(100));
        let conn = Arc::new(Budget::new(60));
        let budgets = Budgets { process: process.clone(), connection: Some(conn.clone()) };
        let mut a = budgets.reserve();
        assert!(a.grow(50));
        assert!(!a.grow(20), "the connection's cap of 60 holds");
        assert_eq!((process.used(), conn.used()), (50, 50), "a refused grow takes nothing");
        let other = Budgets { process: process.clone(), connection: None };
        let mut b = other.reserve();
        assert!(b.grow(50));
        assert!(!b.grow(1), "the process cap of 100 holds");
        drop(a);
        assert_eq!((process.used(), conn.used()), (50, 0));
        drop(b);
        assert_eq!(process.used(), 0);
    }

    #[test]
    fn every_byte_earns_time_at_the_minimum_rate() {
        let rules = BodyRules::new(Duration::from_secs(30), 500);
        assert_eq!(rules.earned(500), Duration::from_secs(1));
        assert_eq!(BodyRules::new(Duration::from_secs(1), 0).earned(1 << 20), Duration::ZERO);
    }

    #[test]
    fn a_timeout_is_found_under_wrappers() {
        let wrapped: BoxError = Box::new(std::io::Error::other(TimedOut));
        assert!(is_timeout(&*wrapped));
        assert!(!is_timeout(&std::io::Error::other("reset")));
    }
}
