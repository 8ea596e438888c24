//! `LogSink`: a writer that never blocks. Lines are appended to one shared buffer; one
//! thread swaps it for an empty one and writes it out whole.
//!
//! Why not a queue of lines (tracing-appender's `NonBlocking`): that costs each line an
//! allocation of its own and a channel send, about 40 % of the access log's cost (README
//! "Performance" has the figures). Here a line costs an uncontended lock and a copy into
//! a buffer that keeps its capacity; the writer is woken only when it sleeps, and a busy server's lines leave in
//! one write per wake-up instead of one each.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A non-blocking writer: lines wait in memory for a thread of their own that writes
/// them to the output, so a stalled output (a pipe nobody reads, a full disk) never holds
/// up the code that logs. When more than its limit of lines wait, new ones are dropped
/// and counted ([`dropped_lines`](crate::log::dropped_lines)). Cheap to clone; it
/// implements [`Write`] (one `write` is one line) and `tracing_subscriber`'s `MakeWriter`.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("limit", &self.shared.limit)
            .field("dropped", &self.shared.dropped.load(Relaxed))
            .finish()
    }
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer thread when lines arrive or the sink closes.
    wake: Condvar,
    /// Lines that may wait before new ones are dropped.
    limit: usize,
    dropped: AtomicU64,
}

/// What waits for the writer thread.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    lines: usize,
    /// The writer is asleep on `wake`: the next line must wake it.
    asleep: bool,
    /// No more lines are taken: the writer writes what is left and ends.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Ends a sink: closes it, and waits a while for its thread to write what is left.
pub(crate) struct SinkGuard {
    shared: Arc<Shared>,
    done: std::sync::mpsc::Receiver<()>,
}

impl SinkGuard {
    /// Closes the sink (later lines are dropped and counted) and waits up to `wait` for
    /// the queued lines to be written.
    pub(crate) fn close(self, wait: Duration) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        let _ = self.done.recv_timeout(wait);
    }
}

impl LogSink {
    /// A sink writing to `out` from a thread named `tether-log`, holding at most `lines`
    /// lines; and the guard that ends it.
    pub(crate) fn new(out: impl Write + Send + 'static, lines: usize) -> (LogSink, SinkGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            wake: Condvar::new(),
            limit: lines.max(1),
            dropped: AtomicU64::new(0),
        });
        let (finished, done) = std::sync::mpsc::channel();
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("tether-log".into())
            .spawn(move || {
                write_out(&writer, out);
                let _ = finished.send(());
            })
            .expect("the log writer thread starts");
        (LogSink { shared: shared.clone() }, SinkGuard { shared, done })
    }

    /// Lines this sink dropped: too many waiting, or written after it closed.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Relaxed)
    }

    /// Queues one line (or any bytes), or drops it when the sink is full or closed.
    fn push(&self, line: &[u8]) {
        let shared = &*self.shared;
        let mut pending = shared.lock();
        if pending.closed || pending.lines >= shared.limit {
            drop(pending);
            shared.dropped.fetch_add(1, Relaxed);
            return;
        }
        pending.bytes.extend_from_slice(line);
        pending.lines += 1;
        let wake = std::mem::take(&mut pending.asleep);
        drop(pending);
        if wake {
            shared.wake.notify_one();
        }
    }
}

/// The writer thread: takes everything queued at once and writes it in one go, until the
/// sink closes and nothing is left.
fn write_out(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut pending = shared.lock();
            while pending.bytes.is_empty() && !pending.closed {
                pending.asleep = true;
                pending = shared.wake.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::swap(&mut pending.bytes, &mut batch);
            pending.lines = 0;
            pending.closed
        };
        if !batch.is_empty() {
            // An output that fails loses these lines; the sink goes on for the next ones.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            // Keep the capacity for the next swap, but not a burst's worth forever.
            batch.clear();
            batch.shrink_to(1 << 20);
        }
        if closed && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

/// One `write` is one line (or whatever the caller hands over at once), taken whole or
/// dropped whole; never an error, never a wait.
impl Write for &LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.push(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// As `&LogSink`.
impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = &'a LogSink;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that keeps what it is given, in a shared buffer.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An output whose writes wait until it is let go.
    struct Stalled(std::sync::mpsc::Receiver<()>, Kept);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            self.1.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn closing_writes_everything_queued_in_order_then_drops_and_counts() {
        let kept = Kept::default();
        let (mut sink, guard) = LogSink::new(kept.clone(), 10_000);
        for i in 0..5_000 {
            sink.write_all(format!("{i}\n").as_bytes()).unwrap();
        }
        guard.close(Duration::from_secs(5));
        let text = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
        let numbers: Vec<usize> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(numbers, (0..5_000).collect::<Vec<_>>());
        sink.write_all(b"too late\n").unwrap();
        assert_eq!(sink.dropped_lines(), 1);
    }

    #[test]
    fn a_stalled_output_never_blocks_the_writer_and_the_excess_is_counted() {
        let kept = Kept::default();
        let (go, wait) = std::sync::mpsc::channel();
        let (mut sink, guard) = LogSink::new(Stalled(wait, kept.clone()), 100);
        // The writer thread takes the first line and stalls in its write; 100 more may
        // wait; the rest are dropped, each write returning at once.
        sink.write_all(b"first\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !sink.shared.lock().bytes.is_empty() || sink.shared.lock().asleep {
            assert!(std::time::Instant::now() < deadline, "the writer never took the first line");
            std::thread::yield_now();
        }
        for i in 0..1_000 {
            sink.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert_eq!(sink.dropped_lines(), 900);
        // Let it go: what was kept arrives, the first line first.
        for _ in 0..10 {
            let _ = go.send(());
        }
        drop(go);
        guard.close(Duration::from_secs(5));
        let text = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 101, "{text}");
        assert!(text.starts_with("first\nline 0\n") && text.ends_with("line 99\n"));
    }
}
