//! The report's chart: memory and requests served over time above, live work below, the
//! warm-up shaded in both. Written as SVG (for the browser and the README) and PNG.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::soak::{Report, Sample};
use crate::verdict::human;

/// Size of the chart in pixels.
pub const SIZE: (u32, u32) = (1000, 720);

const WARMUP: RGBColor = RGBColor(150, 150, 150);
const MEMORY: RGBColor = RGBColor(200, 40, 40);
const REQUESTS: RGBColor = RGBColor(40, 90, 200);
const TASKS: RGBColor = RGBColor(230, 130, 0);
const COPIES: RGBColor = RGBColor(120, 60, 170);
const UNTRACKED: RGBColor = RGBColor(20, 140, 80);

/// Draws `report` as `<stem>.svg` and `<stem>.png`, titled `title`; returns both paths.
pub fn draw(report: &Report, title: &str, stem: &Path) -> Result<[PathBuf; 2], String> {
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    plot(SVGBackend::new(&svg, SIZE).into_drawing_area(), report, title)
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    plot(BitMapBackend::new(&png, SIZE).into_drawing_area(), report, title)
        .map_err(|e| format!("{}: {e}", png.display()))?;
    Ok([svg, png])
}

/// The legend's look, the same in both panels.
macro_rules! legend {
    ($chart:ident) => {
        $chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?
    };
}

/// A line of the live-work panel: its label, its colour, and how to read it off a sample.
type Series<'a> = (&'a str, RGBColor, &'a dyn Fn(&Sample) -> Option<f64>);

type Result2<T> = Result<T, Box<dyn std::error::Error>>;

fn plot<B: DrawingBackend>(root: DrawingArea<B, Shift>, report: &Report, title: &str) -> Result2<()>
where
    B::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let v = &report.verdict;
    let heading = format!("{title} — {}: {} per 1,000 requests", v.kind, human(v.bytes_per_1k_requests));
    let root = root.titled(&heading, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(SIZE.1 * 55 / 100);
    let samples = &report.samples;
    let end = samples.last().map_or(1.0, |s| s.seconds).max(1.0);
    let warm = report.warmup_samples.checked_sub(1).and_then(|i| samples.get(i)).map_or(0.0, |s| s.seconds);

    // Memory, and requests served on the right-hand axis.
    let mib = |s: &Sample| s.rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0));
    let (lo, hi) = range(samples.iter().filter_map(mib));
    let total = samples.last().map_or(1.0, |s| s.requests as f64 / 1000.0).max(1.0);
    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0.0..end, lo..hi)?
        .set_secondary_coord(0.0..end, 0.0..total * 1.05);
    chart.configure_mesh().x_desc("time (s)").y_desc("resident memory (MiB)").draw()?;
    chart.configure_secondary_axes().y_desc("requests served (thousands)").draw()?;
    shade_warmup(&mut chart, warm, lo, hi)?;
    chart
        .draw_series(LineSeries::new(
            samples.iter().filter_map(|s| Some((s.seconds, mib(s)?))),
            MEMORY.stroke_width(2),
        ))?
        .label("resident memory (MiB, left)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], MEMORY.stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(
            samples.iter().map(|s| (s.seconds, s.requests as f64 / 1000.0)),
            REQUESTS.stroke_width(2),
        ))?
        .label("requests served (thousands, right)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], REQUESTS.stroke_width(2)));
    legend!(chart);

    // Live work: tracked tasks, copies, and tasks the runtime has that tether does not track.
    let untracked = |s: &Sample| Some(s.runtime_tasks?.saturating_sub(s.live_tasks?) as f64);
    let tasks = |s: &Sample| s.live_tasks.map(|n| n as f64);
    let copies = |s: &Sample| s.live_copies.map(|n| n as f64);
    let all = samples.iter().flat_map(|s| [tasks(s), copies(s), untracked(s)]).flatten();
    let top_count = all.fold(10.0_f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0.0..end, 0.0..top_count)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("live (count)")
        .y_label_formatter(&|n| format!("{n:.0}"))
        .draw()?;
    shade_warmup(&mut chart, warm, 0.0, top_count)?;
    let series: [Series<'_>; 3] = [
        ("tracked tasks (c.go, tasks.go)", TASKS, &tasks),
        ("copies (c.copy)", COPIES, &copies),
        ("untracked runtime tasks (tokio::spawn)", UNTRACKED, &untracked),
    ];
    for (label, color, f) in series {
        chart
            .draw_series(LineSeries::new(
                samples.iter().filter_map(|s| Some((s.seconds, f(s)?))),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    legend!(chart);
    root.present()?;
    Ok(())
}

fn shade_warmup<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    until: f64,
    lo: f64,
    hi: f64,
) -> Result2<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
    DB::ErrorType: 'static,
{
    if until > 0.0 {
        chart
            .draw_series(std::iter::once(Rectangle::new([(0.0, lo), (until, hi)], WARMUP.mix(0.2).filled())))?
            .label("warm-up (not judged)")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], WARMUP.mix(0.4).filled()));
    }
    Ok(())
}

/// A y range around the values with some room; a flat series gets 1 MiB either side.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(1.0);
    ((lo - pad).max(0.0), hi + pad)
}
