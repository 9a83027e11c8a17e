//! Times the full glucose summary of every series in an `id,time,gl` CSV, for
//! comparisons with other implementations (see `scripts/bench-vs-iglu-python.sh`).
//!
//! Usage: `cargo run --release -p pghd-hub --example time_summary -- FILE ZONE [REPEATS]`
//! Prints the median wall time of one pass over all series, in seconds.

use std::time::Instant;

use device_adapters::import::generic_csv::{self, GenericCsvOptions};
use glucometrics::{summarize, GlucoseReading, GlucoseUnit, SummaryConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, zone, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: time_summary FILE ZONE [REPEATS]");
    };
    let repeats: usize = rest.first().map_or(Ok(20), |r| r.parse())?;
    let zone: chrono_tz::Tz = zone.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = std::fs::read_to_string(file)?;
    let import = generic_csv::import(
        &text,
        &GenericCsvOptions {
            zone,
            unit: GlucoseUnit::MgDl,
        },
    )?;
    let mut series: Vec<(String, Vec<GlucoseReading>)> = Vec::new();
    for row in import.records {
        match series.iter_mut().find(|(id, _)| *id == row.series_id) {
            Some((_, readings)) => readings.push(GlucoseReading::new(row.time, row.mg_dl)),
            None => series.push((
                row.series_id,
                vec![GlucoseReading::new(row.time, row.mg_dl)],
            )),
        }
    }
    let config = SummaryConfig::default();
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        for (_, readings) in &series {
            std::hint::black_box(summarize(readings, zone, &config)?);
        }
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!("{:.6}", times[times.len() / 2]);
    Ok(())
}
