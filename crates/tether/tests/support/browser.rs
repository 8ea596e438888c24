//! Headless Chromium for the page tests: the DOM after some virtual time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Debian's chromium; `.ci/run` installs it. Without it the test fails and says so.
pub fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("headless Chromium is needed for this test: apt-get install chromium (.ci/run does)")
}

/// Loads `url` in headless Chromium with a fresh profile at `profile` and lets `budget`
/// of virtual time run (timers fire at once; network requests are real), then prints the
/// DOM to the output's stdout. Blocking: call it from `spawn_blocking`.
pub fn dump_dom(url: &str, budget: Duration, profile: PathBuf) -> Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("chromium runs")
}
