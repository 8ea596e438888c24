//! Redirects never leave the host, and never go out without a `Location`.

use std::time::Duration;

use tether::{Context, Engine};

use crate::support::{get, raw, raw_header, Server};

#[tokio::test]
async fn a_backslash_path_cannot_redirect_to_another_host() {
    let mut app = Engine::new();
    app.get("/:name", async |c: &mut Context| c.string(200, "hello"));
    let server = Server::start(app).await;
    let mut redirected = 0;
    for path in ["/%5Cevil.com/", "/\\evil.com/", "/\\\\evil.com/", "//\\evil.com/", "/\\/evil.com/"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = raw(server.addr, request.as_bytes(), Duration::from_secs(5)).await;
        assert!(response.starts_with("HTTP/1.1 "), "{path}: {response:?}");
        if let Some(location) = raw_header(&response, "location") {
            redirected += 1;
            // Browsers read `\` as `/`: neither may follow the first slash.
            let second = location.as_bytes().get(1).copied();
            assert!(
                location.starts_with('/') && second != Some(b'/') && second != Some(b'\\'),
                "{path} redirected to {location}"
            );
        }
    }
    assert!(redirected >= 1, "the backslash paths reach the trailing-slash redirect");
    let reply = get(server.addr, "/ada/").await;
    assert_eq!((reply.status.as_u16(), reply.header("location")), (301, Some("/ada")));
    server.shutdown().await;
}

#[tokio::test]
async fn a_redirect_to_an_invalid_location_is_a_500() {
    let mut app = Engine::new();
    app.get("/go", async |c: &mut Context| c.redirect(302, "/next\r\nSet-Cookie: a=b"));
    let server = Server::start(app).await;
    let reply = get(server.addr, "/go").await;
    assert_eq!(reply.status, 500);
    assert!(reply.header("location").is_none());
    assert!(reply.header("set-cookie").is_none());
    server.shutdown().await;
}
