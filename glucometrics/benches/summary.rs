//! Speed of the full summary: 14 days at 5-minute sampling (target ≤ 100 µs) and 90
//! days at 1-minute sampling (target ≤ 5 ms), on one core, with readings on the cadence
//! and with timestamps jittered by up to 20 s. Run with `cargo bench -p glucometrics`;
//! figures go to docs/benchmarks.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glucometrics::grid::{DayByDayGrid, GridConfig};
use glucometrics::mage::{mage_on_grid, MageConfig};
use glucometrics::synthetic::SyntheticTrace;
use glucometrics::{summarize, GlucoseSeries, SummaryConfig, ValidationConfig};
use std::hint::black_box;

fn bench_summary(c: &mut Criterion) {
    let tz = chrono_tz::Europe::Rome;
    let config = SummaryConfig::default();
    let cases = [
        (
            "14d_5min",
            SyntheticTrace {
                days: 14,
                interval_s: 300,
                ..SyntheticTrace::default()
            },
        ),
        (
            "90d_1min",
            SyntheticTrace {
                days: 90,
                interval_s: 60,
                ..SyntheticTrace::default()
            },
        ),
        // The same with timestamps up to 20 s off the cadence, as real sensors' are:
        // the aligned traces above land every reading on a grid instant.
        (
            "14d_5min_jitter20s",
            SyntheticTrace {
                jitter_s: 20,
                ..SyntheticTrace::default()
            },
        ),
        (
            "90d_1min_jitter20s",
            SyntheticTrace {
                days: 90,
                interval_s: 60,
                jitter_s: 20,
                ..SyntheticTrace::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("summary");
    for (name, trace) in cases {
        let readings = trace.generate();
        group.throughput(Throughput::Elements(readings.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| summarize(black_box(&readings), tz, &config).unwrap())
        });
    }
    group.finish();

    // The parts, to see where the time goes (14 days at 5 min).
    let readings = SyntheticTrace::default().generate();
    let series = GlucoseSeries::new(&readings, tz, &ValidationConfig::default()).unwrap();
    let grid = DayByDayGrid::new(&series, &GridConfig::default()).unwrap();
    let mut parts = c.benchmark_group("parts_14d_5min");
    parts.bench_function("validate", |b| {
        b.iter(|| {
            GlucoseSeries::new(black_box(&readings), tz, &ValidationConfig::default()).unwrap()
        })
    });
    parts.bench_function("grid", |b| {
        b.iter(|| DayByDayGrid::new(black_box(&series), &GridConfig::default()))
    });
    parts.bench_function("mage", |b| {
        b.iter(|| mage_on_grid(black_box(&grid), &MageConfig::default()))
    });
    parts.bench_function("events", |b| {
        b.iter(|| glucometrics::episodes::analyse_events(black_box(&grid), &Default::default()))
    });
    parts.bench_function("sd_measures", |b| {
        b.iter(|| glucometrics::variability::sd_measures(black_box(&grid)))
    });
    parts.bench_function("agp", |b| {
        b.iter(|| glucometrics::agp::agp_profile(black_box(&series), &Default::default()))
    });
    parts.bench_function("daily_profiles", |b| {
        b.iter(|| glucometrics::agp::daily_profiles(black_box(&series)))
    });
    parts.bench_function("pgs", |b| {
        b.iter(|| glucometrics::pgs::pgs(series.values(), black_box(&grid)))
    });
    parts.bench_function("distribution", |b| {
        b.iter(|| glucometrics::stats::ValueDistribution::of(black_box(series.values())))
    });
    let distribution = glucometrics::stats::ValueDistribution::of(series.values());
    parts.bench_function("indices", |b| {
        b.iter(|| {
            let d = black_box(&distribution);
            (
                glucometrics::indices::lbgi(d),
                glucometrics::indices::hbgi(d),
                glucometrics::indices::grade(d),
                glucometrics::indices::m_value(d, 90.0),
                glucometrics::indices::igc(d),
                glucometrics::indices::cogi(d, 70.0, 180.0),
                glucometrics::variability::adrr(&series),
            )
        })
    });
    parts.finish();

    // statrs (the crate chosen for statistics) against the engine's own two-pass SD,
    // on the same values: the reason the engine does not call statrs is this ratio.
    let values = series.values().to_vec();
    let mut sd = c.benchmark_group("sd_4032_values");
    sd.bench_function("engine_two_pass", |b| {
        b.iter(|| glucometrics::stats::sd(black_box(&values)))
    });
    sd.bench_function("statrs_std_dev", |b| {
        b.iter(|| {
            use statrs::statistics::Statistics;
            black_box(&values).iter().std_dev()
        })
    });
    sd.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_summary
}
criterion_main!(benches);
