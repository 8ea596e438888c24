// A borrow of the context (a parameter value) cannot outlive the handler either.
use tether::Context;

async fn handler(c: &mut Context) {
    let id: &str = c.param("id");
    tokio::spawn(async move {
        println!("{id}");
    });
}

fn main() {
    let mut app = tether::Engine::new();
    app.get("/user/:id", handler);
}
