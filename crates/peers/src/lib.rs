//! Shared setup of the peer servers: port and worker threads from the environment.

/// `PORT` from the environment, default 8080.
pub fn port() -> u16 {
    std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080)
}

/// A multi-thread runtime with `WORKERS` worker threads (default: the core count).
pub fn runtime() -> tokio::runtime::Runtime {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        rt.worker_threads(n);
    }
    rt.enable_all().build().expect("runtime")
}
