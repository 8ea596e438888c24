//! A service as a Gin user would build it, with everything tether has for real services:
//! request ids and JSON access logs, recovery, a deadline per request, CORS, a rate limit
//! per client, trusted proxies, validated JSON, uploads, a cached public API, an admin
//! area behind Basic auth, server-sent events, static files, gzip by a tower-http layer,
//! a mounted tower service, tracked background work, diagnostics, and HTTPS when asked.
//!
//! ```text
//! cargo run --release --example full_app
//! curl -i localhost:8080/api/v1/products?per_page=2
//! curl -i -X POST localhost:8080/api/v1/signup -H 'content-type: application/json' \
//!      -d '{"email":"ada@example.com","password":"correct horse","age":36}'
//! curl -i -F title=cat -F file=@README.md localhost:8080/api/v1/uploads
//! curl -N localhost:8080/api/v1/clock                     # server-sent events
//! curl -u admin:change-me localhost:8080/admin/stats
//! open http://localhost:8080/                              # static page using the events
//! ```
//!
//! `PORT` sets the port (8080); `TLS_CERT` and `TLS_KEY` (PEM files) serve HTTPS instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tether::middleware::{
    basic_auth, cache, cors, json_logger, rate_limit, recovery, request_id, timeout, AUTH_USER_KEY,
    REQUEST_ID_KEY,
};
use tether::sse::Event;
use tether::validator::Validate;
use tether::{json, Context, Engine, UploadLimits};

#[derive(Clone, Serialize)]
struct Product {
    id: u32,
    name: &'static str,
    cents: u32,
}

const PRODUCTS: [Product; 3] = [
    Product { id: 1, name: "kettle", cents: 2_499 },
    Product { id: 2, name: "teapot", cents: 3_199 },
    Product { id: 3, name: "mug", cents: 899 },
];

#[derive(Deserialize, Validate)]
struct Paging {
    #[validate(range(min = 1, max = 100))]
    #[serde(default = "default_per_page")]
    per_page: usize,
}

fn default_per_page() -> usize {
    20
}

#[derive(Deserialize, Validate)]
struct Signup {
    #[validate(email)]
    email: String,
    #[validate(length(min = 8, message = "needs 8 characters or more"))]
    password: String,
    #[validate(range(min = 13))]
    age: u8,
}

/// Signups so far (a real service has a database pool in its state).
#[derive(Default)]
struct Signups(AtomicU64);

async fn products(c: &mut Context) {
    let Ok(paging) = c.bind_valid_query::<Paging>() else { return };
    let page: Vec<Product> = PRODUCTS.iter().take(paging.per_page).cloned().collect();
    c.json(200, &page);
}

async fn signup(c: &mut Context) {
    let Ok(form) = c.bind_valid_json::<Signup>().await else { return };
    let n = c.state::<Signups>().0.fetch_add(1, Ordering::Relaxed) + 1;
    // The welcome mail goes out after the answer: tracked, with a deadline, and only the
    // key it needs (Gin: cCp := c.Copy(); go sendMail(cCp)).
    let email = form.email.clone();
    c.detach().name("welcome-mail").timeout(Duration::from_secs(10)).only(&[REQUEST_ID_KEY]).go(
        move |cp| async move {
            let id = cp.get::<String>(REQUEST_ID_KEY).cloned().unwrap_or_default();
            tracing::info!(target: "full_app::mail", %email, request_id = %id, "welcome mail sent");
        },
    );
    c.json(201, &json!({ "email": form.email, "age": form.age, "signup": n }));
}

async fn upload(c: &mut Context) {
    let form = match c.multipart_form().await {
        Ok(form) => form,
        Err(e) => return c.json(e.status(), &e.to_json()),
    };
    let files: Vec<_> = form
        .files
        .values()
        .flatten()
        .map(|f| json!({ "field": f.field(), "filename": f.filename(), "bytes": f.size() }))
        .collect();
    c.json(201, &json!({ "title": form.value("title"), "files": files }));
}

async fn clock(c: &mut Context) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    // Tied to the request: it ends when the client goes away, and shows in /debug/leaks.
    c.detach().name("clock").tied().no_timeout().go(move |_cp| async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
            if tx.send(Event::data(now).event("tick")).await.is_err() {
                return;
            }
        }
    });
    c.sse(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
}

async fn admin_stats(c: &mut Context) {
    let user = c.must_get::<String>(AUTH_USER_KEY).clone();
    let signups = c.state::<Signups>().0.load(Ordering::Relaxed);
    c.json(200, &json!({ "admin": user, "signups": signups }));
}

fn app() -> Engine {
    let mut app = Engine::new();
    app.state(Signups::default());
    // Behind a load balancer on the private network: believe its X-Forwarded-For only.
    app.trusted_proxies(["10.0.0.0/8", "127.0.0.1"]);
    app.upload_limits(UploadLimits::default().max_file(8 << 20));
    app.layer(tower_http::compression::CompressionLayer::new());
    app.with(request_id())
        .with(json_logger())
        .with(recovery())
        .with(
            cors().allow_origins(["http://localhost:3000"]).allow_methods(["GET", "POST"]).allow_any_header(),
        )
        .with(rate_limit(50, 100));
    app.debug_routes("/debug");
    app.static_dir("/assets", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/public"));
    app.static_file("/", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/public/index.html"));
    // Any tower service mounts at a path: here tower-http serving the API docs.
    app.service(
        "/docs",
        tower_http::services::ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/doc")),
    );

    let mut api = app.group("/api/v1");
    api.get("/clock", clock);
    let mut timed = api.group("");
    timed.with(timeout(Duration::from_secs(5)));
    timed.post("/signup", signup).post("/uploads", upload);
    let mut public = timed.group("");
    public.with(cache(Duration::from_secs(10)));
    public.get("/products", products);

    let mut admin = app.group("/admin");
    admin.with(basic_auth([("admin", "change-me")]).realm("full_app admin"));
    admin.get("/stats", admin_stats);
    app
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Logs through a bounded queue and one writer thread: a stalled stdout drops and counts
    // lines (log_lines_dropped in /debug/vars) instead of stopping the server.
    tether::log::init();
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let served = match (std::env::var("TLS_CERT"), std::env::var("TLS_KEY")) {
        (Ok(cert), Ok(key)) => app().run_tls(("0.0.0.0", port), cert, key).await,
        _ => app().run(("127.0.0.1", port)).await,
    };
    // Write out the lines still queued (bounded: about a second if stdout is stalled).
    tether::log::flush();
    served
}
