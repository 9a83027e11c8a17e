//! Throughput from simulated gateways through their bridges (sealing, spool with an
//! fsync per reading, QoS-1 forwarding) and the embedded broker into the hub's durable
//! store (batched SQLite transactions), with generation-to-stored latency; next to the
//! raw QoS-1 throughput of the same broker measured in the same run.
//!
//! `cargo run --release -p pghd-hub --example ingest_throughput -- [GATEWAYS] [READINGS_PER_GATEWAY]`
//! (default 4 gateways × 5,000 readings). Latency is from the moment a reading is sealed
//! by its gateway to the moment the hub's batch holding it is written.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use device_adapters::reading::{
    DeviceIdentity, DeviceTime, Measurement, Reading, ReadingSource, RecordId,
};
use firmware_bridge::envelope::{readings_topic, Envelope, GatewayKey};
use firmware_bridge::forward::{Forwarder, ForwarderConfig};
use firmware_bridge::spool::{FsDisk, Spool};
use pghd_hub::ingest::{run_mqtt, BrokerSession, Ingest};
use pghd_hub::store::sqlite::SqliteStore;
use pghd_hub::store::PatientId;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

/// The `index`-th envelope of gateway `gateway`, sealed now.
fn envelope(gateway: usize, index: usize, now: DateTime<Utc>) -> Envelope {
    Envelope {
        gateway: format!("gw-{gateway}"),
        counter: index as u64,
        received_at: now,
        characteristic: Some(0x2AA7),
        raw_hex: None,
        reading: reading(gateway, index, now),
    }
}

fn reading(gateway: usize, index: usize, now: DateTime<Utc>) -> Reading {
    Reading {
        measurement: Measurement::glucose(100.0 + (index % 100) as f64, true),
        time: now,
        local_offset_min: Some(60),
        device_time: DeviceTime::Absolute {
            instant: now,
            utc_offset_min: Some(60),
        },
        device: DeviceIdentity {
            serial: Some(format!("CGM-{gateway}")),
            ..DeviceIdentity::default()
        },
        record: RecordId::Session {
            session_start: "2025-01-01T00:00:00".into(),
            offset_min: index as u32,
        },
        flags: Vec::new(),
        source: ReadingSource::Ble {
            characteristic: 0x2AA7,
        },
    }
}

/// Raw broker throughput: one QoS-1 publisher, one QoS-1 subscriber, `count` messages.
async fn raw_qos1(port: u16, count: usize, payload: Vec<u8>) -> f64 {
    let (subscriber, mut sub_loop) =
        AsyncClient::new(MqttOptions::new("raw-sub", "127.0.0.1", port), 1000);
    subscriber
        .subscribe("raw/test", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (publisher, mut pub_loop) =
        AsyncClient::new(MqttOptions::new("raw-pub", "127.0.0.1", port), 1000);
    tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    let received = tokio::spawn(async move {
        let mut n = 0;
        let mut started = None;
        while n < count {
            if let Ok(Event::Incoming(Incoming::Publish(_))) = sub_loop.poll().await {
                started.get_or_insert_with(Instant::now);
                n += 1;
            }
        }
        started.unwrap().elapsed()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for _ in 0..count {
        publisher
            .publish("raw/test", QoS::AtLeastOnce, false, payload.clone())
            .await
            .unwrap();
    }
    let _ = received.await.unwrap();
    count as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let gateways = args.first().copied().unwrap_or(4);
    let per_gateway = args.get(1).copied().unwrap_or(5000);
    let total = gateways * per_gateway;
    let directory = std::env::temp_dir().join(format!("pghd-throughput-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory)?;
    let port = pghd_hub::demo::start_embedded_broker()?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let keys: Vec<GatewayKey> = (0..gateways)
        .map(|g| GatewayKey::from_seed(&[g as u8 + 1; 32]).unwrap())
        .collect();
    let sample = keys[0].seal(&envelope(0, 0, Utc::now()))?;
    let raw = raw_qos1(port, total, sample.clone()).await;
    // CPU cost per reading of the signatures, to set against the throughput.
    let mut verifier = firmware_bridge::envelope::Verifier::default();
    verifier.pair("gw-0", keys[0].public_key());
    let rounds = 2000;
    let start = Instant::now();
    for _ in 0..rounds {
        let _ = verifier.open("gw-0", &sample); // verified and parsed, then refused as a replay
    }
    let open_us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let to_seal = envelope(0, 0, Utc::now());
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(keys[0].seal(&to_seal)?);
    }
    let seal_us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;

    // The hub.
    let store_path = directory.join("hub.sqlite");
    let mut ingest = Ingest::new(SqliteStore::open(&store_path)?);
    for (g, key) in keys.iter().enumerate() {
        ingest.pair(
            &format!("gw-{g}"),
            key.public_key(),
            PatientId(format!("patient-{g}")),
        );
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = tokio::spawn(async move {
        run_mqtt(
            &mut ingest,
            &BrokerSession::new("127.0.0.1", port, "pghd-hub-bench"),
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
        ingest
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The gateways: seal, spool (fsync each), forward.
    eprintln!("{gateways} gateways × {per_gateway} readings through spool, broker and hub ...");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (g, key) in keys.into_iter().enumerate() {
        let spool_dir = directory.join(format!("spool-{g}"));
        tasks.push(tokio::spawn(async move {
            let (spool, _) = Spool::open(FsDisk::new(spool_dir).unwrap()).unwrap();
            let topic = readings_topic(&format!("gw-{g}"));
            let config = ForwarderConfig {
                host: "127.0.0.1".into(),
                port,
                client_id: format!("gw-{g}"),
                topic,
                max_inflight: 1024,
            };
            let (to_forwarder, mut incoming) = tokio::sync::mpsc::unbounded_channel();
            let producer = std::thread::spawn(move || {
                for i in 0..per_gateway {
                    let sealed = key.seal(&envelope(g, i, Utc::now())).unwrap();
                    let _ = to_forwarder.send(sealed);
                }
            });
            let mut forwarder = Forwarder::new(spool, config);
            forwarder.forward_from(&mut incoming).await.unwrap();
            producer.join().unwrap();
        }));
    }
    for task in tasks {
        task.await?;
    }
    let forwarded = started.elapsed();
    // Wait until the hub has stored everything.
    let reader = rusqlite_count(&store_path);
    while reader() < total {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let ingest = hub.await?;
    let latencies = latencies_ms(&store_path);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "readings: {total} ({gateways} gateways), stored {}, duplicates {}",
        ingest.stats().stored,
        ingest.stats().duplicates
    );
    println!(
        "gateways done (all acknowledged by the broker) after {:.2} s; hub done after {:.2} s",
        forwarded.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "end to end (seal → spool fsync → broker → hub batch → SQLite FULL sync): {:.0} readings/s",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency seal → stored: p50 {:.1} ms, p99 {:.1} ms",
        percentile(0.5),
        percentile(0.99)
    );
    println!("raw QoS-1 through the same broker, same payloads: {raw:.0} messages/s");
    println!("per reading: gateway seal (serialise + Ed25519 sign) {seal_us:.1} µs, hub open (Ed25519 verify + parse) {open_us:.1} µs");
    println!(
        "ratio end-to-end / raw: {:.2}",
        total as f64 / elapsed.as_secs_f64() / raw
    );
    std::fs::remove_dir_all(&directory)?;
    Ok(())
}

fn rusqlite_count(path: &std::path::Path) -> impl Fn() -> usize {
    let path = path.to_owned();
    move || {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .query_row("SELECT count(*) FROM readings", [], |row| {
                row.get::<_, i64>(0)
            })
            .unwrap_or(0) as usize
    }
}

/// Per reading: hub batch time − gateway seal time (the reading's time), milliseconds.
fn latencies_ms(path: &std::path::Path) -> Vec<f64> {
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT received_us - time_us FROM readings")
        .unwrap();
    let mut latencies: Vec<f64> = statement
        .query_map([], |row| row.get::<_, i64>(0))
        .unwrap()
        .map(|v| v.unwrap() as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}
