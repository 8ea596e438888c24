//! One soak run: closed-loop load on N connections for a bounded time or request count,
//! `/debug/vars` sampled at an interval, then the report and the verdict.

use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::verdict::{judge, Point, Rules, Verdict};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// URLs to load, round-robin; loopback only.
    pub urls: Vec<http::Uri>,
    /// Where to sample the server's figures; by default `/debug/vars` on the first URL's host.
    pub vars: Option<http::Uri>,
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
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + config.duration;
    let budget = config.max_requests.unwrap_or(u64::MAX);

    let mut workers = Vec::new();
    for w in 0..config.connections.max(1) {
        let (targets, done, errors) = (targets.clone(), done.clone(), errors.clone());
        let mut pace = config.rate.filter(|r| *r > 0.0).map(|rate| {
            let every = Duration::from_secs_f64(config.connections.max(1) as f64 / rate);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
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
                        hist.record(t.elapsed().as_micros() as u64).ok();
                        done.fetch_add(1, Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Relaxed);
                        conn = None;
                    }
                }
            }
            hist
        }));
    }

    let mut samples = Vec::new();
    let mut vars_conn = None;
    while Instant::now() < until && done.load(Relaxed) < budget && !workers.iter().all(|w| w.is_finished()) {
        tokio::time::sleep(config.interval).await;
        samples.push(sample(&mut vars_conn, vars_addr, &vars, start, done.load(Relaxed)).await);
    }
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for w in workers {
        if let Ok(h) = w.await {
            hist.add(h).ok();
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let requests = done.load(Relaxed);
    let points: Vec<Point> = samples
        .iter()
        .filter_map(|s| {
            Some(Point { requests: s.requests as f64, seconds: s.seconds, bytes: s.rss_bytes? as f64 })
        })
        .collect();
    let verdict = judge(&points, config.rules);
    let tracked: Vec<Point> = samples
        .iter()
        .filter_map(|s| {
            let live = s.live_tasks? + s.live_copies?;
            Some(Point { requests: s.requests as f64, seconds: s.seconds, bytes: live as f64 })
        })
        .collect();
    let tracked_rules = Rules { min_growth_bytes: 10.0, ..config.rules };
    let tracked_work_rising = judge(&tracked, tracked_rules).kind == crate::Kind::Leak;
    let q = |p: f64| hist.value_at_quantile(p);
    Ok(Report {
        requests,
        errors: errors.load(Relaxed),
        seconds,
        throughput: requests as f64 / seconds,
        latency_us: [q(0.5), q(0.9), q(0.99), q(0.999), hist.max()],
        samples,
        verdict,
        tracked_work_rising,
    })
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

async fn sample(
    conn: &mut Option<http1::SendRequest<Empty<Bytes>>>,
    addr: std::net::SocketAddr,
    vars: &http::Uri,
    start: Instant,
    requests: u64,
) -> Sample {
    let mut s = Sample {
        seconds: start.elapsed().as_secs_f64(),
        requests,
        rss_bytes: None,
        allocated_bytes: None,
        live_tasks: None,
        live_copies: None,
    };
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = connect(addr).await;
    }
    let Some(sender) = conn.as_mut() else { return s };
    let path = vars.path_and_query().map_or("/", |p| p.as_str());
    let Ok(req) = http::Request::get(path).header(http::header::HOST, addr.to_string()).body(Empty::new())
    else {
        return s;
    };
    let body = async {
        sender.ready().await.ok()?;
        let res = sender.send_request(req).await.ok()?;
        res.into_body().collect().await.ok().map(|b| b.to_bytes())
    };
    if let Some(bytes) = body.await {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            s.rss_bytes = v["process"]["rss_bytes"].as_u64();
            s.allocated_bytes = v["allocator"]["allocated_bytes"].as_u64();
            s.live_tasks = v["detach"]["live_tasks"].as_u64();
            s.live_copies = v["detach"]["live_copies"].as_u64();
        }
    }
    s
}
