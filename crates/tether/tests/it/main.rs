//! The integration tests, in one binary: one link instead of twenty, and the tests of
//! every area run side by side. Each module is one area, over real sockets.
//!
//! Kept apart, each in its own binary, are the tests that need a process to themselves:
//! `alloc.rs` and `copy_memory.rs` (a counting global allocator), `abuse_memory.rs` (it
//! reads the process's resident memory), `access_log.rs` and `log_stall.rs` (the global
//! log subscriber and stdout), `panic_storm.rs` (the process-wide panic hook and its
//! counters), `pprof.rs` (one CPU profiler per process, and a share of the CPU to
//! sample), `signals.rs` (signals to its own process), and those built with other
//! features or tools: `pprof_heap.rs` (jemalloc), `lean.rs` (no default features),
//! `redis_store.rs` (redis), `traces.rs` (otlp), `fresh_crate.rs`, `compile_fail.rs`.

#[path = "../support/mod.rs"]
mod support;

mod alert_rules;
mod browser;
mod detach;
mod gin_port;
mod health;
mod leak_check;
mod live_page;
mod metrics;
mod middleware;
mod properties;
mod reliability;
mod routing;
mod server;
mod static_files;
mod streaming;
mod tls;
mod tower_interop;
mod uploads;
mod validation;
mod vars;
