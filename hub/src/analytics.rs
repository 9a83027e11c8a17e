//! The pseudonymised analytics stream: every stored reading, and the glucose summary of
//! each patient-day it touches, written to an InfluxDB 2 compatible server through the
//! `influxdb2` crate, for population dashboards (the FSE's objective of anonymised data
//! for health planning and research).
//!
//! Nothing identifying leaves the hub: the patient is replaced by a keyed hash
//! (HMAC-SHA-256 of the patient id with a deployment secret, first 128 bits in hex), so
//! the same patient gets the same pseudonym across points but the id cannot be
//! recovered without the key; there are no names, fiscal codes, device serials or free
//! text in a point. Points:
//!
//! - one per reading: measurement = the reading's kind (`cgm_glucose`, `heart_rate`, …),
//!   tag `subject` = pseudonym, one field per numeric quantity of the reading in its
//!   stored unit (`glucose` in mg/dL, `rate` in /min, `systolic` in mm[Hg], …), at the
//!   reading's instant;
//! - one per patient-day with CGM readings: measurement `daily_glucose`, tag `subject`,
//!   fields `readings`, `mean_mg_dl`, `cv_percent`, `tir_70_180_percent`,
//!   `tbr_below_70_percent`, `tar_above_180_percent` (glucometrics engine), at the
//!   patient's local midnight (UTC instant), rewritten as the day fills.
//!
//! The stream is best effort and never holds up ingest: batches are queued to a writer
//! task; a failed write is retried with backoff while at most [`MAX_QUEUED_POINTS`]
//! points wait, beyond which the oldest are dropped and counted.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use device_adapters::reading::Reading;
use influxdb2::models::DataPoint;
use ring::hmac;

use crate::store::{window_readings, PatientId, ReadingStore};

/// Points waiting for the server at most; older ones are dropped (and counted) beyond.
pub const MAX_QUEUED_POINTS: usize = 100_000;

/// Replaces patient ids by keyed hashes.
pub struct Pseudonymizer {
    key: hmac::Key,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(..)")
    }
}

impl Pseudonymizer {
    /// A pseudonymizer with the deployment's secret key (keep it out of the analytics
    /// side: whoever holds it can test whether a known id is behind a pseudonym).
    #[must_use]
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The patient's pseudonym: 32 hex digits.
    #[must_use]
    pub fn subject(&self, patient: &PatientId) -> String {
        hmac::sign(&self.key, patient.0.as_bytes()).as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The point of one reading (`None` for a reading without numeric quantities).
#[must_use]
pub fn reading_point(subject: &str, reading: &Reading) -> Option<DataPoint> {
    let measurement = serde_json::to_value(&reading.measurement).ok()?;
    let object = measurement.as_object()?;
    let kind = reading.measurement.kind();
    let mut builder = DataPoint::builder(kind).tag("subject", subject);
    let mut fields = 0;
    for (name, value) in object {
        let number = value
            .get("value")
            .and_then(serde_json::Value::as_f64)
            .or_else(|| value.as_f64());
        if let Some(number) = number.filter(|n| n.is_finite()) {
            builder = builder.field(name.as_str(), number);
            fields += 1;
        }
    }
    let time = reading.time.timestamp_nanos_opt()?;
    (fields > 0)
        .then(|| builder.timestamp(time).build().ok())
        .flatten()
}

/// The `daily_glucose` point of one patient-day from that day's CGM readings, `None`
/// when there are none. `midnight` is the day's local midnight (UTC instant).
#[must_use]
pub fn daily_point(
    subject: &str,
    midnight: DateTime<Utc>,
    tz: chrono_tz::Tz,
    readings: &[Reading],
) -> Option<DataPoint> {
    let summary = crate::report::summarize_readings(readings, tz).ok()?;
    let value = serde_json::to_value(&summary).ok()?;
    let percent = |range: &str| {
        value["time_in_ranges"][range]["percent"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    let fields = [
        ("readings", summary.readings as f64),
        ("mean_mg_dl", summary.statistics.mean),
        ("cv_percent", summary.statistics.cv_percent),
        ("tir_70_180_percent", percent("in_range_70_180")),
        (
            "tbr_below_70_percent",
            percent("very_low_below_54") + percent("low_54_69"),
        ),
        (
            "tar_above_180_percent",
            percent("high_181_250") + percent("very_high_above_250"),
        ),
    ];
    let mut builder = DataPoint::builder("daily_glucose").tag("subject", subject);
    for (name, number) in fields.into_iter().filter(|(_, n)| n.is_finite()) {
        builder = builder.field(name, number);
    }
    builder
        .timestamp(midnight.timestamp_nanos_opt()?)
        .build()
        .ok()
}

/// The start of the patient's local day (UTC instant) that `time` falls on.
fn local_midnight(tz: chrono_tz::Tz, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let day = time.with_timezone(&tz).date_naive();
    tz.from_local_datetime(&day.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Where the stream goes.
#[derive(Clone)]
pub struct AnalyticsConfig {
    /// Server URL, e.g. `http://127.0.0.1:8428` (VictoriaMetrics) or an InfluxDB 2.
    pub url: String,
    /// Organisation.
    pub org: String,
    /// Bucket.
    pub bucket: String,
    /// API token (never printed).
    pub token: String,
    /// The pseudonymisation secret (never printed).
    pub pseudonym_key: Vec<u8>,
}

impl std::fmt::Debug for AnalyticsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsConfig")
            .field("url", &self.url)
            .field("org", &self.org)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// Stored readings of one patient, for the stream.
pub type StoredBatch = (PatientId, Vec<Reading>);

/// The sending side, held by whoever stores readings.
#[derive(Debug, Clone)]
pub struct AnalyticsSender {
    queue: std::sync::mpsc::Sender<StoredBatch>,
}

impl AnalyticsSender {
    /// Queues readings that were just stored (never blocks).
    pub fn send(&self, patient: &PatientId, readings: Vec<Reading>) {
        if !readings.is_empty() {
            let _ = self.queue.send((patient.clone(), readings));
        }
    }
}

/// Counters of the stream (no health data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Points the server accepted.
    pub written: u64,
    /// Points dropped because the queue was full while the server failed.
    pub dropped: u64,
}

/// Starts the writer on its own thread (with its own small runtime for the `influxdb2`
/// client and its own store connection, which reads the days touched for the daily
/// summaries). Returns the sender and a watch of the counters.
///
/// # Errors
/// When the thread or its runtime cannot start.
pub fn start(
    config: AnalyticsConfig,
    mut store: Box<dyn ReadingStore>,
) -> std::io::Result<(AnalyticsSender, tokio::sync::watch::Receiver<StreamStats>)> {
    let (queue, arrivals) = std::sync::mpsc::channel::<StoredBatch>();
    let (stats_tx, stats_rx) = tokio::sync::watch::channel(StreamStats::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("analytics".into())
        .spawn(move || {
            let client = influxdb2::Client::new(&config.url, &config.org, &config.token);
            let pseudonyms = Pseudonymizer::new(&config.pseudonym_key);
            let mut waiting: VecDeque<DataPoint> = VecDeque::new();
            let mut stats = StreamStats::default();
            let mut backoff = Duration::from_millis(200);
            loop {
                let first = if waiting.is_empty() {
                    match arrivals.recv() {
                        Ok(batch) => Some(batch),
                        Err(_) => break,
                    }
                } else {
                    match arrivals.recv_timeout(backoff) {
                        Ok(batch) => Some(batch),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                };
                let batches: Vec<StoredBatch> =
                    first.into_iter().chain(arrivals.try_iter()).collect();
                waiting.extend(points_for(store.as_mut(), &pseudonyms, &batches));
                while waiting.len() > MAX_QUEUED_POINTS {
                    waiting.pop_front();
                    stats.dropped += 1;
                }
                let sending: Vec<DataPoint> = waiting.iter().cloned().collect();
                let count = sending.len() as u64;
                let written = runtime
                    .block_on(client.write(&config.bucket, futures_util::stream::iter(sending)));
                match written {
                    Ok(()) => {
                        waiting.clear();
                        stats.written += count;
                        backoff = Duration::from_millis(200);
                    }
                    Err(error) => {
                        eprintln!("analytics stream: write failed ({error}); will retry");
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                }
                let _ = stats_tx.send(stats);
            }
        })?;
    Ok((AnalyticsSender { queue }, stats_rx))
}

/// The points for stored batches: each reading's, then the daily summary of each
/// patient-day touched (read back from the store, so the whole day counts).
fn points_for(
    store: &mut dyn ReadingStore,
    pseudonyms: &Pseudonymizer,
    batches: &[StoredBatch],
) -> Vec<DataPoint> {
    let mut points = Vec::new();
    let mut zones: std::collections::HashMap<PatientId, chrono_tz::Tz> =
        std::collections::HashMap::new();
    let mut touched: BTreeSet<(PatientId, DateTime<Utc>)> = BTreeSet::new();
    for (patient, readings) in batches {
        let subject = pseudonyms.subject(patient);
        points.extend(readings.iter().filter_map(|r| reading_point(&subject, r)));
        let tz = *zones
            .entry(patient.clone())
            .or_insert_with(|| patient_zone(store, patient));
        touched.extend(
            readings
                .iter()
                .filter(|r| r.glucose_mg_dl().is_some())
                .filter_map(|r| local_midnight(tz, r.time))
                .map(|day| (patient.clone(), day)),
        );
    }
    for (patient, midnight) in touched {
        let tz = zones[&patient];
        let Ok(day) = window_readings(
            store,
            &patient,
            Some("cgm_glucose"),
            midnight,
            midnight + chrono::Duration::hours(25),
        ) else {
            continue;
        };
        let day: Vec<Reading> = day
            .into_iter()
            .filter(|r| local_midnight(tz, r.time) == Some(midnight))
            .collect();
        points.extend(daily_point(
            &pseudonyms.subject(&patient),
            midnight,
            tz,
            &day,
        ));
    }
    points
}

/// The patient's time zone (Europe/Rome when unknown).
fn patient_zone(store: &mut dyn ReadingStore, patient: &PatientId) -> chrono_tz::Tz {
    store
        .directory()
        .account(&patient.0)
        .ok()
        .flatten()
        .and_then(|a| a.time_zone.parse().ok())
        .unwrap_or(chrono_tz::Europe::Rome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::directory::{NewAccount, Role};
    use crate::store::sqlite::SqliteStore;

    /// Debian's VictoriaMetrics (accepts the InfluxDB 2 write API) on a free loopback
    /// port with a data directory of its own, or `None` when it is not installed (then
    /// the test says so; `.ci/run` sets `PGHD_REQUIRE_VICTORIA_METRICS` so CI fails).
    struct VictoriaMetrics {
        child: std::process::Child,
        url: String,
        directory: std::path::PathBuf,
    }

    impl Drop for VictoriaMetrics {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }

    fn victoria_metrics() -> Option<VictoriaMetrics> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let directory =
            std::env::temp_dir().join(format!("pghd-victoria-{}-{port}", std::process::id()));
        let child = std::process::Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", directory.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            assert!(
                std::env::var("PGHD_REQUIRE_VICTORIA_METRICS").is_err(),
                "PGHD_REQUIRE_VICTORIA_METRICS is set but victoria-metrics cannot start"
            );
            eprintln!("analytics test not run: victoria-metrics is not installed");
            return None;
        };
        let server = VictoriaMetrics {
            child,
            url: format!("http://127.0.0.1:{port}"),
            directory,
        };
        for _ in 0..100 {
            if ureq::get(format!("{}/health", server.url)).call().is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("victoria-metrics did not come up");
    }

    fn export(url: &str, selector: &str) -> Vec<serde_json::Value> {
        let _ = ureq::get(format!("{url}/internal/force_flush")).call();
        let mut response = ureq::post(format!("{url}/api/v1/export"))
            .send_form([("match[]", selector)])
            .unwrap();
        response
            .body_mut()
            .read_to_string()
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn readings_and_daily_summaries_arrive_pseudonymised() {
        let Some(server) = victoria_metrics() else {
            return;
        };
        let mut store = SqliteStore::in_memory().unwrap();
        let patient = PatientId("RSSMRA80A01H501U".into());
        store
            .directory()
            .create_account(
                &NewAccount {
                    id: &patient.0,
                    role: Role::Patient,
                    display_name: "Maria Rossi",
                    login: "maria",
                    password_hash: "x",
                    time_zone: "Europe/Rome",
                },
                Utc::now(),
            )
            .unwrap();
        // A local day (Rome) of 5-minute CGM readings, and one heart rate.
        let midnight = DateTime::parse_from_rfc3339("2026-03-10T00:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        let mut readings: Vec<Reading> = (0..288)
            .map(|i| {
                crate::store::suite::reading(
                    "S1",
                    i * 5,
                    90.0 + f64::from(i % 100),
                    midnight + chrono::Duration::minutes(i64::from(i) * 5),
                )
            })
            .collect();
        let mut heart = readings[0].clone();
        heart.measurement = device_adapters::reading::Measurement::HeartRate {
            rate: device_adapters::reading::Quantity::new(64.0, "/min"),
            rr_intervals_s: vec![0.9],
        };
        heart.record = device_adapters::reading::RecordId::Instant { at: "hr".into() };
        readings.push(heart);
        store
            .store_readings(&patient, &readings, Utc::now())
            .unwrap();
        let store: Box<dyn ReadingStore> = Box::new(store);
        let config = AnalyticsConfig {
            url: server.url.clone(),
            org: "pghd".into(),
            bucket: "pghd".into(),
            token: "unused-by-victoria-metrics".into(),
            pseudonym_key: b"a deployment secret of some length".to_vec(),
        };
        let (sender, mut stats) = start(config, store).unwrap();
        sender.send(&patient, readings.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), async {
                while stats.borrow().written < 290 {
                    stats.changed().await.unwrap();
                }
            })
            .await
            .expect("points written");
        });
        let subject = Pseudonymizer::new(b"a deployment secret of some length").subject(&patient);
        assert_eq!(subject.len(), 32);
        let glucose = export(&server.url, "{__name__=\"cgm_glucose_glucose\"}");
        assert_eq!(glucose.len(), 1, "{glucose:?}");
        assert_eq!(glucose[0]["metric"]["subject"], subject.as_str());
        let values: Vec<f64> = glucose[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), 288);
        assert!((values[5] - 95.0).abs() < 1e-9);
        let rate = export(&server.url, "{__name__=\"heart_rate_rate\"}");
        assert_eq!(rate[0]["values"][0].as_f64(), Some(64.0));
        // The day's summary equals the engine's, at the local midnight.
        let mean = export(&server.url, "{__name__=\"daily_glucose_mean_mg_dl\"}");
        let day: Vec<glucometrics::GlucoseReading> = readings[..288]
            .iter()
            .map(|r| glucometrics::GlucoseReading::new(r.time, r.glucose_mg_dl().unwrap()))
            .collect();
        let engine = glucometrics::summarize(
            &day,
            chrono_tz::Europe::Rome,
            &glucometrics::SummaryConfig::default(),
        )
        .unwrap();
        assert!((mean[0]["values"][0].as_f64().unwrap() - engine.statistics.mean).abs() < 1e-9);
        assert_eq!(
            mean[0]["timestamps"][0].as_i64(),
            Some(midnight.timestamp_millis())
        );
        // Nothing identifying anywhere in the server: not the id, not the name.
        let everything = export(&server.url, "{__name__=~\".+\"}");
        let text = serde_json::to_string(&everything).unwrap();
        assert!(!text.contains("RSSMRA80A01H501U") && !text.contains("Maria"));
        assert!(!text.contains("S1"), "no device serials");
    }
}
