//! `pghd-bridge` as a user runs it: `keygen` makes a private key file and prints the
//! public key; `simulate` runs a CGM, a heart-rate strap, a blood-pressure cuff and a scale
//! through the sessions, spool and forwarder to a real broker (embedded rumqttd), where
//! a subscriber verifies every message with that public key, as the hub does.

use std::process::Command;
use std::time::Duration;

use firmware_bridge::envelope::{gateway_of_topic, readings_topic, Verifier};
use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};

mod common;
use common::{free_port, start_broker};

const BRIDGE: &str = env!("CARGO_BIN_EXE_pghd-bridge");

#[test]
fn keygen_then_simulate_delivers_verifiable_readings_of_every_simulated_device() {
    let directory = std::env::temp_dir().join(format!("pghd-bridge-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    let key_file = directory.join("gateway.key");

    let made = Command::new(BRIDGE)
        .args(["keygen", "--key"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let public_hex = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert_eq!(public_hex.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is readable by its owner only");
    }
    let again = Command::new(BRIDGE)
        .args(["keygen", "--key"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing key is never overwritten"
    );

    let port = free_port();
    start_broker(port);
    std::thread::sleep(Duration::from_millis(300));
    let mut options = MqttOptions::new("hub-test", "127.0.0.1", port);
    let max = firmware_bridge::envelope::MAX_PACKET;
    options.set_max_packet_size(max, max);
    let (subscriber, mut connection) = Client::new(options, 100);
    subscriber
        .subscribe(readings_topic("kitchen"), QoS::AtLeastOnce)
        .unwrap();
    let mut verifier = Verifier::default();
    let public: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&public_hex[i..i + 2], 16).unwrap())
        .collect();
    verifier.pair("kitchen", public);
    // Wait for the subscription before the bridge publishes.
    for event in connection.iter() {
        if let Ok(Event::Incoming(Incoming::SubAck(_))) = event {
            break;
        }
    }

    // A day: the cuff measures at 07:30 and 20:30 Rome time, so at least one falls in.
    let run = Command::new(BRIDGE)
        .args([
            "simulate",
            "--broker",
            &format!("127.0.0.1:{port}"),
            "--gateway",
            "kitchen",
        ])
        .arg("--key")
        .arg(&key_file)
        .arg("--spool")
        .arg(directory.join("spool"))
        .args(["--minutes", "1440", "--minutes-per-second", "100000"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = String::from_utf8_lossy(&run.stderr).into_owned();
    let done = report
        .lines()
        .find(|l| l.starts_with("done:"))
        .expect(&report);
    let sealed: usize = done.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(done.ends_with("0 messages left in the spool"), "{done}");

    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut received = 0;
    for event in connection.iter() {
        let Ok(Event::Incoming(Incoming::Publish(publish))) = event else {
            continue;
        };
        let gateway = gateway_of_topic(&publish.topic).unwrap().to_owned();
        let envelopes = verifier
            .verify(&gateway, &publish.payload)
            .expect("every message verifies with the key keygen printed");
        for envelope in envelopes {
            let envelope = verifier.admit(envelope).expect("each reading once");
            *kinds
                .entry(envelope.reading.measurement.kind().to_owned())
                .or_default() += 1;
            received += 1;
        }
        if received == sealed {
            break;
        }
    }
    assert_eq!(received, sealed);
    assert!(kinds["cgm_glucose"] > 250, "{kinds:?}");
    assert!(kinds["heart_rate"] > 1000, "{kinds:?}");
    assert!((1..=2).contains(&kinds["blood_pressure"]), "{kinds:?}");
    assert_eq!(kinds["body_weight"], 1, "{kinds:?}");
    assert_eq!(kinds["meter_glucose"], 4, "{kinds:?}");
    // The band: a step and a distance reading every 15 minutes, a night's sleep.
    assert!(
        kinds["steps"] >= 90 && kinds["steps"] == kinds["distance"],
        "{kinds:?}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}
