// Gin #1230 / #1841: using the context from a goroutine after the handler returned.
// In tether the handler only borrows the context, so it cannot be moved into a task.
use tether::Context;

async fn handler(c: &mut Context) {
    tokio::spawn(async move {
        c.string(200, "late");
    });
}

fn main() {
    let mut app = tether::Engine::new();
    app.get("/", handler);
}
