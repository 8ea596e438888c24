//! A crate outside this workspace, with tether as its only tether-side dependency, must
//! compile what the README shows a Gin user: the validation derive through `tether`,
//! capturing middleware, route and group middleware, groups beside the engine, and
//! `run(":8080")`. Dev-dependencies of tether (validator with its derive, among others)
//! are not there, as they are not in a user's crate.
//!
//! `cargo check --offline` in `target/tmp/fresh-crate`, with its own target directory
//! (the first run builds tether's dependencies in check mode, about a minute).

use std::path::PathBuf;
use std::process::Command;

const MAIN: &str = r#"
use tether::{handler_fn, handler_with, Context, Engine, Handler, HandlerFuture, Validate};

#[derive(serde::Deserialize, Validate)]
#[validate(crate = "tether::validator")]
struct Login {
    #[validate(custom(function = "tether::rules::required"))]
    user: String,
    #[validate(length(min = 3))]
    password: String,
    #[validate(email)]
    email: Option<String>,
}

fn auth(secret: String) -> impl Handler {
    handler_with(secret, async |secret: &String, c: &mut Context| {
        if c.get_header("x-token") != Some(secret.as_str()) {
            c.abort_with_status(401);
            return;
        }
        c.next().await;
    })
}

fn tag(name: String) -> impl Handler {
    handler_fn(move |c| {
        let name = name.clone();
        HandlerFuture::new(async move {
            c.next().await;
            c.header("x-tag", name);
        })
    })
}

async fn login(c: &mut Context) {
    let Ok(l) = c.bind_valid::<Login>().await else { return };
    c.json(200, &tether::json!({ "user": l.user, "email": l.email, "len": l.password.len() }));
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut app = Engine::default();
    let mut v1 = app.group("/v1");
    let mut admin = app.group_with("/admin", auth("secret".to_owned()));
    v1.post("/login", login);
    app.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    admin.get("/stats", (tag("stats".to_owned()), async |c: &mut Context| c.string(200, "ok")));
    v1.get("/form", async |c: &mut Context| {
        let name = c.default_post_form("name", "anonymous").await;
        c.string(200, name);
    });
    app.run(":8080").await
}
"#;

#[test]
fn a_fresh_crate_compiles_the_readme_s_gin_port() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().and_then(|p| p.parent()).expect("crates/tether is two levels down");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fresh-crate");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        r#"[package]
name = "fresh-crate"
version = "0.0.0"
edition = "2021"
publish = false

# Its own workspace: it lives under tether's target directory.
[workspace]

[dependencies]
tether = {{ path = {tether:?} }}
serde = {{ version = "1", features = ["derive"] }}
tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}
"#,
        tether = manifest_dir.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN).unwrap();
    // The workspace's lock file: the same versions as tether is tested with, offline.
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--offline", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace.join("target/fresh-crate"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the fresh crate does not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
