//! Runs the full summary in a loop on a synthetic trace and prints the mean time per
//! summary: the program that `valgrind --tool=callgrind` counts instructions of, a
//! figure that does not depend on what else the machine is doing (docs/benchmarks.md).
//! `cargo run --release -p glucometrics --example summary_loop -- DAYS INTERVAL_S RUNS
//! [JITTER_S]` (timestamps up to JITTER_S seconds off the cadence; default 0).
use glucometrics::synthetic::SyntheticTrace;
use glucometrics::{summarize, SummaryConfig};

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("DAYS INTERVAL_S RUNS [JITTER_S], whole numbers")
        })
        .collect();
    let (days, interval_s, runs, jitter_s) = match args[..] {
        [days, interval_s, runs] => (days, interval_s, runs, 0),
        [days, interval_s, runs, jitter_s] => (days, interval_s, runs, jitter_s),
        _ => panic!("usage: summary_loop DAYS INTERVAL_S RUNS [JITTER_S]"),
    };
    let trace = SyntheticTrace {
        days,
        interval_s,
        jitter_s,
        ..SyntheticTrace::default()
    };
    let readings = trace.generate();
    let start = std::time::Instant::now();
    for _ in 0..runs {
        let summary = summarize(
            &readings,
            chrono_tz::Europe::Rome,
            &SummaryConfig::default(),
        );
        std::hint::black_box(summary.expect("synthetic readings are valid"));
    }
    let per_run_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs.max(1));
    println!(
        "{} readings: {per_run_us:.1} µs per summary",
        readings.len()
    );
}
