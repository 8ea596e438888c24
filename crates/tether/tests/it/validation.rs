//! Validation over real sockets: a body that parses but breaks rules is a 400 naming
//! every field and rule; a body that does not parse keeps its parse error.

use crate::support::{Server, H1};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::{Context, Engine};
use validator::Validate;

#[derive(serde::Deserialize, Validate)]
struct Signup {
    #[validate(email)]
    email: String,
    #[validate(length(min = 8, message = "needs 8 characters or more"))]
    password: String,
    #[validate(range(min = 13))]
    age: u8,
}

#[derive(serde::Deserialize, Validate)]
struct Page {
    #[validate(range(min = 1, max = 100))]
    per_page: u32,
}

fn json(body: &str) -> Request<Full<Bytes>> {
    Request::post("/signup")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

#[tokio::test]
async fn broken_rules_are_a_400_listing_each_field_and_rule() {
    let mut app = Engine::new();
    app.post("/signup", async |c: &mut Context| {
        let Ok(s) = c.bind_valid_json::<Signup>().await else { return };
        c.json(201, &tether::json!({ "email": s.email, "age": s.age, "password_len": s.password.len() }));
    });
    app.get("/items", async |c: &mut Context| match c.should_bind_valid_query::<Page>() {
        Ok(p) => c.string(200, p.per_page.to_string()),
        Err(e) => c.json(e.status(), &e.to_json()),
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;

    let bad = h1.send(json(r#"{"email":"ada","password":"short","age":9}"#)).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json(),
        serde_json::json!({
            "error": "validation failed",
            "fields": [
                { "field": "age", "rule": "range", "message": "must be at least 13" },
                { "field": "email", "rule": "email", "message": "must be an email address" },
                { "field": "password", "rule": "length", "message": "needs 8 characters or more" },
            ]
        })
    );

    let good = h1.send(json(r#"{"email":"ada@example.com","password":"correct horse","age":36}"#)).await;
    assert_eq!(good.status, 201);

    let unparsable = h1.send(json(r#"{"email":"ada@example.com","age":"old"}"#)).await;
    assert_eq!(unparsable.status, 400);
    assert_eq!(unparsable.json()["field"], "age", "a parse error is reported as before");

    assert_eq!(h1.get("/items?per_page=20").await.text(), "20");
    let over = h1.get("/items?per_page=500").await;
    assert_eq!((over.status.as_u16(), over.json()["fields"][0]["field"].as_str()), (400, Some("per_page")));
    server.shutdown().await;
}
