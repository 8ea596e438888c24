//! Many hostile connections at once against an engine with default settings: slow bodies
//! near the limit, unfinished heads near the limit, prefaces cut after two bytes. A normal
//! client meanwhile keeps its p99 under 100 ms, and the process stays under 200 MiB
//! resident. Its own test binary, so that the resident memory and CPU time it reads are
//! this scenario's alone.

mod support;

use std::time::{Duration, Instant};

use tether::{Context, Engine};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use support::{Server, H1};

const RSS_CAP: u64 = 200 * 1024 * 1024;

/// Resident memory of this process, from /proc (Linux).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// CPU time (user + system) this process has used, from /proc (Linux).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

/// p99 of 200 GETs from a client that behaves, while the hostile connections are open.
async fn probe_p99(addr: std::net::SocketAddr) -> Duration {
    let mut h1 = H1::connect(addr).await;
    let mut latencies = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        assert_eq!(h1.get("/ping").await.status, 200);
        latencies.push(t.elapsed());
    }
    latencies.sort();
    latencies[197]
}

/// Opens `n` connections and writes `head` (and `body`) on each, then leaves them open.
async fn hostile(addr: std::net::SocketAddr, n: usize, head: &[u8], body: &[u8]) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        // A refused body (503) may close the connection under our writes: that is fine.
        if s.write_all(head).await.is_ok() && !body.is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(50), s.write_all(body)).await;
        }
        open.push(s);
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_connections_leave_normal_requests_fast_and_memory_bounded() {
    let mut app = Engine::new();
    app.get("/ping", async |c: &mut Context| c.string(200, "pong"));
    app.post("/upload", async |c: &mut Context| match c.body_bytes().await {
        Ok(body) => c.string(200, body.len().to_string()),
        Err(e) => c.string(e.status(), e.to_string()),
    });
    let server = Server::start(app).await;
    let base = rss();
    let mut table = Vec::new();

    // 1. 300 uploads declaring 2,000,000 bytes (under the 2 MiB limit), each sending
    //    1 MB and stalling. Without a budget: 300 handlers each buffering toward 2 MB.
    let head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n";
    let held = hostile(server.addr, 300, head, &vec![b'x'; 1_000_000]).await;
    let p99 = probe_p99(server.addr).await;
    table.push(("300 slow bodies of 2 MB", p99, rss()));
    drop(held);

    // 2. 2,000 heads of 30 KiB (under the 32 KiB limit) that never end.
    let mut head = b"GET /ping HTTP/1.1\r\nHost: x\r\nCookie: ".to_vec();
    head.resize(30 * 1024, b'a');
    let held = hostile(server.addr, 2_000, &head, &[]).await;
    let p99_heads = probe_p99(server.addr).await;
    table.push(("2,000 unfinished 30 KiB heads", p99_heads, rss()));
    drop(held);

    // 3. 500 connections that send "PR" (the HTTP/2 preface, or not?) and stall: waiting
    //    for their next byte must cost no CPU.
    let held = hostile(server.addr, 500, b"PR", &[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = cpu();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu() - before;
    let p99_preface = probe_p99(server.addr).await;
    table.push(("500 prefaces cut after 2 bytes", p99_preface, rss()));
    drop(held);

    eprintln!("baseline RSS {} MiB", base >> 20);
    for (what, p99, rss) in &table {
        eprintln!("{what}: normal GET p99 {p99:?}, RSS {} MiB", rss >> 20);
    }
    eprintln!("CPU while 500 prefaces wait 1 s: {spent:?}");
    for (what, p99, rss) in table {
        assert!(p99 < Duration::from_millis(100), "{what}: p99 {p99:?}");
        assert!(rss < RSS_CAP, "{what}: RSS {} MiB", rss >> 20);
    }
    assert!(spent < Duration::from_millis(300), "waiting prefaces burned {spent:?} of CPU in 1 s");
    server.shutdown().await;
}
