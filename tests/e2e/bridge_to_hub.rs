//! Sensor → bridge → broker → hub → store: a simulated CGM with radio outages is
//! collected by the bridge's session (RACP backfill), every reading sealed and spooled,
//! forwarded over MQTT to an embedded rumqttd broker, verified and stored by the hub's
//! ingest in SQLite. The bridge is killed halfway through forwarding and restarted from
//! its spool. Afterwards every record the sensor measured is stored exactly once, with
//! its value and time.

use std::time::Duration;

use chrono::{DateTime, Duration as Minutes, Utc};
use device_adapters::reading::RecordId;
use firmware_bridge::envelope::{readings_topic, Envelope, GatewayKey};
use firmware_bridge::forward::{Forwarder, ForwarderConfig};
use firmware_bridge::session::{CgmSession, GattSession as _, SessionConfig};
use firmware_bridge::sim::cgm::{SimulatedCgm, SimulatedCgmConfig};
use firmware_bridge::spool::{FsDisk, Spool};
use pghd_hub::ingest::{run_mqtt, BrokerSession, Ingest};
use pghd_hub::store::sqlite::SqliteStore;
use pghd_hub::store::{PatientId, ReadingQuery, ReadingStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_measured_record_is_stored_exactly_once() {
    let port = pghd_hub::demo::start_embedded_broker().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let directory = std::env::temp_dir().join(format!("pghd-e2e-bridge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();

    // The hub: ingest into SQLite until told to stop.
    let key = GatewayKey::from_seed(&[11; 32]).unwrap();
    let patient = PatientId("patient-1".into());
    let mut ingest = Ingest::new(SqliteStore::open(&directory.join("hub.sqlite")).unwrap());
    ingest.pair("gw-1", key.public_key(), patient.clone());
    let (stop_hub, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = tokio::spawn(async move {
        run_mqtt(
            &mut ingest,
            &BrokerSession::new("127.0.0.1", port, "hub-1"),
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
        ingest
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The sensor and the bridge's session: one day, two radio outages, virtual time.
    let start: DateTime<Utc> = DateTime::from_timestamp(1_735_689_600, 0).unwrap();
    let end = start + Minutes::days(1);
    let outages = vec![
        (start + Minutes::hours(3), start + Minutes::hours(7)),
        (
            start + Minutes::hours(15),
            start + Minutes::minutes(15 * 60 + 50),
        ),
    ];
    let mut sensor = SimulatedCgm::new(SimulatedCgmConfig {
        session_start: start,
        days: 1,
        radio_outages: outages,
        ..SimulatedCgmConfig::default()
    });
    let mut session = CgmSession::new(SessionConfig::default(), None, None, start);
    let (spool, _) = Spool::open(FsDisk::new(directory.join("spool")).unwrap()).unwrap();
    let mut spool = spool;
    let mut counter = 0;
    let mut now = start;
    while now <= end {
        session.exchange(&mut sensor, now);
        // What one exchange gave (a backfill after an outage: many) is one signed batch.
        let mut envelopes = Vec::new();
        while let Some(reading) = session.poll_reading() {
            envelopes.push(Envelope::of_reading("gw-1", counter, now, 0x2AA7, reading));
            counter += 1;
        }
        for payload in key.seal_batch("gw-1", &envelopes).unwrap() {
            spool.append(&payload).unwrap();
        }
        now += Minutes::minutes(1);
    }
    let measured = sensor.measured(end);
    assert_eq!(
        counter as usize,
        measured.len(),
        "the session collected every record"
    );

    // Forward a third, kill the bridge, restart it from its spool, forward the rest.
    let config = ForwarderConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: "gw-1".into(),
        topic: readings_topic("gw-1"),
        max_inflight: 16,
    };
    let mut forwarder = Forwarder::new(spool, config.clone());
    let mut acknowledged = 0;
    while acknowledged < measured.len() / 3 {
        acknowledged += forwarder.step().await.unwrap();
    }
    drop(forwarder);
    let (spool, _) = Spool::open(FsDisk::new(directory.join("spool")).unwrap()).unwrap();
    let mut forwarder = Forwarder::new(spool, config);
    forwarder.drain(Duration::from_secs(30)).await.unwrap();

    // Wait until the hub has stored everything (a second connection reads the same
    // SQLite file), then stop it.
    let query = ReadingQuery {
        patient: patient.clone(),
        kind: Some("cgm_glucose".into()),
        from: start,
        to: end + Minutes::days(1),
        after: None,
        limit: 10_000,
    };
    let mut reader = SqliteStore::open(&directory.join("hub.sqlite")).unwrap();
    for _ in 0..200 {
        if reader.readings(&query).unwrap().readings.len() >= measured.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_hub.send(());
    let mut ingest = hub.await.expect("hub task finished");
    let stats = ingest.stats().clone();
    let page = ingest.store_mut().readings(&query).unwrap();
    assert_eq!(
        page.readings.len(),
        measured.len(),
        "stored exactly once: {stats:?}"
    );
    for (reading, (offset, mg_dl)) in page.readings.iter().zip(&measured) {
        assert!(
            matches!(&reading.record, RecordId::Session { offset_min, .. } if *offset_min == u32::from(*offset))
        );
        assert!((reading.glucose_mg_dl().unwrap() - mg_dl).abs() < 1e-9);
        assert_eq!(reading.time, start + Minutes::minutes(i64::from(*offset)));
    }
    assert!(
        stats.rejected.keys().all(|reason| *reason == "replayed"),
        "only redeliveries refused: {stats:?}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}
