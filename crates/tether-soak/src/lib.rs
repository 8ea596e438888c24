//! tether-soak: drive load at a server on loopback, sample its `/debug/vars` as it goes,
//! and judge from the memory curve whether it leaks.
//!
//! ```text
//! cargo run --release -p tether-soak -- http://127.0.0.1:8080/user/1 --duration 60
//! ```

pub mod soak;
pub mod verdict;

pub use soak::{run, Config, Report, Sample};
pub use verdict::{judge, Kind, Point, Rules, Verdict};
