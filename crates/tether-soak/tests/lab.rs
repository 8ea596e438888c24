//! The leak lab, CI-sized: 4 s of load on each route, each in its own server process.
//! Every `/leak/*` must be judged LEAK and every `/safe/*` FLAT, and where the leak is a
//! tracked task, `/debug/leaks` must blame the exact line of `leak_lab.rs` that starts it.

use std::time::Duration;

use tether_soak::lab::{run_lab, LabConfig};
use tether_soak::Kind;

/// The line of `leak_lab.rs` marked `// blamed: <scenario>`.
fn marked_line(scenario: &str) -> usize {
    let source = include_str!("../src/leak_lab.rs");
    let marker = format!("// blamed: {scenario}");
    source.lines().position(|l| l.ends_with(&marker)).map(|i| i + 1).expect("a marked line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_leak_is_judged_leak_every_safe_form_flat_and_the_lines_are_named() {
    let out = std::env::temp_dir().join(format!("tether-soak-lab-{}", std::process::id()));
    let mut config = LabConfig::new(env!("CARGO_BIN_EXE_tether-soak").into());
    config.seconds = 4;
    config.interval = Duration::from_millis(200);
    config.out = Some(out.clone());
    let rows = run_lab(&config).await.unwrap();
    print!("{}", tether_soak::lab::table(&rows));

    assert_eq!(rows.len(), 5);
    for row in &rows {
        assert_eq!(row.leak.verdict.kind, Kind::Leak, "/leak/{}: {}", row.scenario, row.leak.verdict.reason);
        assert_eq!(row.safe.verdict.kind, Kind::Flat, "/safe/{}: {}", row.scenario, row.safe.verdict.reason);
        assert_eq!(row.leak.errors + row.safe.errors, 0, "{}", row.scenario);
        assert!(row.safe.rising_sites.is_empty(), "/safe/{}: {:?}", row.scenario, row.safe.rising_sites);
        assert!(!row.safe.tracked_work_rising && !row.safe.untracked_tasks_rising, "/safe/{}", row.scenario);
        match row.scenario {
            "copy-big" | "ticker" | "pinned" => {
                let want = format!("crates/tether-soak/src/leak_lab.rs:{}:", marked_line(row.scenario));
                let blamed = row.blamed.as_deref().unwrap_or("nothing");
                assert!(blamed.starts_with(&want), "/leak/{} blamed {blamed}, want {want}", row.scenario);
            }
            "task" => {
                assert!(row.blamed.is_none() && row.leak.untracked_tasks_rising, "{row:?}");
                assert!(!row.safe.untracked_tasks_rising);
            }
            "cache" => assert!(row.blamed.is_none() && !row.leak.tracked_work_rising, "{row:?}"),
            other => panic!("unexpected scenario {other}"),
        }
        for form in ["leak", "safe"] {
            for ext in ["svg", "png"] {
                let chart = out.join(format!("{form}-{}.{ext}", row.scenario));
                assert!(std::fs::metadata(&chart).map(|m| m.len() > 10_000).unwrap_or(false), "{chart:?}");
            }
        }
    }
    assert!(out.join("lab.json").exists());
    std::fs::remove_dir_all(&out).ok();
}
