//! The alert rules shipped in `deploy/prometheus` are valid, pass their unit tests
//! (`promtool`, the real tool, installed by scripts/install-test-deps.sh), and name only
//! metrics a real tether server exposes, so a renamed metric cannot silently blind them.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use tether::{Context, Engine};

use crate::support::{get, Server};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(rules_dir())
        .output()
        .expect("promtool runs (Debian package prometheus; scripts/install-test-deps.sh installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_rules_are_valid_and_pass_their_unit_tests() {
    let checked = promtool(&["check", "rules", "tether-alerts.yml"]);
    assert!(checked.contains("SUCCESS: 7 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "tether-alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// Every `tether_…` name in the rules' expressions.
fn names_in_rules() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(rules_dir().join("tether-alerts.yml")).unwrap();
    let mut names = BTreeSet::new();
    for line in rules.lines().filter(|l| l.trim_start().starts_with("expr:")) {
        let mut rest = line;
        while let Some(at) = rest.find("tether_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    names
}

#[tokio::test]
async fn every_metric_the_rules_use_is_exposed() {
    let names = names_in_rules();
    assert!(names.len() >= 6, "{names:?}");
    let mut app = Engine::new();
    app.metrics_route("/metrics");
    app.get("/task", async |c: &mut Context| {
        c.go(async |_cp| {});
        c.string(200, "started");
    });
    let server = Server::start(app).await;
    get(server.addr, "/task").await;
    let text = get(server.addr, "/metrics").await.text();
    let exposed: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    for name in &names {
        assert!(
            exposed.contains(name.as_str()),
            "the rules use {name}, which /metrics does not expose:\n{text}"
        );
    }
    // The outcome labels the rules select on exist.
    for outcome in ["rejected", "timed_out"] {
        assert!(text.contains(&format!("tether_tasks_finished_total{{outcome=\"{outcome}\"}}")), "{text}");
    }
    server.shutdown().await;
}
