//! `logger()`: one line per request, as Gin's logger writes it, through `tracing`.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tracing::Level;

use crate::{Context, Handler};

/// Logs one line per request at `info` level (target `tether::access`) as Gin's logger
/// writes it: `200 |   41.200µs |       127.0.0.1 | GET     "/ping"`, then the request id
/// when `request_id()` ran before it. Errors (5xx) log at `warn`.
///
/// The line is a `tracing` event, so any subscriber receives it. When the subscriber is
/// tether's own ([`tether::log`](crate::log), which [`Engine::default()`]'s `run` installs),
/// the line is formatted straight into the log sink, byte for byte as that subscriber
/// would format the event, for about a tenth of the cost.
///
/// [`Engine::default()`]: crate::Engine::default
///
/// ```
/// let mut app = tether::Engine::new();
/// app.with(tether::middleware::logger());
/// ```
pub fn logger() -> impl Handler {
    log_request
}

async fn log_request(c: &mut Context) {
    let start = Instant::now();
    c.next().await;
    let line = AccessLine {
        status: c.response_status().as_u16(),
        latency: start.elapsed(),
        ip: c.client_ip(),
        method: c.method().as_str(),
        path: c.path(),
        id: c.get::<String>(super::REQUEST_ID_KEY).map_or("", String::as_str),
    };
    let level = if line.status >= 500 { Level::WARN } else { Level::INFO };
    if crate::log::direct::access(level, |out| line.write(out)) {
        return;
    }
    if level == Level::WARN {
        tracing::warn!(target: "tether::access", "{line}");
    } else {
        tracing::info!(target: "tether::access", "{line}");
    }
}

/// The message of one access line: `status | latency | ip | method "path" | id`.
pub(crate) struct AccessLine<'a> {
    pub(crate) status: u16,
    pub(crate) latency: Duration,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) id: &'a str,
}

impl AccessLine<'_> {
    /// Appends the message to `out` without `fmt`'s machinery on the common path: the
    /// same text as `{status} | {latency:>10.3?} | {ip:>15} | {method:<7} {path:?}`, then
    /// ` | {id}` with terminal control characters escaped as `tracing`'s formatter does.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.reserve(64 + self.path.len() + self.id.len());
        push_decimal(out, u64::from(self.status));
        out.extend_from_slice(b" | ");
        write_latency(out, self.latency);
        out.extend_from_slice(b" | ");
        write_ip(out, self.ip);
        out.extend_from_slice(b" | ");
        out.extend_from_slice(self.method.as_bytes());
        pad(out, 7usize.saturating_sub(self.method.len()));
        out.push(b' ');
        write_quoted(out, self.path);
        if !self.id.is_empty() {
            out.extend_from_slice(b" | ");
            write_escaped(out, self.id);
        }
    }
}

impl fmt::Display for AccessLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(96);
        self.write(&mut out);
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

/// `{d:>10.3?}`: the unit `Duration`'s `Debug` picks, three decimals rounded half to even
/// (as std does: 1.2665ms prints 1.266ms, 1.2675ms 1.268ms), right-aligned in ten characters.
fn write_latency(out: &mut Vec<u8>, d: Duration) {
    let nanos = d.subsec_nanos();
    let (mut whole, part, unit, suffix): (u64, u32, u32, &str) = if d.as_secs() > 0 {
        (d.as_secs(), nanos, 1_000_000_000, "s")
    } else if nanos >= 1_000_000 {
        (u64::from(nanos / 1_000_000), nanos % 1_000_000, 1_000_000, "ms")
    } else if nanos >= 1_000 {
        (u64::from(nanos / 1_000), nanos % 1_000, 1_000, "µs")
    } else {
        (u64::from(nanos), 0, 1, "ns")
    };
    let step = unit / 1_000;
    let mut millis = part.checked_div(step).unwrap_or(0);
    let twice_rest = part.checked_rem(step).unwrap_or(0) * 2;
    if step > 1 && (twice_rest > step || (twice_rest == step && millis % 2 == 1)) {
        millis += 1;
        if millis == 1_000 {
            millis = 0;
            whole += 1;
        }
    }
    let chars = decimal_len(whole) + 4 + suffix.chars().count();
    pad(out, 10usize.saturating_sub(chars));
    push_decimal(out, whole);
    out.push(b'.');
    out.extend_from_slice(&[
        b'0' + (millis / 100) as u8,
        b'0' + (millis / 10 % 10) as u8,
        b'0' + (millis % 10) as u8,
    ]);
    out.extend_from_slice(suffix.as_bytes());
}

/// `{ip:>15}` of the address's text, or fifteen spaces when there is none.
fn write_ip(out: &mut Vec<u8>, ip: Option<IpAddr>) {
    match ip {
        None => pad(out, 15),
        Some(IpAddr::V4(v4)) => {
            let octets = v4.octets();
            let len = 3 + octets.iter().map(|o| decimal_len(u64::from(*o))).sum::<usize>();
            pad(out, 15 - len);
            for (i, o) in octets.iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, u64::from(*o));
            }
        }
        Some(ip @ IpAddr::V6(_)) => {
            let _ = write!(out, "{ip:>15}");
        }
    }
}

/// `{path:?}`: quoted, written as it is when it holds nothing `Debug` would escape.
fn write_quoted(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{s:?}");
    }
}

/// `s` with the characters a terminal acts on (ESC, BEL, BS, FF, DEL and the C1 controls)
/// written as escapes, as `tracing_subscriber`'s formatter writes them in a message: a
/// request id set by a handler cannot recolour or rewrite the operator's terminal.
fn write_escaped(out: &mut Vec<u8>, s: &str) {
    for ch in s.chars() {
        match ch {
            '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", ch as u32);
            }
            '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\u{{{:x}}}", ch as u32);
            }
            _ => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

fn pad(out: &mut Vec<u8>, spaces: usize) {
    out.resize(out.len() + spaces, b' ');
}

fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Appends `n` in decimal: the digits of a number under 1,000 (a status, an octet, most
/// latencies) without a loop.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=9 => out.push(b'0' + n as u8),
        10..=99 => out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]),
        100..=999 => out.extend_from_slice(&[
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ]),
        _ => {
            push_decimal(out, n / 1_000);
            let low = n % 1_000;
            out.extend_from_slice(&[
                b'0' + (low / 100) as u8,
                b'0' + (low / 10 % 10) as u8,
                b'0' + (low % 10) as u8,
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(line: &AccessLine<'_>) -> String {
        let mut out = Vec::new();
        line.write(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// What the line was before it had a writer of its own: `format!` of the same fields.
    fn by_format(line: &AccessLine<'_>) -> String {
        let AccessLine { status, latency, method, path, id, .. } = line;
        let ip = line.ip.map(|ip| ip.to_string()).unwrap_or_default();
        let sep = if id.is_empty() { "" } else { " | " };
        format!("{status} | {latency:>10.3?} | {ip:>15} | {method:<7} {path:?}{sep}{id}")
    }

    fn line<'a>(latency: Duration, ip: Option<IpAddr>, path: &'a str, id: &'a str) -> AccessLine<'a> {
        AccessLine { status: 200, latency, ip, method: "GET", path, id }
    }

    #[test]
    fn the_message_is_gins_line() {
        let l = line(Duration::from_nanos(41_200), Some([127, 0, 0, 1].into()), "/ping", "");
        assert_eq!(message(&l), "200 |   41.200µs |       127.0.0.1 | GET     \"/ping\"");
        let l = AccessLine {
            status: 503,
            method: "OPTIONS",
            ..line(Duration::from_secs(12), None, "/", "req-1")
        };
        assert_eq!(message(&l), "503 |    12.000s |                 | OPTIONS \"/\" | req-1");
    }

    #[test]
    fn odd_paths_ipv6_and_long_latencies_match_format() {
        let ips: [Option<IpAddr>; 3] =
            [None, Some("::1".parse().unwrap()), Some("2001:db8::8a2e:370:7334".parse().unwrap())];
        for ip in ips {
            for path in ["/", "/a\"b", "/a\\b", "/ünï", "/\u{1b}[31m", "/tab\there"] {
                let l = line(Duration::from_secs(123_456), ip, path, "");
                assert_eq!(message(&l), by_format(&l));
            }
        }
    }

    #[test]
    fn a_latency_half_way_between_two_readings_rounds_to_even_as_std_does() {
        for (nanos, shown) in [(1_266_500, "1.266ms"), (1_267_500, "1.268ms"), (999_999_500, "1000.000ms")] {
            let l = line(Duration::from_nanos(nanos), None, "/", "");
            assert_eq!(message(&l), by_format(&l));
            assert!(message(&l).contains(shown), "{}", message(&l));
        }
    }

    #[test]
    fn control_characters_in_the_id_are_escaped() {
        let l = line(Duration::ZERO, None, "/", "a\u{1b}[2Jb\u{7}\u{85}c");
        assert!(message(&l).ends_with(" | a\\x1b[2Jb\\x07\\u{85}c"), "{}", message(&l));
    }

    proptest! {
        #[test]
        fn latencies_read_as_durations_debug(nanos in prop_oneof![
            0u64..2_000_000,
            0u64..2_000_000_000,
            0u64..u64::MAX / 4,
            (1u64..1_000_000).prop_map(|n| n * 1_000 - 1),
            (1u64..1_000).prop_map(|n| n * 1_000_000 - 500),
            (1u64..2_000_000).prop_map(|n| n * 1_000 + 500),
            (1u64..2_000_000).prop_map(|n| n * 1_000_000 + 500_000),
        ], octets in any::<[u8; 4]>()) {
            let l = line(Duration::from_nanos(nanos), Some(octets.into()), "/x", "id");
            prop_assert_eq!(message(&l), by_format(&l));
        }
    }
}
