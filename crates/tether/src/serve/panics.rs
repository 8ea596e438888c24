//! Repeated panics are counted, not printed: the process's panic hook runs in full (the
//! message and, with `RUST_BACKTRACE=1`, a backtrace, written to stderr as it happens)
//! for the first few panics at each code location, and only counts the rest.
//!
//! A handler that panics on every request would otherwise cost each request a captured
//! backtrace (~2 ms of CPU, 26 KB of stderr) and write to stderr synchronously: a panic
//! storm becomes a CPU and log storm. tether logs every handler panic itself, through the
//! non-blocking log, with the route; the count is `panics_quieted` in `/debug/vars` and
//! `tether_panics_quieted` in `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, Once};

/// Panics per code location that go through the hook in full.
pub(crate) const LOUD_PER_SITE: u32 = 3;
/// Code locations remembered; panics at locations past these are counted only.
const SITES_KEPT: usize = 1024;

static INSTALL: Once = Once::new();
static QUIETED: AtomicU64 = AtomicU64::new(0);
/// Panics seen per location: file, line, column.
type Sites = HashMap<(String, u32, u32), u32>;
static SITES: Mutex<Option<Sites>> = Mutex::new(None);

/// Wraps the process's panic hook (once per process): the hook set before stays in
/// charge of how a panic is reported, for the first [`LOUD_PER_SITE`] at each location.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if loud(info.location()) {
                previous(info);
            } else {
                QUIETED.fetch_add(1, Relaxed);
            }
        }));
    });
}

/// Whether this panic is among the first at its location.
fn loud(location: Option<&std::panic::Location<'_>>) -> bool {
    let Some(at) = location else { return true };
    // A panic while another thread holds the lock mid-panic must not deadlock: skip.
    let Ok(mut sites) = SITES.try_lock() else { return true };
    let sites = sites.get_or_insert_with(HashMap::new);
    let key = (at.file().to_owned(), at.line(), at.column());
    let full = sites.len() >= SITES_KEPT;
    match sites.get_mut(&key) {
        Some(seen) => {
            *seen = seen.saturating_add(1);
            *seen <= LOUD_PER_SITE
        }
        None if full => false,
        None => {
            sites.insert(key, 1);
            true
        }
    }
}

/// Panics counted and not passed to the hook, since the process started.
pub(crate) fn quieted() -> u64 {
    QUIETED.load(Relaxed)
}

/// The message of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_panics_at_a_site_are_loud_then_quiet() {
        let here = std::panic::Location::caller();
        let loud_ones = (0..10).filter(|_| loud(Some(here))).count();
        assert_eq!(loud_ones, LOUD_PER_SITE as usize);
        assert!(loud(None), "a panic without a location is always reported");
    }
}
