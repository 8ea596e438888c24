//! `/debug/pprof/profile`: a CPU profile in pprof's protobuf format, which
//! `go tool pprof` reads as it reads a Go service's.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use http::StatusCode;
use pprof::protos::Message;

use crate::Context;

/// Default profile length, in seconds (as Go's).
const DEFAULT_SECONDS: u64 = 30;
/// The longest profile one request may ask for.
const MAX_SECONDS: u64 = 300;
/// Samples per second (as Go's default rate, less one to avoid lockstep with timers).
const FREQUENCY: i32 = 99;

/// A CPU profiler is process-wide: one profile at a time.
static PROFILING: AtomicBool = AtomicBool::new(false);

/// Resets the flag when the profile ends, however it ends.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        PROFILING.store(false, SeqCst);
    }
}

/// Profiles the whole process for `?seconds=N` (default 30, at most 300) and answers the
/// profile. A second request while one runs gets 409.
pub(super) async fn profile(c: &mut Context) {
    let seconds = match c.query("seconds").map(str::parse::<u64>) {
        None => DEFAULT_SECONDS,
        Some(Ok(s)) if (1..=MAX_SECONDS).contains(&s) => s,
        Some(_) => {
            let msg = format!("seconds must be a whole number from 1 to {MAX_SECONDS}");
            return c.abort_with_error(StatusCode::BAD_REQUEST, msg);
        }
    };
    if PROFILING.swap(true, SeqCst) {
        return c.abort_with_error(
            StatusCode::CONFLICT,
            "a CPU profile is already being taken; try again when it ends",
        );
    }
    let running = Running;
    // The profiler samples every thread by signal; a blocking thread only waits, off the
    // runtime. It stops early when shutdown begins (the profile so far is answered) or
    // when this request is dropped (the sender goes): a blocking thread left waiting
    // would hold the process's exit past the shutdown deadline.
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let length = Duration::from_secs(seconds);
    let mut profile = tokio::task::spawn_blocking(move || take(length, &stopped));
    let stopping = c.req.shared.as_ref().map(|s| s.hub.stopping.clone()).unwrap_or_default();
    let taken = tokio::select! {
        taken = &mut profile => taken,
        _ = stopping.cancelled() => {
            let _ = stop.send(());
            profile.await
        }
    };
    drop(running);
    match taken {
        Ok(Ok(bytes)) => {
            c.header("content-disposition", "attachment; filename=\"profile\"");
            c.data(200, "application/octet-stream", bytes);
        }
        Ok(Err(e)) => {
            tracing::error!(target: "tether", error = %e, "CPU profile failed");
            c.abort_with_error(StatusCode::INTERNAL_SERVER_ERROR, format!("CPU profile failed: {e}"));
        }
        Err(e) => c.abort_with_error(StatusCode::INTERNAL_SERVER_ERROR, format!("CPU profile failed: {e}")),
    }
}

/// Profiles for `length`, or until `stop` says (or its sender is gone).
fn take(length: Duration, stop: &std::sync::mpsc::Receiver<()>) -> Result<Vec<u8>, pprof::Error> {
    // A sample whose thread is inside a blocklisted library is dropped. Only the unwinder
    // itself (libgcc: a signal inside it could deadlock on its own lock) and the vDSO
    // (no unwind tables on some kernels) are left out. libc stays in: a busy server
    // spends most of its time in `writev`, `recv` and `epoll_wait`, and blocking libc
    // dropped two samples in three (119 against 363 for the quickstart under wrk).
    let guard =
        pprof::ProfilerGuardBuilder::default().frequency(FREQUENCY).blocklist(&["libgcc", "vdso"]).build()?;
    let _ = stop.recv_timeout(length);
    let profile = guard.report().build()?.pprof()?;
    let mut bytes = Vec::with_capacity(profile.encoded_len());
    profile.encode(&mut bytes).expect("a Vec grows as needed");
    Ok(bytes)
}
