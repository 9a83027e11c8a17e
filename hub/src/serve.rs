//! `pghd-hub serve`: the hub as a server. The HTTP API on the embedded store (SQLite in
//! the data directory) or PostgreSQL; with `--demo`, also the embedded MQTT broker, the
//! ingest, a simulated CGM and heart-rate strap streaming live through a bridge, and
//! demo accounts (a patient
//! with imported sample data, their doctor, a delegate, an admin) whose one-time
//! passwords are printed once.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use device_adapters::import::generic_csv::{self, GenericCsvOptions};
use firmware_bridge::envelope::GatewayKey;
use firmware_bridge::sim::band::{SimulatedBand, SimulatedBandConfig};
use firmware_bridge::sim::cgm::{SimulatedCgm, SimulatedCgmConfig};
use firmware_bridge::sim::heart_rate::{SimulatedHeartRate, SimulatedHeartRateConfig};
use ring::rand::SecureRandom;

use crate::api::{self, ApiState};
use crate::auth;
use crate::demo::{start_embedded_broker, DEMO_GATEWAY};
use crate::ingest::{run_mqtt, BrokerSession, Ingest};
use crate::store::directory::{NewAccount, Role, Scope};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{PatientId, ReadingStore};
use firmware_bridge::gateway::Gateway;
use firmware_bridge::session::MeasurementKind;

/// Where the hub keeps its data.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (never printed: it may hold a password).
    Postgres(String),
}

impl StoreLocation {
    /// Opens `count` connections (migrating the schema on the first).
    ///
    /// # Errors
    /// Database errors.
    pub fn open(&self, count: usize) -> anyhow::Result<Vec<Box<dyn ReadingStore>>> {
        (0..count.max(1))
            .map(|_| -> anyhow::Result<Box<dyn ReadingStore>> {
                Ok(match self {
                    Self::Sqlite(path) => Box::new(SqliteStore::open(path)?),
                    Self::Postgres(url) => Box::new(PostgresStore::connect(url)?),
                })
            })
            .collect()
    }
}

/// What `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// The store.
    pub store: StoreLocation,
    /// Store connections for the API.
    pub connections: usize,
    /// Seed demo accounts and data and stream a simulated sensor.
    pub demo: bool,
    /// Where the demo's spool lives.
    pub data_dir: PathBuf,
    /// Real time per simulated minute of the demo sensor (one minute: real time).
    pub sensor_tick: Duration,
    /// Where access notifications are POSTed (`notify`); kept in the outbox if `None`.
    pub notify_webhook: Option<String>,
    /// The pseudonymised analytics stream (`analytics`), if wanted.
    pub analytics: Option<crate::analytics::AnalyticsConfig>,
    /// FHIR destinations (`delivery`): the FSE taccuino and care-team records.
    pub fhir_destinations: Vec<crate::delivery::Destination>,
}

/// The demo gateway's key seed (a demo, not a secret).
const DEMO_GATEWAY_SEED: [u8; 32] = [42; 32];

/// The demo patient's id.
pub const DEMO_PATIENT: &str = "demo-patient";

/// The sample CGM export bundled with the project, imported for the demo patient.
const SAMPLE_CSV: &str = include_str!("../../data/sample/cgm-two-patients.csv");

/// Runs the server until `shutdown` completes; narrates on `out`.
///
/// # Errors
/// Store, broker or socket failures at start-up.
pub async fn run(
    config: ServeConfig,
    out: &mut (dyn Write + Send),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    if config.demo {
        // The demo starts afresh: its sample data are shifted to end today.
        if let StoreLocation::Sqlite(path) = &config.store {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        let _ = std::fs::remove_dir_all(config.data_dir.join("bridge-spool"));
    }
    let mut stores = config.store.open(config.connections)?;
    let analytics = match &config.analytics {
        Some(analytics) => {
            let (sender, _) =
                crate::analytics::start(analytics.clone(), config.store.open(1)?.remove(0))?;
            writeln!(out, "pseudonymised analytics stream to {}", analytics.url)?;
            Some(sender)
        }
        None => None,
    };
    let mut background = Vec::new();
    if config.demo {
        let passwords = seed_demo(stores[0].as_mut())?;
        background.push(start_demo_sensor(&config, analytics.clone(), out).await?);
        writeln!(
            out,
            "demo accounts (one-time passwords, valid until the next start):"
        )?;
        for (login, role, password) in passwords {
            writeln!(out, "  {role:<13} login {login:<9} password {password}")?;
        }
    }
    if let Some(url) = &config.notify_webhook {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            anyhow::bail!("--notify-webhook must be an http:// or https:// URL");
        }
        let (store, url) = (config.store.open(1)?.remove(0), url.clone());
        std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || crate::notify::run(store, url, Duration::from_secs(5)))?;
        writeln!(
            out,
            "access notifications are delivered to the configured webhook"
        )?;
    }
    if !config.fhir_destinations.is_empty() {
        let client =
            crate::delivery::Client::new(&config.fhir_destinations).map_err(anyhow::Error::msg)?;
        let (store, destinations) = (
            config.store.open(1)?.remove(0),
            config.fhir_destinations.clone(),
        );
        std::thread::Builder::new()
            .name("fhir-delivery".into())
            .spawn(move || {
                crate::delivery::run(store, destinations, client, Duration::from_secs(5));
            })?;
        let (store, destinations) = (
            config.store.open(1)?.remove(0),
            config.fhir_destinations.clone(),
        );
        std::thread::Builder::new()
            .name("fhir-schedule".into())
            .spawn(move || {
                crate::delivery::run_schedule(store, &destinations, Duration::from_secs(3600))
            })?;
        let names: Vec<&str> = config
            .fhir_destinations
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        writeln!(
            out,
            "FHIR submissions are delivered to: {}",
            names.join(", ")
        )?;
    }
    let audit_store = config.store.open(1)?.remove(0);
    let mut state = ApiState::new(std::mem::take(&mut stores), audit_store)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    state.analytics = analytics;
    state.destinations = Arc::new(config.fhir_destinations.clone());
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    writeln!(
        out,
        "pghd-hub listening on http://{address} (API under /api/v1, OpenAPI at /api/v1/openapi.json, browsable at /api/v1/docs); Ctrl-C stops"
    )?;
    if config.demo {
        writeln!(
            out,
            "try: curl -s -X POST http://{address}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"login\":\"medico\",\"password\":\"…\"}}'"
        )?;
    }
    out.flush()?;
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    for task in background {
        task.abort();
    }
    Ok(())
}

/// A random password of 16 URL-safe characters.
fn one_time_password() -> anyhow::Result<String> {
    use base64::Engine as _;
    let mut bytes = [0_u8; 12];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Creates the demo accounts (replacing their passwords when they exist), the care
/// team, consent and a delegation, and imports the bundled sample CGM data shifted to
/// end now (whole days, so times of day are kept). Returns (login, role, password).
fn seed_demo(store: &mut dyn ReadingStore) -> anyhow::Result<Vec<(String, &'static str, String)>> {
    let now = Utc::now();
    let accounts = [
        ("admin", Role::Admin, "Amministratore (demo)", "admin"),
        (
            DEMO_PATIENT,
            Role::Patient,
            "Maria Rossi (demo)",
            "paziente",
        ),
        (
            "dr-bianchi",
            Role::Practitioner,
            "Dr. Luca Bianchi, MMG (demo)",
            "medico",
        ),
        (
            "delegate-1",
            Role::Delegate,
            "Giulia Rossi (demo)",
            "delegato",
        ),
    ];
    let mut printed = Vec::new();
    for (id, role, name, login) in accounts {
        let password = one_time_password()?;
        let hash = auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut directory = store.directory();
        if directory.account(id)?.is_none() {
            directory.create_account(
                &NewAccount {
                    id,
                    role,
                    display_name: name,
                    login,
                    password_hash: &hash,
                    time_zone: "Europe/Rome",
                },
                now,
            )?;
        } else {
            directory.set_password(id, &hash)?;
        }
        printed.push((login.to_owned(), role.as_str(), password));
    }
    let patient = PatientId(DEMO_PATIENT.into());
    let mut directory = store.directory();
    directory.add_to_care_team(&patient, "dr-bianchi", now)?;
    directory.set_consent(&patient, true, false, DEMO_PATIENT, now)?;
    if directory.delegations_given(&patient)?.is_empty() {
        directory.delegate(
            &patient,
            "delegate-1",
            "parent",
            &[Scope::Read, Scope::ManageConsent],
            now + chrono::Duration::days(365),
        )?;
    }
    // The demo gateway pairs as any bridge does: with a code the patient asked for.
    let key = GatewayKey::from_seed(&DEMO_GATEWAY_SEED).map_err(|e| anyhow::anyhow!("{e}"))?;
    let public_key: String = key
        .public_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    directory.create_pairing_code(&patient, "demo-pairing", now + chrono::Duration::minutes(1))?;
    let credential = crate::store::directory::GatewayCredential::Signed {
        public_key_hex: public_key,
    };
    let _ = directory.redeem_pairing_code("demo-pairing", DEMO_GATEWAY, &credential, now)?;
    let report = generic_csv::import(
        SAMPLE_CSV,
        &GenericCsvOptions {
            zone: chrono_tz::Europe::Rome,
            unit: glucometrics::GlucoseUnit::MgDl,
        },
    )?;
    let rows: Vec<_> = report
        .records
        .into_iter()
        .filter(|r| r.series_id == "patient-A")
        .collect();
    let last = rows.iter().map(|r| r.time).max().context("empty sample")?;
    let shift = chrono::Duration::days((now - last).num_days());
    let readings: Vec<_> = rows
        .into_iter()
        .map(|mut row| {
            row.time += shift;
            row.into_reading(Some("data/sample/cgm-two-patients.csv"))
        })
        .collect();
    store.store_readings(&patient, &readings, now)?;
    Ok(printed)
}

/// Starts the embedded broker, the ingest for the demo gateway, and a simulated CGM
/// streaming through a bridge in real time (one reading a minute).
async fn start_demo_sensor(
    config: &ServeConfig,
    analytics: Option<crate::analytics::AnalyticsSender>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let port = start_embedded_broker()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let key = GatewayKey::from_seed(&DEMO_GATEWAY_SEED).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut ingest = Ingest::new(config.store.open(1)?.remove(0));
    // The ingest learns the demo gateway from the store (paired in `seed_demo`).
    if let Some(analytics) = analytics {
        ingest.stream_to(analytics);
    }
    let spool = config.data_dir.join("bridge-spool");
    let sensor_tick = config.sensor_tick;
    let start: DateTime<Utc> = Utc::now();
    let mut bridge = Gateway::start(DEMO_GATEWAY, "127.0.0.1", port, key, &spool, start)?;
    writeln!(
        out,
        "embedded MQTT broker on 127.0.0.1:{port}; a simulated CGM, heart-rate strap and step/sleep band stream to {DEMO_PATIENT} through {DEMO_GATEWAY} (spool {})",
        spool.display()
    )?;
    Ok(tokio::spawn(async move {
        let hub = tokio::spawn(async move {
            let session = BrokerSession::new("127.0.0.1", port, "pghd-hub");
            let _ = run_mqtt(&mut ingest, &session, std::future::pending()).await;
        });
        let mut sensor = SimulatedCgm::new(SimulatedCgmConfig {
            session_start: start,
            days: 14,
            ..SimulatedCgmConfig::default()
        });
        let mut strap = SimulatedHeartRate::new(SimulatedHeartRateConfig {
            interval_s: 60,
            ..SimulatedHeartRateConfig::default()
        });
        let mut band = SimulatedBand::new(SimulatedBandConfig::new(start));
        // Simulated time: one minute per tick, from the start.
        let mut tick = tokio::time::interval(sensor_tick);
        let mut now = start;
        loop {
            tick.tick().await;
            if bridge.step(&mut sensor, now).is_err()
                || bridge
                    .step_device(MeasurementKind::HeartRate, "DEMO-HRM-1", &mut strap, now)
                    .is_err()
                || bridge
                    .step_device(
                        MeasurementKind::ActivityMonitor,
                        "DEMO-BAND-1",
                        &mut band,
                        now,
                    )
                    .is_err()
            {
                break;
            }
            while let Some((device, issue)) = bridge.poll_issue() {
                eprintln!("demo device {device}: {issue}");
            }
            now += chrono::Duration::minutes(1);
        }
        hub.abort();
    }))
}
