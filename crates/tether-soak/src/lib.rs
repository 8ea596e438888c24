//! tether-soak: drive load at a server on loopback, sample its `/debug/vars` as it goes,
//! and judge from the memory curve whether it leaks; and the leak lab, which shows each
//! leak Gin services hit beside its safe form.
//!
//! ```text
//! cargo run --release -p tether-soak -- http://127.0.0.1:8080/user/1 --duration 60 --chart soak
//! cargo run --release -p tether-soak -- lab
//! ```

pub mod chart;
pub mod lab;
pub mod leak_lab;
pub mod soak;
pub mod verdict;

pub use soak::{run, Config, Report, RisingSite, Sample};
pub use verdict::{judge, Kind, Point, Rules, Verdict};
