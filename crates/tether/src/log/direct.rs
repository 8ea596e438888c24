//! Access lines that skip `tracing`'s formatter.
//!
//! `tracing_subscriber`'s formatter spends more on one access line than the rest of a
//! request costs (the message escaped one `write_str` at a time, the timestamp computed
//! from scratch, padding through `fmt`; README "Performance" has the figures). When the subscriber in use is
//! the one [`Setup::init`](super::Setup::init) installed, [`access`] writes the same bytes
//! itself, into a per-thread buffer with a timestamp prefix cached per second, and hands
//! them to the same sink. Any other subscriber gets the `tracing` event as before.

use std::cell::RefCell;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing_subscriber::fmt::format::{DefaultFields, Format};
use tracing_subscriber::EnvFilter;

/// The subscriber [`Setup::init`](super::Setup::init) installs: the formatter whose lines
/// [`access`] reproduces.
pub(crate) type OwnSubscriber =
    tracing_subscriber::fmt::Subscriber<DefaultFields, Format, EnvFilter, super::LogSink>;

/// Where direct lines go and how they look, set once the own subscriber is installed.
struct Direct {
    sink: super::LogSink,
    ansi: bool,
    /// The address of the subscriber installed: another subscriber of the same type (a
    /// scoped one, with its own filter) is not ours.
    installed: usize,
    /// What its filter says of `tether::access` at `INFO` and at `WARN`. Fixed once it is
    /// installed: its filter cannot be reloaded, and `access` only writes directly when
    /// no span is entered, which is when span-based directives cannot apply.
    info: bool,
    warn: bool,
}

static DIRECT: OnceLock<Direct> = OnceLock::new();

/// Lets [`access`] write to `sink` as the own subscriber (with `ansi` colours or not)
/// would. Called right after that subscriber became the global default.
pub(super) fn enable(sink: super::LogSink, ansi: bool) {
    let Some(installed) = tracing::dispatcher::get_default(own_address) else { return };
    let info = tracing::enabled!(target: "tether::access", Level::INFO);
    let warn = tracing::enabled!(target: "tether::access", Level::WARN);
    let _ = DIRECT.set(Direct { sink, ansi, installed, info, warn });
}

/// The address of `dispatch`'s subscriber when it is of the own subscriber's type.
fn own_address(dispatch: &tracing::Dispatch) -> Option<usize> {
    dispatch.downcast_ref::<OwnSubscriber>().map(|s| std::ptr::from_ref(s) as usize)
}

/// Logs one event of target `tether::access` at `level` (`INFO` or `WARN`), whose message
/// `message` appends, straight to the sink. True when that was done or the filter turned
/// the event away; false when the caller must emit a `tracing` event instead: another
/// subscriber is in use, or a span is entered (its name belongs in the line).
pub(crate) fn access(level: Level, message: impl FnOnce(&mut Vec<u8>)) -> bool {
    let Some(direct) = DIRECT.get() else { return false };
    let ours = tracing::dispatcher::get_default(|d| {
        own_address(d) == Some(direct.installed) && d.current_span().id().is_none()
    });
    if !ours {
        return false;
    }
    let enabled = if level == Level::WARN { direct.warn } else { direct.info };
    if enabled {
        LINE.with_borrow_mut(|line| line.write(direct, level, message));
    }
    true
}

thread_local! {
    static LINE: RefCell<Line> = RefCell::new(Line::default());
}

/// One thread's buffer, its copy of the sink and the date-and-time prefix of its last line.
#[derive(Default)]
struct Line {
    bytes: Vec<u8>,
    sink: Option<super::LogSink>,
    second: u64,
    /// `2026-12-02T01:46:03.`: the timestamp up to the microseconds, for `second`.
    prefix: Vec<u8>,
}

impl Line {
    fn write(&mut self, direct: &Direct, level: Level, message: impl FnOnce(&mut Vec<u8>)) {
        self.bytes.clear();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        if direct.ansi {
            self.bytes.extend_from_slice(DIM);
        }
        self.timestamp(now.as_secs(), now.subsec_micros());
        if direct.ansi {
            self.bytes.extend_from_slice(RESET);
        }
        self.bytes.push(b' ');
        level_tag(&mut self.bytes, level, direct.ansi);
        if direct.ansi {
            self.bytes.extend_from_slice(b" \x1b[2mtether::access\x1b[0m\x1b[2m:\x1b[0m ");
        } else {
            self.bytes.extend_from_slice(b" tether::access: ");
        }
        message(&mut self.bytes);
        self.bytes.push(b'\n');
        let sink = self.sink.get_or_insert_with(|| direct.sink.clone());
        // One write is one queued line; a full queue drops it and counts it.
        let _ = sink.write_all(&self.bytes);
        if self.bytes.capacity() > 64 * 1024 {
            // A huge line (a long path) does not pin its buffer for the thread's life.
            self.bytes = Vec::new();
        }
    }

    /// `2026-12-02T01:46:03.123456Z`, as `tracing_subscriber`'s `SystemTime` timer.
    fn timestamp(&mut self, secs: u64, micros: u32) {
        if secs != self.second || self.prefix.is_empty() {
            let at = UNIX_EPOCH + std::time::Duration::from_secs(secs);
            self.prefix.clear();
            let _ = write!(self.prefix, "{}", humantime::format_rfc3339_seconds(at));
            // `…:03Z` becomes `…:03.`: the microseconds go where the `Z` was.
            self.prefix.pop();
            self.prefix.push(b'.');
            self.second = secs;
        }
        self.bytes.extend_from_slice(&self.prefix);
        let mut digits = [b'0'; 6];
        let mut rest = micros;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.bytes.extend_from_slice(&digits);
        self.bytes.push(b'Z');
    }
}

const DIM: &[u8] = b"\x1b[2m";
const RESET: &[u8] = b"\x1b[0m";

/// The level as the formatter writes it: five wide, coloured when `ansi`.
fn level_tag(out: &mut Vec<u8>, level: Level, ansi: bool) {
    let (text, colour): (&[u8], &[u8]) = match level {
        Level::TRACE => (b"TRACE", b"\x1b[35m"),
        Level::DEBUG => (b"DEBUG", b"\x1b[34m"),
        Level::INFO => (b" INFO", b"\x1b[32m"),
        Level::WARN => (b" WARN", b"\x1b[33m"),
        _ => (b"ERROR", b"\x1b[31m"),
    };
    if ansi {
        out.extend_from_slice(colour);
        out.extend_from_slice(text);
        out.extend_from_slice(RESET);
    } else {
        out.extend_from_slice(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats `level` with `message` both ways: through the own subscriber's `tracing`
    /// formatter, and directly. The timestamps are cut out (they differ by the call gap).
    fn both_ways(level: Level, ansi: bool, message: &str) -> (String, String) {
        let out = super::super::tests::Recorder::default();
        let sink = super::super::non_blocking(out.clone(), 16);
        let subscriber = super::super::Setup::new().filter("trace").subscriber(sink.clone(), ansi);
        tracing::subscriber::with_default(subscriber, || {
            if level == Level::WARN {
                tracing::warn!(target: "tether::access", "{message}");
            } else {
                tracing::info!(target: "tether::access", "{message}");
            }
        });
        let direct = Direct { sink, ansi, installed: 0, info: true, warn: true };
        Line::default().write(&direct, level, |b| b.extend_from_slice(message.as_bytes()));
        out.wait_for(2);
        let text = out.text();
        let mut lines = text.lines().map(|l| cut_timestamp(l, ansi));
        (lines.next().unwrap(), lines.next().unwrap())
    }

    /// The line without its 27-byte timestamp, after checking that it is one.
    fn cut_timestamp(line: &str, ansi: bool) -> String {
        let at = if ansi { DIM.len() } else { 0 };
        let stamp = &line[at..at + 27];
        humantime::parse_rfc3339(stamp).unwrap_or_else(|e| panic!("{stamp:?} in {line:?}: {e}"));
        format!("{}{}", &line[..at], &line[at + 27..])
    }

    #[test]
    fn direct_lines_are_the_formatters_lines() {
        for ansi in [false, true] {
            for level in [Level::INFO, Level::WARN] {
                let (traced, direct) =
                    both_ways(level, ansi, "200 |   41.200µs |       127.0.0.1 | GET     \"/ping\"");
                assert_eq!(traced, direct, "ansi {ansi}, {level}");
            }
        }
    }

    #[test]
    fn the_cached_prefix_follows_the_clock() {
        let mut line = Line::default();
        line.timestamp(0, 7);
        line.timestamp(86_400 * 365 + 61, 999_999);
        assert_eq!(line.bytes, b"1970-01-01T00:00:00.000007Z1971-01-01T00:01:01.999999Z");
    }
}
