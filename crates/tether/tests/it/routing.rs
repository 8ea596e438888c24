//! Routing, middleware, the context and responses, in-process through `TestClient`.

use serde::Deserialize;
use serde_json::{json, Value};
use tether::testing::TestClient;
use tether::{Context, Engine};

async fn ok(c: &mut Context) {
    c.string(200, "ok");
}

async fn echo_params(c: &mut Context) {
    let params: Vec<(String, String)> = c.params().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let full = c.full_path().to_owned();
    c.json(200, &json!({ "params": params, "full_path": full }));
}

#[tokio::test]
async fn params_and_catch_all() {
    let mut app = Engine::new();
    app.get("/user/:id", echo_params);
    app.get("/user/:id/books/:book", echo_params);
    app.get("/files/*path", echo_params);
    app.get("/user/new", ok);
    let client = TestClient::new(app);

    let res = client.get("/user/42").send().await.json::<Value>();
    assert_eq!(res["params"], json!([["id", "42"]]));
    assert_eq!(res["full_path"], "/user/:id");

    let res = client.get("/user/7/books/rust").send().await.json::<Value>();
    assert_eq!(res["params"], json!([["id", "7"], ["book", "rust"]]));

    // A static segment wins over a parameter beside it.
    assert_eq!(client.get("/user/new").send().await.text(), "ok");

    // The catch-all keeps its leading slash, as in Gin, and matches the bare directory.
    let res = client.get("/files/a/b/c.txt").send().await.json::<Value>();
    assert_eq!(res["params"], json!([["path", "/a/b/c.txt"]]));
    assert_eq!(res["full_path"], "/files/*path");
    let res = client.get("/files/").send().await.json::<Value>();
    assert_eq!(res["params"], json!([["path", "/"]]));

    // Parameter values are percent-decoded; routing is on the raw path.
    let res = client.get("/user/ada%20lovelace").send().await.json::<Value>();
    assert_eq!(res["params"], json!([["id", "ada lovelace"]]));
    let res = client.get("/user/a%2Fb").send().await.json::<Value>();
    assert_eq!(res["params"], json!([["id", "a/b"]]), "an encoded slash stays in one segment");
}

#[tokio::test]
async fn param_is_empty_when_missing() {
    let mut app = Engine::new();
    app.get("/user/:id", async |c: &mut Context| {
        let missing = c.param("nope").is_empty();
        c.string(200, if missing { "empty" } else { "set" });
    });
    assert_eq!(TestClient::new(app).get("/user/1").send().await.text(), "empty");
}

fn trace(name: &'static str) -> impl tether::Handler {
    struct Trace(&'static str);
    impl tether::Handler for Trace {
        fn call<'a>(&'a self, c: &'a mut Context) -> tether::HandlerFuture<'a> {
            tether::HandlerFuture::new(async move {
                push(c, format!("{}>", self.0));
                c.next().await;
                push(c, format!("<{}", self.0));
            })
        }
    }
    Trace(name)
}

fn push(c: &mut Context, step: String) {
    let mut steps = c.get::<Vec<String>>("steps").cloned().unwrap_or_default();
    steps.push(step);
    c.set("steps", steps);
}

async fn record(c: &mut Context) {
    push(c, "handler".into());
    let steps = c.get::<Vec<String>>("steps").cloned().unwrap_or_default();
    c.json(200, &steps);
}

#[tokio::test]
async fn middleware_order_before_and_after_next() {
    let mut app = Engine::new();
    app.with(trace("global"));
    {
        let mut v1 = app.group("/v1");
        v1.with(trace("v1"));
        v1.get("/a", record);
        let mut admin = v1.group("/admin");
        admin.with(trace("admin"));
        admin.get("/b", record);
    }
    // Global middleware added after the routes applies to them too.
    app.with(trace("late"));
    let client = TestClient::new(app);
    let steps = client.get("/v1/a").send().await.json::<Vec<String>>();
    assert_eq!(steps, ["global>", "late>", "v1>", "handler"]);
    let steps = client.get("/v1/admin/b").send().await.json::<Vec<String>>();
    assert_eq!(steps, ["global>", "late>", "v1>", "admin>", "handler"]);
}

#[tokio::test]
async fn middleware_sees_and_changes_the_response_after_next() {
    let mut app = Engine::new();
    app.with(async |c: &mut Context| {
        c.next().await;
        let status = c.response_status().as_u16();
        c.header("x-seen-status", status.to_string());
        if status == 201 {
            c.status(202);
        }
    });
    app.post("/things", async |c: &mut Context| c.string(201, "made"));
    let res = TestClient::new(app).post("/things").send().await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.header("x-seen-status"), Some("201"));
    assert_eq!(res.text(), "made");
}

#[tokio::test]
async fn abort_stops_the_chain() {
    let mut app = Engine::new();
    app.with(async |c: &mut Context| {
        if c.get_header("authorization").is_none() {
            c.abort_with_status_json(401, &json!({ "error": "who are you?" }));
        }
    });
    app.get("/secret", async |c: &mut Context| {
        assert!(!c.is_aborted());
        c.string(200, "the secret");
    });
    let client = TestClient::new(app);
    let res = client.get("/secret").send().await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>()["error"], "who are you?");
    let res = client.get("/secret").header("authorization", "yes").send().await;
    assert_eq!(res.text(), "the secret");
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    let mut app = Engine::new();
    app.get("/thing", ok).post("/thing", ok).get("/user/:id", ok);
    let client = TestClient::new(app);

    let res = client.get("/nothing").send().await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.text(), "404 page not found");

    let res = client.delete("/thing").send().await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(res.text(), "405 method not allowed");

    let res = client.put("/user/3").send().await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.header("allow"), Some("GET, HEAD"));

    // HEAD is answered by the GET route.
    assert_eq!(client.head("/thing").send().await.status(), 200);
}

#[tokio::test]
async fn custom_no_route_and_no_method_run_after_global_middleware() {
    let mut app = Engine::new();
    app.with(async |c: &mut Context| {
        c.next().await;
        c.header("x-global", "ran");
    });
    app.get("/thing", ok);
    app.no_route(async |c: &mut Context| {
        let path = c.path().to_owned();
        c.json(404, &json!({ "missing": path }));
    });
    app.no_method(async |c: &mut Context| {
        let allow = c.response_headers()["allow"].to_str().unwrap().to_owned();
        c.json(405, &json!({ "allow": allow }));
    });
    let client = TestClient::new(app);
    let res = client.get("/nope").send().await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.header("x-global"), Some("ran"));
    assert_eq!(res.json::<Value>()["missing"], "/nope");
    let res = client.post("/thing").send().await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.json::<Value>()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn trailing_slash_redirects_like_gin() {
    let mut app = Engine::new();
    app.get("/users", ok).post("/users", ok).get("/dir/", ok);
    let client = TestClient::new(app);

    let res = client.get("/users/").send().await;
    assert_eq!(res.status(), 301);
    assert_eq!(res.header("location"), Some("/users"));

    let res = client.post("/users/?x=1").send().await;
    assert_eq!(res.status(), 307, "307 keeps the method and body");
    assert_eq!(res.header("location"), Some("/users?x=1"));

    let res = client.get("/dir").send().await;
    assert_eq!(res.status(), 301);
    assert_eq!(res.header("location"), Some("/dir/"));

    // Only when the other form exists for this method.
    assert_eq!(client.delete("/users/").send().await.status(), 404);
}

#[tokio::test]
async fn query_decoding() {
    let mut app = Engine::new();
    app.get("/search", async |c: &mut Context| {
        let body = json!({
            "q": c.query("q"),
            "missing": c.query("missing"),
            "page": c.default_query("page", "1"),
            "tags": c.query_array("t"),
            "empty": c.query("empty"),
        });
        c.json(200, &body);
    });
    let client = TestClient::new(app);
    let res = client.get("/search?q=caf%C3%A9+au+lait&t=a&t=b%26c&empty=").send().await.json::<Value>();
    assert_eq!(
        res,
        json!({ "q": "café au lait", "missing": null, "page": "1", "tags": ["a", "b&c"], "empty": "" })
    );
}

#[tokio::test]
async fn typed_keys() {
    #[derive(Clone, Debug, PartialEq)]
    struct User {
        name: String,
    }
    let mut app = Engine::new();
    app.with(async |c: &mut Context| {
        c.set("user", User { name: "ada".into() });
        c.set("count", 3u32);
        c.next().await;
    });
    app.get("/", async |c: &mut Context| {
        let name = c.must_get::<User>("user").name.clone();
        let wrong_type = c.get::<String>("user").is_none();
        let count = *c.get::<u32>("count").unwrap();
        let deleted = c.delete("count");
        let gone = c.get::<u32>("count").is_none();
        c.json(200, &json!({ "name": name, "wrong_type": wrong_type, "count": count, "deleted": deleted, "gone": gone }));
    });
    let res = TestClient::new(app).get("/").send().await.json::<Value>();
    assert_eq!(res, json!({ "name": "ada", "wrong_type": true, "count": 3, "deleted": true, "gone": true }));
}

#[derive(Deserialize, serde::Serialize)]
struct NewUser {
    name: String,
    age: u8,
    address: Option<Address>,
}

#[derive(Deserialize, serde::Serialize)]
struct Address {
    city: String,
}

fn binding_app() -> TestClient {
    let mut app = Engine::new();
    app.post("/users", async |c: &mut Context| {
        let Ok(user) = c.bind_json::<NewUser>().await else { return };
        c.json(201, &user);
    });
    TestClient::new(app)
}

#[tokio::test]
async fn json_binding_accepts_good_input() {
    let res = binding_app().post("/users").json(&json!({ "name": "ada", "age": 36 })).send().await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>()["name"], "ada");
}

#[tokio::test]
async fn json_binding_errors_name_the_field() {
    let client = binding_app();
    let cases = [
        (r#"{"name":"ada","age":"old"}"#, Some("age"), "invalid type"),
        (r#"{"name":"ada"}"#, Some("age"), "missing field `age`"),
        (r#"{"name":"ada","age":300}"#, Some("age"), "invalid value"),
        (r#"{"name":"ada","age":3,"address":{"city":5}}"#, Some("address.city"), "invalid type"),
        (r#"{"name":"ada","age":3,"address":{}}"#, Some("address.city"), "missing field `city`"),
        (r#"{"name": "ada", "#, None, "EOF"),
        ("", None, "empty"),
        ("not json", None, "expected"),
    ];
    for (body, field, words) in cases {
        let res = client.post("/users").body(body).send().await;
        assert_eq!(res.status(), 400, "body {body:?} -> {}", res.text());
        let err = res.json::<Value>();
        assert_eq!(err["field"].as_str(), field, "body {body:?} -> {err}");
        let message = err["error"].as_str().unwrap();
        assert!(message.contains(words), "body {body:?}: message {message:?} should say {words:?}");
    }
}

#[tokio::test]
async fn query_uri_and_form_binding() {
    #[derive(Deserialize, serde::Serialize)]
    struct Page {
        page: u32,
        tags: Vec<String>,
    }
    #[derive(Deserialize, serde::Serialize)]
    struct Ids {
        org: String,
        id: u64,
    }
    #[derive(Deserialize, serde::Serialize)]
    struct Login {
        user: String,
        remember: bool,
    }
    let mut app = Engine::new();
    app.get("/q", async |c: &mut Context| match c.should_bind_query::<Page>() {
        Ok(p) => c.json(200, &p),
        Err(e) => c.json(400, &e.to_json()),
    });
    app.get("/orgs/:org/items/:id", async |c: &mut Context| {
        let Ok(ids) = c.bind_uri::<Ids>() else { return };
        c.json(200, &ids);
    });
    app.post("/login", async |c: &mut Context| {
        let Ok(login) = c.bind_form::<Login>().await else { return };
        c.json(200, &login);
    });
    let client = TestClient::new(app);

    let res = client.get("/q?page=2&tags=a&tags=b").send().await;
    assert_eq!(res.json::<Value>(), json!({ "page": 2, "tags": ["a", "b"] }));
    let res = client.get("/q?page=two").send().await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>()["field"], "page");

    let res = client.get("/orgs/acme/items/9").send().await;
    assert_eq!(res.json::<Value>(), json!({ "org": "acme", "id": 9 }));
    let res = client.get("/orgs/acme/items/nine").send().await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>()["field"], "id");

    let res = client
        .post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=ada&remember=true")
        .send()
        .await;
    assert_eq!(res.json::<Value>(), json!({ "user": "ada", "remember": true }));
    let res = client.post("/login").body("user=ada").send().await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>()["field"], "remember");
}

#[tokio::test]
async fn body_limit_answers_413() {
    let mut app = Engine::new();
    app.body_limit(1024);
    app.post("/raw", async |c: &mut Context| match c.body_bytes().await {
        Ok(b) => c.string(200, format!("{} bytes", b.len())),
        Err(e) => c.abort_with_error(e.status(), e),
    });
    app.post("/json", async |c: &mut Context| {
        let Ok(v) = c.bind_json::<Value>().await else { return };
        c.json(200, &v);
    });
    let client = TestClient::new(app);
    assert_eq!(client.post("/raw").body(vec![b'x'; 1024]).send().await.text(), "1024 bytes");
    let res = client.post("/raw").body(vec![b'x'; 1025]).send().await;
    assert_eq!(res.status(), 413);
    assert!(res.json::<Value>()["error"].as_str().unwrap().contains("1024 bytes"));
    let big = format!("\"{}\"", "x".repeat(2000));
    let res = client.post("/json").body(big).send().await;
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn body_can_be_read_twice() {
    let mut app = Engine::new();
    app.post("/", async |c: &mut Context| {
        let a = c.body_bytes().await.unwrap();
        let b = c.body_bytes().await.unwrap();
        c.string(200, format!("{}", a == b && !a.is_empty()));
    });
    assert_eq!(TestClient::new(app).post("/").body("hello").send().await.text(), "true");
}

#[tokio::test]
async fn panicking_handler_is_a_500_and_the_next_request_is_fine() {
    for app_with_recovery in [false, true] {
        let mut app = Engine::new();
        if app_with_recovery {
            app.with(tether::middleware::recovery());
        }
        app.get("/boom", async |_c: &mut Context| panic!("kaboom"));
        app.get("/fine", ok);
        let client = TestClient::new(app);
        let res = client.get("/boom").send().await;
        assert_eq!(res.status(), 500);
        assert_eq!(res.text(), "500 internal server error");
        assert_eq!(client.get("/fine").send().await.text(), "ok");
    }
}

#[tokio::test]
async fn recovery_lets_outer_middleware_see_the_500() {
    let mut app = Engine::new();
    app.with(async |c: &mut Context| {
        c.next().await;
        let status = c.response_status().as_u16().to_string();
        c.header("x-outer-saw", status);
    });
    app.with(tether::middleware::recovery());
    app.get("/boom", async |c: &mut Context| {
        c.header("x-partial", "yes");
        panic!("boom");
    });
    let res = TestClient::new(app).get("/boom").send().await;
    assert_eq!(res.status(), 500);
    assert_eq!(res.header("x-outer-saw"), Some("500"));
    assert_eq!(res.header("x-partial"), None, "a half-written response is discarded");
}

#[tokio::test]
async fn responses_and_state() {
    struct Greeting(&'static str);
    let mut app = Engine::new();
    app.state(Greeting("hello"));
    app.get("/text", async |c: &mut Context| {
        let g = c.state::<Greeting>().0;
        c.string(200, g);
    });
    app.get("/html", async |c: &mut Context| c.html(200, "<b>hi</b>"));
    app.get("/data", async |c: &mut Context| c.data(200, "application/octet-stream", vec![1u8, 2, 3]));
    app.get("/go", async |c: &mut Context| c.redirect(302, "/text"));
    app.get("/header", async |c: &mut Context| {
        c.header("x-a", "1");
        c.header("x-b", "2");
        c.header("x-b", ""); // empty removes, as Gin
        c.status(204);
    });
    app.get("/missing-state", async |c: &mut Context| {
        let none = c.try_state::<String>().is_none();
        c.string(200, none.to_string());
    });
    let client = TestClient::new(app);
    let res = client.get("/text").send().await;
    assert_eq!((res.status().as_u16(), res.text()), (200, "hello".into()));
    assert_eq!(res.header("content-type"), Some("text/plain; charset=utf-8"));
    let res = client.get("/html").send().await;
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let res = client.get("/data").send().await;
    assert_eq!(res.bytes().as_ref(), [1, 2, 3]);
    let res = client.get("/go").send().await;
    assert_eq!((res.status().as_u16(), res.header("location")), (302, Some("/text")));
    let res = client.get("/header").send().await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.header("x-a"), Some("1"));
    assert_eq!(res.header("x-b"), None);
    assert_eq!(client.get("/missing-state").send().await.text(), "true");
}

#[tokio::test]
async fn cookies_in_and_out() {
    let mut app = Engine::new();
    app.get("/", async |c: &mut Context| {
        let theme = c.cookie("theme").map(|v| v.into_owned()).unwrap_or_default();
        c.set_cookie(tether::cookie::Cookie::build(("seen", "yes")).path("/").http_only(true).build());
        c.string(200, theme);
    });
    let res = TestClient::new(app).get("/").header("cookie", "a=1; theme=dark%20blue; b=2").send().await;
    assert_eq!(res.text(), "dark blue");
    assert_eq!(res.header("set-cookie"), Some("seen=yes; HttpOnly; Path=/"));
}

#[tokio::test]
async fn file_responses() {
    let dir = std::env::temp_dir().join(format!("tether-file-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("small.json"), b"{\"a\":1}").unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    struct Dir(std::path::PathBuf);
    let mut app = Engine::new();
    app.state(Dir(dir.clone()));
    app.get("/f/:name", async |c: &mut Context| {
        let path = c.state::<Dir>().0.join(c.param("name"));
        c.file(path).await;
    });
    let client = TestClient::new(app);
    let res = client.get("/f/small.json").send().await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.text(), "{\"a\":1}");
    let res = client.get("/f/big.bin").send().await;
    assert_eq!(res.header("content-length"), Some("200000"));
    assert_eq!(res.bytes().as_ref(), big.as_slice());
    assert_eq!(client.get("/f/none.txt").send().await.status(), 404);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn client_ip_is_the_peer() {
    let mut app = Engine::new();
    app.get("/", async |c: &mut Context| {
        let ip = c.client_ip().map(|ip| ip.to_string()).unwrap_or_else(|| "none".into());
        c.string(200, ip);
    });
    let client = TestClient::new(app);
    assert_eq!(client.get("/").send().await.text(), "none");
    let res = client
        .get("/")
        .header("x-forwarded-for", "1.2.3.4")
        .remote_addr("10.1.2.3:5555".parse().unwrap())
        .send()
        .await;
    assert_eq!(res.text(), "10.1.2.3", "forwarding headers are not trusted by default");
}

#[test]
#[should_panic(expected = "conflicts with route \"/user/:id\"")]
fn conflicting_routes_panic_naming_both() {
    let mut app = Engine::new();
    app.get("/user/:id", ok);
    app.get("/user/:name", ok);
}

#[test]
#[should_panic(expected = "route GET \"/a\" is registered twice")]
fn duplicate_routes_panic() {
    let mut app = Engine::new();
    app.get("/a", ok);
    app.get("/a", ok);
}

#[test]
#[should_panic(expected = "must be the last segment")]
fn catch_all_must_be_last() {
    Engine::new().get("/a/*rest/b", ok);
}

#[tokio::test]
async fn split_writes_a_response_from_request_data_without_copying_it() {
    #[derive(serde::Serialize)]
    struct Echo<'a> {
        id: &'a str,
        q: Option<&'a str>,
        agent: Option<&'a str>,
    }
    let mut app = Engine::new();
    app.get("/echo/:id", async |c: &mut Context| {
        let (req, w) = c.split();
        w.header("x-path", req.path());
        w.json(200, &Echo { id: req.param("id"), q: req.query("q"), agent: req.get_header("user-agent") });
    });
    let res = TestClient::new(app).get("/echo/7?q=x").header("user-agent", "t/1").send().await;
    assert_eq!(res.header("x-path"), Some("/echo/7"));
    assert_eq!(res.json::<Value>(), json!({ "id": "7", "q": "x", "agent": "t/1" }));
}

/// A set of routes written once against `Routes`, as Gin code takes an `IRoutes`.
fn user_routes(r: &mut impl tether::Routes) {
    r.with(async |c: &mut Context| {
        c.header("x-area", "users");
        c.next().await;
    });
    r.get("/users/:id", async |c: &mut Context| {
        let id = c.param("id").to_owned();
        c.string(200, id);
    });
    r.any("/users/ping", async |c: &mut Context| c.string(200, "pong"));
}

#[tokio::test]
async fn one_routes_function_registers_on_the_engine_and_on_a_group() {
    let mut app = Engine::new();
    user_routes(&mut app.group("/v2"));
    user_routes(&mut app);
    let server = crate::support::Server::start(app).await;
    for (path, body) in [("/users/7", "7"), ("/v2/users/8", "8"), ("/v2/users/ping", "pong")] {
        let res = crate::support::get(server.addr, path).await;
        assert_eq!((res.status.as_u16(), res.text().as_str()), (200, body), "{path}");
        assert_eq!(res.header("x-area"), Some("users"), "{path}: the middleware came with the routes");
    }
    server.shutdown().await;
}
