// Keeping the context past the request, in a static, does not compile.
use std::sync::Mutex;
use tether::Context;

static KEPT: Mutex<Option<&'static mut Context>> = Mutex::new(None);

async fn handler(c: &mut Context) {
    *KEPT.lock().unwrap() = Some(c);
}

fn main() {
    let mut app = tether::Engine::new();
    app.get("/", handler);
}
