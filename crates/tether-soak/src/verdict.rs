//! The leak verdict: does memory keep growing with the requests served?
//!
//! After a warm-up (caches fill, pools grow, allocators settle), a server that does not
//! leak holds its memory level, with noise and garbage-collection-like sawtooth around
//! it. One that leaks grows with every request. The verdict fits memory against requests
//! served with the Theil-Sen estimator (the median of all pairwise slopes: a few
//! outliers, a sawtooth or one step barely move it), and asks two more things before it
//! says LEAK: that the growth over the window clears the noise, and that it is steady —
//! each third of the window above the one before — rather than one step.

use serde::Serialize;

/// The answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// Memory grows steadily with the requests served.
    #[serde(rename = "LEAK")]
    Leak,
    /// Memory holds its level.
    #[serde(rename = "FLAT")]
    Flat,
    /// Neither can be said: too few samples, or growth that is not steady.
    #[serde(rename = "INCONCLUSIVE")]
    Inconclusive,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Leak => "LEAK",
            Kind::Flat => "FLAT",
            Kind::Inconclusive => "INCONCLUSIVE",
        })
    }
}

/// One sample: requests served so far, seconds since the start, and resident bytes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Requests served when the sample was taken.
    pub requests: f64,
    /// Seconds since the soak started.
    pub seconds: f64,
    /// Memory (resident bytes, or allocated bytes).
    pub bytes: f64,
}

/// The verdict, with the figures behind it.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// LEAK, FLAT or INCONCLUSIVE.
    pub kind: Kind,
    /// Fitted growth in bytes per 1,000 requests.
    pub bytes_per_1k_requests: f64,
    /// Fitted growth in bytes per minute.
    pub bytes_per_minute: f64,
    /// Why, in a sentence.
    pub reason: String,
}

/// Settings of the verdict.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Fraction of the samples (by time) treated as warm-up and ignored.
    pub warmup: f64,
    /// Growth over the window below this many bytes is never a leak (allocator noise).
    pub min_growth_bytes: f64,
    /// Fewest samples after warm-up for any verdict.
    pub min_samples: usize,
}

impl Default for Rules {
    /// A quarter of the run as warm-up, 1 MiB of growth at least, 8 samples.
    fn default() -> Self {
        Rules { warmup: 0.25, min_growth_bytes: 1024.0 * 1024.0, min_samples: 8 }
    }
}

/// How many of `samples` leading samples are warm-up, ignored by the verdict.
pub fn warmup_samples(samples: usize, rules: Rules) -> usize {
    (((samples as f64) * rules.warmup).ceil() as usize).min(samples)
}

/// Judges a series of samples.
pub fn judge(samples: &[Point], rules: Rules) -> Verdict {
    let skip = warmup_samples(samples.len(), rules);
    let window = &samples[skip..];
    if window.len() < rules.min_samples {
        return verdict(
            Kind::Inconclusive,
            0.0,
            0.0,
            format!("{} samples after warm-up; at least {} are needed", window.len(), rules.min_samples),
        );
    }
    let per_request = theil_sen(window.iter().map(|p| (p.requests, p.bytes)));
    let per_second = theil_sen(window.iter().map(|p| (p.seconds, p.bytes)));
    let (first, last) = (window[0], window[window.len() - 1]);
    let growth = per_request * (last.requests - first.requests);
    let noise = 3.0 * mad(window.iter().map(|p| p.bytes - per_request * p.requests));
    let margin = rules.min_growth_bytes.max(noise);
    let thirds = thirds_medians(window);
    let steady = thirds[1] - thirds[0] > margin / 3.0 && thirds[2] - thirds[1] > margin / 3.0;
    let (k, m) = (per_request * 1000.0, per_second * 60.0);
    if growth > margin && steady {
        let reason = format!(
            "memory grows {} per 1,000 requests, steadily: {} over the window, above noise of {}",
            human(k),
            human(growth),
            human(noise)
        );
        return verdict(Kind::Leak, k, m, reason);
    }
    let shift = thirds[2] - thirds[0];
    if growth > margin || shift.abs() > margin {
        let reason = format!(
            "memory moved {} across the window, but not steadily (thirds at {}, {}, {}): a step, not a trend",
            human(shift),
            human(thirds[0]),
            human(thirds[1]),
            human(thirds[2])
        );
        return verdict(Kind::Inconclusive, k, m, reason);
    }
    let reason = format!(
        "memory holds its level: {} over the window, within {} of noise and allowance",
        human(growth),
        human(margin)
    );
    verdict(Kind::Flat, k, m, reason)
}

fn verdict(kind: Kind, bytes_per_1k_requests: f64, bytes_per_minute: f64, reason: String) -> Verdict {
    Verdict { kind, bytes_per_1k_requests, bytes_per_minute, reason }
}

/// The Theil-Sen slope: the median of the slopes between every pair of points.
fn theil_sen(points: impl Iterator<Item = (f64, f64)>) -> f64 {
    let points: Vec<(f64, f64)> = points.collect();
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    median(&mut slopes)
}

/// Median absolute deviation.
fn mad(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    let m = median(&mut values);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median(&mut deviations)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn thirds_medians(window: &[Point]) -> [f64; 3] {
    let n = window.len();
    let part = |a: usize, b: usize| median(&mut window[a..b].iter().map(|p| p.bytes).collect::<Vec<_>>());
    [part(0, n / 3), part(n / 3, 2 * n / 3), part(2 * n / 3, n)]
}

/// Bytes as KiB/MiB, with a sign.
pub fn human(bytes: f64) -> String {
    let abs = bytes.abs();
    let sign = if bytes < 0.0 { "-" } else { "" };
    if abs >= 1024.0 * 1024.0 {
        format!("{sign}{:.1} MiB", abs / 1024.0 / 1024.0)
    } else if abs >= 1024.0 {
        format!("{sign}{:.1} KiB", abs / 1024.0)
    } else {
        format!("{sign}{abs:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    /// 120 samples, one a second, 1,000 requests a second, memory from `f(i)`.
    fn series(f: impl Fn(usize) -> f64) -> Vec<Point> {
        (0..120).map(|i| Point { requests: i as f64 * 1000.0, seconds: i as f64, bytes: f(i) }).collect()
    }

    /// Deterministic noise in [-1, 1).
    fn noise(i: usize) -> f64 {
        let x = (i as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((x >> 33) as f64 / (1u64 << 31) as f64) - 1.0
    }

    #[test]
    fn linear_growth_is_a_leak() {
        let v = judge(&series(|i| 50.0 * MIB + i as f64 * 200_000.0), Rules::default());
        assert_eq!(v.kind, Kind::Leak, "{}", v.reason);
        assert!((v.bytes_per_1k_requests - 200_000.0).abs() < 1.0, "{v:?}");
        assert!((v.bytes_per_minute - 12_000_000.0).abs() < 100.0, "{v:?}");
    }

    #[test]
    fn slow_linear_growth_under_noise_is_still_a_leak() {
        let v =
            judge(&series(|i| 50.0 * MIB + i as f64 * 100_000.0 + noise(i) * 0.5 * MIB), Rules::default());
        assert_eq!(v.kind, Kind::Leak, "{}", v.reason);
    }

    #[test]
    fn a_plateau_after_warm_up_is_flat() {
        let v = judge(&series(|i| 50.0 * MIB + (i.min(20) as f64) * MIB), Rules::default());
        assert_eq!(v.kind, Kind::Flat, "{}", v.reason);
    }

    #[test]
    fn a_sawtooth_is_flat() {
        // Grows 1 MiB a second, drops back every 10 s, as a collector would.
        let v = judge(&series(|i| 50.0 * MIB + (i % 10) as f64 * MIB), Rules::default());
        assert_eq!(v.kind, Kind::Flat, "{}", v.reason);
    }

    #[test]
    fn noise_is_flat() {
        let v = judge(&series(|i| 80.0 * MIB + noise(i) * 4.0 * MIB), Rules::default());
        assert_eq!(v.kind, Kind::Flat, "{}", v.reason);
    }

    #[test]
    fn a_step_is_not_a_leak() {
        let v = judge(&series(|i| if i < 70 { 50.0 * MIB } else { 70.0 * MIB }), Rules::default());
        assert_eq!(v.kind, Kind::Inconclusive, "{}", v.reason);
        assert!(v.reason.contains("step"), "{}", v.reason);
    }

    #[test]
    fn too_few_samples_are_inconclusive() {
        let v = judge(&series(|i| i as f64 * MIB)[..6], Rules::default());
        assert_eq!(v.kind, Kind::Inconclusive);
    }

    #[test]
    fn theil_sen_ignores_outliers() {
        let mut pts: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, 2.0 * i as f64)).collect();
        pts[10].1 = 1e9;
        pts[30].1 = -1e9;
        assert!((theil_sen(pts.into_iter()) - 2.0).abs() < 1e-9);
    }
}
