//! Development aid: times the whole summary in a loop (not committed).
use glucometrics::synthetic::SyntheticTrace;
use glucometrics::*;
fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let trace = SyntheticTrace {
        days: args[0],
        interval_s: args[1],
        ..SyntheticTrace::default()
    };
    let readings = trace.generate();
    let start = std::time::Instant::now();
    for _ in 0..args[2] {
        std::hint::black_box(
            summarize(
                &readings,
                chrono_tz::Europe::Rome,
                &SummaryConfig::default(),
            )
            .unwrap(),
        );
    }
    println!(
        "{:.1} µs",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(args[2])
    );
}
