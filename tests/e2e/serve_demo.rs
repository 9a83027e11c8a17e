//! `pghd-hub serve --demo` (the README's run command) end to end: the demo accounts log
//! in with the passwords it prints, the doctor sees the consenting demo patient and their
//! summary, the live simulated sensor's readings arrive through the embedded broker, an
//! xDrip+-style Nightscout upload is read back by a real Nightscout client library
//! (py-nightscout, PyPI), and schemathesis (PyPI) fuzzes the served OpenAPI document
//! without one 5xx. The Python tools come from `scripts/install-test-tools.sh`
//! (`PGHD_TEST_TOOLS` names its bin directory).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pghd_hub::serve::{run, ServeConfig, StoreLocation};
use serde_json::{json, Value};

/// A writer the server thread narrates into and the test reads.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

pub(crate) struct Hub {
    pub(crate) base: String,
    /// Port of the embedded MQTT broker.
    broker_port: u16,
    pub(crate) passwords: Vec<(String, String)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    directory: std::path::PathBuf,
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Starts `serve --demo` in a directory of its own (`name` keeps tests apart).
pub(crate) fn start_demo_hub(name: &str) -> Hub {
    let directory = std::env::temp_dir().join(format!("pghd-e2e-{name}-{}", std::process::id()));
    let out = Shared::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: StoreLocation::Sqlite(directory.join("hub.sqlite")),
        connections: 4,
        demo: true,
        data_dir: directory.clone(),
        sensor_tick: Duration::from_millis(20),
        notify_webhook: None,
        fhir_destinations: Vec::new(),
        analytics: None,
    };
    let mut narration = out.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime
            .block_on(run(config, &mut narration, async {
                let _ = stopped.await;
            }))
            .unwrap();
    });
    let mut waited = 0;
    let text = loop {
        let text = out.text();
        if text.contains("listening on") {
            break text;
        }
        assert!(waited < 600, "the hub did not start: {text}");
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    };
    let base = text
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let broker_port = text
        .split("embedded MQTT broker on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|port| port.parse().ok())
        .expect("broker port printed");
    let passwords = text
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [_, "login", login, "password", password] => {
                    Some(((*login).to_owned(), (*password).to_owned()))
                }
                _ => None,
            }
        })
        .collect();
    Hub {
        base,
        broker_port,
        passwords,
        stop: Some(stop),
        thread: Some(thread),
        directory,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

impl Hub {
    pub(crate) fn login(&self, login: &str) -> String {
        let password = &self
            .passwords
            .iter()
            .find(|(l, _)| l == login)
            .unwrap_or_else(|| panic!("no password printed for {login}"))
            .1;
        let mut reply = agent()
            .post(format!("{}/api/v1/auth/login", self.base))
            .send_json(json!({"login": login, "password": password}))
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200);
        let body: Value = reply.body_mut().read_json().unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    pub(crate) fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let mut reply = agent()
            .get(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        (
            reply.status().as_u16(),
            reply.body_mut().read_json().unwrap_or(Value::Null),
        )
    }
}

#[test]
fn the_demo_hub_serves_its_accounts_data_and_live_sensor() {
    let hub = start_demo_hub("serve");
    assert_eq!(hub.passwords.len(), 4, "four demo accounts");
    let doctor = hub.login("medico");
    let (status, patients) = hub.get("/api/v1/practitioner/patients", &doctor);
    assert_eq!(status, 200);
    assert_eq!(patients[0]["id"], "demo-patient");
    let (status, summary) = hub.get("/api/v1/patients/demo-patient/glucometrics", &doctor);
    assert_eq!(status, 200, "{summary}");
    assert!(summary["readings"].as_u64().unwrap() > 3000, "{summary}");

    // The live sensor: readings from the simulated CGM (not the imported series) arrive
    // through broker, ingest and store.
    let patient = hub.login("paziente");
    let mut live = 0;
    // The simulated clock runs ahead of the real one (a minute per 20 ms).
    let to = (chrono::Utc::now() + chrono::Duration::hours(23)).format("%Y-%m-%dT%H:%M:%SZ");
    for _ in 0..200 {
        let (_, page) = hub.get(
            &format!("/api/v1/patients/demo-patient/readings?kind=cgm_glucose&limit=10000&to={to}"),
            &patient,
        );
        live = page["readings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["source"]["via"] == "ble")
            .count();
        if live >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(live >= 5, "live readings seen: {live}");

    // The strap's heart rate arrives too, and makes the daily summary.
    let mut days = Value::Null;
    for _ in 0..100 {
        (_, days) = hub.get(
            &format!("/api/v1/patients/demo-patient/daily?to={to}"),
            &patient,
        );
        if days.as_array().is_some_and(|d| {
            d.iter()
                .any(|day| day["heart_rate"]["readings"].as_u64() > Some(3))
        }) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let day = days
        .as_array()
        .unwrap()
        .iter()
        .find(|day| !day["heart_rate"].is_null())
        .expect("a day with heart rate");
    let mean = day["heart_rate"]["mean_per_min"].as_f64().unwrap();
    assert!((40.0..160.0).contains(&mean), "{day}");

    // The band's step summaries (PAMS, sent in segments and reassembled by the bridge)
    // arrive with the band's serial and their session record identity.
    let mut band = 0;
    for _ in 0..200 {
        let (_, page) = hub.get(
            &format!("/api/v1/patients/demo-patient/readings?kind=steps&limit=10000&to={to}"),
            &patient,
        );
        band = page["readings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["device"]["serial"] == "DEMO-BAND-1" && r["record"]["form"] == "session_record"
            })
            .count();
        if band >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(band >= 2, "band step summaries seen: {band}");

    // The patient sees the doctor's reads in their log.
    let (_, log) = hub.get("/api/v1/patients/demo-patient/audit", &patient);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"] == "dr-bianchi")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["GET glucometrics"]);

    a_bridge_pairs_with_a_code_and_its_readings_arrive(&hub, &patient);
    a_theengs_gateway_pairs_its_scale_and_a_weighing_arrives(&hub, &patient);
    let api_secret = nightscout_upload_reads_back_through_py_nightscout(&hub, &patient);
    schemathesis_finds_no_server_error(&hub, &patient, &api_secret);
}

/// A pairing code the demo patient asks for.
fn pairing_code(hub: &Hub, patient_token: &str) -> String {
    let mut made = agent()
        .post(format!(
            "{}/api/v1/patients/demo-patient/pairing-codes",
            hub.base
        ))
        .header("Authorization", &format!("Bearer {patient_token}"))
        .send_empty()
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    made.body_mut().read_json::<Value>().unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The patient asks for a pairing code; a new gateway presents it with its public key;
/// a reading it then signs and publishes over MQTT is stored for the patient, while the
/// same gateway under another key, or a reused code, is refused.
fn a_bridge_pairs_with_a_code_and_its_readings_arrive(hub: &Hub, patient_token: &str) {
    use firmware_bridge::envelope::{readings_topic, Envelope, GatewayKey};
    let code = pairing_code(hub, patient_token);
    // The bridge's own pairing call (what `pghd-bridge pair` runs).
    let key = GatewayKey::from_seed(&[7; 32]).unwrap();
    let paired = firmware_bridge::pairing::pair(&hub.base, &code, "kitchen-hub", &key).unwrap();
    assert_eq!(paired.topic, readings_topic("kitchen-hub"));
    let refused = |code: &str, key: &GatewayKey| match firmware_bridge::pairing::pair(
        &hub.base,
        code,
        "kitchen-hub",
        key,
    ) {
        Err(firmware_bridge::pairing::PairError::Refused { status, .. }) => status,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(&code, &key), 401, "a code is used once");
    let other = GatewayKey::from_seed(&[8; 32]).unwrap();
    assert_eq!(refused(&code.to_lowercase(), &other), 401);

    // The bridge publishes one signed reading (QoS 1) to the embedded broker.
    let time = chrono::Utc::now() - chrono::Duration::minutes(3);
    let reading = device_adapters::reading::Reading::stamped(
        device_adapters::reading::Measurement::glucose(187.0, true),
        time,
        Some(60),
        device_adapters::reading::DeviceIdentity {
            serial: Some("PAIRED-CGM-1".into()),
            ..Default::default()
        },
        device_adapters::reading::RecordId::Instant {
            at: time.to_rfc3339(),
        },
        device_adapters::reading::ReadingSource::Ble {
            characteristic: 0x2AA7,
        },
    );
    let payload = key
        .seal(&Envelope {
            gateway: "kitchen-hub".into(),
            counter: 1,
            received_at: time,
            characteristic: Some(0x2AA7),
            raw_hex: None,
            reading,
        })
        .unwrap();
    publish_qos1(hub, "kitchen-hub", &readings_topic("kitchen-hub"), payload);
    let mut found = false;
    for _ in 0..100 {
        let (_, page) = hub.get(
            "/api/v1/patients/demo-patient/readings?kind=cgm_glucose&limit=10000",
            patient_token,
        );
        found = page["readings"].as_array().unwrap().iter().any(|r| {
            r["device"]["serial"] == "PAIRED-CGM-1" && r["measurement"]["glucose"]["value"] == 187.0
        });
        if found {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(found, "the paired gateway's reading was not stored");
    let (_, gateways) = hub.get("/api/v1/patients/demo-patient/gateways", patient_token);
    let ids: Vec<&str> = gateways
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["demo-gateway", "kitchen-hub"]);
}

/// Publishes `payload` on `topic` to the demo's broker at QoS 1 and waits for the
/// broker's acknowledgement.
fn publish_qos1(hub: &Hub, client_id: &str, topic: &str, payload: Vec<u8>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", hub.broker_port);
        let (client, mut events) = rumqttc::AsyncClient::new(options, 10);
        client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(rumqttc::Event::Incoming(rumqttc::Incoming::PubAck(_))) =
                    events.poll().await
                {
                    break;
                }
            }
        })
        .await
        .expect("the broker acknowledged");
    });
}

/// A Theengs Gateway pairs with a code and the address of the patient's scale; the scale's
/// decoded advertisement (Theengs Decoder's JSON) on `home/hall/BTtoMQTT/...` becomes a
/// weight reading for the patient, and a neighbour's scale heard by the same gateway
/// does not.
fn a_theengs_gateway_pairs_its_scale_and_a_weighing_arrives(hub: &Hub, patient_token: &str) {
    let code = pairing_code(hub, patient_token);
    let pair = |body: Value| {
        let mut reply = agent()
            .post(format!("{}/api/v1/gateways/pair", hub.base))
            .send_json(body)
            .unwrap();
        (
            reply.status().as_u16(),
            reply.body_mut().read_json::<Value>().unwrap(),
        )
    };
    assert_eq!(
        pair(serde_json::json!({"code": code, "gateway": "hall", "theengs_devices": ["not-an-address"]})).0,
        400
    );
    let (status, paired) = pair(serde_json::json!({
        "code": code, "gateway": "hall", "theengs_devices": ["5c:ca:d3:11:22:33"]
    }));
    assert_eq!(status, 201, "{paired}");
    assert_eq!(paired["topic"], "home/hall/BTtoMQTT/#");

    let weighing = |address: &str, kg: f64| {
        format!(r#"{{"id":"{address}","brand":"Xiaomi","model":"Mi Body Composition Scale","model_id":"XMTZC02HM/XMTZC05HM","type":"SCALE","weighing_mode":"person","unit":"kg","weight":{kg},"impedance":503}}"#).into_bytes()
    };
    publish_qos1(
        hub,
        "theengs-hall",
        "home/hall/BTtoMQTT/11223344AA55",
        weighing("11:22:33:44:AA:55", 91.2),
    );
    publish_qos1(
        hub,
        "theengs-hall",
        "home/hall/BTtoMQTT/5CCAD3112233",
        weighing("5C:CA:D3:11:22:33", 73.15),
    );
    let mut weights = Vec::new();
    for _ in 0..100 {
        let (_, page) = hub.get(
            "/api/v1/patients/demo-patient/readings?kind=body_weight&limit=10000",
            patient_token,
        );
        weights = page["readings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["source"]["via"] == "mqtt")
            .map(|r| {
                (
                    r["device"]["address"].clone(),
                    r["measurement"]["weight"]["value"].clone(),
                )
            })
            .collect();
        if !weights.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        weights,
        [(Value::from("5C:CA:D3:11:22:33"), Value::from(73.15))],
        "the bound scale's weighing only"
    );
    let (_, gateways) = hub.get("/api/v1/patients/demo-patient/gateways", patient_token);
    let hall = gateways
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "hall")
        .expect("the Theengs gateway is listed");
    assert_eq!(hall["kind"], "theengs");
    assert_eq!(hall["devices"], serde_json::json!(["5C:CA:D3:11:22:33"]));
}

/// A program from the test tools' environment, or `None` (then the caller skips, unless
/// `PGHD_REQUIRE_TEST_TOOLS` is set).
fn test_tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var("PGHD_TEST_TOOLS")
        .ok()
        .map(|dir| std::path::Path::new(&dir).join(name))
        .filter(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var("PGHD_REQUIRE_TEST_TOOLS").is_err(),
            "PGHD_REQUIRE_TEST_TOOLS is set but {name} is not in PGHD_TEST_TOOLS"
        );
        eprintln!(
            "{name} not run: PGHD_TEST_TOOLS does not hold it (scripts/install-test-tools.sh)"
        );
    }
    found
}

/// Uploads entries as xDrip+ does (`POST /api/v1/entries` with `api-secret`), then reads
/// them back with py-nightscout's `get_sgvs` and `get_server_status`.
/// Returns the `api-secret` header value of the upload secret it made.
fn nightscout_upload_reads_back_through_py_nightscout(hub: &Hub, patient_token: &str) -> String {
    let mut made = agent()
        .post(format!(
            "{}/api/v1/patients/demo-patient/upload-secret",
            hub.base
        ))
        .header("Authorization", &format!("Bearer {patient_token}"))
        .send_empty()
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let made: Value = made.body_mut().read_json().unwrap();
    let secret = made["secret"].as_str().unwrap().to_owned();
    // Newer than anything the sensor simulation reaches in this test (it runs ahead of
    // the clock by a minute per 20 ms), so these are the newest entries.
    let base = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000 + 20 * 3_600_000;
    let entries: Vec<Value> = (0..5)
        .map(|i| {
            json!({"type": "sgv", "sgv": 150 + i, "direction": "FortyFiveUp",
                   "date": base + i * 60_000, "device": "xDrip-LibreReceiver"})
        })
        .collect();
    let api_secret = made["api_secret_header"].as_str().unwrap().to_owned();
    let upload = agent()
        .post(format!("{}/api/v1/entries", hub.base))
        .header("api-secret", &api_secret)
        .send_json(&entries)
        .unwrap();
    assert_eq!(upload.status().as_u16(), 200);
    let Some(python) = test_tool("python") else {
        return api_secret;
    };
    let script = r#"
import asyncio, json, sys
from py_nightscout import Api
async def main():
    api = Api(sys.argv[1], api_secret=sys.argv[2])
    sgvs = await api.get_sgvs()
    status = await api.get_server_status()
    print(json.dumps({"sgv": [s.sgv for s in sgvs], "status": status.status,
                      "name": status.name}))
asyncio.run(main())
"#;
    let run = std::process::Command::new(python)
        .args(["-c", script, &hub.base, &secret])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "py-nightscout failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let seen: Value = serde_json::from_slice(&run.stdout).unwrap();
    // Newest first, the default count of 10: our five, then the sensor's.
    let values = seen["sgv"].as_array().unwrap();
    assert_eq!(values.len(), 10, "{seen}");
    assert_eq!(
        values[..5],
        json!([154, 153, 152, 151, 150]).as_array().unwrap()[..],
        "{seen}"
    );
    assert_eq!(
        (seen["status"].as_str(), seen["name"].as_str()),
        (Some("ok"), Some("pghd-hub"))
    );
    api_secret
}

/// Runs schemathesis against the served OpenAPI document as the demo patient (path
/// parameter `patient` fixed to them, so generated requests reach their record; their
/// upload secret too, until a generated request replaces it).
fn schemathesis_finds_no_server_error(hub: &Hub, token: &str, api_secret: &str) {
    let Some(program) = test_tool("schemathesis") else {
        return;
    };
    let config = hub.directory.join("schemathesis.toml");
    std::fs::write(
        &config,
        "[parameters]\n\"path.patient\" = \"demo-patient\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(&program)
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run"])
        .arg(format!("{}/api/v1/openapi.json", hub.base))
        .args(["--checks", "not_a_server_error", "--max-examples", "40"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--header", &format!("api-secret: {api_secret}")])
        .args(["--seed", "1"])
        .current_dir(&hub.directory)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("passed"), "{text}");
    let summary: Vec<&str> = text.lines().filter(|l| l.contains("generated")).collect();
    eprintln!("schemathesis: {}", summary.join(" "));
}
