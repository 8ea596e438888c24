//! `tether-soak lab`: soak every route of the [leak lab](crate::leak_lab), each in a fresh
//! server process, and tabulate the verdicts beside the call sites `/debug/leaks` blamed.
//!
//! Each route gets its own child process (`tether-soak serve-lab`), so one route's leak
//! never shows in another's memory curve, and the ticker leak's tasks stop with it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::leak_lab::{Scenario, SCENARIOS};
use crate::soak::{run, Config, Report};
use crate::verdict::{human, Kind};

/// The most load the lab puts on one route.
pub const MAX_SECONDS: u64 = 60;

/// What the lab runs.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// The `tether-soak` executable to start as `serve-lab` for each route.
    pub server: PathBuf,
    /// Seconds of load per route (at most [`MAX_SECONDS`]).
    pub seconds: u64,
    /// Requests per second, in total over the connections.
    pub rate: f64,
    /// Connections.
    pub connections: usize,
    /// How often to sample `/debug/vars`.
    pub interval: Duration,
    /// The scenarios to run.
    pub scenarios: Vec<Scenario>,
    /// Where to write charts and `lab.json`; `None` for no files.
    pub out: Option<PathBuf>,
    /// Progress bars on a terminal.
    pub progress: bool,
}

impl LabConfig {
    /// Every scenario, 20 s per route at 2,000 requests a second on 8 connections.
    pub fn new(server: PathBuf) -> Self {
        LabConfig {
            server,
            seconds: 20,
            rate: 2000.0,
            connections: 8,
            interval: Duration::from_millis(250),
            scenarios: SCENARIOS.to_vec(),
            out: None,
            progress: false,
        }
    }
}

/// One scenario's result: the leak and its safe form.
#[derive(Clone, Debug, Serialize)]
pub struct LabRow {
    /// The scenario's name.
    pub scenario: &'static str,
    /// The soak of `/leak/<name>`.
    pub leak: Report,
    /// The soak of `/safe/<name>`.
    pub safe: Report,
    /// The call site `/debug/leaks` blamed for the leak, if it could name one.
    pub blamed: Option<String>,
    /// What the lab found when no site could be named.
    pub note: String,
    /// The leak was judged LEAK and the safe form FLAT.
    pub correct: bool,
}

/// Runs the lab.
pub async fn run_lab(config: &LabConfig) -> Result<Vec<LabRow>, String> {
    if config.seconds == 0 || config.seconds > MAX_SECONDS {
        return Err(format!("--seconds must be 1 to {MAX_SECONDS}, not {}", config.seconds));
    }
    let mut rows = Vec::new();
    for scenario in &config.scenarios {
        let leak = soak_route(config, &scenario.leak_path()).await?;
        let safe = soak_route(config, &scenario.safe_path()).await?;
        let blamed = leak.rising_sites.first().map(|s| s.site.clone());
        let note = match (&blamed, leak.untracked_tasks_rising) {
            (Some(_), _) => format!("{} live at the end", leak.rising_sites[0].after),
            (None, true) => {
                "untracked tokio::spawn: runtime tasks rise, no registry can name the line".into()
            }
            (None, false) => "no task or copy rises: memory held elsewhere (see /debug/pprof/heap)".into(),
        };
        let correct = leak.verdict.kind == Kind::Leak && safe.verdict.kind == Kind::Flat;
        if let Some(dir) = &config.out {
            for (form, report) in [("leak", &leak), ("safe", &safe)] {
                let title = format!("GET /{form}/{}", scenario.name);
                crate::chart::draw(report, &title, &dir.join(format!("{form}-{}", scenario.name)))?;
            }
        }
        rows.push(LabRow { scenario: scenario.name, leak, safe, blamed, note, correct });
    }
    if let Some(dir) = &config.out {
        let json = serde_json::to_vec_pretty(&rows).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("lab.json"), json).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(rows)
}

/// Starts a lab server, soaks `path` on it, and stops it.
async fn soak_route(config: &LabConfig, path: &str) -> Result<Report, String> {
    let mut child = tokio::process::Command::new(&config.server)
        .args(["serve-lab", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", config.server.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .map_err(|_| "the lab server did not start within 10 s".to_owned())?
        .map_err(|e| e.to_string())?
        .ok_or("the lab server exited before it listened")?;
    let base = first.strip_prefix("listening on ").ok_or_else(|| format!("unexpected: {first}"))?;
    let mut soak = Config::new(vec![format!("{base}{path}").parse().map_err(|e| format!("{e}"))?]);
    soak.connections = config.connections;
    soak.duration = Duration::from_secs(config.seconds);
    soak.rate = Some(config.rate);
    soak.interval = config.interval;
    soak.progress = config.progress.then(|| format!("GET {path}"));
    let report = run(soak).await;
    child.kill().await.ok();
    report
}

/// The lab's table, in Markdown.
pub fn table(rows: &[LabRow]) -> String {
    let mut out = String::from(
        "| scenario | /leak verdict | per 1,000 req | /safe verdict | per 1,000 req | blamed by /debug/leaks |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in rows {
        let site = r.blamed.as_deref().map_or(r.note.clone(), |s| format!("`{s}` ({})", r.note));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.leak.verdict.kind,
            human(r.leak.verdict.bytes_per_1k_requests),
            r.safe.verdict.kind,
            human(r.safe.verdict.bytes_per_1k_requests),
            site
        ));
    }
    out
}
