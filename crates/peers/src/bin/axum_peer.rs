//! axum 0.8 serving the bench routes: a peer framework measured beside tether.

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Serialize)]
struct User {
    id: String,
}

async fn plaintext() -> &'static str {
    "Hello, World!"
}

async fn json() -> Json<Message> {
    Json(Message { message: "Hello, World!" })
}

async fn user(Path(id): Path<String>) -> Json<User> {
    Json(User { id })
}

fn main() {
    peers::runtime().block_on(async {
        let app = Router::new()
            .route("/plaintext", get(plaintext))
            .route("/json", get(json))
            .route("/user/{id}", get(user));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", peers::port())).await.unwrap();
        axum::serve(listener, app).await.unwrap();
    })
}
