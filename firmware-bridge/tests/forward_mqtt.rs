//! Spool → MQTT (QoS 1) → a real broker (embedded rumqttd) → a subscriber that verifies
//! each message as the hub does: every reading arrives, the bridge being killed halfway
//! loses nothing (its spool is reopened from disk and drained again), and the repeats
//! that at-least-once delivery produces are recognised as replays.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use device_adapters::reading::{
    DeviceIdentity, DeviceTime, Measurement, Reading, ReadingSource, RecordId,
};
use firmware_bridge::envelope::{
    gateway_of_topic, readings_topic, Envelope, GatewayKey, Rejection, Verifier,
};
use firmware_bridge::forward::{Forwarder, ForwarderConfig, GROUP_COMMIT_MAX};
use firmware_bridge::spool::{FsDisk, Spool};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

mod common;
use common::{free_port, start_broker};

fn envelope(counter: u64) -> Envelope {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_736_000_000, 0).unwrap();
    let time = start + chrono::Duration::minutes(5 * counter as i64);
    Envelope {
        gateway: "gw-1".into(),
        counter,
        received_at: time,
        characteristic: Some(0x2AA7),
        raw_hex: None,
        reading: Reading {
            measurement: Measurement::glucose(100.0 + (counter % 80) as f64, true),
            time,
            local_offset_min: Some(60),
            device_time: DeviceTime::Absolute {
                instant: time,
                utc_offset_min: Some(60),
            },
            device: DeviceIdentity {
                serial: Some("CGM-1".into()),
                ..DeviceIdentity::default()
            },
            record: RecordId::Session {
                session_start: "2025-01-04T15:00:00".into(),
                offset_min: 5 * counter as u32,
            },
            flags: Vec::new(),
            source: ReadingSource::Ble {
                characteristic: 0x2AA7,
            },
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reading_reaches_the_subscriber_across_a_bridge_crash() {
    let port = free_port();
    start_broker(port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let key = GatewayKey::from_seed(&[3; 32]).unwrap();
    let topic = readings_topic("gw-1");

    // The hub side: subscribe and verify.
    let (hub, mut hub_loop) =
        AsyncClient::new(MqttOptions::new("hub-test", "127.0.0.1", port), 100);
    hub.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
    let public_key = key.public_key();
    let receiver = tokio::spawn(async move {
        let mut verifier = Verifier::default();
        verifier.pair("gw-1", public_key);
        let (mut accepted, mut replays) = (BTreeSet::new(), 0_u64);
        while accepted.len() < 600 {
            match tokio::time::timeout(Duration::from_secs(20), hub_loop.poll()).await {
                Ok(Ok(Event::Incoming(Incoming::Publish(publish)))) => {
                    let gateway = gateway_of_topic(&publish.topic).unwrap().to_owned();
                    match verifier.open(&gateway, &publish.payload) {
                        Ok(envelope) => {
                            accepted.insert(envelope.counter);
                        }
                        Err(Rejection::Replayed { .. }) => replays += 1,
                        Err(other) => panic!("rejected: {other}"),
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => panic!("hub connection: {error}"),
                Err(_) => break,
            }
        }
        (accepted, replays)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let directory = std::env::temp_dir().join(format!("pghd-forward-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    let config = ForwarderConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: "gw-1".into(),
        topic,
        max_inflight: 32,
    };

    // First bridge run: spool 600 readings, forward until a third is acknowledged, die.
    let (spool, _) = Spool::open(FsDisk::new(&directory).unwrap()).unwrap();
    let mut forwarder = Forwarder::new(spool, config.clone());
    for counter in 0..600 {
        forwarder
            .spool_mut()
            .append(&key.seal(&envelope(counter)).unwrap())
            .unwrap();
    }
    let mut acknowledged = 0;
    while acknowledged < 200 {
        acknowledged += forwarder.step().await.unwrap();
    }
    drop(forwarder); // killed: in-flight publishes and in-memory acknowledgements are gone

    // Second run: the spool comes back from disk and is drained.
    let (spool, recovery) = Spool::open(FsDisk::new(&directory).unwrap()).unwrap();
    assert!(
        recovery.pending <= 400 + 32 + GROUP_COMMIT_MAX,
        "at most the in-flight window and one group of unpersisted acks are resent: {recovery:?}"
    );
    let mut forwarder = Forwarder::new(spool, config);
    forwarder.drain(Duration::from_secs(30)).await.unwrap();
    assert_eq!(forwarder.pending(), 0);

    let (accepted, replays) = receiver.await.unwrap();
    assert_eq!(
        accepted,
        (0..600).collect::<BTreeSet<u64>>(),
        "every reading arrived"
    );
    eprintln!("600 readings delivered; {replays} repeats recognised as replays");
    std::fs::remove_dir_all(&directory).unwrap();
}
