//! The client's IP address behind proxies: forwarding headers are believed only when the
//! socket peer is a proxy the application trusts. By default none is (Gin's default
//! trusts every peer, so any client can claim any address with one header).

use std::net::IpAddr;

use http::HeaderName;
use ipnet::IpNet;

/// Which peers may speak for the client, and in which headers.
#[derive(Clone, Debug)]
pub(crate) struct TrustedProxies {
    pub(crate) nets: Vec<IpNet>,
    pub(crate) headers: Vec<HeaderName>,
}

impl Default for TrustedProxies {
    fn default() -> Self {
        TrustedProxies {
            nets: Vec::new(),
            headers: vec![HeaderName::from_static("x-forwarded-for"), HeaderName::from_static("x-real-ip")],
        }
    }
}

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `192.168.1.7`, `::1` or `fd00::/8`.
    pub(crate) fn parse(entry: &str) -> Result<IpNet, String> {
        let entry = entry.trim();
        entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{entry:?} is not an IP address or a CIDR range"))
    }

    /// True when `ip` is one of the trusted proxies.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address, given the socket peer and a way to read request headers.
    ///
    /// When the peer is trusted, `X-Forwarded-For` is read from the right (the hop
    /// nearest to us) leftwards, skipping trusted proxies; the first address that is
    /// not one is the client. A malformed entry ends the walk: what is left of it could
    /// have been written by anyone. Then `X-Real-IP`, then the peer itself.
    pub(crate) fn client_ip<'h>(
        &self,
        peer: Option<IpAddr>,
        header: impl Fn(&HeaderName) -> Option<&'h str>,
    ) -> Option<IpAddr> {
        let peer = peer?;
        if self.nets.is_empty() || !self.trusts(peer) {
            return Some(peer);
        }
        for name in &self.headers {
            let Some(value) = header(name) else { continue };
            let mut leftmost = None;
            let mut valid = true;
            for hop in value.rsplit(',') {
                match parse_hop(hop) {
                    Some(ip) if self.trusts(ip) => leftmost = Some(ip),
                    Some(ip) => return Some(ip),
                    None => {
                        valid = false;
                        break;
                    }
                }
            }
            if valid {
                if let Some(ip) = leftmost {
                    return Some(ip);
                }
            }
        }
        Some(peer)
    }
}

/// One hop of a forwarding header: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies {
            nets: nets.iter().map(|n| TrustedProxies::parse(n).unwrap()).collect(),
            ..Default::default()
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let p = proxies(&[]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), |_| Some("6.6.6.6")), ip("10.0.0.2"));
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(ip("203.0.113.9"), |_| Some("6.6.6.6")), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_for_is_walked_from_the_right_past_trusted_hops() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.1"]);
        let xff = "6.6.6.6, 198.51.100.7, 192.168.1.1, 10.1.2.3";
        let h = |n: &HeaderName| (n == "x-forwarded-for").then_some(xff);
        // 6.6.6.6 was written by the client itself; 198.51.100.7 is who reached our proxies.
        assert_eq!(p.client_ip(ip("10.0.0.2"), h), ip("198.51.100.7"));
    }

    #[test]
    fn a_malformed_hop_ends_the_walk_and_real_ip_or_the_peer_answers() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = |n: &HeaderName| match n.as_str() {
            "x-forwarded-for" => Some("1.1.1.1, garbage, 10.0.0.9"),
            "x-real-ip" => Some("198.51.100.8"),
            _ => None,
        };
        assert_eq!(p.client_ip(ip("10.0.0.2"), h), ip("198.51.100.8"));
        let only_xff = |n: &HeaderName| (n == "x-forwarded-for").then_some("not-an-ip");
        assert_eq!(p.client_ip(ip("10.0.0.2"), only_xff), ip("10.0.0.2"));
    }

    #[test]
    fn hops_with_ports_and_mapped_addresses_are_read() {
        let p = proxies(&["127.0.0.1", "::1"]);
        let h = |n: &HeaderName| (n == "x-forwarded-for").then_some("[2001:db8::1]:443, 127.0.0.1:80");
        assert_eq!(p.client_ip(ip("::ffff:127.0.0.1"), h), ip("2001:db8::1"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("fd00::/8").is_ok());
    }
}
