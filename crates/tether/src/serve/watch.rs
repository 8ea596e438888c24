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
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::settings::Settings;
use crate::serve::slot::{Command, Limits, Slot};

/// The open connections of one server.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    /// By the slot's address, unique while it is registered.
    slots: Mutex<HashMap<usize, Arc<Slot>>>,
    /// Notified when the last connection closes.
    emptied: tokio::sync::Notify,
}

impl Connections {
    /// Registers a new connection; it stays registered until the guard drops.
    pub(crate) fn open(self: &Arc<Self>, peer: std::net::SocketAddr) -> SlotGuard {
        let slot = Arc::new(Slot::new(peer));
        self.slots.lock().expect("registry lock").insert(key(&slot), slot.clone());
        SlotGuard { conns: self.clone(), slot }
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
    pub(crate) slot: Arc<Slot>,
}

/// A slot's key in the registry: its address (no id to store beside it).
fn key(slot: &Arc<Slot>) -> usize {
    Arc::as_ptr(slot) as usize
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.conns.slots.lock() {
            slots.remove(&key(&self.slot));
            if slots.is_empty() {
                self.conns.emptied.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watcher_looks_at_least_ten_times_a_second() {
        let limits = Limits {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            write: Duration::from_secs(30),
        };
        assert_eq!(tick(&limits), Duration::from_millis(100));
        let short = Limits { header: Duration::from_millis(40), ..limits };
        assert_eq!(tick(&short), Duration::from_millis(10));
    }
}
