//! The process signals that stop a server: which one arrived, and a second one that
//! exits at once.

/// A signal that asks the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: what `kill`, systemd, Docker and Kubernetes send.
    Terminate,
}

impl Signal {
    /// The exit status a shell reports for a process ended by this signal (128 + its
    /// number): 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Waits for SIGINT or, on Unix, SIGTERM, and says which arrived. Each call waits for
/// the next one.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let app = tether::Engine::new();
/// app.serve_with_shutdown(listener, async {
///     let signal = tether::signal().await;
///     eprintln!("{signal}: draining");
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn signal() -> Signal {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => Signal::Interrupt,
        _ = term => Signal::Terminate,
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM, logging which. What `serve`
/// waits for, without its second-signal exit.
pub async fn shutdown_signal() {
    let received = signal().await;
    tracing::info!(target: "tether", signal = %received, "{received} received");
}

/// What `run` and `serve` wait for: the first signal begins graceful shutdown; a second
/// one, while it drains, ends the process at once (exit status 130 or 143), as an
/// operator pressing Ctrl-C twice expects.
pub(crate) async fn first_signal_then_exit_on_second() {
    let first = signal().await;
    tracing::info!(
        target: "tether",
        signal = %first,
        "{first} received: shutting down gracefully; send it again to exit at once"
    );
    tokio::spawn(async {
        let second = signal().await;
        tracing::warn!(target: "tether", signal = %second, "second signal ({second}): exiting without waiting");
        crate::log::flush();
        std::process::exit(second.exit_code());
    });
}
