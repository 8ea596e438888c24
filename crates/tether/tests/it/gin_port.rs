//! What a Gin program ported to tether relies on, over real sockets: binding by content
//! type, the PostForm family, capturing middleware, route and group middleware, groups
//! beside the engine, `take`, and Gin's `":8080"`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::Server;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::{handler_fn, handler_with, Context, Engine, Handler, HandlerFuture, Source};

#[derive(serde::Deserialize, tether::Validate)]
struct Login {
    #[validate(custom(function = "tether::rules::required"))]
    user: String,
    #[validate(custom(function = "tether::rules::required"))]
    password: String,
    remember: Option<bool>,
}

async fn login(c: &mut Context) {
    let Ok(l) = c.bind_valid::<Login>().await else { return };
    c.json(200, &tether::json!({ "user": l.user, "remember": l.remember }));
}

fn post(path: &str, content_type: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut req = Request::post(path);
    if let Some(t) = content_type {
        req = req.header("content-type", t);
    }
    req.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

const BOUNDARY: &str = "XyZ";

fn multipart(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body +=
            &format!("--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    }
    body + &format!("--{BOUNDARY}--\r\n")
}

#[tokio::test]
async fn should_bind_picks_the_binder_by_method_and_content_type() {
    let mut app = Engine::new();
    app.any("/login", login);
    let server = Server::start(app).await;
    let a = server.addr;

    let json = crate::support::send(
        a,
        post("/login", Some("application/json"), r#"{"user":"manu","password":"123"}"#),
    )
    .await;
    assert_eq!(json.status, 200);
    assert_eq!(json.json()["user"], "manu");

    // A form: a scalar takes the first of repeated keys, a blank optional is None.
    let form = "user=manu&user=other&password=123&remember=";
    let form = crate::support::send(a, post("/login", Some("application/x-www-form-urlencoded"), form)).await;
    assert_eq!(form.status, 200, "{}", form.text());
    assert_eq!(form.json(), tether::json!({ "user": "manu", "remember": null }));

    let mp_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let body = multipart(&[("user", "manu"), ("password", "123"), ("remember", "true")]);
    let mp = crate::support::send(a, post("/login", Some(&mp_type), &body)).await;
    assert_eq!(mp.json(), tether::json!({ "user": "manu", "remember": true }));

    let get = crate::support::get(a, "/login?user=manu&password=123").await;
    assert_eq!(get.json()["user"], "manu");

    // Gin's `required` on a String: blank is refused, naming the field.
    let blank =
        crate::support::send(a, post("/login", Some("application/json"), r#"{"user":"manu","password":""}"#))
            .await;
    assert_eq!(blank.status, 400);
    assert_eq!(blank.json()["fields"][0]["field"], "password");
    assert_eq!(blank.json()["fields"][0]["rule"], "required");

    let xml = crate::support::send(a, post("/login", Some("application/xml"), "<login/>")).await;
    assert_eq!(xml.status, 415);
    assert!(xml.json()["error"].as_str().unwrap().contains("application/xml"), "{}", xml.text());
    server.shutdown().await;
}

#[tokio::test]
async fn should_bind_with_uses_the_named_binder() {
    let mut app = Engine::new();
    app.post("/q", async |c: &mut Context| {
        // The body is JSON, but the handler asks for the query.
        match c.should_bind_with::<Login>(Source::Query).await {
            Ok(l) => c.string(200, l.user),
            Err(e) => c.string(e.status(), e.to_string()),
        }
    });
    let server = Server::start(app).await;
    let r =
        crate::support::send(server.addr, post("/q?user=q&password=p", Some("application/json"), "{}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "q");
    server.shutdown().await;
}

#[tokio::test]
async fn post_form_reads_urlencoded_and_multipart_bodies() {
    let mut app = Engine::new();
    app.post("/form_post", async |c: &mut Context| {
        let message = c.post_form("message").await;
        let nick = c.default_post_form("nick", "anonymous").await;
        let tags = c.post_form_array("tag").await;
        let names = c.post_form_map("names").await;
        let ids = c.query_map("ids");
        let mut names: Vec<_> = names.into_iter().collect();
        names.sort();
        c.json(
            200,
            &tether::json!({
                "message": message, "nick": nick, "tags": tags, "names": names, "ids": ids,
            }),
        );
    });
    let server = Server::start(app).await;
    let a = server.addr;
    let body = "message=hi&tag=a&tag=b&names[first]=thinkerou&names[second]=tianou";
    let r =
        crate::support::send(a, post("/form_post?ids[x]=1", Some("application/x-www-form-urlencoded"), body))
            .await;
    assert_eq!(
        r.json(),
        tether::json!({
            "message": "hi", "nick": "anonymous", "tags": ["a", "b"],
            "names": [["first", "thinkerou"], ["second", "tianou"]], "ids": {"x": "1"},
        })
    );

    let mp_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let body = multipart(&[("message", "hello"), ("nick", "manu"), ("tag", "x")]);
    let r = crate::support::send(a, post("/form_post", Some(&mp_type), &body)).await;
    assert_eq!(r.json()["message"], "hello");
    assert_eq!(r.json()["nick"], "manu");
    assert_eq!(r.json()["tags"], tether::json!(["x"]));

    // A JSON body has no form fields.
    let r =
        crate::support::send(a, post("/form_post", Some("application/json"), r#"{"message":"no"}"#)).await;
    assert_eq!(r.json()["message"], tether::json!(null));
    server.shutdown().await;
}

/// Gin's `func Auth(secret string) gin.HandlerFunc`.
fn auth(secret: String) -> impl Handler {
    handler_with(secret, async |secret: &String, c: &mut Context| {
        if c.get_header("x-token") != Some(secret.as_str()) {
            c.abort_with_status(401);
            return;
        }
        c.next().await;
    })
}

/// A counting middleware that captures an `Arc` and clones it into each request's future.
fn counted(hits: Arc<AtomicUsize>) -> impl Handler {
    handler_fn(move |c| {
        let hits = hits.clone();
        HandlerFuture::new(async move {
            hits.fetch_add(1, Ordering::Relaxed);
            c.next().await;
        })
    })
}

#[tokio::test]
async fn capturing_middleware_route_middleware_and_interleaved_groups() {
    let hits = Arc::new(AtomicUsize::new(0));
    let mut app = Engine::new();
    let mut v1 = app.group_with("/v1", counted(hits.clone()));
    let mut admin = app.group_with("/admin", (counted(hits.clone()), auth("s3cret".into())));
    v1.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    app.get("/health", async |c: &mut Context| c.string(200, "ok"));
    admin.get("/stats", async |c: &mut Context| c.string(200, "stats"));
    v1.get("/secret", (auth("other".into()), async |c: &mut Context| c.string(200, "in")));
    let server = Server::start(app).await;
    let a = server.addr;

    assert_eq!(crate::support::get(a, "/v1/ping").await.text(), "pong");
    assert_eq!(crate::support::get(a, "/health").await.text(), "ok");
    assert_eq!(crate::support::get(a, "/admin/stats").await.status, 401);
    let req = Request::get("/admin/stats").header("x-token", "s3cret").body(Full::default()).unwrap();
    assert_eq!(crate::support::send(a, req).await.text(), "stats");
    assert_eq!(
        crate::support::get(a, "/v1/secret").await.status,
        401,
        "route middleware runs before the handler"
    );
    let req = Request::get("/v1/secret").header("x-token", "other").body(Full::default()).unwrap();
    assert_eq!(crate::support::send(a, req).await.text(), "in");
    // /v1/ping, /admin/stats twice, /v1/secret twice: /health is outside both groups.
    assert_eq!(hits.load(Ordering::Relaxed), 5);
    server.shutdown().await;
}

#[test]
#[should_panic(expected = "registered after the engine was served")]
fn a_group_outliving_the_engine_cannot_add_routes_silently() {
    let mut app = Engine::new();
    let mut late = app.group("/late");
    drop(app.into_service());
    late.get("/x", async |c: &mut Context| c.string(200, ""));
}

#[test]
#[should_panic(expected = "has no handler")]
fn a_route_needs_a_handler() {
    Engine::new().get("/x", ());
}

#[tokio::test]
async fn take_moves_a_value_out_of_the_keys() {
    struct Tx(&'static str);
    let mut app = Engine::new();
    app.with(async |c: &mut Context| {
        c.set("tx", Tx("open"));
        c.next().await;
    });
    app.get("/", async |c: &mut Context| {
        let tx: Tx = c.take("tx").expect("set by the middleware");
        let again = c.take::<Tx>("tx").is_none();
        c.string(200, format!("{} {again}", tx.0));
    });
    let server = Server::start(app).await;
    assert_eq!(crate::support::get(server.addr, "/").await.text(), "open true");
    server.shutdown().await;
}

#[tokio::test]
async fn gin_colon_port_listens_on_every_interface() {
    // Find a free port, then hand Gin's spelling of it to run.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut app = Engine::new();
    app.get("/", async |c: &mut Context| c.string(200, "up"));
    let server = tokio::spawn(app.run(format!(":{port}")));
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "nothing listens on 127.0.0.1:{port}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(crate::support::get(addr, "/").await.text(), "up");
    server.abort();
}

#[tokio::test]
async fn bind_error_display_names_every_failing_field() {
    #[derive(serde::Deserialize, tether::Validate)]
    struct Signup {
        #[validate(email)]
        email: String,
        #[validate(range(min = 18))]
        age: u8,
    }
    let mut app = Engine::new();
    app.post("/signup", async |c: &mut Context| match c.should_bind_valid::<Signup>().await {
        Ok(_) => c.string(200, "ok"),
        Err(e) => c.string(e.status(), e.to_string()),
    });
    let server = Server::start(app).await;
    let r = crate::support::send(
        server.addr,
        post("/signup", Some("application/json"), r#"{"email":"x","age":3}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "validation failed: age must be at least 18; email must be an email address");
    server.shutdown().await;
}

#[tokio::test]
async fn trailing_slash_and_405_are_decided_per_method_and_pass_through_middleware() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "home").unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let mut app = Engine::new();
    app.with(counted(seen.clone())).with(tether::middleware::request_id());
    app.static_dir("/", dir.path());
    app.post("/upload", async |c: &mut Context| c.string(200, "uploaded"));
    let server = Server::start(app).await;
    let a = server.addr;

    // Gin's 307 to /upload, not 405 from the GET catch-all; through the middleware.
    let r = crate::support::send(a, post("/upload/?x=1", None, "")).await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/upload?x=1"));
    assert!(r.header("x-request-id").is_some(), "the redirect went through the global middleware");
    assert_eq!(seen.load(Ordering::Relaxed), 1);
    assert_eq!(crate::support::get(a, "/index.html").await.text(), "home");
    server.shutdown().await;
}

#[tokio::test]
async fn gin_s_switches_404_for_other_methods_and_no_redirects() {
    let mut app = Engine::new();
    app.handle_method_not_allowed(false).redirect_trailing_slash(false);
    app.get("/users", async |c: &mut Context| c.string(200, "users"));
    let server = Server::start(app).await;
    assert_eq!(crate::support::send(server.addr, post("/users", None, "")).await.status, 404);
    assert_eq!(crate::support::get(server.addr, "/users/").await.status, 404);
    server.shutdown().await;

    let mut app = Engine::new();
    app.get("/users", async |c: &mut Context| c.string(200, "users"));
    let server = Server::start(app).await;
    let r = crate::support::send(server.addr, post("/users", None, "")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(crate::support::get(server.addr, "/users/").await.status, 301);
    server.shutdown().await;
}

/// Gin's renderers set `Content-Type` only when none is set: a middleware or handler that
/// chose one keeps it through `c.json`, `c.string` and `c.file`.
#[tokio::test]
async fn a_content_type_chosen_before_the_body_is_kept() {
    async fn problem(c: &mut Context) {
        c.header("content-type", "application/problem+json");
        c.json(422, &tether::json!({ "title": "invalid" }));
    }
    async fn csv(c: &mut Context) {
        c.next().await;
    }
    let file = std::env::temp_dir().join(format!("tether-content-type-{}.txt", std::process::id()));
    std::fs::write(&file, "a,b\n").unwrap();
    let mut app = Engine::new();
    app.get("/problem", problem);
    app.get("/plain", async |c: &mut Context| c.string(200, "ok"));
    let mut group = app.group_with(
        "/csv",
        (
            handler_fn(|c| {
                c.header("content-type", "text/csv");
                HandlerFuture::new(async move { c.next().await })
            }),
            csv,
        ),
    );
    group.get("/text", async |c: &mut Context| c.string(200, "a,b\n"));
    group.get(
        "/file",
        handler_with(file.clone(), async |f: &std::path::PathBuf, c: &mut Context| c.file(f).await),
    );
    let server = Server::start(app).await;
    let a = server.addr;

    let res = crate::support::get(a, "/problem").await;
    assert_eq!(res.status, 422);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let res = crate::support::get(a, "/plain").await;
    assert_eq!(res.header("content-type"), Some("text/plain; charset=utf-8"));
    let res = crate::support::get(a, "/csv/text").await;
    assert_eq!(res.header("content-type"), Some("text/csv"));
    let res = crate::support::get(a, "/csv/file").await;
    assert_eq!((res.header("content-type"), res.text().as_str()), (Some("text/csv"), "a,b\n"));
    let _ = std::fs::remove_file(file);
}
