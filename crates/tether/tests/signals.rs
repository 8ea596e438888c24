//! Signals, in a child process (this test binary run again): the first SIGTERM begins a
//! graceful shutdown that waits for a slow request; a second one exits at once with 143.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tether::{Context, Engine};

const CHILD: &str = "TETHER_SIGNALS_CHILD";

/// The child: a server whose only route takes a minute, its port on stdout.
fn child() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut app = Engine::new();
        app.shutdown_timeout(Duration::from_secs(60));
        app.get("/slow", async |c: &mut Context| {
            tokio::time::sleep(Duration::from_secs(60)).await;
            c.string(200, "late");
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("port {}", listener.local_addr().unwrap().port());
        app.serve(listener).await.unwrap();
        println!("served to the end");
    });
}

fn kill(pid: u32, signal: &str) {
    let ok = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {signal} {pid}");
}

#[test]
fn a_second_signal_exits_at_once() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let server = Command::new(std::env::current_exe().unwrap())
        .args(["a_second_signal_exits_at_once", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Lines of the child's stdout, read on a thread so that every wait has a deadline.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let mut server = Reaper(server);
    let stdout = server.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let port = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("the child prints its port");
        // The harness prints "test <name> ... " on the same line.
        if let Some(p) = line.split("port ").nth(1) {
            break p.trim().parse::<u16>().unwrap();
        }
    };
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the request reaches its handler

    kill(server.0.id(), "-TERM");
    // Graceful: the slow request holds the server up.
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.0.try_wait().unwrap().is_none(), "the first signal waits for the request in flight");

    let second = Instant::now();
    kill(server.0.id(), "-TERM");
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(second.elapsed() < Duration::from_secs(10), "the second signal did not end the process");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143), "exit status of a process ended by SIGTERM");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(!rest.iter().any(|l| l.contains("served to the end")), "exited, not drained: {rest:?}");
}

/// The child, killed if the test fails before it ends.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
