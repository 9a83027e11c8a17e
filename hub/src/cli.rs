//! Command-line interface: argument definitions and the commands behind them. Output
//! goes to the writers given, so tests can capture it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::{Parser, Subcommand, ValueEnum};
use device_adapters::import::generic_csv::{self, GenericCsvOptions};
use device_adapters::import::{
    self, apple_health, dexcom, libreview, nightscout, open_mhealth, Format, ImportReport,
};
use device_adapters::reading::{Measurement, Reading};
use glucometrics::synthetic::SyntheticTrace;
use glucometrics::{summarize, GlucoseReading, GlucoseUnit, SummaryConfig};

use crate::progress::ProgressReader;
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

/// Export format as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Recognise it from the file's first lines.
    Auto,
    /// LibreView CSV.
    Libreview,
    /// Dexcom Clarity CSV.
    Dexcom,
    /// Nightscout entries JSON.
    Nightscout,
    /// `id,time,gl` CSV.
    Generic,
    /// Open mHealth data points JSON.
    OpenMhealth,
    /// Apple Health `export.xml` (streamed).
    AppleHealth,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub's MQTT ingest: subscribe to every gateway's readings on a broker,
    /// verify, store (SQLite or PostgreSQL), acknowledge; until interrupted.
    Ingest {
        /// Broker address, `host:port`.
        #[arg(long, default_value = "127.0.0.1:1883")]
        broker: String,
        /// SQLite database file.
        #[arg(
            long,
            required_unless_present = "postgres_url",
            conflicts_with = "postgres_url"
        )]
        store: Option<PathBuf>,
        /// Store in this PostgreSQL server instead (`postgresql://user:password@host/db`;
        /// never printed).
        #[arg(long)]
        postgres_url: Option<String>,
        /// A gateway paired outside the store: `GATEWAY=PUBLIC_KEY_HEX=PATIENT`
        /// (repeatable). Gateways paired through the API are learnt from the store.
        #[arg(long = "pair")]
        pairs: Vec<String>,
        /// MQTT client id (a persistent session: the broker keeps readings while the hub
        /// is down). Each process of a share group needs its own.
        #[arg(long, default_value = "pghd-hub")]
        client_id: String,
        /// Share the readings with the other hub processes of this group (MQTT shared
        /// subscription `$share/GROUP/...`): the broker gives each message to one of
        /// them.
        #[arg(long)]
        share_group: Option<String>,
    },
    /// Run the hub's server: the HTTP API (docs/http-api.md) on the embedded SQLite store
    /// in `--data-dir`, or on PostgreSQL; with `--demo`, also the embedded MQTT broker,
    /// the ingest, a live simulated CGM and demo accounts; until interrupted.
    Serve {
        /// Address of the HTTP API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Directory of the embedded store (`hub.sqlite`) and the demo's spool.
        #[arg(long, default_value = "pghd-data")]
        data_dir: PathBuf,
        /// Use this PostgreSQL server instead of the embedded store
        /// (`postgresql://user:password@host/database`).
        #[arg(long)]
        postgres_url: Option<String>,
        /// Store connections serving the API.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Seed demo accounts and sample data (erasing the embedded store first) and
        /// stream a simulated sensor.
        #[arg(long)]
        demo: bool,
        /// Real milliseconds per simulated minute of the demo sensor (60000: real time).
        #[arg(long, default_value_t = 60_000)]
        sensor_tick_ms: u64,
        /// POST each access notification to this webhook (the deployment's notification
        /// gateway); without it they wait in the outbox.
        #[arg(long)]
        notify_webhook: Option<String>,
        /// Deliver FHIR submissions to the destinations in this JSON file (the FSE
        /// taccuino, care-team records; see docs/fhir.md); without it nothing leaves.
        #[arg(long)]
        fhir_destinations: Option<std::path::PathBuf>,
        /// Stream readings and daily glucose summaries, pseudonymised, to this InfluxDB 2
        /// compatible server (token in `PGHD_INFLUX_TOKEN`, pseudonymisation secret in
        /// `PGHD_PSEUDONYM_KEY`, both required with it and never printed).
        #[arg(long)]
        influx_url: Option<String>,
        /// InfluxDB organisation.
        #[arg(long, default_value = "pghd")]
        influx_org: String,
        /// InfluxDB bucket.
        #[arg(long, default_value = "pghd")]
        influx_bucket: String,
    },
    /// Run the hub with its embedded defaults (MQTT broker, SQLite store) and a simulated
    /// patient whose CGM streams through a bridge, live; print the AGP summary at the end.
    Demo {
        /// Simulated days of CGM wear.
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// Simulated minutes per real second.
        #[arg(long, default_value_t = 120)]
        minutes_per_second: u32,
        /// Directory for the store and the spool (emptied first).
        #[arg(long, default_value = "pghd-demo-data")]
        data_dir: PathBuf,
        /// The patient's IANA zone.
        #[arg(long, default_value = "Europe/Rome")]
        tz: Tz,
    },
    /// Import an export file (LibreView, Dexcom Clarity, Nightscout, Open mHealth, Apple
    /// Health, `id,time,gl`), say what was found, and print the AGP summary of its glucose.
    Import {
        /// The export file.
        file: PathBuf,
        /// IANA time zone of the patient (exports without zones are read in it).
        #[arg(long)]
        tz: Tz,
        /// Format of the file.
        #[arg(long, value_enum, default_value = "auto")]
        format: FormatArg,
        /// Print JSON (import report and summary) instead of text.
        #[arg(long)]
        json: bool,
        /// Unit of glucose figures in the output.
        #[arg(long, value_enum, default_value = "mg-dl")]
        unit: UnitArg,
        /// Also print the AGP percentile table (hourly).
        #[arg(long)]
        agp: bool,
    },
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

/// Runs a parsed command, writing results to `out` and diagnostics to `err`; a progress
/// bar is drawn on `err` when `progress` is set (standard error is a terminal).
///
/// # Errors
/// Unreadable or malformed input files, unknown columns, or no valid readings.
pub fn run(
    cli: Cli,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: bool,
) -> anyhow::Result<()> {
    match cli.command {
        Command::Ingest {
            broker,
            store,
            postgres_url,
            pairs,
            client_id,
            share_group,
        } => {
            let location = match (store, postgres_url) {
                (_, Some(url)) => crate::serve::StoreLocation::Postgres(url),
                (Some(path), None) => crate::serve::StoreLocation::Sqlite(path),
                (None, None) => bail!("give --store FILE or --postgres-url URL"),
            };
            ingest(&broker, &location, &pairs, &client_id, share_group, err)
        }
        Command::Serve {
            listen,
            data_dir,
            postgres_url,
            connections,
            demo,
            sensor_tick_ms,
            notify_webhook,
            fhir_destinations,
            influx_url,
            influx_org,
            influx_bucket,
        } => {
            let analytics = match influx_url {
                Some(url) => {
                    let token = std::env::var("PGHD_INFLUX_TOKEN").unwrap_or_default();
                    let key = std::env::var("PGHD_PSEUDONYM_KEY")
                        .ok()
                        .filter(|k| k.len() >= 16)
                        .context("--influx-url needs PGHD_PSEUDONYM_KEY (at least 16 characters) in the environment")?;
                    Some(crate::analytics::AnalyticsConfig {
                        url,
                        org: influx_org,
                        bucket: influx_bucket,
                        token,
                        pseudonym_key: key.into_bytes(),
                    })
                }
                None => None,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let store = match postgres_url {
                Some(url) => crate::serve::StoreLocation::Postgres(url),
                None => crate::serve::StoreLocation::Sqlite(data_dir.join("hub.sqlite")),
            };
            let config = crate::serve::ServeConfig {
                listen,
                store,
                connections,
                demo,
                data_dir,
                sensor_tick: std::time::Duration::from_millis(sensor_tick_ms.max(1)),
                notify_webhook,
                fhir_destinations: match fhir_destinations {
                    Some(path) => {
                        crate::delivery::load_destinations(&path).map_err(anyhow::Error::msg)?
                    }
                    None => Vec::new(),
                },
                analytics,
            };
            runtime.block_on(async {
                let mut stdout = std::io::stdout();
                crate::serve::run(config, &mut stdout, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
            })?;
            let _ = (out, err);
            Ok(())
        }
        Command::Demo {
            days,
            minutes_per_second,
            data_dir,
            tz,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let _ = err;
            runtime.block_on(crate::demo::run(
                crate::demo::DemoConfig {
                    days,
                    minutes_per_second,
                    data_dir,
                    tz,
                },
                out,
            ))
        }
        Command::Import {
            file,
            tz,
            format,
            json,
            unit,
            agp,
        } => import_file(
            &file,
            tz,
            format,
            &Output {
                json,
                unit: unit.into(),
                agp,
            },
            progress,
            out,
            err,
        ),
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

fn ingest(
    broker: &str,
    store: &crate::serve::StoreLocation,
    pairs: &[String],
    client_id: &str,
    share_group: Option<String>,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let (host, port) = broker
        .rsplit_once(':')
        .context("--broker must be host:port")?;
    let port: u16 = port.parse().context("--broker port")?;
    let mut ingest = crate::ingest::Ingest::new(store.open(1)?.remove(0));
    for pair in pairs {
        let parts: Vec<&str> = pair.split('=').collect();
        let [gateway, key_hex, patient] = parts.as_slice() else {
            bail!("--pair `{pair}` must be GATEWAY=PUBLIC_KEY_HEX=PATIENT");
        };
        let key = crate::ingest::decode_hex(key_hex)
            .filter(|k| k.len() == 32)
            .with_context(|| format!("--pair `{gateway}`: the public key must be 64 hex digits"))?;
        ingest.pair(gateway, key, crate::store::PatientId((*patient).to_owned()));
    }
    let session = crate::ingest::BrokerSession {
        share_group,
        ..crate::ingest::BrokerSession::new(host, port, client_id)
    };
    let place = match store {
        crate::serve::StoreLocation::Sqlite(path) => path.display().to_string(),
        crate::serve::StoreLocation::Postgres(_) => "PostgreSQL".to_owned(),
    };
    writeln!(
        err,
        "ingesting `{}` from {host}:{port} into {place} ({} gateway(s) given, the rest from the store); Ctrl-C stops",
        crate::ingest::readings_filter(session.share_group.as_deref()),
        pairs.len()
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(crate::ingest::run_mqtt(&mut ingest, &session, async {
        let _ = tokio::signal::ctrl_c().await;
    }))?;
    let stats = ingest.stats();
    writeln!(
        err,
        "stopped: {} stored, {} duplicates, rejected {:?}",
        stats.stored, stats.duplicates, stats.rejected
    )?;
    Ok(())
}

/// How summaries are printed.
struct Output {
    json: bool,
    unit: GlucoseUnit,
    agp: bool,
}

/// Reads `file` whole through a progress bar.
fn read_file(file: &Path, progress: bool, err: &mut dyn Write) -> anyhow::Result<String> {
    let handle =
        std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let total = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let label = format!("reading {}", file.display());
    let mut reader = ProgressReader::new(handle, err, &label, total, progress);
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .with_context(|| format!("reading {} (is it UTF-8 text?)", file.display()))?;
    Ok(text)
}

/// Writes the import counts and every rejected row to `err`.
fn write_import_report<T>(
    file: &Path,
    what: &str,
    report: &ImportReport<T>,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let c = &report.counts;
    writeln!(
        err,
        "{}: {what}, {} rows read: {} imported, {} duplicate, {} rejected, {} ignored{}{}",
        file.display(),
        c.read,
        c.imported,
        c.duplicate,
        c.rejected,
        c.ignored,
        if c.scans > 0 {
            format!(", {} scans", c.scans)
        } else {
            String::new()
        },
        if c.ambiguous_local_times > 0 {
            format!(
                ", {} local times in a DST overlap resolved",
                c.ambiguous_local_times
            )
        } else {
            String::new()
        }
    )?;
    for (kind, count) in &report.ignored_by_kind {
        writeln!(err, "  ignored: {kind} × {count}")?;
    }
    for rejected in &report.rejected {
        writeln!(err, "  line {}: {}", rejected.line, rejected.reason)?;
    }
    Ok(())
}

/// Summarises each `(series id, readings, scans)` and prints the summaries.
fn print_summaries(
    series: Vec<(String, Vec<GlucoseReading>, Option<usize>)>,
    tz: Tz,
    output: &Output,
    extra_json: serde_json::Value,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config = SummaryConfig::default();
    let mut documents = Vec::new();
    for (id, readings, scans) in series {
        let mut summary = summarize(&readings, tz, &config)
            .with_context(|| format!("summarising series `{id}`"))?
            .in_unit(output.unit);
        summary.scans = scans;
        if output.json {
            documents.push(serde_json::json!({ "id": id, "summary": summary }));
        } else {
            write!(out, "{}", report::render_text(&id, &summary, output.agp))?;
        }
    }
    if output.json {
        let document = if extra_json.is_null() {
            serde_json::Value::Array(documents)
        } else {
            serde_json::json!({ "import": extra_json, "series": documents })
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
    }
    Ok(())
}

/// Groups generic-CSV rows by series id, in order of first appearance.
fn group_rows(
    rows: Vec<generic_csv::GlucoseRow>,
) -> Vec<(String, Vec<GlucoseReading>, Option<usize>)> {
    let mut series: Vec<(String, Vec<GlucoseReading>, Option<usize>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for row in rows {
        let at = *index.entry(row.series_id.clone()).or_insert_with(|| {
            series.push((row.series_id.clone(), Vec::new(), None));
            series.len() - 1
        });
        series[at].1.push(GlucoseReading::new(row.time, row.mg_dl));
    }
    series
}

#[allow(clippy::too_many_arguments)]
fn metrics(
    file: &Path,
    tz: Tz,
    json: bool,
    unit_in: GlucoseUnit,
    unit_out: GlucoseUnit,
    show_agp: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let text = read_file(file, false, err)?;
    let import = generic_csv::import(
        &text,
        &GenericCsvOptions {
            zone: tz,
            unit: unit_in,
        },
    )
    .with_context(|| format!("importing {}", file.display()))?;
    write_import_report(file, "id,time,gl CSV", &import, err)?;
    if import.records.is_empty() {
        bail!("no readings to summarise in {}", file.display());
    }
    let output = Output {
        json,
        unit: unit_out,
        agp: show_agp,
    };
    print_summaries(
        group_rows(import.records),
        tz,
        &output,
        serde_json::Value::Null,
        out,
    )
}

fn import_file(
    file: &Path,
    tz: Tz,
    format: FormatArg,
    output: &Output,
    progress: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let format = match format {
        FormatArg::Auto => {
            let mut start = vec![0; 8192];
            let mut handle =
                std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
            let read = handle
                .read(&mut start)
                .with_context(|| format!("reading {}", file.display()))?;
            import::detect(&String::from_utf8_lossy(&start[..read])).with_context(|| {
                format!(
                    "{}: not a recognised export (LibreView, Dexcom Clarity, Nightscout, Open mHealth, Apple Health, id,time,gl); use --format",
                    file.display()
                )
            })?
        }
        FormatArg::Libreview => Format::LibreView,
        FormatArg::Dexcom => Format::DexcomClarity,
        FormatArg::Nightscout => Format::Nightscout,
        FormatArg::Generic => Format::GenericCsv,
        FormatArg::OpenMhealth => Format::OpenMHealth,
        FormatArg::AppleHealth => Format::AppleHealth,
    };
    let name = file.file_name().and_then(|n| n.to_str());
    let context = || format!("importing {}", file.display());
    let report: ImportReport<Reading> = if format == Format::AppleHealth {
        // Streamed: only glucose readings are kept for the summary; the others are counted.
        let handle = std::fs::File::open(file).with_context(context)?;
        let total = handle.metadata().map(|m| m.len()).unwrap_or(0);
        let label = format!("reading {}", file.display());
        let reader = std::io::BufReader::new(ProgressReader::new(
            handle, &mut *err, &label, total, progress,
        ));
        let mut glucose = Vec::new();
        let mut other_readings: std::collections::BTreeMap<String, usize> =
            std::collections::BTreeMap::new();
        let stream = apple_health::import(reader, name, |reading| {
            if reading.glucose_mg_dl().is_some() {
                glucose.push(reading);
            } else {
                let kind = reading.measurement.kind().to_owned();
                *other_readings.entry(kind).or_default() += 1;
            }
        })
        .with_context(context)?;
        for (kind, count) in other_readings {
            writeln!(err, "  imported {kind}: {count}")?;
        }
        ImportReport {
            records: glucose,
            rejected: stream.rejected,
            counts: stream.counts,
            ignored_by_kind: stream.ignored_by_kind,
        }
    } else {
        let text = read_file(file, progress, err)?;
        match format {
            Format::LibreView => libreview::import(&text, tz, name).with_context(context)?,
            Format::DexcomClarity => dexcom::import(&text, tz, name).with_context(context)?,
            Format::Nightscout => nightscout::import(&text, name).with_context(context)?,
            Format::OpenMHealth => open_mhealth::import(&text, name).with_context(context)?,
            Format::GenericCsv | Format::AppleHealth => {
                let rows = generic_csv::import(
                    &text,
                    &GenericCsvOptions {
                        zone: tz,
                        unit: GlucoseUnit::MgDl,
                    },
                )
                .with_context(context)?;
                ImportReport {
                    records: rows
                        .records
                        .into_iter()
                        .map(|r| r.into_reading(name))
                        .collect(),
                    rejected: rows.rejected,
                    counts: rows.counts,
                    ignored_by_kind: rows.ignored_by_kind,
                }
            }
        }
    };
    let what = match format {
        Format::LibreView => "LibreView export",
        Format::DexcomClarity => "Dexcom Clarity export",
        Format::Nightscout => "Nightscout entries",
        Format::GenericCsv => "id,time,gl CSV",
        Format::OpenMHealth => "Open mHealth data points",
        Format::AppleHealth => "Apple Health export",
    };
    write_import_report(file, what, &report, err)?;
    let (mut cgm, mut meter) = (Vec::new(), Vec::new());
    for reading in &report.records {
        match (&reading.measurement, reading.glucose_mg_dl()) {
            (Measurement::CgmGlucose { .. }, Some(mg_dl)) => {
                cgm.push(GlucoseReading::new(reading.time, mg_dl))
            }
            (Measurement::MeterGlucose { .. }, Some(mg_dl)) => {
                meter.push(GlucoseReading::new(reading.time, mg_dl))
            }
            _ => {}
        }
    }
    writeln!(
        err,
        "  found: {} CGM glucose, {} meter glucose readings",
        cgm.len(),
        meter.len()
    )?;
    // The AGP is a CGM report; meter readings are summarised only when there is no CGM.
    let (id, readings) = if cgm.is_empty() {
        ("meter glucose", meter)
    } else {
        ("CGM glucose", cgm)
    };
    if readings.is_empty() {
        bail!("no glucose readings to summarise in {}", file.display());
    }
    let scans = (format == Format::LibreView).then_some(report.counts.scans);
    let extra = serde_json::json!({
        "format": format,
        "counts": report.counts,
        "ignored_by_kind": report.ignored_by_kind,
        "rejected": report.rejected,
    });
    let series = if format == Format::GenericCsv {
        let rows: Vec<generic_csv::GlucoseRow> = report
            .records
            .iter()
            .filter_map(|r| {
                Some(generic_csv::GlucoseRow {
                    series_id: r.device.serial.clone()?,
                    time: r.time,
                    mg_dl: r.glucose_mg_dl()?,
                    line: 0,
                })
            })
            .collect();
        group_rows(rows)
    } else {
        vec![(id.to_owned(), readings, scans)]
    };
    print_summaries(series, tz, output, extra, out)
}
