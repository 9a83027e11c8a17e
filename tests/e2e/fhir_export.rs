//! The FHIR export against a real FHIR server, helios-hfs, started by the tests: every
//! resource shape the hub emits, and the submission Bundle, validated by its
//! `$validate` (helios-fhir-validator) against FHIR R4 and the CGM IG's profiles
//! (`tests/fixtures/fhir/cgm-ig/`, stored on the server first); and delivery: 14 days of a simulated patient submitted, read
//! back by search and compared with the engine's values, submitted again without
//! duplicates, and delivered after the server was stopped mid-delivery.
//!
//! The tools are installed by `scripts/install-fhir-tools.sh` (run by `scripts/test.sh`
//! and `.ci/run`) under `target/tools/fhir`, or found through `PGHD_FHIR_TOOLS`.
//! Without them the tests say so and do nothing, unless `PGHD_REQUIRE_FHIR_TOOLS=1` (set
//! by `.ci/run`), which makes a missing tool a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use device_adapters::reading::{
    DeviceIdentity, DeviceTime, Measurement, Quantity, Reading, ReadingFlag, ReadingSource,
    RecordId,
};
use glucometrics::synthetic::SyntheticTrace;
use pghd_hub::fhir::{DelegateInfo, PatientInfo, SubmissionBuilder};
use serde_json::Value;

/// Where the FHIR tools `needed` (names under `bin/`) are, or `None` (after saying
/// why) when the test cannot run.
pub(crate) fn fhir_tools(needed: &[&str]) -> Option<PathBuf> {
    let dir = std::env::var_os("PGHD_FHIR_TOOLS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/fhir"),
        PathBuf::from,
    );
    if needed
        .iter()
        .all(|tool| dir.join("bin").join(tool).is_file())
    {
        return Some(dir);
    }
    assert!(
        std::env::var("PGHD_REQUIRE_FHIR_TOOLS").as_deref() != Ok("1"),
        "PGHD_REQUIRE_FHIR_TOOLS=1 but {needed:?} are missing from {}; run scripts/install-fhir-tools.sh",
        dir.display()
    );
    eprintln!(
        "skipped: {needed:?} not installed in {} (scripts/install-fhir-tools.sh)",
        dir.display()
    );
    None
}

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fhir/cgm-ig")
}

/// 14 days of 5-minute CGM readings from a simulated sensor behind a gateway.
pub(crate) fn simulated_fortnight(start: DateTime<Utc>) -> Vec<Reading> {
    SyntheticTrace {
        start,
        ..SyntheticTrace::default()
    }
    .generate()
    .iter()
    .map(|g| {
        let offset_min = u32::try_from((g.time - start).num_minutes()).unwrap();
        Reading {
            measurement: Measurement::glucose(g.mg_dl, true),
            time: g.time,
            local_offset_min: Some(60),
            device_time: DeviceTime::SessionOffset {
                session_start: start.naive_utc(),
                session_utc_offset_min: Some(0),
                offset_min,
            },
            device: DeviceIdentity {
                address: Some("C0:FF:EE:00:00:01".into()),
                serial: Some("SIM-CGM-1".into()),
                model: Some("pghd simulated CGM".into()),
            },
            record: RecordId::Session {
                session_start: start.naive_utc().to_string(),
                offset_min,
            },
            flags: Vec::new(),
            source: ReadingSource::Mqtt {
                topic: "pghd/v1/gateways/gw-e2e/readings".into(),
            },
        }
    })
    .collect()
}

/// One reading of every other kind, from a strap, a cuff, a scale and a band.
fn wearable_readings(at: DateTime<Utc>) -> Vec<Reading> {
    let reading = |serial: &str, n: u32, measurement: Measurement| Reading {
        measurement,
        time: at,
        local_offset_min: Some(60),
        device_time: DeviceTime::Absolute {
            instant: at,
            utc_offset_min: Some(60),
        },
        device: DeviceIdentity {
            address: None,
            serial: Some(serial.into()),
            model: Some(format!("{serial} model")),
        },
        record: RecordId::Sequence { number: n },
        flags: Vec::new(),
        source: ReadingSource::Ble {
            characteristic: 0x2A37,
        },
    };
    let mut cuff = reading(
        "CUFF",
        1,
        Measurement::BloodPressure {
            systolic: Quantity::new(131.0, "mm[Hg]"),
            diastolic: Some(Quantity::new(84.0, "mm[Hg]")),
            mean_arterial: Some(Quantity::new(99.7, "mm[Hg]")),
            pulse: Some(Quantity::new(66.0, "/min")),
        },
    );
    cuff.flags = vec![ReadingFlag::Other("cuff fit loose".into())];
    let mut meter = reading("METER", 7, Measurement::glucose(48.0, false));
    meter.flags = vec![ReadingFlag::BelowMeasurementRange];
    meter.device_time = DeviceTime::Local {
        local: at.naive_utc(),
    };
    vec![
        reading(
            "STRAP",
            1,
            Measurement::HeartRate {
                rate: Quantity::new(72.0, "/min"),
                rr_intervals_s: vec![0.83],
            },
        ),
        cuff,
        reading(
            "SCALE",
            1,
            Measurement::BodyWeight {
                weight: Quantity::new(81.4, "kg"),
                bmi: Some(Quantity::new(25.1, "kg/m2")),
            },
        ),
        reading(
            "BAND",
            1,
            Measurement::Steps {
                count: Quantity::new(5200.0, "{steps}"),
                period_min: 1440.0,
            },
        ),
        reading(
            "BAND",
            2,
            Measurement::Calories {
                energy: Quantity::new(2100.0, "kcal"),
                period_min: 1440.0,
            },
        ),
        reading(
            "BAND",
            3,
            Measurement::Distance {
                distance: Quantity::new(3900.0, "m"),
                period_min: 1440.0,
            },
        ),
        reading(
            "BAND",
            4,
            Measurement::Sleep {
                duration: Quantity::new(95.0, "min"),
                stage: Some(device_adapters::reading::SleepStage::Deep),
            },
        ),
        meter,
    ]
}

/// A hub store in `dir` with [`patient`] (Europe/Rome, codice fiscale set) and their
/// `readings`, created at `at`.
pub(crate) fn hub_with_patient(
    dir: &Path,
    readings: &[Reading],
    at: DateTime<Utc>,
) -> (
    pghd_hub::store::sqlite::SqliteStore,
    pghd_hub::store::PatientId,
) {
    use pghd_hub::store::directory::{NewAccount, Role};
    use pghd_hub::store::ReadingStore as _;
    let info = patient();
    let mut store = pghd_hub::store::sqlite::SqliteStore::open(&dir.join("hub.db")).unwrap();
    let patient = pghd_hub::store::PatientId(info.id.clone());
    store
        .directory()
        .create_account(
            &NewAccount {
                id: &patient.0,
                role: Role::Patient,
                display_name: &info.name,
                login: "mario",
                password_hash: "unused",
                time_zone: "Europe/Rome",
            },
            at,
        )
        .unwrap();
    store
        .directory()
        .set_fiscal_code(&patient.0, info.fiscal_code.as_deref().unwrap())
        .unwrap();
    store.store_readings(&patient, readings, at).unwrap();
    (store, patient)
}

pub(crate) fn patient() -> PatientInfo {
    PatientInfo {
        id: "paziente-e2e".into(),
        fiscal_code: Some("RSSMRA85T10A562S".into()),
        name: "Mario Rossi".into(),
    }
}

/// The type slices of choice elements in the differential of the profile `url` (e.g.
/// `Observation.effectivePeriod` for `Observation.effective[x]:effectivePeriod`).
fn choice_slices(url: &str) -> Vec<String> {
    let name = url.rsplit('/').next().unwrap();
    let file = profiles_dir().join(format!("StructureDefinition-{name}.json"));
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let sd: Value = serde_json::from_str(&text).unwrap();
    sd["differential"]["element"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let id = e["id"].as_str()?;
            let (element, slice) = id.split_once("[x]:")?;
            let resource_type = element.split('.').next()?;
            (!slice.contains('.')).then(|| format!("{resource_type}.{slice}"))
        })
        .collect()
}

/// The errors `$validate` reports for `resource`, as (path, message): against core R4
/// alone when `core_only` (the profiles it claims are taken off), else also against
/// them.
fn validator_errors(
    server: &FhirServer,
    resource: &Value,
    core_only: bool,
) -> Vec<(String, String)> {
    let mut body = resource.clone();
    if core_only {
        body.as_object_mut().unwrap().remove("meta");
    }
    let kind = body["resourceType"].as_str().unwrap().to_owned();
    let outcome = server.post(&format!("{kind}/$validate"), &body);
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| matches!(i["severity"].as_str(), Some("error" | "fatal")))
        .map(|i| {
            (
                i["expression"][0].as_str().unwrap_or("").to_owned(),
                i["details"]["text"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Validates `resource` with the server's validator (helios-fhir-validator inside
/// helios-hfs, with the IG's StructureDefinitions stored on the server): against core
/// R4 alone, which must pass outright, and against the profiles it claims, which must
/// pass but for the validator's known false positive (README of the reference tools):
/// "excluded choice" on exactly the type a profile's differential slices a choice
/// element to (e.g. `effectivePeriod` where the profile requires
/// `effective[x]:effectivePeriod`). Returns the number of false positives set aside,
/// or the errors.
fn validate(server: &FhirServer, name: &str, resource: &Value) -> Result<usize, String> {
    let core = validator_errors(server, resource, true);
    if !core.is_empty() {
        return Err(format!("{name} (core R4): {core:?}"));
    }
    let sliced: Vec<String> = resource["meta"]["profile"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(choice_slices)
        .collect();
    let (known, real): (Vec<_>, Vec<_>) = validator_errors(server, resource, false)
        .into_iter()
        .partition(|(path, message)| {
            message.ends_with("is excluded choice") && sliced.contains(path)
        });
    if real.is_empty() {
        Ok(known.len())
    } else {
        Err(format!("{name} (profiles): {real:?}"))
    }
}

/// Stores the CGM IG's StructureDefinitions on `server`, so that its validator knows
/// the profiles.
fn store_profiles(server: &FhirServer) {
    for file in std::fs::read_dir(profiles_dir()).unwrap() {
        let path = file.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("StructureDefinition-")
        {
            continue;
        }
        let sd: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let id = sd["id"].as_str().unwrap();
        let response = agent()
            .put(format!("{}/StructureDefinition/{id}", server.base))
            .header("Content-Type", "application/fhir+json")
            .send(sd.to_string().as_bytes())
            .unwrap();
        assert!(
            response.status().is_success(),
            "{id}: {}",
            response.status()
        );
    }
}

#[test]
fn every_emitted_resource_and_the_bundle_validate_against_r4_and_the_cgm_ig() {
    let Some(tools) = fhir_tools(&["hfs"]) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("pghd-fhir-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = FhirServer::start(&tools, &dir.join("hfs.db"), free_port());
    store_profiles(&server);
    let start = DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut readings = simulated_fortnight(start);
    readings.extend(wearable_readings(start + chrono::Duration::hours(2)));
    let delegate = DelegateInfo {
        id: "delegato-e2e".into(),
        name: "Anna Rossi".into(),
    };
    // A submission of every shape over three hours (plus the wearables): the server's
    // validation grows much faster than linearly with a Bundle's entries (54 entries
    // take ~3 s, the 4,000 of 14 days over 5 minutes), and the profiles constrain
    // structure, not the number of readings.
    let short: Vec<Reading> = readings
        .iter()
        .filter(|r| r.time < start + chrono::Duration::hours(3) || r.glucose_mg_dl().is_none())
        .cloned()
        .collect();
    let short_summary =
        pghd_hub::report::summarize_readings(&short, chrono_tz::Europe::Rome).unwrap();
    let mut builder = SubmissionBuilder::new(&patient());
    let sources = builder.add_readings(&short);
    let short_period = (start, start + chrono::Duration::hours(3));
    let panel = builder
        .add_cgm_summary(
            &short_summary,
            short_period,
            Some(60),
            &sources,
            Some(&delegate),
            Utc::now(),
        )
        .unwrap();
    // The AGP report as the CGM IG's `cgm-summary-pdf`.
    let agp = pghd_hub::agp_report::pdf(
        &pghd_hub::agp_report::ReportInput {
            patient_name: "Mario Rossi",
            fiscal_code: Some("RSSMRA85T10A562S"),
            period: short_period,
            time_zone: chrono_tz::Europe::Rome,
            glucose: Some(&short_summary),
            days: &[],
            lang: pghd_hub::agp_report::Lang::It,
            generated_at: Utc::now(),
        },
        &[],
    );
    builder.add_cgm_report_pdf(
        &panel,
        short_period,
        Some(60),
        (agp.as_bytes(), "it"),
        Utc::now(),
    );
    let bundle = serde_json::to_value(builder.finish("e2e", Utc::now())).unwrap();
    assert!(bundle["entry"].as_array().unwrap().len() > 50);

    // One resource of each distinct shape: by type and code (the readings of one kind
    // differ only in their numbers).
    let mut seen = std::collections::HashSet::new();
    let mut failures = Vec::new();
    let mut false_positives = 0;
    for (i, entry) in bundle["entry"].as_array().unwrap().iter().enumerate() {
        let resource = &entry["resource"];
        let shape = format!(
            "{}-{}-{}",
            resource["resourceType"].as_str().unwrap(),
            resource["code"]["coding"][0]["code"].as_str().unwrap_or(""),
            resource["meta"]["profile"][0].as_str().unwrap_or("")
        );
        if seen.insert(shape.clone()) {
            match validate(&server, &format!("entry-{i}"), resource) {
                Ok(n) => false_positives += n,
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(seen.len() >= 25, "only {} shapes checked", seen.len());
    let mut profiled = bundle.clone();
    profiled["meta"] = serde_json::json!({
        "profile": ["http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-data-submission-bundle"]
    });
    match validate(&server, "bundle", &profiled) {
        Ok(n) => false_positives += n,
        Err(e) => failures.push(e),
    }
    // The FSE Gateway's document (a Composition first, then what it presents), and its
    // Composition, against core R4.
    let mut document = SubmissionBuilder::new(&patient());
    document
        .add_cgm_summary(
            &short_summary,
            (start, start + chrono::Duration::hours(3)),
            Some(60),
            &sources,
            None,
            Utc::now(),
        )
        .unwrap();
    let document = document.finish_document("e2e-document", "Report", Utc::now());
    let document = serde_json::to_value(document).unwrap();
    for (name, resource) in [
        ("document", &document),
        ("composition", &document["entry"][0]["resource"]),
    ] {
        match validate(&server, name, resource) {
            Ok(n) => false_positives += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The check can fail: a CGM reading with a unit other than the IG's, and one without
    // the status FHIR requires, are refused.
    let reading = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["code"]["coding"][0]["code"] == "99504-3")
        .unwrap();
    let mut wrong_unit = reading.clone();
    wrong_unit["valueQuantity"]["code"] = "mmol/L".into();
    assert!(validate(&server, "wrong-unit", &wrong_unit).is_err());
    let mut no_status = reading.clone();
    no_status.as_object_mut().unwrap().remove("status");
    assert!(validate(&server, "no-status", &no_status).is_err());
    eprintln!(
        "{} resource shapes and the Bundle valid; {false_positives} known choice-excluded false positives set aside",
        seen.len()
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A helios-hfs server on a SQLite file, killed when dropped.
struct FhirServer {
    child: std::process::Child,
    base: String,
}

impl FhirServer {
    fn start(tools: &Path, db: &Path, port: u16) -> Self {
        let child = Command::new(tools.join("bin/hfs"))
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .arg("--database-url")
            .arg(db)
            .arg("--data-dir")
            .arg(tools.join("data"))
            .args(["--log-level", "warn"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let agent = agent();
        for _ in 0..300 {
            if agent
                .get(format!("{}/metadata", server.base))
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("hfs did not answer /metadata within 30 s");
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `GET {base}/{query}` as JSON.
    fn get(&self, query: &str) -> Value {
        let mut response = agent()
            .get(format!("{}/{query}", self.base))
            .header("Accept", "application/fhir+json")
            .call()
            .unwrap();
        assert_eq!(response.status(), 200, "{query}");
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// `POST {base}/{path}` of a JSON body; the JSON answer (200 expected).
    fn post(&self, path: &str, body: &Value) -> Value {
        let mut response = agent()
            .post(format!("{}/{path}", self.base))
            .header("Content-Type", "application/fhir+json")
            .header("Accept", "application/fhir+json")
            .send(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// How many resources a search matches.
    fn count(&self, query: &str) -> u64 {
        let separator = if query.contains('?') { '&' } else { '?' };
        self.get(&format!("{query}{separator}_summary=count"))["total"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for FhirServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn fourteen_days_reach_a_real_fhir_server_once_even_across_an_outage() {
    use pghd_hub::delivery::{
        deliver_round, enqueue_window, Destination, DestinationAuth, DestinationKind,
    };
    use pghd_hub::store::outbox::OutboxStatus;
    use pghd_hub::store::ReadingStore;

    let Some(tools) = fhir_tools(&["hfs"]) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("pghd-fhir-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let server_db = dir.join("hfs.db");
    let server = FhirServer::start(&tools, &server_db, port);

    // The hub's side: a patient with 14 days of CGM and a day of wearables.
    let start = DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut readings = simulated_fortnight(start);
    let cgm_count = readings.len();
    readings.extend(wearable_readings(start + chrono::Duration::days(3)));
    let (mut store, patient) = hub_with_patient(&dir, &readings, start);
    let destinations = vec![Destination {
        name: "fse".into(),
        kind: DestinationKind::Fse,
        base_url: server.base.clone(),
        auth: DestinationAuth::None,
        protocol: pghd_hub::delivery::Protocol::FhirTransaction,
        tls: None,
    }];
    let mut http = pghd_hub::delivery::Client::new(&destinations).unwrap();
    let mut jitter = || 0.5;
    let fortnight = (start, start + chrono::Duration::days(14));
    let now = Utc::now();

    // 1. The 14-day submission (readings + CGM summary) and, separately, one day's
    // readings, which the first already carried.
    let queued = enqueue_window(
        &mut store,
        &destinations,
        &patient,
        fortnight,
        true,
        None,
        now,
    )
    .unwrap();
    assert!(queued.summary);
    let day = (
        start + chrono::Duration::days(2),
        start + chrono::Duration::days(3),
    );
    enqueue_window(&mut store, &destinations, &patient, day, false, None, now).unwrap();
    let round = deliver_round(&mut store, &destinations, &mut http, now, &mut jitter).unwrap();
    let items = store.outbox().for_patient(&patient).unwrap();
    assert_eq!(
        round.sent,
        2,
        "{:?}",
        items.iter().map(|i| &i.last_error).collect::<Vec<_>>()
    );

    // 2. Read everything back by search and compare with the engine.
    let summary = pghd_hub::report::summarize_readings(&readings, chrono_tz::Europe::Rome).unwrap();
    let count = |q: &str| server.count(q);
    assert_eq!(
        count("Patient?identifier=http://hl7.it/sid/codiceFiscale|RSSMRA85T10A562S"),
        1
    );
    assert_eq!(
        count("Observation?code=http://loinc.org|99504-3"),
        cgm_count as u64
    );
    assert_eq!(count("Observation?code=http://loinc.org|85354-9"), 1);
    // The AGP report (cgm-summary-pdf) once, a PDF presenting the summary panel.
    let reports = server.get("DiagnosticReport?code=http://loinc.org|107931-8");
    assert_eq!(
        reports["entry"].as_array().map(Vec::len),
        Some(1),
        "{reports}"
    );
    let form = &reports["entry"][0]["resource"]["presentedForm"][0];
    assert_eq!(form["contentType"], "application/pdf");
    assert!(
        form["data"].as_str().unwrap().starts_with("JVBERi0"),
        "base64 of %PDF-"
    );
    assert_eq!(
        count("Device?identifier=http://hl7.org/fhir/sid/eui-48/bluetooth|C0-FF-EE-00-00-01"),
        1
    );
    let value = |code: &str| {
        let found = server.get(&format!("Observation?code=http://loinc.org|{code}"));
        assert_eq!(
            found["entry"].as_array().map(Vec::len),
            Some(1),
            "{code}: {found}"
        );
        found["entry"][0]["resource"].clone()
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(close(
        value("97507-8")["valueQuantity"]["value"].as_f64().unwrap(),
        summary.statistics.mean
    ));
    assert!(close(
        value("97506-0")["valueQuantity"]["value"].as_f64().unwrap(),
        summary.gmi_percent
    ));
    assert!(close(
        value("104638-2")["valueQuantity"]["value"]
            .as_f64()
            .unwrap(),
        summary.statistics.cv_percent
    ));
    assert!(close(
        value("104637-4")["valueQuantity"]["value"]
            .as_f64()
            .unwrap(),
        summary.wear.active_percent
    ));
    let ranges = value("106793-3");
    let in_range = ranges["component"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"]["coding"][0]["code"] == "97510-2")
        .unwrap();
    assert!(close(
        in_range["valueQuantity"]["value"].as_f64().unwrap(),
        summary.time_in_ranges.in_range_70_180.percent
    ));
    // The panel's members resolve to the stored members.
    let panel = value("107931-8");
    let member = panel["hasMember"][0]["reference"].as_str().unwrap();
    assert!(member.starts_with("Observation/"), "{member}");
    assert_eq!(server.get(member)["code"]["coding"][0]["code"], "97507-8");
    let totals = || {
        (
            count("Observation"),
            count("Device"),
            count("Patient"),
            count("Provenance"),
        )
    };
    let before = totals();

    // 3. The same Bundle again (as after an answer lost on the way back): nothing new.
    let body = items
        .iter()
        .find(|i| i.idempotency_key.starts_with("summary/"))
        .unwrap()
        .body
        .clone();
    let again = agent()
        .post(&server.base)
        .header("Content-Type", "application/fhir+json")
        .send(body.as_bytes())
        .unwrap();
    assert!(again.status().is_success(), "{}", again.status());
    assert_eq!(totals(), before, "a re-sent Bundle created resources");

    // 4. The server stops mid-delivery; new readings wait in the outbox and go once it
    // is back.
    server.stop();
    let later = simulated_fortnight(start + chrono::Duration::days(14));
    let next_day: Vec<Reading> = later.into_iter().take(288).collect();
    store.store_readings(&patient, &next_day, now).unwrap();
    let window = (
        start + chrono::Duration::days(14),
        start + chrono::Duration::days(15),
    );
    enqueue_window(
        &mut store,
        &destinations,
        &patient,
        window,
        false,
        None,
        now,
    )
    .unwrap();
    let round = deliver_round(&mut store, &destinations, &mut http, now, &mut jitter).unwrap();
    assert_eq!((round.sent, round.retried), (0, 1));
    let pending = store.outbox().for_patient(&patient).unwrap()[0].clone();
    assert_eq!(pending.status, OutboxStatus::Pending);
    assert!(
        pending
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("no answer"),
        "{:?}",
        pending.last_error
    );
    let server = FhirServer::start(&tools, &server_db, port);
    let round = deliver_round(
        &mut store,
        &destinations,
        &mut http,
        pending.next_attempt_at,
        &mut jitter,
    )
    .unwrap();
    assert_eq!(round.sent, 1);
    assert_eq!(
        server.count("Observation?code=http://loinc.org|99504-3"),
        (cgm_count + next_day.len()) as u64
    );
    let after = (
        server.count("Observation"),
        server.count("Device"),
        server.count("Patient"),
        server.count("Provenance"),
    );
    assert_eq!(
        after,
        (
            before.0 + next_day.len() as u64,
            before.1,
            before.2,
            before.3
        )
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
