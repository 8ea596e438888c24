//! An in-memory log output for tests of what the loggers write.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A writer that keeps every byte written to it; clones share the bytes.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The lines that `keep` accepts, once there are `count` of them; fails after 5 s
    /// showing what did arrive. Lines reach the writer from the log's own thread.
    pub fn wait_for(&self, count: usize, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.text();
            let lines: Vec<String> = text.lines().filter(|l| keep(l)).map(str::to_owned).collect();
            if lines.len() >= count {
                return lines;
            }
            assert!(Instant::now() < deadline, "only these arrived:\n{text}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
