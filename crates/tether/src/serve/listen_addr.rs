//! [`ListenAddr`]: what `app.run` binds, in Gin's spelling (`":8080"`) or as an address.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::TcpListener;

/// The address `app.run` and `app.run_tls` listen on.
///
/// Built from text (`"127.0.0.1:8080"`, `"localhost:8080"`, or Gin's `":8080"`, which means
/// every interface, IPv6 and IPv4), a [`SocketAddr`], or an `(ip, port)` pair.
///
/// ```
/// use tether::ListenAddr;
/// assert_eq!(ListenAddr::from(":8080").to_string(), "[::]:8080");
/// assert_eq!(ListenAddr::from(([127, 0, 0, 1], 3000)).to_string(), "127.0.0.1:3000");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenAddr(Target);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// Every interface on this port (Gin's `":8080"`).
    AnyInterface(u16),
    /// A host name or address with a port, resolved when bound.
    Text(String),
    /// One address.
    Socket(SocketAddr),
}

impl ListenAddr {
    /// Binds a listener. Every interface is `[::]` (which takes IPv4 too where the system
    /// allows dual-stack sockets, as Linux does by default), or `0.0.0.0` on a machine
    /// without IPv6.
    pub(crate) async fn bind(&self) -> io::Result<TcpListener> {
        match &self.0 {
            Target::AnyInterface(port) => match TcpListener::bind((Ipv6Addr::UNSPECIFIED, *port)).await {
                Ok(l) => Ok(l),
                Err(_) => TcpListener::bind((Ipv4Addr::UNSPECIFIED, *port)).await,
            },
            Target::Text(text) => TcpListener::bind(text.as_str())
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {text:?}: {e}"))),
            Target::Socket(addr) => TcpListener::bind(addr).await,
        }
    }

    fn parse(text: &str) -> Target {
        match text.strip_prefix(':').map(str::parse::<u16>) {
            Some(Ok(port)) => Target::AnyInterface(port),
            _ => match text.parse::<SocketAddr>() {
                Ok(addr) => Target::Socket(addr),
                Err(_) => Target::Text(text.to_owned()),
            },
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Target::AnyInterface(port) => write!(f, "[::]:{port}"),
            Target::Text(text) => f.write_str(text),
            Target::Socket(addr) => write!(f, "{addr}"),
        }
    }
}

impl From<&str> for ListenAddr {
    fn from(text: &str) -> Self {
        ListenAddr(ListenAddr::parse(text))
    }
}

impl From<String> for ListenAddr {
    fn from(text: String) -> Self {
        ListenAddr(ListenAddr::parse(&text))
    }
}

impl From<&String> for ListenAddr {
    fn from(text: &String) -> Self {
        ListenAddr(ListenAddr::parse(text))
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr(Target::Socket(addr))
    }
}

macro_rules! from_ip_and_port {
    ($($ip:ty),*) => {
        $(impl From<($ip, u16)> for ListenAddr {
            fn from((ip, port): ($ip, u16)) -> Self {
                ListenAddr(Target::Socket(SocketAddr::new(IpAddr::from(ip), port)))
            }
        })*
    };
}

from_ip_and_port!(IpAddr, Ipv4Addr, Ipv6Addr, [u8; 4], [u16; 8]);

impl From<(&str, u16)> for ListenAddr {
    /// A host (name or address) and a port, as tokio's `("localhost", 8080)`.
    fn from((host, port): (&str, u16)) -> Self {
        match host.parse::<IpAddr>() {
            Ok(ip) => ListenAddr(Target::Socket(SocketAddr::new(ip, port))),
            Err(_) => ListenAddr(Target::Text(format!("{host}:{port}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gin_spelling_means_every_interface() {
        assert_eq!(ListenAddr::from(":8080").0, Target::AnyInterface(8080));
        assert_eq!(ListenAddr::from("127.0.0.1:80").0, Target::Socket(([127, 0, 0, 1], 80).into()));
        assert_eq!(ListenAddr::from("localhost:80").0, Target::Text("localhost:80".into()));
        assert_eq!(ListenAddr::from(("::1", 80)).to_string(), "[::1]:80");
        assert_eq!(ListenAddr::from(("localhost", 80)).to_string(), "localhost:80");
        // Not a port after the colon: left to the resolver, which names the text.
        assert_eq!(ListenAddr::from(":http").0, Target::Text(":http".into()));
    }

    #[tokio::test]
    async fn any_interface_binds_and_answers_on_loopback() {
        let listener = ListenAddr::from(":0").bind().await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        accept.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_bad_address_names_itself_in_the_error() {
        let e = ListenAddr::from("no such host:1").bind().await.unwrap_err();
        assert!(e.to_string().contains("\"no such host:1\""), "{e}");
    }
}
