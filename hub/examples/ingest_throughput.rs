//! Sustained throughput from simulated CGMs through their gateways' sessions (the real
//! GATT bytes decoded by `CgmSession`), sealing, spool (group-committed, fsync) and QoS-1
//! forwarding, the embedded broker, and the hub's ingest into its durable store (SQLite,
//! `synchronous=FULL`, batched transactions), with latency from a reading's sealing to
//! its commit; next to the raw QoS-1 throughput of the same broker with the same
//! payloads, measured in the same run.
//!
//! `cargo run --release -p pghd-hub --example ingest_throughput -- [GATEWAYS] [DEVICES_PER_GATEWAY] [MINUTES] [RATE] [v1]`
//!
//! Defaults: 4 gateways × 500 CGMs (2,000 devices) × 200 simulated minutes (one reading
//! a minute each: 400,000 readings), as fast as they come (`RATE` 0); with `RATE`
//! (readings/s, all gateways together) the gateways pace themselves, which is how
//! latency at a sustained load is measured. Each simulated minute a gateway seals what
//! its devices gave in version-2 messages (one signature for up to ~110 readings, by
//! size); `v1` seals every reading alone (contract version 1), for comparison.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use device_adapters::reading::{DeviceIdentity, RecordId};
use firmware_bridge::envelope::{readings_topic, Envelope, GatewayKey, MAX_PACKET};
use firmware_bridge::forward::{Forwarder, ForwarderConfig};
use firmware_bridge::session::{CgmSession, GattSession as _, SessionConfig};
use firmware_bridge::sim::cgm::{SimulatedCgm, SimulatedCgmConfig};
use firmware_bridge::spool::{FsDisk, Spool};
use pghd_hub::ingest::{run_mqtt, BrokerSession, Ingest};
use pghd_hub::store::sqlite::SqliteStore;
use pghd_hub::store::PatientId;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

/// The run's shape.
#[derive(Debug, Clone, Copy)]
struct Shape {
    gateways: usize,
    devices: usize,
    minutes: i64,
    rate: f64,
    v1: bool,
}

/// Raw broker throughput: one QoS-1 publisher, one QoS-1 subscriber, `count` messages.
async fn raw_qos1(port: u16, count: usize, payload: Vec<u8>) -> f64 {
    let options = |id: &str| {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        options
    };
    let (subscriber, mut sub_loop) = AsyncClient::new(options("raw-sub"), 1000);
    subscriber
        .subscribe("raw/test", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (publisher, mut pub_loop) = AsyncClient::new(options("raw-pub"), 1000);
    tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    let received = tokio::spawn(async move {
        let mut n = 0;
        while n < count {
            if let Ok(Event::Incoming(Incoming::Publish(_))) = sub_loop.poll().await {
                n += 1;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for _ in 0..count {
        publisher
            .publish("raw/test", QoS::AtLeastOnce, false, payload.clone())
            .await
            .unwrap();
    }
    received.await.unwrap();
    count as f64 / start.elapsed().as_secs_f64()
}

/// One gateway's devices and sessions.
struct Devices {
    cgms: Vec<SimulatedCgm>,
    sessions: Vec<CgmSession>,
}

fn devices(gateway: usize, count: usize, start: DateTime<Utc>, days: u32) -> Devices {
    let cgms = (0..count)
        .map(|d| {
            SimulatedCgm::new(SimulatedCgmConfig {
                session_start: start,
                interval_min: 1,
                days,
                warm_up_min: 0,
                seed: (gateway * 100_000 + d) as u64,
                ..SimulatedCgmConfig::default()
            })
        })
        .collect();
    let sessions = (0..count)
        .map(|d| {
            let config = SessionConfig {
                device: DeviceIdentity {
                    serial: Some(format!("CGM-{gateway}-{d}")),
                    ..DeviceIdentity::default()
                },
                ..SessionConfig::default()
            };
            CgmSession::new(config, None, None, start)
        })
        .collect();
    Devices { cgms, sessions }
}

/// Runs gateway `g`'s devices through `minutes` simulated minutes, sealing each
/// minute's readings and handing the payloads to its forwarder; returns, per simulated
/// minute, when (µs since the epoch) its readings were sealed, and how many readings
/// there were.
fn produce(
    g: usize,
    shape: Shape,
    key: &GatewayKey,
    start: DateTime<Utc>,
    to_forwarder: &tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) -> (HashMap<i64, i64>, usize) {
    let days = u32::try_from(shape.minutes / 1440 + 1).unwrap_or(u32::MAX);
    let mut devices = devices(g, shape.devices, start, days);
    let gateway = format!("gw-{g}");
    let mut counter = 0;
    let mut sealed_at = HashMap::new();
    let mut produced = 0;
    let began = Instant::now();
    let per_gateway_rate = shape.rate / shape.gateways as f64;
    for minute in 0..=shape.minutes {
        let now = start + chrono::Duration::minutes(minute);
        let mut envelopes = Vec::with_capacity(shape.devices);
        for (cgm, session) in devices.cgms.iter_mut().zip(&mut devices.sessions) {
            session.exchange(cgm, now);
            while let Some(reading) = session.poll_reading() {
                envelopes.push(Envelope::of_reading(
                    &gateway, counter, now, 0x2AA7, reading,
                ));
                counter += 1;
            }
        }
        if envelopes.is_empty() {
            continue;
        }
        let payloads = if shape.v1 {
            envelopes.iter().map(|e| key.seal(e).unwrap()).collect()
        } else {
            key.seal_batch(&gateway, &envelopes).unwrap()
        };
        sealed_at.insert(minute, Utc::now().timestamp_micros());
        produced += envelopes.len();
        for payload in payloads {
            let _ = to_forwarder.send(payload);
        }
        if per_gateway_rate > 0.0 {
            let due = Duration::from_secs_f64(produced as f64 / per_gateway_rate);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    (sealed_at, produced)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: f64| -> anyhow::Result<f64> {
        Ok(match args.get(i) {
            Some(a) if a != "v1" => a.parse()?,
            _ => default,
        })
    };
    let shape = Shape {
        gateways: number(0, 4.0)? as usize,
        devices: number(1, 500.0)? as usize,
        minutes: number(2, 200.0)? as i64,
        rate: number(3, 0.0)?,
        v1: args.iter().any(|a| a == "v1"),
    };
    let directory = std::env::temp_dir().join(format!("pghd-throughput-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory)?;
    let port = pghd_hub::demo::start_embedded_broker()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start: DateTime<Utc> = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();

    let keys: Vec<GatewayKey> = (0..shape.gateways)
        .map(|g| GatewayKey::from_seed(&[g as u8 + 1; 32]).unwrap())
        .collect();

    // The reference: one simulated minute of a gateway, sealed as the gateways will.
    let (to_sample, mut sample_rx) = tokio::sync::mpsc::unbounded_channel();
    let one_minute = Shape {
        gateways: 1,
        minutes: 1,
        rate: 0.0,
        ..shape
    };
    let (_, sample_readings) = produce(0, one_minute, &keys[0], start, &to_sample);
    let mut sample_payloads = Vec::new();
    while let Ok(p) = sample_rx.try_recv() {
        sample_payloads.push(p);
    }
    let sample = sample_payloads[0].clone();
    let per_message = sample_readings as f64 / sample_payloads.len() as f64;
    let expected_total = shape.gateways * shape.devices * shape.minutes as usize;
    let messages = (expected_total as f64 / per_message) as usize;
    let raw = raw_qos1(port, messages.max(1000), sample.clone()).await;
    let verify_us = {
        let mut verifier = firmware_bridge::envelope::Verifier::default();
        verifier.pair("gw-0", keys[0].public_key());
        let rounds = 200;
        let began = Instant::now();
        let mut readings = 0;
        for _ in 0..rounds {
            readings += std::hint::black_box(verifier.verify("gw-0", &sample).unwrap()).len();
        }
        began.elapsed().as_secs_f64() * 1e6 / readings as f64
    };

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

    eprintln!(
        "{} gateways × {} simulated CGMs × {} minutes{}, {}, through sessions, spool, broker and hub ...",
        shape.gateways,
        shape.devices,
        shape.minutes,
        if shape.rate > 0.0 {
            format!(" at {:.0} readings/s", shape.rate)
        } else {
            " as fast as they come".to_owned()
        },
        if shape.v1 { "one reading a message (v1)" } else { "batched (v2)" }
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (g, key) in keys.into_iter().enumerate() {
        let spool_dir = directory.join(format!("spool-{g}"));
        tasks.push(tokio::spawn(async move {
            let (spool, _) = Spool::open(FsDisk::new(spool_dir).unwrap()).unwrap();
            let config = ForwarderConfig {
                host: "127.0.0.1".into(),
                port,
                client_id: format!("gw-{g}"),
                topic: readings_topic(&format!("gw-{g}")),
                max_inflight: 1024,
            };
            let (to_forwarder, mut incoming) = tokio::sync::mpsc::unbounded_channel();
            let producer =
                std::thread::spawn(move || produce(g, shape, &key, start, &to_forwarder));
            let mut forwarder = Forwarder::new(spool, config);
            forwarder.forward_from(&mut incoming).await.unwrap();
            producer.join().unwrap()
        }));
    }
    let mut sealed_at = Vec::new();
    let mut produced = 0;
    for task in tasks {
        let (at, n) = task.await?;
        sealed_at.push(at);
        produced += n;
    }
    let forwarded = started.elapsed();
    let count = rusqlite_count(&store_path);
    while count() < produced {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let ingest = hub.await?;
    let latencies = latencies_ms(&store_path, &sealed_at);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let throughput = produced as f64 / elapsed.as_secs_f64();
    println!(
        "readings: {produced} from {} devices, stored {}, duplicates {}, rejected {:?}",
        shape.gateways * shape.devices,
        ingest.stats().stored,
        ingest.stats().duplicates,
        ingest.stats().rejected
    );
    println!(
        "gateways done (all acknowledged by the broker) after {:.2} s; hub done after {:.2} s",
        forwarded.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "end to end (simulated CGM → session → seal → spool fsync → broker → hub → SQLite FULL sync): {throughput:.0} readings/s"
    );
    println!(
        "latency sealed → stored: p50 {:.1} ms, p99 {:.1} ms",
        percentile(0.5),
        percentile(0.99)
    );
    println!(
        "raw QoS-1 through the same broker, same payloads ({} bytes, {per_message:.0} readings): {raw:.0} messages/s = {:.0} readings/s",
        sample.len(),
        raw * per_message
    );
    println!("hub verify per reading (Ed25519 + parse): {verify_us:.1} µs");
    println!(
        "ratio end-to-end / raw (readings/s): {:.3}",
        throughput / (raw * per_message)
    );
    std::fs::remove_dir_all(&directory)?;
    Ok(())
}

fn rusqlite_count(path: &std::path::Path) -> impl Fn() -> usize {
    let path = path.to_owned();
    move || {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            // Rows are only added, so the highest id is the count (without a scan that
            // would compete with the hub).
            .query_row("SELECT coalesce(max(id), 0) FROM readings", [], |row| {
                row.get::<_, i64>(0)
            })
            .unwrap_or(0) as usize
    }
}

/// Per reading: the hub's commit time − when its gateway sealed it, milliseconds.
fn latencies_ms(path: &std::path::Path, sealed_at: &[HashMap<i64, i64>]) -> Vec<f64> {
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT device_key, record_key, received_us FROM readings")
        .unwrap();
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .unwrap();
    let mut latencies = Vec::new();
    for row in rows {
        let (device, record, received_us) = row.unwrap();
        let device: DeviceIdentity = serde_json::from_str(&device).unwrap();
        let gateway: usize = device
            .serial
            .as_deref()
            .and_then(|s| s.split('-').nth(1))
            .and_then(|g| g.parse().ok())
            .unwrap();
        let RecordId::Session { offset_min, .. } = serde_json::from_str(&record).unwrap() else {
            continue;
        };
        if let Some(sealed) = sealed_at[gateway].get(&i64::from(offset_min)) {
            latencies.push((received_us - sealed) as f64 / 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}
