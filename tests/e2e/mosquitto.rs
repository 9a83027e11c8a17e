//! Interoperability and resilience against Debian's Mosquitto: a simulated CGM streams
//! through the bridge (session, spool, signed QoS-1 forwarding) to a Mosquitto broker and
//! a hub ingest running as its own process into SQLite. During the run the hub is killed
//! with SIGKILL and restarted, and the broker is restarted (the bridge is cut off while it
//! is down). Afterwards every reading the sensor measured is stored exactly once.
//!
//! Needs `mosquitto` (installed by `.ci/run`, which sets `PGHD_REQUIRE_MOSQUITTO=1` so a
//! missing broker fails CI); without it the test says so and does nothing.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Duration as Minutes, Utc};
use clap::Parser;
use device_adapters::reading::RecordId;
use firmware_bridge::envelope::{readings_topic, Envelope, GatewayKey};
use firmware_bridge::forward::{Forwarder, ForwarderConfig};
use firmware_bridge::session::{CgmSession, GattSession as _, SessionConfig};
use firmware_bridge::sim::cgm::{SimulatedCgm, SimulatedCgmConfig};
use firmware_bridge::spool::{FsDisk, Spool};
use pghd_hub::cli::{run, Cli};
use pghd_hub::store::sqlite::SqliteStore;
use pghd_hub::store::{PatientId, ReadingQuery, ReadingStore};

const HUB_ROLE: &str = "PGHD_E2E_HUB_ARGS";

/// The hub process of the test below (the test binary runs itself in this role).
#[test]
#[ignore = "a role of `mosquitto::every_reading_survives_broker_restart_and_hub_sigkill`, run as its child process"]
fn hub_role() {
    let Ok(args) = std::env::var(HUB_ROLE) else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let cli = Cli::try_parse_from(args).unwrap();
    run(cli, &mut std::io::stdout(), &mut std::io::stderr(), false).unwrap();
}

fn spawn_hub(args: &[String]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "mosquitto::hub_role",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(HUB_ROLE, serde_json::to_string(args).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub(crate) fn start_mosquitto(directory: &Path, port: u16) -> Child {
    // Started as root, mosquitto drops to its own user: its persistence file must be
    // writable by that user, or a restart loses what it acknowledged.
    let broker_dir = directory.join("broker");
    std::fs::create_dir_all(&broker_dir).unwrap();
    std::fs::set_permissions(
        &broker_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let directory = broker_dir.as_path();
    let config = directory.join("mosquitto.conf");
    // Persistence keeps the hub's queued readings across the broker restart; an
    // unlimited queue keeps them all while the hub is down (the default queue is 1000).
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\nmax_queued_messages 0\n",
            directory.display()
        ),
    )
    .unwrap();
    let mut child = Command::new("mosquitto")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("mosquitto did not start");
}

pub(crate) fn stop_gracefully(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reading_survives_broker_restart_and_hub_sigkill() {
    if Command::new("mosquitto").arg("-h").output().is_err() {
        assert!(
            std::env::var("PGHD_REQUIRE_MOSQUITTO").is_err(),
            "PGHD_REQUIRE_MOSQUITTO is set but mosquitto is not installed"
        );
        eprintln!("mosquitto interop test not run: mosquitto is not installed");
        return;
    }
    let directory = std::env::temp_dir().join(format!("pghd-e2e-mosquitto-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut broker = start_mosquitto(&directory, port);

    // The sensor, collected by the bridge's session in simulated time (3 days).
    let key = GatewayKey::from_seed(&[21; 32]).unwrap();
    let start: DateTime<Utc> = DateTime::from_timestamp(1_735_689_600, 0).unwrap();
    let end = start + Minutes::days(3);
    let mut sensor = SimulatedCgm::new(SimulatedCgmConfig {
        session_start: start,
        days: 3,
        ..SimulatedCgmConfig::default()
    });
    let mut session = CgmSession::new(SessionConfig::default(), None, None, start);
    let mut payloads = Vec::new();
    let mut envelopes = Vec::new();
    let mut counter = 0;
    let mut now = start;
    while now <= end {
        session.exchange(&mut sensor, now);
        // Every simulated half hour, what the session gave is one signed batch
        // (contract version 2, as the bridge sends).
        while let Some(reading) = session.poll_reading() {
            envelopes.push(Envelope::of_reading("gw-m", counter, now, 0x2AA7, reading));
            counter += 1;
        }
        if (now - start).num_minutes() % 30 == 0 || now == end {
            payloads.extend(key.seal_batch("gw-m", &envelopes).unwrap());
            envelopes.clear();
        }
        now += Minutes::minutes(1);
    }
    let measured = sensor.measured(end);
    assert_eq!(counter as usize, measured.len());

    // The hub, as a process.
    let store = directory.join("hub.sqlite");
    let key_hex: String = key
        .public_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hub_args: Vec<String> = vec![
        "pghd-hub".into(),
        "ingest".into(),
        "--broker".into(),
        format!("127.0.0.1:{port}"),
        "--store".into(),
        store.display().to_string(),
        "--pair".into(),
        format!("gw-m={key_hex}=patient-m"),
    ];
    let mut hub = spawn_hub(&hub_args);
    tokio::time::sleep(Duration::from_millis(800)).await;

    // The bridge streams the readings over ~5 s while the test breaks things.
    let (to_forwarder, mut incoming) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (spool, _) = Spool::open(FsDisk::new(directory.join("spool")).unwrap()).unwrap();
    let config = ForwarderConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: "gw-m".into(),
        topic: readings_topic("gw-m"),
        max_inflight: 16,
    };
    let bridge = tokio::spawn(async move {
        let mut forwarder = Forwarder::new(spool, config);
        let left = forwarder.forward_from(&mut incoming).await.unwrap();
        (left, forwarder.reconnects)
    });
    let producer = tokio::spawn(async move {
        // ~145 batches over ~5 s, while the test breaks things.
        for payload in payloads {
            let _ = to_forwarder.send(payload);
            tokio::time::sleep(Duration::from_millis(35)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    hub.kill().unwrap(); // SIGKILL
    let _ = hub.wait();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut hub = spawn_hub(&hub_args);
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop_gracefully(&mut broker); // the bridge and the hub are cut off
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut broker = start_mosquitto(&directory, port);
    producer.await.unwrap();
    let (left, reconnects) = tokio::time::timeout(Duration::from_secs(60), bridge)
        .await
        .expect("the bridge drained")
        .unwrap();
    assert_eq!(left, 0, "the spool drained");
    assert!(reconnects > 0, "the broker restart was seen by the bridge");

    // Wait for the hub to store everything, then stop everything and check.
    let patient = PatientId("patient-m".into());
    let query = ReadingQuery {
        patient,
        kind: Some("cgm_glucose".into()),
        from: start,
        to: end + Minutes::days(1),
        after: None,
        limit: 10_000,
    };
    let mut reader = SqliteStore::open(&store).unwrap();
    let mut stored = Vec::new();
    for _ in 0..600 {
        stored = reader.readings(&query).unwrap().readings;
        if stored.len() >= measured.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub.kill().unwrap();
    let _ = hub.wait();
    stop_gracefully(&mut broker);
    assert_eq!(
        stored.len(),
        measured.len(),
        "every measured reading stored, none twice"
    );
    for (reading, (offset, mg_dl)) in stored.iter().zip(&measured) {
        assert!(
            matches!(&reading.record, RecordId::Session { offset_min, .. } if *offset_min == u32::from(*offset))
        );
        assert!((reading.glucose_mg_dl().unwrap() - mg_dl).abs() < 1e-9);
    }
    std::fs::remove_dir_all(&directory).unwrap();
}
