//! Logs that never hold up a request.
//!
//! A log line written straight to standard output blocks the runtime worker that writes it
//! when nobody reads the other end (a stalled pipe, a full disk, a paused terminal): with
//! a plain `tracing_subscriber::fmt()` on stdout, a server stops answering, its
//! diagnostics included, after a few hundred requests. Here every line goes to a bounded
//! queue that one thread drains; when the queue is full the line is dropped and counted.
//! The count is `log_lines_dropped` in `/debug/vars` and
//! `tether_log_lines_dropped_total` in `/metrics`.
//!
//! [`Engine::default()`](crate::Engine::default)'s [`run`](crate::Engine::run) installs
//! this subscriber when the application installed none, so the first run prints its
//! "listening on" line and the access log as Gin does. To choose the filter or the queue
//! size, call [`Setup::init`] first:
//!
//! ```no_run
//! tether::log::Setup::new().filter("info,tether::access=warn").buffered_lines(4096).init();
//! ```

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::util::SubscriberInitExt;

pub(crate) mod direct;
mod sink;

pub use sink::LogSink;
use sink::SinkGuard;

/// Lines held for the writer thread before new ones are dropped (default of [`Setup`]).
pub const DEFAULT_BUFFERED_LINES: usize = 8192;

/// How long [`flush`] waits for a sink whose output is stalled.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The process's log sink, once made.
static SINK: OnceLock<LogSink> = OnceLock::new();
/// End the sinks at [`flush`].
static GUARDS: Mutex<Vec<SinkGuard>> = Mutex::new(Vec::new());
/// Every sink made here, for their drop counts.
static SINKS: Mutex<Vec<LogSink>> = Mutex::new(Vec::new());

/// How to log: the filter and the queue size. Build it, then [`init`](Setup::init).
#[derive(Clone, Debug)]
pub struct Setup {
    filter: Option<String>,
    lines: usize,
    ansi: Option<bool>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

impl Setup {
    /// The defaults: the filter from `RUST_LOG`, else `info`; [`DEFAULT_BUFFERED_LINES`].
    pub fn new() -> Self {
        Setup { filter: None, lines: DEFAULT_BUFFERED_LINES, ansi: None }
    }

    /// A filter in `RUST_LOG` syntax (`info,tether::access=warn`), used instead of
    /// `RUST_LOG`.
    pub fn filter(mut self, directives: &str) -> Self {
        self.filter = Some(directives.to_owned());
        self
    }

    /// How many lines may wait for the writer before new ones are dropped (default
    /// 8,192: a few MiB at most).
    pub fn buffered_lines(mut self, lines: usize) -> Self {
        self.lines = lines.max(1);
        self
    }

    /// Colours the level, and dims the time and target, with ANSI escapes. By default
    /// only on a terminal, and not when `NO_COLOR` is set: a file or a log collector gets
    /// plain text.
    pub fn ansi(mut self, ansi: bool) -> Self {
        self.ansi = Some(ansi);
        self
    }

    /// Installs a `tracing` subscriber that writes to standard output through the
    /// non-blocking sink. False (and nothing changes) when a subscriber was already set.
    pub fn init(mut self) -> bool {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        self.ansi = self.ansi.or(Some(std::io::stdout().is_terminal() && !no_color));
        self.init_with_writer(standard_output())
    }

    /// As [`init`](Setup::init), writing to `out` instead of standard output. `out` may
    /// block as it likes: only the writer thread waits for it. [`json_logger`] writes
    /// through the same sink.
    ///
    /// [`json_logger`]: crate::middleware::json_logger
    ///
    /// Without colours unless [`ansi`](Setup::ansi) asks for them.
    pub fn init_with_writer(self, out: impl Write + Send + 'static) -> bool {
        if tracing::dispatcher::has_been_set() {
            return false;
        }
        let ansi = self.ansi.unwrap_or(false);
        let sink = SINK.get_or_init(|| non_blocking(out, self.lines)).clone();
        let installed = self.subscriber(sink.clone(), ansi).try_init().is_ok();
        if installed {
            direct::enable(sink, ansi);
        }
        installed
    }

    /// The subscriber `init` installs, writing to `sink`.
    fn subscriber(&self, sink: LogSink, ansi: bool) -> direct::OwnSubscriber {
        let filter = match &self.filter {
            Some(f) => tracing_subscriber::EnvFilter::new(f),
            None => tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        };
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink).with_ansi(ansi).finish()
    }
}

/// Installs the default subscriber (see [`Setup::new`]); false when one was already set.
pub fn init() -> bool {
    Setup::new().init()
}

/// The process's non-blocking sink: what [`init`] writes to, standard output unless
/// [`Setup::init_with_writer`] chose otherwise first. It implements [`Write`] and
/// `tracing_subscriber`'s `MakeWriter`; a write never blocks.
pub fn writer() -> LogSink {
    SINK.get_or_init(|| non_blocking(standard_output(), DEFAULT_BUFFERED_LINES)).clone()
}

/// Standard output for the writer thread: its own handle on file descriptor 1, written
/// with one `write` per batch. `std::io::stdout()` would take the process-wide stdout
/// lock and scan every batch for line ends (it is line-buffered) — work the batches,
/// always whole lines, do not need: about 180 instructions a request while lines come
/// one at a time. Falls back to `stdout()` where the descriptor cannot be duplicated.
fn standard_output() -> Box<dyn Write + Send> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(std::io::stdout())
}

/// Wraps `out` in a non-blocking [`LogSink`] of its own (one thread, `lines` waiting at
/// most), whose dropped lines count in [`dropped_lines`]. Kept writing until [`flush`].
pub fn non_blocking(out: impl Write + Send + 'static, lines: usize) -> LogSink {
    let (sink, guard) = LogSink::new(out, lines);
    lock(&SINKS).push(sink.clone());
    lock(&GUARDS).push(guard);
    sink
}

/// Lines dropped so far because a writer could not keep up.
pub fn dropped_lines() -> u64 {
    lock(&SINKS).iter().map(LogSink::dropped_lines).sum()
}

/// Writes out what is queued and stops the writer threads: at the end of the program
/// ([`run`](crate::Engine::run) calls it after shutdown). Lines logged after it are
/// dropped and counted. Waits about a second at most per writer whose output is stalled.
pub fn flush() {
    let guards = std::mem::take(&mut *lock(&GUARDS));
    for guard in guards {
        guard.close(FLUSH_WAIT);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// An output that records what reaches it and how many writes it took; while `held`,
    /// a write waits (as a slow pipe would).
    #[derive(Clone, Default)]
    pub(super) struct Recorder(Arc<Mutex<(Vec<u8>, usize)>>, Arc<AtomicBool>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            while self.1.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut seen = lock(&self.0);
            seen.0.extend_from_slice(buf);
            seen.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        /// What arrived so far.
        pub(super) fn text(&self) -> String {
            String::from_utf8(lock(&self.0).0.clone()).unwrap()
        }

        /// Waits (up to 5 s) until `lines` lines have arrived; the writes they took.
        pub(super) fn wait_for(&self, lines: usize) -> usize {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                {
                    let (bytes, writes) = &*lock(&self.0);
                    if bytes.iter().filter(|b| **b == b'\n').count() >= lines {
                        return *writes;
                    }
                    assert!(Instant::now() < deadline, "only {:?} arrived", String::from_utf8_lossy(bytes));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    #[test]
    fn a_lone_line_is_written_at_once_and_a_burst_in_few_writes() {
        let out = Recorder::default();
        let mut sink = non_blocking(out.clone(), 100_000);
        // One line on a quiet sink is not held in the buffer.
        sink.write_all(b"first\n").unwrap();
        assert_eq!(out.wait_for(1), 1);
        // A burst that arrives while the output is slow is gathered: the writer thread,
        // held in the write of one line, finds 20,000 queued and writes them in a few
        // 64 KiB writes instead of one each.
        out.1.store(true, Ordering::Release);
        sink.write_all(b"slow\n").unwrap();
        for i in 0..20_000 {
            sink.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        out.1.store(false, Ordering::Release);
        let writes = out.wait_for(20_002) - 2;
        assert!(writes < 20, "20,000 lines took {writes} writes");
        assert_eq!(dropped_lines(), 0);
    }
}
