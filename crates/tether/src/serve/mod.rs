//! Serving: the accept loop and shutdown (`server`), one connection (`connection`) over
//! its transport (`transport`; `slot` and `watch` for timeouts and accounting), the dispatch of a
//! request to its chain, the tower service and layers, TLS, signals, and the per-route
//! figures and panic accounting recorded on the way.

pub(crate) mod connection;
pub(crate) mod dispatch;
#[cfg(feature = "tls")]
mod https;
pub(crate) mod layer;
pub(crate) mod layered;
pub(crate) mod listen_addr;
pub(crate) mod panics;
pub(crate) mod route_stats;
pub(crate) mod server;
pub(crate) mod service;
pub(crate) mod signal;
pub(crate) mod slot;
#[cfg(feature = "tls")]
pub(crate) mod tls;
#[cfg(not(feature = "tls"))]
#[path = "no_tls.rs"]
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod watch;
