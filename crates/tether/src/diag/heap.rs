//! `/debug/pprof/heap`: a heap profile in pprof format, from jemalloc's sampling profiler.
//!
//! It needs the `jemalloc` feature, `tether::Jemalloc` as the global allocator, and
//! profiling switched on when the process starts. Without them the route answers 501 with
//! what to do — never an empty or made-up profile.

use http::StatusCode;

use crate::Context;

/// How to turn heap profiles on, as the 501 says it.
pub(crate) const HOW_TO_ENABLE: &str =
    "heap profiles need jemalloc: build with tether's `jemalloc` feature, \
make it the global allocator (#[global_allocator] static ALLOC: tether::Jemalloc = tether::Jemalloc;), and \
start the process with _RJEM_MALLOC_CONF=prof:true,prof_active:true,lg_prof_sample:19";

/// Answers the heap profile (gzipped pprof protobuf), or 501 with how to enable it.
pub(super) async fn heap(c: &mut Context) {
    match dump().await {
        Ok(bytes) => {
            c.header("content-disposition", "attachment; filename=\"heap.pb.gz\"");
            c.data(200, "application/octet-stream", bytes);
        }
        Err(Unavailable(why)) => c.abort_with_error(StatusCode::NOT_IMPLEMENTED, why),
    }
}

struct Unavailable(String);

#[cfg(not(feature = "jemalloc"))]
async fn dump() -> Result<Vec<u8>, Unavailable> {
    Err(Unavailable(HOW_TO_ENABLE.into()))
}

#[cfg(feature = "jemalloc")]
async fn dump() -> Result<Vec<u8>, Unavailable> {
    let Some(ctl) = jemalloc_pprof::PROF_CTL.as_ref() else {
        return Err(Unavailable(format!("jemalloc profiling is off. {HOW_TO_ENABLE}")));
    };
    if !jemalloc_is_the_allocator() {
        return Err(Unavailable(format!(
            "jemalloc is linked but is not the global allocator. {HOW_TO_ENABLE}"
        )));
    }
    let ctl = ctl.clone().lock_owned().await;
    if !ctl.activated() {
        return Err(Unavailable(format!("jemalloc profiling is not active. {HOW_TO_ENABLE}")));
    }
    let dumped = tokio::task::spawn_blocking(move || {
        let mut ctl = ctl;
        ctl.dump_pprof()
    })
    .await;
    match dumped {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(Unavailable(format!("the heap profile could not be written: {e}"))),
        Err(e) => Err(Unavailable(format!("the heap profile could not be written: {e}"))),
    }
}

/// Allocator figures, when jemalloc is the allocator: bytes allocated, active, resident
/// and retained.
#[cfg(feature = "jemalloc")]
pub(crate) fn allocator_figures() -> Option<serde_json::Value> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    let figures = serde_json::json!({
        "name": "jemalloc",
        "allocated_bytes": stats::allocated::read().ok()?,
        "active_bytes": stats::active::read().ok()?,
        "resident_bytes": stats::resident::read().ok()?,
        "retained_bytes": stats::retained::read().ok()?,
    });
    jemalloc_is_the_allocator().then_some(figures)
}

/// Allocator figures: none without the `jemalloc` feature.
#[cfg(not(feature = "jemalloc"))]
pub(crate) fn allocator_figures() -> Option<serde_json::Value> {
    None
}

/// jemalloc can be linked without being the global allocator; then it has allocated next
/// to nothing.
#[cfg(feature = "jemalloc")]
fn jemalloc_is_the_allocator() -> bool {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().is_ok() && stats::allocated::read().is_ok_and(|a| a > 256 * 1024)
}
