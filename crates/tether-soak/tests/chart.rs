//! The chart is a real image: the PNG decodes at the expected size with more than one
//! colour in it, and the SVG carries the axis titles with units, the legend and the
//! shaded warm-up.

use tether_soak::chart::{draw, SIZE};
use tether_soak::{judge, Point, Report, Rules, Sample};

fn leaking_report() -> Report {
    let samples: Vec<Sample> = (1..=40)
        .map(|i| Sample {
            seconds: i as f64 * 0.25,
            requests: i * 500,
            rss_bytes: Some((20 << 20) + i * 1_000_000),
            allocated_bytes: None,
            live_tasks: Some(i * 500),
            live_copies: Some(3),
            runtime_tasks: Some(i * 500 + 12),
            p99_us: Some(800),
        })
        .collect();
    let points: Vec<Point> = samples
        .iter()
        .map(|s| Point {
            requests: s.requests as f64,
            seconds: s.seconds,
            bytes: s.rss_bytes.unwrap() as f64,
        })
        .collect();
    Report {
        requests: 20_000,
        errors: 0,
        seconds: 10.0,
        throughput: 2000.0,
        latency_us: [400, 600, 800, 1200, 3000],
        verdict: judge(&points, Rules::default()),
        tracked_work_rising: true,
        untracked_tasks_rising: false,
        rising_sites: vec![],
        warmup_samples: 10,
        samples,
    }
}

#[test]
fn the_chart_is_a_png_of_the_expected_size_and_an_svg_with_labels() {
    let dir = std::env::temp_dir().join(format!("tether-soak-chart-{}", std::process::id()));
    let [svg, png] = draw(&leaking_report(), "GET /leak/test", &dir.join("chart")).unwrap();

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), SIZE);
    let distinct: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    assert!(distinct.len() > 20, "a blank image: {} colours", distinct.len());

    let text = std::fs::read_to_string(&svg).unwrap();
    for label in [
        "GET /leak/test — LEAK",
        "time (s)",
        "resident memory (MiB)",
        "requests served (thousands)",
        "live (count)",
        "warm-up (not judged)",
        "tracked tasks (c.go, tasks.go)",
        "untracked runtime tasks (tokio::spawn)",
    ] {
        assert!(text.contains(label), "the SVG lacks {label:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
