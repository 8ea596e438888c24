//! A small, realistic API: groups, path parameters, query strings, JSON binding, app
//! state and middleware, on `Engine::default()` (logger + recovery).
//!
//! ```text
//! cargo run --release --example quickstart
//! curl localhost:8080/                   # this index: every route
//! curl localhost:8080/ping
//! curl -X POST localhost:8080/api/v1/todos -H 'authorization: Bearer demo' -d '{"title":"write docs"}'
//! curl localhost:8080/api/v1/todos?done=false
//! curl localhost:8080/api/v1/todos/1
//! curl localhost:8080/debug/leaks        # live copies and tasks by call site (loopback only)
//! curl localhost:8080/metrics            # Prometheus: requests by route and status, latency
//! ```
//!
//! `PORT` sets the port (default 8080).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tether::{handler_with, json, Context, Engine};

#[derive(Clone, Serialize)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
    #[serde(default)]
    done: bool,
}

#[derive(Deserialize)]
struct ListQuery {
    done: Option<bool>,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    50
}

/// The app's state: an in-memory store (a real app keeps a database pool here).
#[derive(Default)]
struct Store {
    next_id: AtomicU64,
    todos: Mutex<BTreeMap<u64, Todo>>,
}

/// Middleware: how long the rest of the chain took, as a response header.
async fn timing(c: &mut Context) {
    let start = Instant::now();
    c.next().await;
    c.header("x-response-time", format!("{:.3}ms", start.elapsed().as_secs_f64() * 1e3));
}

/// Middleware: writes need `Authorization: Bearer demo`. The user goes into the keys.
async fn require_token(c: &mut Context) {
    match c.get_header("authorization") {
        Some("Bearer demo") => c.set("user", String::from("demo")),
        _ => c.abort_with_status_json(401, &json!({ "error": "send Authorization: Bearer demo" })),
    }
}

async fn ping(c: &mut Context) {
    c.string(200, "pong");
}

async fn list(c: &mut Context) {
    let Ok(q) = c.bind_query::<ListQuery>() else { return };
    let todos: Vec<Todo> = {
        let todos = c.state::<Store>().todos.lock().unwrap();
        todos.values().filter(|t| q.done.is_none_or(|d| t.done == d)).take(q.limit).cloned().collect()
    };
    c.json(200, &todos);
}

async fn show(c: &mut Context) {
    let Ok(id) = c.param("id").parse::<u64>() else {
        return c.json(400, &json!({ "error": "id must be a number" }));
    };
    let todo = c.state::<Store>().todos.lock().unwrap().get(&id).cloned();
    match todo {
        Some(t) => c.json(200, &t),
        None => c.json(404, &json!({ "error": format!("no todo {id}") })),
    }
}

async fn create(c: &mut Context) {
    let Ok(new) = c.bind_json::<NewTodo>().await else { return };
    if new.title.trim().is_empty() {
        return c.json(400, &json!({ "error": "title must not be empty", "field": "title" }));
    }
    let store = c.state::<Store>();
    let id = store.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let todo = Todo { id, title: new.title, done: new.done };
    store.todos.lock().unwrap().insert(id, todo.clone());
    let by = c.must_get::<String>("user").clone();
    // Work after the response, tracked: a deadline, a cap, shutdown drains it, and it shows
    // in /debug/leaks at this line while it runs. (Gin: cCp := c.Copy(); go func() {..}())
    c.detach().name("audit-log").timeout(std::time::Duration::from_secs(5)).only(&["user"]).go(move |cp| async move {
        let user = cp.get::<String>("user").cloned().unwrap_or_default();
        tracing::info!(target: "quickstart::audit", todo = id, %user, route = cp.full_path(), "todo created");
    });
    c.header("location", format!("/api/v1/todos/{id}"));
    c.json(201, &json!({ "todo": todo, "created_by": by }));
}

async fn remove(c: &mut Context) {
    let removed =
        c.param("id").parse::<u64>().ok().and_then(|id| c.state::<Store>().todos.lock().unwrap().remove(&id));
    match removed {
        Some(_) => c.status(204),
        None => c.json(404, &json!({ "error": "no such todo" })),
    }
}

fn app() -> Engine {
    let mut app = Engine::default();
    app.state(Store::default());
    app.debug_routes("/debug");
    app.metrics_route("/metrics");
    app.get("/ping", ping);

    let mut api = app.group("/api/v1");
    api.with(timing);
    api.get("/todos", list).get("/todos/:id", show);
    let mut writes = api.group("");
    writes.with(require_token);
    writes.post("/todos", create).delete("/todos/:id", remove);

    // `/`: what this server answers, from the routes registered above.
    let index: Vec<String> = app.routes().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    app.get(
        "/",
        handler_with(index, async |index: &Vec<String>, c: &mut Context| {
            c.json(200, &json!({ "service": "tether quickstart", "routes": index }));
        }),
    );
    app
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Engine::default()'s run installs tether's non-blocking log subscriber (RUST_LOG, else
    // info): a stalled stdout drops and counts lines instead of stopping the server.
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    app().run(("127.0.0.1", port)).await
}
