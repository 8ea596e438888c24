//! `tether-soak`: load a server on loopback, watch its memory, say whether it leaks.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tether_soak::lab::{run_lab, table, LabConfig, MAX_SECONDS};
use tether_soak::leak_lab::SCENARIOS;
use tether_soak::verdict::human;
use tether_soak::{Config, Kind, Report, Rules};

/// Load a server on loopback, sample its /debug/vars, and say whether memory leaks.
///
/// `tether-soak URL..` soaks a server you started; `tether-soak lab` soaks the leak lab.
#[derive(Parser, Debug)]
#[command(version, about, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    soak: SoakArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Soak every route of the leak lab, each in a fresh server, and print the verdicts.
    Lab(LabArgs),
    /// Serve the leak lab on 127.0.0.1 and print `listening on URL` (used by `lab`).
    #[command(hide = true)]
    ServeLab {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[derive(Args, Debug)]
struct SoakArgs {
    /// URLs to load, round-robin (loopback only).
    #[arg(required = true)]
    urls: Vec<http::Uri>,
    /// Connections, each with one request in flight.
    #[arg(short, long, default_value_t = 32)]
    connections: usize,
    /// Seconds of load.
    #[arg(short, long, default_value_t = 30)]
    duration: u64,
    /// Stop after this many requests, if sooner.
    #[arg(long)]
    requests: Option<u64>,
    /// A fixed total rate, requests per second (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// The server's /debug/vars (default: on the first URL's host).
    #[arg(long)]
    vars: Option<http::Uri>,
    /// Milliseconds between samples of /debug/vars.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Fraction of the run treated as warm-up.
    #[arg(long, default_value_t = 0.25)]
    warmup: f64,
    /// Write every sample and the verdict to this JSON file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Draw memory and live work over time to this file, as .svg and .png.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Exit with status 2 when the verdict is LEAK.
    #[arg(long)]
    fail_on_leak: bool,
}

#[derive(Args, Debug)]
struct LabArgs {
    /// Seconds of load per route (at most 60).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Requests per second per route.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Milliseconds between samples.
    #[arg(long, default_value_t = 250)]
    interval_ms: u64,
    /// Only these scenarios, comma-separated (cache, task, copy-big, ticker, pinned).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where to write the charts and lab.json.
    #[arg(long, default_value = "target/leak-lab")]
    out: PathBuf,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Lab(args)) => lab(args).await,
        Some(Command::ServeLab { port }) => serve_lab(port).await,
        None => soak(cli.soak).await,
    };
    std::process::exit(code);
}

async fn soak(args: SoakArgs) -> i32 {
    let mut config = Config::new(args.urls);
    config.vars = args.vars;
    config.connections = args.connections;
    config.duration = Duration::from_secs(args.duration);
    config.max_requests = args.requests;
    config.rate = args.rate;
    config.interval = Duration::from_millis(args.interval_ms.max(10));
    config.rules = Rules { warmup: args.warmup, ..Rules::default() };
    config.progress = Some("soak".into());
    let report = match tether_soak::run(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tether-soak: {e}");
            return 1;
        }
    };
    print_report(&report);
    if let Some(path) = args.report {
        let json = serde_json::to_vec_pretty(&report).expect("serializable report");
        if let Err(e) = std::fs::write(&path, json) {
            eprintln!("tether-soak: could not write {}: {e}", path.display());
        }
    }
    if let Some(path) = args.chart {
        match tether_soak::chart::draw(&report, "soak", &path) {
            Ok([svg, png]) => println!("chart: {} and {}", svg.display(), png.display()),
            Err(e) => eprintln!("tether-soak: could not draw the chart: {e}"),
        }
    }
    if args.fail_on_leak && report.verdict.kind == Kind::Leak {
        return 2;
    }
    0
}

fn print_report(report: &Report) {
    let [p50, p90, p99, p999, max] = report.latency_us;
    println!(
        "{} requests in {:.1} s: {:.0} req/s, {} errors",
        report.requests, report.seconds, report.throughput, report.errors
    );
    println!("latency: p50 {p50} us, p90 {p90} us, p99 {p99} us, p99.9 {p999} us, max {max} us");
    let v = &report.verdict;
    println!(
        "verdict: {} ({} per 1,000 requests, {} per minute): {}",
        v.kind,
        human(v.bytes_per_1k_requests),
        human(v.bytes_per_minute),
        v.reason
    );
    for s in &report.rising_sites {
        println!(
            "rising: {}s at {} ({} -> {} live, {} past the leak threshold; names {:?}; routes {:?})",
            s.kind, s.site, s.before, s.after, s.past_threshold, s.names, s.routes
        );
    }
    if report.tracked_work_rising && report.rising_sites.is_empty() {
        println!("live tracked tasks and copies keep rising: see /debug/leaks for the lines that make them");
    }
    if report.untracked_tasks_rising {
        println!(
            "the runtime's alive tasks keep rising beyond the tracked ones: a plain tokio::spawn that does \
             not end (start it with c.go / tasks.go and /debug/leaks names its line)"
        );
    }
}

async fn lab(args: LabArgs) -> i32 {
    if args.seconds == 0 || args.seconds > MAX_SECONDS {
        eprintln!("tether-soak lab: --seconds must be 1 to {MAX_SECONDS}");
        return 1;
    }
    let scenarios: Vec<_> = SCENARIOS
        .iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.name))
        .copied()
        .collect();
    if scenarios.is_empty() {
        let names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        eprintln!("tether-soak lab: no scenario matches {:?}; there are {names:?}", args.only);
        return 1;
    }
    let server = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tether-soak lab: {e}");
            return 1;
        }
    };
    let mut config = LabConfig::new(server);
    config.seconds = args.seconds;
    config.rate = args.rate;
    config.connections = args.connections;
    config.interval = Duration::from_millis(args.interval_ms.max(10));
    config.scenarios = scenarios;
    config.out = Some(args.out.clone());
    config.progress = true;
    match run_lab(&config).await {
        Ok(rows) => {
            print!("{}", table(&rows));
            println!("charts and lab.json in {}", args.out.display());
            let wrong: Vec<_> = rows.iter().filter(|r| !r.correct).map(|r| r.scenario).collect();
            if wrong.is_empty() {
                0
            } else {
                eprintln!("tether-soak lab: wrong verdict for {wrong:?}");
                3
            }
        }
        Err(e) => {
            eprintln!("tether-soak lab: {e}");
            1
        }
    }
}

async fn serve_lab(port: u16) -> i32 {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tether-soak serve-lab: {e}");
            return 1;
        }
    };
    let addr = listener.local_addr().expect("a bound listener has an address");
    println!("listening on http://{addr}");
    let app = tether_soak::leak_lab::app();
    match app.serve(listener).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tether-soak serve-lab: {e}");
            1
        }
    }
}
