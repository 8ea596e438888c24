//! Debug routes behind a reverse proxy on the same host: the socket peer is the proxy
//! (127.0.0.1), so the loopback rule must judge the forwarded client instead.

use http::Request;
use http_body_util::Full;
use tether::Engine;

use crate::support::{send, Server};

async fn vars_as(server: &Server, forwarded_for: Option<&str>) -> u16 {
    let mut req = Request::get("/debug/vars");
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    send(server.addr, req.body(Full::default()).unwrap()).await.status.as_u16()
}

#[tokio::test]
async fn an_outside_client_through_a_local_proxy_is_refused() {
    let mut app = Engine::new();
    app.trusted_proxies(["127.0.0.1"]);
    app.debug_routes("/debug");
    let server = Server::start(app).await;
    assert_eq!(vars_as(&server, Some("203.0.113.9")).await, 403, "an outside client forwarded by the proxy");
    assert_eq!(vars_as(&server, Some("198.51.100.1, 127.0.0.1")).await, 403, "through two local hops");
    assert_eq!(vars_as(&server, None).await, 403, "a trusted proxy that names no client");
    assert_eq!(vars_as(&server, Some("127.0.0.1")).await, 200, "a local client through the proxy");
    server.shutdown().await;
}

#[tokio::test]
async fn without_trusted_proxies_the_socket_peer_decides() {
    let mut app = Engine::new();
    app.debug_routes("/debug");
    let server = Server::start(app).await;
    // Forwarding headers from a peer nobody trusts are not read, either way.
    assert_eq!(vars_as(&server, Some("203.0.113.9")).await, 200);
    assert_eq!(vars_as(&server, None).await, 200);
    server.shutdown().await;
}
