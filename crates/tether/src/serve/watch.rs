//! The open connections of a server and the one thread that enforces their timeouts.
//!
//! Timeouts and shutdown cost next to nothing per request: every open connection has a
//! [`Slot`] with a few counters its transport and service bump, and one watcher thread
//! per server (a thread, so that no timer sits on the runtime's park path) looks at all of
//! them ten times a second. A connection only reads one atomic command word when it is
//! polled. (hyper's own header-read timeout re-arms a boxed timer and reads the clock on
//! every request, and a `select!` over cancellation tokens and a sleep takes locks on
//! every wake-up: both cost about a tenth of a plaintext request.)
//!
//! What the watcher enforces, per connection:
//! - the first request head within the header timeout of the connection opening;
//! - on HTTP/1.1, a later head within the header timeout of its first byte (a client that
//!   trickles a second head does not get the idle timeout);
//! - an idle connection (no new request) winds down after the keep-alive timeout;
//! - a write the client does not take (the socket full, nothing written) for the write
//!   timeout closes the connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

use crate::app::settings::Settings;

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
    fn new() -> Self {
        Slot {
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

    /// The strongest command given so far.
    pub(crate) fn command(&self) -> Command {
        Command::from_u8(self.command.load(Acquire))
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
    fn judge(&self, now: Instant, now_ms: u64, limits: &Limits) -> Option<Command> {
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
struct Limits {
    header: Duration,
    idle: Duration,
    write: Duration,
}

/// The open connections of one server.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    /// Notified when the last connection closes.
    emptied: tokio::sync::Notify,
}

impl Connections {
    /// Registers a new connection; it stays registered until the guard drops.
    pub(crate) fn open(self: &Arc<Self>) -> SlotGuard {
        let slot = Arc::new(Slot::new());
        let id = self.next_id.fetch_add(1, Relaxed);
        self.slots.lock().expect("registry lock").insert(id, slot.clone());
        SlotGuard { conns: self.clone(), id, slot }
    }

    /// Orders every open connection to `command`.
    fn escalate_all(&self, command: Command) {
        for slot in self.slots.lock().expect("registry lock").values() {
            slot.escalate(command);
        }
    }

    /// Asks every connection to finish what it is doing and close.
    pub(crate) fn shut_down(&self) {
        self.escalate_all(Command::Graceful);
    }

    /// Closes every connection now.
    pub(crate) fn close_all(&self) {
        self.escalate_all(Command::Close);
    }

    /// Open connections.
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().expect("registry lock").len()
    }

    /// Connections whose handlers are done but whose response is stuck in a write the
    /// client does not take: each holds a response that will not arrive whole.
    pub(crate) fn stalled_responses(&self) -> usize {
        let slots = self.slots.lock().expect("registry lock");
        slots.values().filter(|s| s.write_stall.load(Relaxed) != 0 && !s.busy()).count()
    }

    /// Completes when no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.len() == 0 {
                return;
            }
            emptied.await;
        }
    }

    /// Starts the watcher thread. It is a thread, not a tokio timer, so that the runtime
    /// never has a timer pending on its hot park path. It stops when the returned handle
    /// drops.
    pub(crate) fn watch(self: &Arc<Self>, settings: &Settings) -> Watcher {
        let limits = Limits {
            header: settings.header_read_timeout,
            idle: settings.keep_alive_timeout,
            write: settings.write_timeout,
        };
        let tick = tick(&limits);
        let stop = Arc::new(AtomicBool::new(false));
        let (conns, stopped) = (self.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("tether-watch".into())
            .spawn(move || {
                let start = Instant::now();
                while !stopped.load(Acquire) {
                    std::thread::park_timeout(tick);
                    conns.check(start, &limits);
                }
            })
            .expect("spawn the connection watcher thread");
        Watcher { stop, thread }
    }

    fn check(&self, start: Instant, limits: &Limits) {
        let now = Instant::now();
        let now_ms = now.duration_since(start).as_millis() as u64;
        // The commands are given after the registry lock is let go: a wake-up runs
        // no code of ours, but there is no need to hold every connection's open or close
        // behind it.
        let orders: Vec<(Arc<Slot>, Command)> = self
            .slots
            .lock()
            .expect("registry lock")
            .values()
            .filter_map(|slot| slot.judge(now, now_ms, limits).map(|c| (slot.clone(), c)))
            .collect();
        for (slot, command) in orders {
            slot.escalate(command);
        }
    }
}

/// How often the watcher looks: a quarter of the shortest timeout, between 5 ms and
/// 100 ms, so that a timeout fires at most 100 ms late.
fn tick(limits: &Limits) -> Duration {
    (limits.header.min(limits.idle).min(limits.write) / 4)
        .clamp(Duration::from_millis(5), Duration::from_millis(100))
}

/// The running watcher thread; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Release);
        self.thread.thread().unpark();
    }
}

/// Removes the connection from the registry when it ends.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    conns: Arc<Connections>,
    id: u64,
    pub(crate) slot: Arc<Slot>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.conns.slots.lock() {
            slots.remove(&self.id);
            if slots.is_empty() {
                self.conns.emptied.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        write: Duration::from_secs(30),
    };

    /// Judges `slot` at `ms` milliseconds after it opened.
    fn at(slot: &Slot, ms: u64) -> Option<Command> {
        slot.judge(slot.opened + Duration::from_millis(ms), ms, &LIMITS)
    }

    #[test]
    fn a_first_head_must_come_within_the_header_timeout() {
        let slot = Slot::new();
        assert_eq!(at(&slot, 9_900), None);
        assert_eq!(at(&slot, 10_000), Some(Command::Close));
    }

    #[test]
    fn a_trickled_second_head_gets_the_header_timeout_not_the_idle_one() {
        let slot = Arc::new(Slot::new());
        drop(slot.begin());
        assert_eq!(at(&slot, 100), None, "the first request is seen");
        slot.head_after.store(1, Relaxed); // bytes of a second head, at 1 s
        assert_eq!(at(&slot, 1_000), None);
        assert_eq!(at(&slot, 10_900), None);
        assert_eq!(at(&slot, 11_000), Some(Command::Close), "10 s after the head began");
    }

    #[test]
    fn a_head_seen_at_the_same_tick_as_its_request_is_timed_too() {
        let slot = Arc::new(Slot::new());
        drop(slot.begin());
        slot.head_after.store(1, Relaxed); // a response and half a head between two ticks
        assert_eq!(at(&slot, 100), None);
        assert_eq!(at(&slot, 10_100), Some(Command::Close));
    }

    #[test]
    fn each_head_has_its_own_clock() {
        let slot = Arc::new(Slot::new());
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
        let slot = Arc::new(Slot::new());
        let request = slot.begin();
        assert_eq!(at(&slot, 100), None);
        slot.head_after.store(1, Relaxed);
        assert_eq!(at(&slot, 200), None);
        assert_eq!(at(&slot, 20_000), None, "a long upload is the body timeout's business");
        drop(request);
    }

    #[test]
    fn an_idle_connection_winds_down_after_the_keep_alive_timeout() {
        let slot = Arc::new(Slot::new());
        drop(slot.begin());
        assert_eq!(at(&slot, 100), None);
        assert_eq!(at(&slot, 60_000), None);
        assert_eq!(at(&slot, 60_100), Some(Command::Graceful));
    }

    #[test]
    fn a_write_stalled_past_the_write_timeout_closes_the_connection() {
        let slot = Arc::new(Slot::new());
        let _request = slot.begin();
        assert_eq!(at(&slot, 100), None);
        slot.write_stall.store(1, Relaxed);
        assert_eq!(at(&slot, 200), None);
        assert_eq!(at(&slot, 30_100), None);
        assert_eq!(at(&slot, 30_200), Some(Command::Close));
    }

    #[test]
    fn a_write_that_moves_starts_the_stall_clock_again() {
        let slot = Arc::new(Slot::new());
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

    #[test]
    fn the_watcher_looks_at_least_ten_times_a_second() {
        assert_eq!(tick(&LIMITS), Duration::from_millis(100));
        let short = Limits { header: Duration::from_millis(40), ..LIMITS };
        assert_eq!(tick(&short), Duration::from_millis(10));
    }
}
