//! `pghd-hub demo`: the whole path from a sensor to the hub, live on one machine, with
//! the hub's embedded defaults: an embedded MQTT broker (rumqttd), the embedded store
//! (SQLite), and a simulated patient whose CGM streams through a bridge (session with
//! RACP backfill, spool, signed forwarding). Simulated time runs fast; a radio outage
//! midway shows the backfill closing the gap. At the end the AGP summary of what the hub
//! stored is printed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Duration as SimDuration, Utc};
use firmware_bridge::envelope::GatewayKey;
use firmware_bridge::gateway::Gateway;
use firmware_bridge::session::SessionState;
use firmware_bridge::sim::cgm::{SimulatedCgm, SimulatedCgmConfig};

use crate::ingest::{run_mqtt, BrokerSession, Ingest};
use crate::report;
use crate::store::sqlite::SqliteStore;
use crate::store::{PatientId, ReadingQuery, ReadingStore};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Simulated days of CGM wear.
    pub days: u32,
    /// Simulated minutes per real second.
    pub minutes_per_second: u32,
    /// Where the store and the spool live.
    pub data_dir: PathBuf,
    /// The patient's zone (report days and times).
    pub tz: chrono_tz::Tz,
}

/// An embedded broker on a free loopback port; returns the port.
///
/// # Errors
/// When no port can be found or the broker configuration is refused.
pub fn start_embedded_broker() -> anyhow::Result<u16> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = serde_json::json!({
        "id": 0,
        "router": {"id": 0, "max_connections": 1000, "max_outgoing_packet_count": 200,
                   "max_segment_size": 104_857_600, "max_segment_count": 10},
        "v4": {"1": {"name": "v4-1", "listen": format!("127.0.0.1:{port}"), "next_connection_delay_ms": 1,
                     "connections": {"connection_timeout_ms": 60000, "max_payload_size": 65536,
                                     "max_inflight_count": 200, "dynamic_filters": true}}}
    });
    let config: rumqttd::Config = serde_json::from_value(config)?;
    std::thread::spawn(move || {
        let _ = rumqttd::Broker::new(config).start();
    });
    Ok(port)
}

fn stored_count(
    reader: &mut SqliteStore,
    patient: &PatientId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> usize {
    let query = ReadingQuery {
        patient: patient.clone(),
        kind: None,
        from,
        to,
        after: None,
        limit: crate::store::MAX_PAGE,
    };
    reader
        .readings(&query)
        .map(|page| page.readings.len())
        .unwrap_or(0)
}

/// Runs the demo, narrating on `out`.
///
/// # Errors
/// Broker, store or spool failures.
pub async fn run(config: DemoConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store_path = config.data_dir.join("hub.sqlite");
    let spool_path = config.data_dir.join("bridge-spool");
    let _ = std::fs::remove_file(&store_path);
    let _ = std::fs::remove_dir_all(&spool_path);
    let port = start_embedded_broker()?;
    writeln!(
        out,
        "embedded MQTT broker on 127.0.0.1:{port}; store {}; spool {}",
        store_path.display(),
        spool_path.display()
    )?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The hub.
    let key = GatewayKey::from_seed(&[42; 32]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let patient = PatientId("demo-patient".into());
    let mut ingest = Ingest::new(SqliteStore::open(&store_path)?);
    ingest.pair(DEMO_GATEWAY, key.public_key(), patient.clone());
    let (stop_hub, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = tokio::spawn(async move {
        let result = run_mqtt(
            &mut ingest,
            &BrokerSession::new("127.0.0.1", port, "pghd-hub"),
            async {
                let _ = stopped.await;
            },
        )
        .await;
        (ingest, result)
    });

    // The sensor and the session, in simulated time.
    let start: DateTime<Utc> =
        (Utc::now() - SimDuration::days(i64::from(config.days))).duration_trunc_minutes();
    let mut bridge = Gateway::start(DEMO_GATEWAY, "127.0.0.1", port, key, &spool_path, start)?;
    writeln!(
        out,
        "bridge spool opened: {} messages pending from before",
        bridge.pending_at_start
    )?;
    let end = start + SimDuration::days(i64::from(config.days));
    let outage = (
        start + SimDuration::hours(10),
        start + SimDuration::hours(13),
    );
    let mut sensor = SimulatedCgm::new(SimulatedCgmConfig {
        session_start: start,
        days: config.days,
        radio_outages: vec![outage],
        ..SimulatedCgmConfig::default()
    });
    let mut reader = SqliteStore::open(&store_path)?;
    let mut last_state = bridge.cgm.state();
    let mut counter_at_loss = None;
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&config.tz)
            .format("%m-%d %H:%M")
            .to_string()
    };
    let pause = Duration::from_secs_f64(1.0 / f64::from(config.minutes_per_second.max(1)));
    let mut now = start;
    writeln!(
        out,
        "simulating {} day(s) of a CGM at {} simulated minutes per second; radio outage {} to {} ({})",
        config.days,
        config.minutes_per_second,
        local(outage.0),
        local(outage.1),
        config.tz
    )?;
    while now <= end {
        bridge.step(&mut sensor, now)?;
        let counter = bridge.counter;
        let state = bridge.cgm.state();
        if state != last_state {
            match state {
                SessionState::Disconnected { .. }
                    if matches!(last_state, SessionState::Streaming) =>
                {
                    counter_at_loss = Some(counter);
                    writeln!(
                        out,
                        "  {} radio link lost; the sensor keeps measuring and storing",
                        local(now)
                    )?;
                }
                SessionState::Streaming => match counter_at_loss.take() {
                    Some(before) => {
                        writeln!(
                            out,
                            "  {} reconnected; RACP backfill recovered {} readings",
                            local(now),
                            bridge.cgm.stats().readings - before
                        )?;
                    }
                    None => writeln!(out, "  {} bridge connected to the sensor", local(now))?,
                },
                _ => {}
            }
            last_state = state;
        }
        if (now - start).num_minutes() % 120 == 0 {
            let stored = stored_count(&mut reader, &patient, start, end + SimDuration::days(1));
            writeln!(
                out,
                "  {} bridge collected {counter:>4} readings | hub stored {stored:>4}",
                local(now)
            )?;
        }
        now += SimDuration::minutes(1);
        tokio::time::sleep(pause).await;
    }
    let counter = bridge.counter;
    let left = bridge.finish().await?;
    let measured = sensor.measured(end).len();
    for _ in 0..100 {
        if stored_count(&mut reader, &patient, start, end + SimDuration::days(1)) >= measured {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_hub.send(());
    let (mut ingest, result) = hub.await?;
    result?;
    let page = ingest.store_mut().readings(&ReadingQuery {
        patient,
        kind: Some("cgm_glucose".into()),
        from: start,
        to: end + SimDuration::days(1),
        after: None,
        limit: crate::store::MAX_PAGE,
    })?;
    writeln!(
        out,
        "sensor measured {measured} readings; bridge collected {counter}; spool left {left}; hub stored {} ({} duplicates refused)",
        page.readings.len(),
        ingest.stats().duplicates + ingest.stats().rejected.values().sum::<u64>()
    )?;
    let summary = report::summarize_readings(&page.readings, config.tz)?;
    write!(
        out,
        "\n{}",
        report::render_text("demo-patient (from the hub's store)", &summary, true)
    )?;
    Ok(())
}

/// The simulated gateway's id.
pub const DEMO_GATEWAY: &str = "demo-gateway";

trait TruncateMinutes {
    fn duration_trunc_minutes(self) -> Self;
}

impl TruncateMinutes for DateTime<Utc> {
    fn duration_trunc_minutes(self) -> Self {
        DateTime::from_timestamp(self.timestamp() - self.timestamp().rem_euclid(60), 0)
            .unwrap_or(self)
    }
}
