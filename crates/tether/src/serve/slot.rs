//! One open connection as the watcher sees it: a [`Slot`] of counters that its transport
//! and service bump (requests started and finished, a next head begun, a write stuck),
//! the command word the connection obeys, and the judgement of one look by the watcher
//! (see [`crate::serve::watch`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

/// What the watcher (or shutdown) tells a connection to do, in increasing order of force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Command {
    /// Serve on.
    Run = 0,
    /// Finish the request in flight (if any), then close.
    Graceful = 1,
    /// Close now.
    Close = 2,
}

impl Command {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Command::Run,
            1 => Command::Graceful,
            _ => Command::Close,
        }
    }
}

/// "Not set" for the watcher's millisecond stamps.
const UNSET: u64 = u64::MAX;

/// One open connection, as the registry sees it.
///
/// Every counter is Relaxed: each is a figure of its own, read by a watcher that only
/// needs to see it change within a tick, not in order with other memory.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Requests started on the connection.
    pub(crate) started: AtomicU64,
    /// Requests whose handler has finished (answered or dropped).
    pub(crate) finished: AtomicU64,
    /// HTTP/1.1: set to `started` when bytes arrive after a response with no request in
    /// flight: a head began after that request, and while no other request starts it is
    /// still arriving.
    pub(crate) head_after: AtomicU64,
    /// Non-zero while a write waits on a full socket: a new number for every stall.
    pub(crate) write_stall: AtomicU64,
    command: AtomicU8,
    waker: AtomicWaker,
    opened: Instant,
    watch: Mutex<Seen>,
    /// The client's address: here rather than in the connection's task, which every
    /// open connection holds and which is sized to the byte.
    pub(crate) peer: SocketAddr,
    /// The connection's budget for request bodies in memory, made with its first body.
    pub(crate) bodies: crate::response::body_guard::ConnectionBudget,
}

/// What the watcher saw of a slot at earlier ticks, in milliseconds since it started.
#[derive(Debug)]
struct Seen {
    started: u64,
    /// The request the pending head follows, when `head_since` was set.
    head_after: u64,
    stall: u64,
    quiet_since: u64,
    head_since: u64,
    stall_since: u64,
}

impl Slot {
    pub(crate) fn new(peer: SocketAddr) -> Self {
        Slot {
            peer,
            bodies: Default::default(),
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            head_after: AtomicU64::new(0),
            write_stall: AtomicU64::new(0),
            command: AtomicU8::new(Command::Run as u8),
            waker: AtomicWaker::new(),
            opened: Instant::now(),
            watch: Mutex::new(Seen {
                started: 0,
                head_after: 0,
                stall: 0,
                quiet_since: 0,
                head_since: UNSET,
                stall_since: UNSET,
            }),
        }
    }

    /// Tells the connection to `command`, unless it was told something stronger.
    pub(crate) fn escalate(&self, command: Command) {
        if self.command.fetch_max(command as u8, AcqRel) < command as u8 {
            self.waker.wake();
        }
    }

    /// The strongest command given so far, when it is not `applied` (the common case,
    /// checked on every poll of the connection, compares the stored byte alone).
    #[inline]
    pub(crate) fn command_other_than(&self, applied: Command) -> Option<Command> {
        let v = self.command.load(Acquire);
        (v != applied as u8).then(|| Command::from_u8(v))
    }

    /// Registers the connection's task to be woken by a command.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// True while a handler of this connection runs.
    pub(crate) fn busy(&self) -> bool {
        self.started.load(Relaxed) != self.finished.load(Relaxed)
    }

    /// Counts a request in; the returned guard counts it out when the handler's future
    /// completes or is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    /// One look by the watcher at `now_ms`: what, if anything, the connection must do.
    pub(crate) fn judge(&self, now: Instant, now_ms: u64, limits: &Limits) -> Option<Command> {
        let mut seen = self.watch.lock().expect("slot watch lock");
        let stall = self.write_stall.load(Relaxed);
        if stall == 0 {
            seen.stall_since = UNSET;
        } else if stall != seen.stall {
            seen.stall = stall;
            seen.stall_since = now_ms;
        } else if elapsed(now_ms, seen.stall_since) >= limits.write {
            return Some(Command::Close);
        }
        let started = self.started.load(Relaxed);
        if started == 0 {
            // No request head within the header timeout: nothing is in flight.
            return (now.duration_since(self.opened) >= limits.header).then_some(Command::Close);
        }
        if self.head_after.load(Relaxed) == started && !self.busy() {
            // A next head began after the last request and has not completed.
            if seen.head_since == UNSET || seen.head_after != started {
                seen.head_since = now_ms;
                seen.head_after = started;
            }
            if elapsed(now_ms, seen.head_since) >= limits.header {
                return Some(Command::Close);
            }
        } else {
            seen.head_since = UNSET;
        }
        if started != seen.started {
            seen.started = started;
            seen.quiet_since = now_ms;
            return None;
        }
        // hyper closes an idle connection at once, and lets a busy one finish first.
        (elapsed(now_ms, seen.quiet_since) >= limits.idle).then_some(Command::Graceful)
    }
}

fn elapsed(now_ms: u64, since_ms: u64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(since_ms))
}

/// A request in flight on its connection.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Slot>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Relaxed);
    }
}

/// The timeouts the watcher applies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) header: Duration,
    pub(crate) idle: Duration,
    pub(crate) write: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        write: Duration::from_secs(30),
    };

    const PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 1));

    /// Judges `slot` at `ms` milliseconds after it opened.
    fn at(slot: &Slot, ms: u64) -> Option<Command> {
        slot.judge(slot.opened + Duration::from_millis(ms), ms, &LIMITS)
    }

    #[test]
    fn a_first_head_must_come_within_the_header_timeout() {
        let slot = Slot::new(PEER);
        assert_eq!(at(&slot, 9_900), None);
        assert_eq!(at(&slot, 10_000), Some(Command::Close));
    }

    #[test]
    fn a_trickled_second_head_gets_the_header_timeout_not_the_idle_one() {
        let slot = Arc::new(Slot::new(PEER));
        drop(slot.begin());
        assert_eq!(at(&slot, 100), None, "the first request is seen");
        slot.head_after.store(1, Relaxed); // bytes of a second head, at 1 s
        assert_eq!(at(&slot, 1_000), None);
        assert_eq!(at(&slot, 10_900), None);
        assert_eq!(at(&slot, 11_000), Some(Command::Close), "10 s after the head began");
    }

    #[test]
    fn a_head_seen_at_the_same_tick_as_its_request_is_timed_too() {
        let slot = Arc::new(Slot::new(PEER));
        drop(slot.begin());
        slot.head_after.store(1, Relaxed); // a response and half a head between two ticks
        assert_eq!(at(&slot, 100), None);
        assert_eq!(at(&slot, 10_100), Some(Command::Close));
    }

    #[test]
    fn each_head_has_its_own_clock() {
        let slot = Arc::new(Slot::new(PEER));
        drop(slot.begin());
        slot.head_after.store(1, Relaxed);
        assert_eq!(at(&slot, 100), None);
        // The head completed, its request ran, and a third head began, between ticks.
        drop(slot.begin());
        slot.head_after.store(2, Relaxed);
        assert_eq!(at(&slot, 9_000), None);
        assert_eq!(at(&slot, 18_900), None, "10 s from 9 s, not from 0.1 s");
        assert_eq!(at(&slot, 19_000), Some(Command::Close));
    }

    #[test]
    fn bytes_read_while_a_handler_runs_are_no_head() {
        let slot = Arc::new(Slot::new(PEER));
        let request = slot.begin();
        assert_eq!(at(&slot, 100), None);
        slot.head_after.store(1, Relaxed);
        assert_eq!(at(&slot, 200), None);
        assert_eq!(at(&slot, 20_000), None, "a long upload is the body timeout's business");
        drop(request);
    }

    #[test]
    fn an_idle_connection_winds_down_after_the_keep_alive_timeout() {
        let slot = Arc::new(Slot::new(PEER));
        drop(slot.begin());
        assert_eq!(at(&slot, 100), None);
        assert_eq!(at(&slot, 60_000), None);
        assert_eq!(at(&slot, 60_100), Some(Command::Graceful));
    }

    #[test]
    fn a_write_stalled_past_the_write_timeout_closes_the_connection() {
        let slot = Arc::new(Slot::new(PEER));
        let _request = slot.begin();
        assert_eq!(at(&slot, 100), None);
        slot.write_stall.store(1, Relaxed);
        assert_eq!(at(&slot, 200), None);
        assert_eq!(at(&slot, 30_100), None);
        assert_eq!(at(&slot, 30_200), Some(Command::Close));
    }

    #[test]
    fn a_write_that_moves_starts_the_stall_clock_again() {
        let slot = Arc::new(Slot::new(PEER));
        let _request = slot.begin();
        assert_eq!(at(&slot, 100), None);
        slot.write_stall.store(1, Relaxed);
        assert_eq!(at(&slot, 200), None);
        slot.write_stall.store(0, Relaxed); // a write went through
        assert_eq!(at(&slot, 10_000), None);
        slot.write_stall.store(2, Relaxed); // and a new stall began
        assert_eq!(at(&slot, 20_100), None);
        assert_eq!(at(&slot, 50_000), None, "30 s after the first stall began, not after this one");
        assert_eq!(at(&slot, 50_100), Some(Command::Close));
    }
}
