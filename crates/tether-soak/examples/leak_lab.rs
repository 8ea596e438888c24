//! The leak lab on 127.0.0.1:8080 (`PORT` to change): each leak beside its safe form.
//! See `tether_soak::leak_lab` for the routes, and soak them all with
//! `cargo run --release -p tether-soak -- lab`.
//!
//! ```text
//! cargo run --release -p tether-soak --example leak_lab
//! cargo run --release -p tether-soak -- http://127.0.0.1:8080/leak/ticker --rate 2000 -d 20
//! curl localhost:8080/debug/leaks
//! ```

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    tether_soak::leak_lab::app().run(("127.0.0.1", port)).await
}
