//! One soak run: closed-loop load on N connections for a bounded time or request count,
//! `/debug/vars` sampled at an interval, then the report and the verdict.

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::net::TcpStream;

use crate::verdict::{human, judge, Point, Rules, Verdict};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// URLs to load, round-robin; loopback only.
    pub urls: Vec<http::Uri>,
    /// Where to sample the server's figures; by default `/debug/vars` on the first URL's host.
    pub vars: Option<http::Uri>,
    /// Where to read live copies and tasks by call site; by default `/debug/leaks` beside
    /// `vars`. Read at the end of warm-up and at the end, to name the sites that rose.
    pub leaks: Option<http::Uri>,
    /// Connections, each with one request in flight.
    pub connections: usize,
    /// How long to run.
    pub duration: Duration,
    /// Stop after this many requests, if sooner.
    pub max_requests: Option<u64>,
    /// A fixed total rate in requests per second, spread over the connections; `None`
    /// for a closed loop (each connection sends its next request as soon as it can).
    pub rate: Option<f64>,
    /// How often to sample `/debug/vars`.
    pub interval: Duration,
    /// Verdict settings.
    pub rules: Rules,
    /// Show a progress bar on a terminal, with this label.
    pub progress: Option<String>,
}

impl Config {
    /// Closed-loop load on 32 connections for 30 s against `urls`, sampled once a second.
    pub fn new(urls: Vec<http::Uri>) -> Self {
        Config {
            urls,
            vars: None,
            leaks: None,
            connections: 32,
            duration: Duration::from_secs(30),
            max_requests: None,
            rate: None,
            interval: Duration::from_secs(1),
            rules: Rules::default(),
            progress: None,
        }
    }
}

/// One sample of the server's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Seconds since the start.
    pub seconds: f64,
    /// Requests the soak had completed.
    pub requests: u64,
    /// Resident memory of the server.
    pub rss_bytes: Option<u64>,
    /// Bytes allocated (jemalloc), when reported.
    pub allocated_bytes: Option<u64>,
    /// Live tracked tasks.
    pub live_tasks: Option<u64>,
    /// Live copies.
    pub live_copies: Option<u64>,
    /// Tasks alive on the server's Tokio runtime, tracked or not.
    pub runtime_tasks: Option<u64>,
    /// p99 latency over the interval before this sample, in microseconds.
    pub p99_us: Option<u64>,
}

/// What a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Requests completed.
    pub requests: u64,
    /// Requests that failed (connection errors or 5xx).
    pub errors: u64,
    /// Seconds of load.
    pub seconds: f64,
    /// Requests per second.
    pub throughput: f64,
    /// Latency percentiles in microseconds: p50, p90, p99, p99.9, max.
    pub latency_us: [u64; 5],
    /// Every sample.
    pub samples: Vec<Sample>,
    /// The verdict on resident memory.
    pub verdict: Verdict,
    /// Live tasks + copies rose steadily after warm-up (a leak of tracked work).
    pub tracked_work_rising: bool,
    /// Tasks the runtime has alive, less those tether tracks, rose steadily after warm-up:
    /// plain `tokio::spawn`s that do not end, which no registry can name.
    pub untracked_tasks_rising: bool,
    /// The call sites whose live copies or tasks rose after warm-up, most first (from
    /// `/debug/leaks`; empty when the server does not serve it).
    pub rising_sites: Vec<RisingSite>,
    /// Samples counted as warm-up.
    pub warmup_samples: usize,
}

/// A call site whose live copies or tasks rose during the soak.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RisingSite {
    /// `file:line:column` of the `c.copy()` / `c.go()` / `tasks.go()`.
    pub site: String,
    /// `copy` or `task`.
    pub kind: String,
    /// Live at the end of warm-up.
    pub before: u64,
    /// Live at the end.
    pub after: u64,
    /// Of those, how many had outlived the server's leak threshold.
    pub past_threshold: u64,
    /// Task names seen at the site.
    pub names: Vec<String>,
    /// Routes that made them.
    pub routes: Vec<String>,
}

/// Refuses anything but loopback: a soak never loads another machine.
fn check_loopback(uri: &http::Uri) -> Result<std::net::SocketAddr, String> {
    let host = uri.host().ok_or_else(|| format!("{uri}: no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr = (host.trim_matches(|c| c == '[' || c == ']'), port)
        .to_socket_addrs()
        .map_err(|e| format!("{uri}: {e}"))?
        .next()
        .ok_or_else(|| format!("{uri}: no address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{uri}: tether-soak only loads servers on loopback (127.0.0.0/8, ::1)"));
    }
    Ok(addr)
}

/// Runs the soak.
pub async fn run(config: Config) -> Result<Report, String> {
    let targets: Vec<(std::net::SocketAddr, http::Uri)> =
        config.urls.iter().map(|u| check_loopback(u).map(|a| (a, u.clone()))).collect::<Result<_, _>>()?;
    let first = targets.first().ok_or("no URL to load")?.clone();
    let vars = match &config.vars {
        Some(v) => v.clone(),
        None => format!("http://{}/debug/vars", first.0).parse().map_err(|e| format!("{e}"))?,
    };
    let vars_addr = check_loopback(&vars)?;
    let leaks = match &config.leaks {
        Some(l) => l.clone(),
        None => sibling(&vars, "leaks")?,
    };
    let leaks_addr = check_loopback(&leaks)?;
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let recent = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let start = Instant::now();
    let until = start + config.duration;
    let budget = config.max_requests.unwrap_or(u64::MAX);

    let mut workers = Vec::new();
    for w in 0..config.connections.max(1) {
        let (targets, done, errors, recent) = (targets.clone(), done.clone(), errors.clone(), recent.clone());
        let mut pace = config.rate.filter(|r| *r > 0.0).map(|rate| {
            let every = Duration::from_secs_f64(config.connections.max(1) as f64 / rate);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let mut batch = Vec::with_capacity(LATENCY_BATCH);
            let mut conn: Option<http1::SendRequest<Empty<Bytes>>> = None;
            let mut i = w;
            while Instant::now() < until && done.load(Relaxed) < budget {
                if let Some(tick) = pace.as_mut() {
                    tick.tick().await;
                }
                let (addr, uri) = &targets[i % targets.len()];
                i += 1;
                if conn.as_ref().is_none_or(|c| c.is_closed()) {
                    conn = connect(*addr).await;
                }
                let Some(sender) = conn.as_mut() else {
                    errors.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let t = Instant::now();
                match get(sender, uri, addr).await {
                    Some(status) if status < 500 => {
                        let us = t.elapsed().as_micros() as u64;
                        hist.record(us).ok();
                        batch.push(us);
                        if batch.len() == LATENCY_BATCH {
                            flush(&recent, &mut batch);
                        }
                        done.fetch_add(1, Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Relaxed);
                        conn = None;
                    }
                }
            }
            flush(&recent, &mut batch);
            hist
        }));
    }

    let bar = config.progress.as_deref().map(|label| progress_bar(label, config.duration));
    let warmup_ends = start + config.duration.mul_f64(config.rules.warmup.clamp(0.0, 1.0));
    let mut samples = Vec::new();
    let mut vars_conn = None;
    let mut leaks_conn = None;
    let mut leaks_before = None;
    while Instant::now() < until && done.load(Relaxed) < budget && !workers.iter().all(|w| w.is_finished()) {
        tokio::time::sleep(config.interval).await;
        let mut s = sample(&mut vars_conn, vars_addr, &vars, start, done.load(Relaxed)).await;
        s.p99_us = {
            let mut h = recent.lock().unwrap();
            let p99 = (!h.is_empty()).then(|| h.value_at_quantile(0.99));
            h.reset();
            p99
        };
        if let Some(bar) = &bar {
            bar.set_position(start.elapsed().as_millis() as u64);
            bar.set_message(live_line(&s, samples.last()));
        }
        if leaks_before.is_none() && Instant::now() >= warmup_ends {
            leaks_before = Some(leak_sites(&mut leaks_conn, leaks_addr, &leaks).await);
        }
        samples.push(s);
    }
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for w in workers {
        if let Ok(h) = w.await {
            hist.add(h).ok();
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let leaks_after = leak_sites(&mut leaks_conn, leaks_addr, &leaks).await;
    let rising_sites = rising(leaks_before.unwrap_or_default(), leaks_after);
    let seconds = start.elapsed().as_secs_f64();
    let requests = done.load(Relaxed);
    let series = |f: &dyn Fn(&Sample) -> Option<u64>| -> Vec<Point> {
        samples
            .iter()
            .filter_map(|s| {
                Some(Point { requests: s.requests as f64, seconds: s.seconds, bytes: f(s)? as f64 })
            })
            .collect()
    };
    let verdict = judge(&series(&|s| s.rss_bytes), config.rules);
    let tracked = series(&|s| Some(s.live_tasks? + s.live_copies?));
    let tracked_work_rising = judge(&tracked, count_rules(&tracked, config.rules)).kind == crate::Kind::Leak;
    let untracked = series(&|s| s.runtime_tasks?.checked_sub(s.live_tasks?));
    let untracked_tasks_rising =
        judge(&untracked, count_rules(&untracked, config.rules)).kind == crate::Kind::Leak;
    let q = |p: f64| hist.value_at_quantile(p);
    Ok(Report {
        requests,
        errors: errors.load(Relaxed),
        seconds,
        throughput: requests as f64 / seconds,
        latency_us: [q(0.5), q(0.9), q(0.99), q(0.999), hist.max()],
        warmup_samples: crate::verdict::warmup_samples(samples.len(), config.rules),
        samples,
        verdict,
        tracked_work_rising,
        untracked_tasks_rising,
        rising_sites,
    })
}

/// Rules for a count of live things rather than bytes: it must grow by ten, and by half
/// of its level at the end of warm-up. Work with a deadline holds a level (rate times
/// deadline) that drifts a little with load; a leak keeps adding to it.
fn count_rules(series: &[Point], rules: Rules) -> Rules {
    let skip = crate::verdict::warmup_samples(series.len(), rules);
    let level = series.get(skip).map_or(0.0, |p| p.bytes);
    Rules { min_growth_bytes: (level * 0.5).max(10.0), ..rules }
}

/// Latencies a worker keeps before it adds them to the shared recent histogram.
const LATENCY_BATCH: usize = 64;

fn flush(recent: &Mutex<Histogram<u64>>, batch: &mut Vec<u64>) {
    let mut h = recent.lock().unwrap();
    for us in batch.drain(..) {
        h.record(us).ok();
    }
}

/// `http://host/debug/vars` -> `http://host/debug/leaks`.
fn sibling(uri: &http::Uri, name: &str) -> Result<http::Uri, String> {
    let path = uri.path();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let authority = uri.authority().ok_or_else(|| format!("{uri}: no host"))?;
    format!("http://{authority}{dir}{name}").parse().map_err(|e| format!("{e}"))
}

fn progress_bar(label: &str, duration: Duration) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(duration.as_millis() as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>16} [{elapsed:>4}] {wide_bar} {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

/// `12,345 req/s | p99 1.2 ms | RSS 45.1 MiB`, from two consecutive samples.
fn live_line(now: &Sample, before: Option<&Sample>) -> String {
    let (r0, t0) = before.map_or((0, 0.0), |b| (b.requests, b.seconds));
    let rate = (now.requests - r0) as f64 / (now.seconds - t0).max(1e-3);
    let p99 = now.p99_us.map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1000.0));
    let rss = now.rss_bytes.map_or("-".into(), |b| human(b as f64));
    format!("{rate:>8.0} req/s | p99 {p99} | RSS {rss}")
}

/// Live items per call site, from `/debug/leaks`; empty if it cannot be read.
type Sites = HashMap<(String, String), RisingSite>;

async fn leak_sites(
    conn: &mut Option<http1::SendRequest<Empty<Bytes>>>,
    addr: std::net::SocketAddr,
    uri: &http::Uri,
) -> Sites {
    let Some(v) = get_json(conn, addr, uri).await else { return Sites::new() };
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().map_or(vec![], |a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
    };
    let mut sites = Sites::new();
    for s in v["sites"].as_array().into_iter().flatten() {
        let (Some(site), Some(kind)) = (s["site"].as_str(), s["kind"].as_str()) else { continue };
        sites.insert(
            (site.to_owned(), kind.to_owned()),
            RisingSite {
                site: site.to_owned(),
                kind: kind.to_owned(),
                before: 0,
                after: s["live"].as_u64().unwrap_or(0),
                past_threshold: s["past_threshold"].as_u64().unwrap_or(0),
                names: strings(&s["names"]),
                routes: strings(&s["routes"]),
            },
        );
    }
    sites
}

/// Sites whose live count rose by at least 20 and by half again over the window.
fn rising(before: Sites, after: Sites) -> Vec<RisingSite> {
    let mut up: Vec<RisingSite> = after
        .into_iter()
        .filter_map(|(key, mut site)| {
            site.before = before.get(&key).map_or(0, |b| b.after);
            let grew = site.after.saturating_sub(site.before);
            (grew >= 20 && 2 * grew >= site.before).then_some(site)
        })
        .collect();
    up.sort_by_key(|s| std::cmp::Reverse(s.after - s.before));
    up
}

async fn connect(addr: std::net::SocketAddr) -> Option<http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(sender)
}

async fn get(
    sender: &mut http1::SendRequest<Empty<Bytes>>,
    uri: &http::Uri,
    addr: &std::net::SocketAddr,
) -> Option<u16> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req =
        http::Request::get(path).header(http::header::HOST, addr.to_string()).body(Empty::new()).ok()?;
    sender.ready().await.ok()?;
    let res = sender.send_request(req).await.ok()?;
    let status = res.status().as_u16();
    res.into_body().collect().await.ok()?;
    Some(status)
}

async fn get_json(
    conn: &mut Option<http1::SendRequest<Empty<Bytes>>>,
    addr: std::net::SocketAddr,
    uri: &http::Uri,
) -> Option<serde_json::Value> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = connect(addr).await;
    }
    let sender = conn.as_mut()?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req =
        http::Request::get(path).header(http::header::HOST, addr.to_string()).body(Empty::new()).ok()?;
    sender.ready().await.ok()?;
    let res = sender.send_request(req).await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let bytes = res.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&bytes).ok()
}

async fn sample(
    conn: &mut Option<http1::SendRequest<Empty<Bytes>>>,
    addr: std::net::SocketAddr,
    vars: &http::Uri,
    start: Instant,
    requests: u64,
) -> Sample {
    let seconds = start.elapsed().as_secs_f64();
    let v = get_json(conn, addr, vars).await.unwrap_or_default();
    Sample {
        seconds,
        requests,
        rss_bytes: v["process"]["rss_bytes"].as_u64(),
        allocated_bytes: v["allocator"]["allocated_bytes"].as_u64(),
        live_tasks: v["detach"]["live_tasks"].as_u64(),
        live_copies: v["detach"]["live_copies"].as_u64(),
        runtime_tasks: v["runtime"]["alive_tasks"].as_u64(),
        p99_us: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, after: u64) -> ((String, String), RisingSite) {
        let key = (name.to_owned(), "task".to_owned());
        let site = RisingSite {
            site: name.to_owned(),
            kind: "task".into(),
            before: 0,
            after,
            past_threshold: 0,
            names: vec![],
            routes: vec![],
        };
        (key, site)
    }

    #[test]
    fn sites_that_grew_by_half_and_by_twenty_are_rising_most_first() {
        let before: Sites = [site("a.rs:1:1", 100), site("b.rs:2:2", 1000), site("c.rs:3:3", 5)].into();
        let after: Sites =
            [site("a.rs:1:1", 400), site("b.rs:2:2", 1100), site("c.rs:3:3", 20), site("d.rs:4:4", 50)]
                .into();
        let up = rising(before, after);
        let names: Vec<(&str, u64, u64)> = up.iter().map(|s| (s.site.as_str(), s.before, s.after)).collect();
        // b grew 10 %: a level with a deadline, not a leak; c grew by 15: noise.
        assert_eq!(names, [("a.rs:1:1", 100, 400), ("d.rs:4:4", 0, 50)]);
    }

    #[test]
    fn the_leak_report_sits_beside_the_vars() {
        let vars: http::Uri = "http://127.0.0.1:8080/debug/vars".parse().unwrap();
        assert_eq!(sibling(&vars, "leaks").unwrap(), "http://127.0.0.1:8080/debug/leaks");
        let root: http::Uri = "http://127.0.0.1:9/vars".parse().unwrap();
        assert_eq!(sibling(&root, "leaks").unwrap(), "http://127.0.0.1:9/leaks");
    }

    #[test]
    fn the_live_line_shows_the_rate_since_the_last_sample_p99_and_rss() {
        let sample = |seconds: f64, requests: u64| Sample {
            seconds,
            requests,
            rss_bytes: Some(12 << 20),
            allocated_bytes: None,
            live_tasks: None,
            live_copies: None,
            runtime_tasks: None,
            p99_us: Some(1500),
        };
        let line = live_line(&sample(2.0, 3000), Some(&sample(1.0, 1000)));
        assert_eq!(line, "    2000 req/s | p99 1.5 ms | RSS 12.0 MiB");
    }

    #[test]
    fn counts_must_grow_by_half_their_level() {
        let series: Vec<Point> = (0..8)
            .map(|i| Point { requests: i as f64, seconds: i as f64, bytes: 1000.0 + i as f64 })
            .collect();
        let rules = count_rules(&series, Rules::default());
        assert_eq!(rules.min_growth_bytes, 501.0, "half of the level at the end of warm-up");
        let empty = count_rules(&[], Rules::default());
        assert_eq!(empty.min_growth_bytes, 10.0);
    }
}
