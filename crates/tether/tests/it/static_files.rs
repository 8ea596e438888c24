//! Static files and mounted tower services over real sockets: what is served, with which
//! headers, and that nothing outside the root can be reached, however it is asked for.

use std::path::PathBuf;

use crate::support::{Server, H1};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::{Context, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `<tmp>/site/public/{index.html, css/site.css, big.bin, escape -> ../secret.txt}`
/// and `<tmp>/site/secret.txt`.
fn site() -> PathBuf {
    let base = std::env::temp_dir().join(format!("tether-static-e2e-{}", std::process::id()));
    let public = base.join("public");
    std::fs::create_dir_all(public.join("css")).unwrap();
    std::fs::write(public.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(public.join("css/site.css"), "body { color: red }").unwrap();
    std::fs::write(public.join("big.bin"), (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>())
        .unwrap();
    std::fs::write(base.join("secret.txt"), "the secret").unwrap();
    let link = public.join("escape");
    if !link.exists() {
        std::os::unix::fs::symlink(base.join("secret.txt"), &link).unwrap();
    }
    public
}

/// Sends a request line exactly as written (no client normalises the path).
async fn raw_get(addr: std::net::SocketAddr, target: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn static_dir_serves_files_with_types_dates_and_ranges() {
    let public = site();
    let mut app = Engine::new();
    app.static_dir("/assets", &public).static_file("/favicon.ico", public.join("css/site.css"));
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let css = h1.get("/assets/css/site.css").await;
    assert_eq!((css.status.as_u16(), css.text().as_str()), (200, "body { color: red }"));
    assert_eq!(css.header("content-type"), Some("text/css"));
    let modified = css.header("last-modified").expect("Last-Modified").to_owned();

    let again = h1
        .send(
            Request::get("/assets/css/site.css")
                .header("if-modified-since", &modified)
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, 304);

    let part = h1
        .send(Request::get("/assets/big.bin").header("range", "bytes=10-19").body(Full::default()).unwrap())
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/100000"));
    assert_eq!(part.body, Bytes::from((10..20u8).collect::<Vec<_>>()));

    assert_eq!(h1.get("/assets/").await.text(), "<h1>home</h1>", "a directory is its index.html");
    assert_eq!(h1.get("/favicon.ico").await.status, 200);
    let head = h1.send(Request::head("/assets/css/site.css").body(Full::default()).unwrap()).await;
    assert_eq!((head.status.as_u16(), head.body.len()), (200, 0));
    assert_eq!(h1.get("/assets/missing.css").await.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn nothing_outside_the_root_can_be_reached() {
    let public = site();
    let mut app = Engine::new();
    app.static_dir("/assets", &public);
    let server = Server::start(app).await;
    for target in [
        "/assets/../secret.txt",
        "/assets/css/../../secret.txt",
        "/assets/%2e%2e/secret.txt",
        "/assets/%2E%2E%2Fsecret.txt",
        "/assets/css/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/assets/..%5csecret.txt",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
        "/assets/escape",
        "/assets/%00",
    ] {
        let reply = raw_get(server.addr, target).await;
        let status: u16 = reply[9..12].parse().unwrap();
        assert!(status == 404 || status == 400, "{target} -> {status}");
        assert!(!reply.contains("the secret") && !reply.contains("root:"), "{target} leaked: {reply}");
    }
    // The server is fine afterwards.
    assert_eq!(crate::support::get(server.addr, "/assets/css/site.css").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_group_serves_static_files_behind_its_middleware() {
    let public = site();
    let mut app = Engine::new();
    let mut admin = app.group("/admin");
    admin.with(tether::middleware::basic_auth([("ada", "lovelace")]));
    admin.static_dir("/files", &public);
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    assert_eq!(h1.get("/admin/files/css/site.css").await.status, 401);
    let authed = h1
        .send(
            Request::get("/admin/files/css/site.css")
                .header("authorization", "Basic YWRhOmxvdmVsYWNl")
                .body(Full::default())
                .unwrap(),
        )
        .await;
    assert_eq!((authed.status.as_u16(), authed.text().as_str()), (200, "body { color: red }"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_tower_service_mounted_at_a_path_gets_the_path_below_the_mount() {
    let echo = tower::service_fn(|req: Request<tether::Body>| async move {
        use http_body_util::BodyExt;
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let text = format!("{} {} {}", parts.method, parts.uri.path(), String::from_utf8_lossy(&body));
        Ok::<_, String>(
            http::Response::builder().header("x-from", "tower").body(Full::new(Bytes::from(text))).unwrap(),
        )
    });
    let mut app = Engine::new();
    app.service("/rpc", echo).get("/", async |c: &mut Context| c.string(200, "tether"));
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    let reply =
        h1.send(Request::post("/rpc/pkg.Svc/Call").body(Full::new(Bytes::from("payload"))).unwrap()).await;
    assert_eq!(reply.text(), "POST /pkg.Svc/Call payload");
    assert_eq!(reply.header("x-from"), Some("tower"));
    assert_eq!(h1.get("/rpc").await.text(), "GET / ");
    assert_eq!(h1.get("/").await.text(), "tether");
    server.shutdown().await;
}

#[tokio::test]
async fn serve_dir_mounted_in_a_group_finds_its_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tether")).unwrap();
    std::fs::write(dir.path().join("tether/index.html"), "<h1>docs</h1>").unwrap();
    let mut app = Engine::new();
    app.service("/docs", tower_http::services::ServeDir::new(dir.path()));
    app.group("/v2").service("/manual", tower_http::services::ServeDir::new(dir.path()));
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    assert_eq!(h1.get("/docs/tether/index.html").await.text(), "<h1>docs</h1>");
    assert_eq!(h1.get("/docs/tether/index.html?v=1").await.text(), "<h1>docs</h1>");
    assert_eq!(h1.get("/v2/manual/tether/").await.text(), "<h1>docs</h1>");
    assert_eq!(h1.get("/docs/missing.html").await.status, 404);
    server.shutdown().await;
}
