//! Command-line interface: argument definitions and the commands behind them. Output
//! goes to the writers given, so tests can capture it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{Parser, Subcommand, ValueEnum};
use device_adapters::import::generic_csv::{self, GenericCsvOptions};
use glucometrics::synthetic::SyntheticTrace;
use glucometrics::{summarize, GlucoseReading, GlucoseUnit, SummaryConfig};

use crate::report;

/// pghd-hub: patient-generated health data hub.
#[derive(Debug, Parser)]
#[command(name = "pghd-hub", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Glucose unit as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Milligrams per decilitre.
    MgDl,
    /// Millimoles per litre.
    MmolL,
}

impl From<UnitArg> for GlucoseUnit {
    fn from(unit: UnitArg) -> Self {
        match unit {
            UnitArg::MgDl => Self::MgDl,
            UnitArg::MmolL => Self::MmolL,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the AGP summary of each series in an `id,time,gl` CSV file.
    Metrics {
        /// CSV file with `id`, `time` and `gl` columns.
        file: PathBuf,
        /// IANA time zone of the patient: days and times of day follow it, and times
        /// without a zone in the file are read in it.
        #[arg(long)]
        tz: Tz,
        /// Print JSON (one object per series) instead of a table.
        #[arg(long)]
        json: bool,
        /// Unit of the `gl` column.
        #[arg(long, value_enum, default_value = "mg-dl")]
        unit_in: UnitArg,
        /// Unit of glucose figures in the output.
        #[arg(long, value_enum, default_value = "mg-dl")]
        unit: UnitArg,
        /// Also print the AGP percentile table (hourly) in the text output.
        #[arg(long)]
        agp: bool,
    },
    /// Write a deterministic synthetic CGM trace as `id,time,gl` CSV (for demos and
    /// tests; not patient data).
    Synth {
        /// Series identifier written in the `id` column.
        #[arg(long, default_value = "synthetic-1")]
        id: String,
        /// Length, days.
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// Sampling interval, seconds.
        #[arg(long, default_value_t = 300)]
        interval_s: u32,
        /// Seed: the same seed gives the same trace.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// First reading, RFC 3339.
        #[arg(long, default_value = "2025-01-01T00:00:00Z")]
        start: DateTime<Utc>,
        /// Wearer's offset from UTC, minutes (places meals and nights).
        #[arg(long, default_value_t = 60)]
        utc_offset_min: i32,
    },
}

/// Runs a parsed command, writing results to `out` and diagnostics to `err`.
///
/// # Errors
/// Unreadable or malformed input files, unknown columns, or no valid readings.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Metrics {
            file,
            tz,
            json,
            unit_in,
            unit,
            agp,
        } => metrics(&file, tz, json, unit_in.into(), unit.into(), agp, out, err),
        Command::Synth {
            id,
            days,
            interval_s,
            seed,
            start,
            utc_offset_min,
        } => {
            let trace = SyntheticTrace {
                start,
                days,
                interval_s,
                utc_offset_min,
                seed,
                ..SyntheticTrace::default()
            };
            writeln!(out, "id,time,gl")?;
            for reading in trace.generate() {
                writeln!(
                    out,
                    "{id},{},{}",
                    reading.time.format("%Y-%m-%dT%H:%M:%SZ"),
                    reading.mg_dl
                )?;
            }
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn metrics(
    file: &PathBuf,
    tz: Tz,
    json: bool,
    unit_in: GlucoseUnit,
    unit_out: GlucoseUnit,
    show_agp: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let import = generic_csv::import(
        &text,
        &GenericCsvOptions {
            zone: tz,
            unit: unit_in,
        },
    )
    .with_context(|| format!("importing {}", file.display()))?;
    let counts = import.counts;
    writeln!(
        err,
        "{}: {} rows read, {} imported, {} duplicate, {} rejected{}",
        file.display(),
        counts.read,
        counts.imported,
        counts.duplicate,
        counts.rejected,
        if counts.ambiguous_local_times > 0 {
            format!(
                ", {} local times in a DST overlap resolved",
                counts.ambiguous_local_times
            )
        } else {
            String::new()
        }
    )?;
    for rejected in &import.rejected {
        writeln!(err, "  line {}: {}", rejected.line, rejected.reason)?;
    }
    if import.records.is_empty() {
        bail!("no readings to summarise in {}", file.display());
    }
    // Series in order of first appearance.
    let mut order: Vec<String> = Vec::new();
    let mut by_series: std::collections::HashMap<String, Vec<GlucoseReading>> =
        std::collections::HashMap::new();
    for row in &import.records {
        let entry = by_series.entry(row.series_id.clone()).or_insert_with(|| {
            order.push(row.series_id.clone());
            Vec::new()
        });
        entry.push(GlucoseReading::new(row.time, row.mg_dl));
    }
    let config = SummaryConfig::default();
    let mut documents = Vec::new();
    for id in &order {
        let summary = summarize(&by_series[id], tz, &config)
            .with_context(|| format!("summarising series `{id}`"))?
            .in_unit(unit_out);
        if json {
            documents.push(serde_json::json!({ "id": id, "summary": summary }));
        } else {
            write!(out, "{}", report::render_text(id, &summary, show_agp))?;
        }
    }
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&documents)?)?;
    }
    Ok(())
}
