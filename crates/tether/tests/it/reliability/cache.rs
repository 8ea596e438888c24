//! The response cache never hands one user's answer to another.

use std::time::Duration;

use http::Request;
use http_body_util::Full;
use tether::middleware::cache;
use tether::{Context, Engine};

use crate::support::{send, Reply, Server};

/// Answers with who asked (the Authorization or Cookie header) and the `cc` query as
/// `Cache-Control`, and two `Link` headers.
async fn whoami(c: &mut Context) {
    let who = c.get_header("authorization").or(c.get_header("cookie")).unwrap_or("anonymous").to_owned();
    if let Some(cc) = c.query("cc").map(str::to_owned) {
        c.header("cache-control", &cc);
    }
    c.header("link", "</a>; rel=preload");
    c.response_headers_mut().append("link", http::HeaderValue::from_static("</b>; rel=preload"));
    c.string(200, who);
}

async fn server() -> Server {
    let mut app = Engine::new();
    app.with(cache(Duration::from_secs(60)));
    app.get("/me", whoami);
    Server::start(app).await
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(server.addr, req.body(Full::default()).unwrap()).await
}

#[tokio::test]
async fn answers_to_credentials_are_not_shared() {
    let s = server().await;
    for header in ["authorization", "cookie"] {
        let path = format!("/me?h={header}");
        let alice = get(&s, &path, &[(header, "alice")]).await;
        let bob = get(&s, &path, &[(header, "bob")]).await;
        let anon = get(&s, &path, &[]).await;
        assert_eq!(
            (alice.text(), bob.text(), anon.text()),
            ("alice".into(), "bob".into(), "anonymous".into())
        );
        assert_eq!(anon.header("x-cache"), Some("MISS"), "alice's answer was not stored");
    }
    // An anonymous answer is not served to a request with credentials either.
    get(&s, "/me?x=1", &[]).await;
    assert_eq!(get(&s, "/me?x=1", &[]).await.header("x-cache"), Some("HIT"));
    let carol = get(&s, "/me?x=1", &[("authorization", "carol")]).await;
    assert_eq!((carol.text(), carol.header("x-cache")), ("carol".into(), Some("MISS")));
    s.shutdown().await;
}

#[tokio::test]
async fn public_answers_to_credentials_are_shared() {
    let s = server().await;
    for cc in ["public", "s-maxage%3D30"] {
        let path = format!("/me?cc={cc}");
        assert_eq!(get(&s, &path, &[("authorization", "alice")]).await.header("x-cache"), Some("MISS"));
        let bob = get(&s, &path, &[("authorization", "bob")]).await;
        assert_eq!((bob.text(), bob.header("x-cache")), ("alice".into(), Some("HIT")), "{cc}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn cache_control_is_parsed_not_searched() {
    let s = server().await;
    // Directives are case-insensitive: a substring search for "private" missed these.
    for cc in
        ["Private", "NO-STORE", "no-cache", "max-age%3D0", "max-age%3Dbanana", "private%3D%22set-cookie%22"]
    {
        let path = format!("/me?cc={cc}");
        get(&s, &path, &[]).await;
        assert_eq!(get(&s, &path, &[]).await.header("x-cache"), Some("MISS"), "{cc} must not be stored");
    }
    // A word that only contains "private" is no directive of it.
    get(&s, "/me?cc=max-age%3D60%2C%20x-privateish", &[]).await;
    assert_eq!(get(&s, "/me?cc=max-age%3D60%2C%20x-privateish", &[]).await.header("x-cache"), Some("HIT"));
    s.shutdown().await;
}

#[tokio::test]
async fn a_shorter_max_age_wins_over_the_ttl() {
    let s = server().await;
    get(&s, "/me?cc=max-age%3D1", &[]).await;
    let stored = std::time::Instant::now();
    assert_eq!(get(&s, "/me?cc=max-age%3D1", &[]).await.header("x-cache"), Some("HIT"));
    // Served until 1 s has passed, and not after: polled, not a sleep that hopes.
    loop {
        let cached = get(&s, "/me?cc=max-age%3D1", &[]).await.header("x-cache") == Some("HIT");
        let age = stored.elapsed();
        if !cached {
            assert!(age >= Duration::from_millis(950), "expired early, at {age:?}");
            break;
        }
        assert!(age < Duration::from_secs(5), "still served at {age:?}, past max-age=1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn the_host_is_part_of_the_key() {
    let s = server().await;
    get(&s, "/me?v=host", &[("host", "a.example")]).await;
    assert_eq!(get(&s, "/me?v=host", &[("host", "a.example")]).await.header("x-cache"), Some("HIT"));
    assert_eq!(get(&s, "/me?v=host", &[("host", "b.example")]).await.header("x-cache"), Some("MISS"));
    s.shutdown().await;
}

#[tokio::test]
async fn repeated_headers_are_replayed_whole() {
    let s = server().await;
    get(&s, "/me?v=link", &[]).await;
    let hit = get(&s, "/me?v=link", &[]).await;
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    let links: Vec<_> = hit.headers.get_all("link").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(links, ["</a>; rel=preload", "</b>; rel=preload"]);
    s.shutdown().await;
}
