//! Who may read the diagnostics routes.

use std::net::IpAddr;

use http::StatusCode;

use crate::{Context, Handler, HandlerFuture};

/// The access rule for the diagnostics routes. A request that fails it gets `403` with a
/// body that says nothing about the process.
#[derive(Clone)]
#[non_exhaustive]
pub enum DebugAccess {
    /// Only clients on the loopback interface (`127.0.0.0/8`, `::1`). The default.
    ///
    /// Judged by the socket peer, unless the peer is one of the engine's
    /// [`trusted_proxies`](crate::Engine::trusted_proxies): then the request came through a
    /// proxy on this host, the peer says nothing about the client, and the forwarded
    /// client is judged instead. It must be named by a forwarding header and be on
    /// loopback itself; a request from a trusted proxy without one is refused. Forwarding
    /// headers from untrusted peers are never read.
    Loopback,
    /// Requests carrying `Authorization: Bearer <token>` (compared in constant time; the
    /// scheme name in any case).
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
            DebugAccess::Loopback => {
                let Some(peer) = c.remote_addr().map(|a| a.ip()) else { return false };
                let proxies = c.shared.as_deref().map(|s| &s.settings.proxies);
                match proxies {
                    Some(p) if p.trusts(peer) => {
                        let forwarded = p.headers.iter().any(|h| c.request_headers().contains_key(h));
                        forwarded && c.client_ip().is_some_and(is_loopback)
                    }
                    _ => is_loopback(peer),
                }
            }
            DebugAccess::Bearer(token) => c
                .request_headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| bearer_token(v.as_bytes()))
                .is_some_and(|given| constant_time_eq(given, token.as_bytes())),
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The token of `Bearer <token>`, the scheme name in any case (RFC 9110 §11.1).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| token.trim_ascii())
}

/// Compares in constant time (`subtle`), so the time taken does not tell how much of a
/// secret matched. Lengths that differ answer at once: a secret's length is not secret.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
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
        // The old hand-written compare folded the length into 16 bits: 65,536 bytes
        // longer still compared equal.
        let long = vec![b'a'; 65_536 + 3];
        assert!(!constant_time_eq(b"aaa", &long));
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"BEARER  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bear"), None);
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
