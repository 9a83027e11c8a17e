//! Times each part of the summary on a synthetic trace (development aid).
//! `cargo run --release -p glucometrics --example profile_parts -- DAYS INTERVAL_S [JITTER_S]`
use std::time::Instant;

use glucometrics::grid::{DayByDayGrid, GridConfig};
use glucometrics::synthetic::SyntheticTrace;
use glucometrics::*;

fn time<T>(label: &str, f: impl Fn() -> T) -> T {
    // Warm up, then repeat for a fifth of a second: a few runs are too noisy to compare.
    let mut out = f();
    let start = Instant::now();
    let mut runs = 0_u32;
    while start.elapsed().as_secs_f64() < 0.2 {
        out = std::hint::black_box(f());
        runs += 1;
    }
    println!(
        "{label:<16} {:>10.1} µs",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
    );
    out
}

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let trace = SyntheticTrace {
        days: args[0],
        interval_s: args[1],
        jitter_s: args.get(2).copied().unwrap_or(0),
        ..SyntheticTrace::default()
    };
    let readings = trace.generate();
    let tz = chrono_tz::Europe::Rome;
    let series = time("validate", || {
        GlucoseSeries::new(&readings, tz, &ValidationConfig::default()).unwrap()
    });
    let grid = time("grid", || {
        DayByDayGrid::new(&series, &GridConfig::default()).unwrap()
    });
    let five = time("grid5", || {
        DayByDayGrid::new(&series, &GridConfig::five_minutes()).unwrap()
    });
    time("mage", || mage::mage_on_grid(&five, &Default::default()));
    time("events", || {
        episodes::analyse_events(&grid, &Default::default())
    });
    time("sd_measures", || variability::sd_measures(&grid));
    time("cv_measures", || variability::cv_measures(&grid));
    time("conga+modd", || {
        (variability::conga(&grid, 1), variability::modd(&grid, 1))
    });
    time("gvp+mag", || variability::gvp_and_mag(&grid));
    time("sd_roc", || variability::sd_rate_of_change(&five, 15));
    time("agp", || agp::agp_profile(&series, &Default::default()));
    time("daily", || agp::daily_profiles(&series));
    time("pgs", || pgs::pgs(series.values(), &grid));
    time("adrr", || variability::adrr(&series));
    let distribution = time("distribution", || {
        stats::ValueDistribution::of(series.values())
    });
    time("risk+grade", || {
        (
            indices::lbgi(&distribution),
            indices::hbgi(&distribution),
            indices::grade_breakdown(&distribution),
        )
    });
    time("m+igc+cogi", || {
        (
            indices::m_value(&distribution, 90.0),
            indices::igc(&distribution),
            indices::cogi(&distribution, 70.0, 180.0),
        )
    });
    time("active", || active::active_period(&series, None));
    time("ranges", || {
        ranges::TimeInRanges::from_values(&distribution)
    });
    time("mad", || distribution.mad());
    time("summary", || {
        summarize_series(&series, &SummaryConfig::default())
    });
}
