//! Who may read the diagnostics routes.

use std::net::IpAddr;

use http::StatusCode;

use crate::{Context, Handler, HandlerFuture};

/// The access rule for the diagnostics routes. A request that fails it gets `403` with a
/// body that says nothing about the process.
#[derive(Clone)]
pub enum DebugAccess {
    /// Only peers on the loopback interface (`127.0.0.0/8`, `::1`), judged by the socket
    /// peer address — never by `X-Forwarded-For`. The default.
    Loopback,
    /// Requests carrying `Authorization: Bearer <token>` (compared in constant time).
    Bearer(String),
    /// Everyone. Only behind something else that guards the routes.
    AllowAll,
}

impl std::fmt::Debug for DebugAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DebugAccess::Loopback => f.write_str("Loopback"),
            DebugAccess::Bearer(_) => f.write_str("Bearer(..)"),
            DebugAccess::AllowAll => f.write_str("AllowAll"),
        }
    }
}

impl DebugAccess {
    /// Requests with `Authorization: Bearer <token>`.
    pub fn bearer(token: impl Into<String>) -> Self {
        DebugAccess::Bearer(token.into())
    }

    /// Everyone; say so explicitly.
    pub fn allow_all() -> Self {
        DebugAccess::AllowAll
    }

    fn allows(&self, c: &Context) -> bool {
        match self {
            DebugAccess::AllowAll => true,
            DebugAccess::Loopback => c.remote_addr().is_some_and(|a| is_loopback(a.ip())),
            DebugAccess::Bearer(token) => c
                .get_header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Compares without an early exit, so the time taken does not tell how much matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for (i, &x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

impl Handler for DebugAccess {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            if !self.allows(c) {
                c.status(StatusCode::FORBIDDEN);
                c.string(StatusCode::FORBIDDEN, "forbidden");
                c.abort();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("127.9.9.9".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
    }
}
