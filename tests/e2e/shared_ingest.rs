//! Several hub processes share the load through an MQTT shared subscription
//! (`$share/GROUP/pghd/v1/gateways/+/readings`): two ingests, each with its own client id
//! and its own connection to the same store, subscribe as one group; four gateways
//! publish signed readings at QoS 1. The broker hands each message to one of them: both
//! store some, together they store every reading exactly once. Run against the embedded
//! rumqttd and, when installed, Debian's Mosquitto.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Duration as Minutes, Utc};
use device_adapters::reading::{
    DeviceIdentity, DeviceTime, Measurement, Reading, ReadingSource, RecordId,
};
use firmware_bridge::envelope::{readings_topic, Envelope, GatewayKey};
use pghd_hub::ingest::{run_mqtt, BrokerSession, Ingest, IngestStats};
use pghd_hub::store::sqlite::SqliteStore;
use pghd_hub::store::{PatientId, ReadingQuery, ReadingStore};
use rumqttc::{AsyncClient, MqttOptions, QoS};

const GATEWAYS: u64 = 4;
const PER_GATEWAY: u64 = 300;

fn reading(serial: &str, offset_min: u32, time: DateTime<Utc>) -> Reading {
    Reading {
        measurement: Measurement::glucose(100.0 + f64::from(offset_min % 50), true),
        time,
        local_offset_min: Some(60),
        device_time: DeviceTime::Absolute {
            instant: time,
            utc_offset_min: Some(60),
        },
        device: DeviceIdentity {
            serial: Some(serial.into()),
            ..DeviceIdentity::default()
        },
        record: RecordId::Session {
            session_start: "2026-01-01T00:00:00".into(),
            offset_min,
        },
        flags: Vec::new(),
        source: ReadingSource::Ble {
            characteristic: 0x2AA7,
        },
    }
}

fn patient_of(gateway: u64) -> PatientId {
    PatientId(format!("patient-{}", gateway % 2))
}

/// Two ingests in group `hubs` on the broker at `port`, four gateways publishing; returns
/// each ingest's counters after every reading is stored.
async fn two_hubs_share(port: u16, directory: &Path) -> (IngestStats, IngestStats) {
    let store = directory.join("hub.sqlite");
    let keys: Vec<GatewayKey> = (0..GATEWAYS)
        .map(|g| GatewayKey::from_seed(&[40 + g as u8; 32]).unwrap())
        .collect();
    let mut stops = Vec::new();
    let mut hubs = Vec::new();
    for name in ["hub-a", "hub-b"] {
        let mut ingest = Ingest::new(SqliteStore::open(&store).unwrap());
        for (g, key) in keys.iter().enumerate() {
            ingest.pair(&format!("gw-{g}"), key.public_key(), patient_of(g as u64));
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let session = BrokerSession {
            share_group: Some("hubs".into()),
            ..BrokerSession::new("127.0.0.1", port, name)
        };
        stops.push(stop);
        hubs.push(tokio::spawn(async move {
            run_mqtt(&mut ingest, &session, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
            ingest.stats().clone()
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;

    // Four gateways, one connection each, QoS 1.
    let start: DateTime<Utc> = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let mut publishers = Vec::new();
    for (g, key) in keys.into_iter().enumerate() {
        let mut options = MqttOptions::new(format!("gw-{g}"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let poller = tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        publishers.push(tokio::spawn(async move {
            let gateway = format!("gw-{g}");
            for counter in 0..PER_GATEWAY {
                let time = start + Minutes::minutes(counter as i64 * 5);
                let envelope = Envelope {
                    gateway: gateway.clone(),
                    counter,
                    received_at: time,
                    characteristic: Some(0x2AA7),
                    raw_hex: None,
                    reading: reading(&format!("cgm-{g}"), counter as u32, time),
                };
                client
                    .publish(
                        readings_topic(&gateway),
                        QoS::AtLeastOnce,
                        false,
                        key.seal(&envelope).unwrap(),
                    )
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            poller.abort();
        }));
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }

    let mut reader = SqliteStore::open(&store).unwrap();
    let count = |reader: &mut SqliteStore| -> u64 {
        (0..2)
            .map(|p| {
                let query = ReadingQuery {
                    patient: PatientId(format!("patient-{p}")),
                    kind: None,
                    from: start - Minutes::days(1),
                    to: start + Minutes::days(30),
                    after: None,
                    limit: 10_000,
                };
                reader.readings(&query).unwrap().readings.len() as u64
            })
            .sum()
    };
    let mut stored = 0;
    for _ in 0..300 {
        stored = count(&mut reader);
        if stored >= GATEWAYS * PER_GATEWAY {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, GATEWAYS * PER_GATEWAY, "every reading stored once");
    for stop in stops {
        let _ = stop.send(());
    }
    let a = hubs.remove(0).await.unwrap();
    let b = hubs.remove(0).await.unwrap();
    (a, b)
}

fn assert_shared(a: &IngestStats, b: &IngestStats) {
    assert_eq!(
        a.stored + b.stored,
        GATEWAYS * PER_GATEWAY,
        "each reading stored by one hub: {a:?} {b:?}"
    );
    assert!(
        a.stored > 0 && b.stored > 0,
        "both hubs took a share: {a:?} {b:?}"
    );
    assert_eq!(a.duplicates + b.duplicates, 0, "no message went to both");
    assert!(
        a.rejected.is_empty() && b.rejected.is_empty(),
        "{a:?} {b:?}"
    );
}

fn fresh_directory(name: &str) -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!("pghd-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_split_the_readings_on_the_embedded_broker() {
    let port = pghd_hub::demo::start_embedded_broker().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let directory = fresh_directory("shared-rumqttd");
    let (a, b) = two_hubs_share(port, &directory).await;
    assert_shared(&a, &b);
    std::fs::remove_dir_all(&directory).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_split_the_readings_on_mosquitto() {
    if std::process::Command::new("mosquitto")
        .arg("-h")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("PGHD_REQUIRE_MOSQUITTO").is_err(),
            "PGHD_REQUIRE_MOSQUITTO is set but mosquitto is not installed"
        );
        eprintln!("shared subscription on Mosquitto not tested: mosquitto is not installed");
        return;
    }
    let directory = fresh_directory("shared-mosquitto");
    let port = crate::fhir_export::free_port();
    let mut broker = crate::mosquitto::start_mosquitto(&directory, port);
    let (a, b) = two_hubs_share(port, &directory).await;
    crate::mosquitto::stop_gracefully(&mut broker);
    assert_shared(&a, &b);
    std::fs::remove_dir_all(&directory).unwrap();
}
