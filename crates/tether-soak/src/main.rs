//! `tether-soak`: load a server on loopback, watch its memory, say whether it leaks.

use std::time::Duration;

use clap::Parser;
use tether_soak::verdict::human;
use tether_soak::{Config, Kind, Rules};

/// Load a server on loopback, sample its /debug/vars, and say whether memory leaks.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
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
    report: Option<std::path::PathBuf>,
    /// Exit with status 2 when the verdict is LEAK.
    #[arg(long)]
    fail_on_leak: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let config = Config {
        urls: args.urls,
        vars: args.vars,
        connections: args.connections,
        duration: Duration::from_secs(args.duration),
        max_requests: args.requests,
        rate: args.rate,
        interval: Duration::from_millis(args.interval_ms.max(10)),
        rules: Rules { warmup: args.warmup, ..Rules::default() },
    };
    let report = match tether_soak::run(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tether-soak: {e}");
            std::process::exit(1);
        }
    };
    let [p50, p90, p99, p999, max] = report.latency_us;
    println!(
        "{} requests in {:.1} s: {:.0} req/s, {} errors",
        report.requests, report.seconds, report.throughput, report.errors
    );
    println!("latency: p50 {p50} us, p90 {p90} us, p99 {p99} us, p99.9 {p999} us, max {max} us");
    let v = &report.verdict;
    println!(
        "verdict: {:?} ({} per 1,000 requests, {} per minute): {}",
        v.kind,
        human(v.bytes_per_1k_requests),
        human(v.bytes_per_minute),
        v.reason
    );
    if report.tracked_work_rising {
        println!("live tracked tasks and copies keep rising: see /debug/leaks for the lines that make them");
    }
    if let Some(path) = args.report {
        let json = serde_json::to_vec_pretty(&report).expect("serializable report");
        if let Err(e) = std::fs::write(&path, json) {
            eprintln!("tether-soak: could not write {}: {e}", path.display());
        }
    }
    if args.fail_on_leak && v.kind == Kind::Leak {
        std::process::exit(2);
    }
}
