//! The mapping's own checks: values read back from the JSON equal the engine's, every
//! create is conditional, references resolve inside the Bundle, the same input gives
//! the same Bundle. Conformance to the IG profiles is checked by the external validator
//! in `tests/e2e/fhir_export.rs`.

// Exact equality is the point: the JSON round-trips the engine's f64 bit for bit.
#![allow(clippy::float_cmp)]

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use device_adapters::reading::{Measurement, Quantity, Reading, ReadingFlag, ReadingSource};
use glucometrics::synthetic::SyntheticTrace;
use serde_json::Value;

use super::{DelegateInfo, PatientInfo, SubmissionBuilder};
use crate::store::suite::reading;

pub(crate) fn fourteen_days() -> Vec<Reading> {
    SyntheticTrace::default()
        .generate()
        .iter()
        .enumerate()
        .map(|(i, g)| reading("SENSOR-1", u32::try_from(i * 5).unwrap(), g.mg_dl, g.time))
        .collect()
}

fn patient() -> PatientInfo {
    PatientInfo {
        id: "paziente-1".into(),
        fiscal_code: Some("RSSMRA85T10A562S".into()),
        name: "Mario Rossi".into(),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_737_000_000, 0).unwrap()
}

fn bundle(readings: &[Reading], delegate: Option<&DelegateInfo>) -> Value {
    let mut builder = SubmissionBuilder::new(&patient());
    let sources = builder.add_readings(readings);
    let summary = crate::report::summarize_readings(readings, chrono_tz::Europe::Rome).unwrap();
    let period = (readings[0].time, readings[readings.len() - 1].time);
    builder
        .add_cgm_summary(&summary, period, Some(60), &sources, delegate, now())
        .unwrap();
    serde_json::to_value(builder.finish("test-submission", now())).unwrap()
}

fn by_code<'a>(bundle: &'a Value, code: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["code"]["coding"][0]["code"] == code)
        .collect()
}

#[test]
fn summary_values_are_the_engines() {
    let readings = fourteen_days();
    let summary = crate::report::summarize_readings(&readings, chrono_tz::Europe::Rome).unwrap();
    let b = bundle(&readings, None);
    let value = |code: &str| {
        by_code(&b, code)[0]["valueQuantity"]["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(value("97507-8"), summary.statistics.mean);
    assert_eq!(value("97506-0"), summary.gmi_percent);
    assert_eq!(value("104638-2"), summary.statistics.cv_percent);
    assert_eq!(value("104636-6"), summary.wear.days);
    assert_eq!(value("104637-4"), summary.wear.active_percent);
    assert_eq!(
        value("time-in-tight-range"),
        summary.time_in_ranges.tight_range_70_140.percent
    );
    assert_eq!(value("gri"), summary.gri.gri);
    let ranges = by_code(&b, "106793-3")[0]["component"].as_array().unwrap();
    let tir = &summary.time_in_ranges;
    let expected = [
        ("104642-4", tir.very_low_below_54.percent),
        ("104641-6", tir.low_54_69.percent),
        ("97510-2", tir.in_range_70_180.percent),
        ("104640-8", tir.high_181_250.percent),
        ("104639-0", tir.very_high_above_250.percent),
    ];
    for (code, percent) in expected {
        let c = ranges
            .iter()
            .find(|c| c["code"]["coding"][0]["code"] == code)
            .unwrap();
        assert_eq!(
            c["valueQuantity"]["value"].as_f64().unwrap(),
            percent,
            "{code}"
        );
        assert_eq!(c["valueQuantity"]["code"], "%");
    }
    let hypo1 = by_code(&b, "hypo-events-level-1")[0]["valueQuantity"]["value"]
        .as_f64()
        .unwrap();
    let engine = summary
        .event_summaries
        .iter()
        .find(|c| {
            c.kind == glucometrics::episodes::EventKind::Hypo
                && c.level == glucometrics::episodes::EventLevel::Level1
        })
        .unwrap();
    assert_eq!(hypo1, engine.total as f64);
    // The readings: one Observation each, the value the reading's.
    let cgm = by_code(&b, "99504-3");
    assert_eq!(cgm.len(), readings.len());
    assert_eq!(
        cgm[7]["valueQuantity"]["value"].as_f64().unwrap(),
        readings[7].glucose_mg_dl().unwrap()
    );
    assert_eq!(
        cgm[7]["valueQuantity"]["unit"], "mg/dl",
        "the CGM IG fixes the display unit"
    );
}

#[test]
fn every_create_is_conditional_and_every_reference_resolves() {
    let readings = fourteen_days();
    let delegate = DelegateInfo {
        id: "delegato-1".into(),
        name: "Anna Rossi".into(),
    };
    let b = bundle(&readings[..300], Some(&delegate));
    assert_eq!(b["type"], "transaction");
    let entries = b["entry"].as_array().unwrap();
    let urls: HashSet<&str> = entries
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), entries.len(), "every fullUrl is unique");
    for entry in entries {
        let request = &entry["request"];
        match request["method"].as_str().unwrap() {
            "POST" => {
                let condition = request["ifNoneExist"].as_str().unwrap();
                let identifier = &entry["resource"]["identifier"][0];
                assert_eq!(
                    condition,
                    format!(
                        "identifier={}|{}",
                        identifier["system"].as_str().unwrap(),
                        identifier["value"].as_str().unwrap()
                    )
                );
            }
            "PUT" => assert_eq!(entry["resource"]["resourceType"], "Provenance"),
            other => panic!("unexpected method {other}"),
        }
    }
    // Every urn:uuid reference anywhere points at an entry of this Bundle.
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("reference") {
                    out.push(r);
                }
                map.values().for_each(|x| walk(x, out));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut references = Vec::new();
    walk(&b, &mut references);
    assert!(references.len() > 600);
    for r in references {
        assert!(urls.contains(r), "dangling reference {r}");
    }
    // The delegate acts on the patient's behalf in the Provenance.
    let provenance = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Provenance")
        .unwrap();
    let agent = &provenance["resource"]["agent"][1];
    let patient_url = entries[0]["fullUrl"].as_str().unwrap();
    assert_eq!(agent["onBehalfOf"]["reference"], patient_url);
    assert_eq!(
        entries[0]["resource"]["identifier"][0]["system"],
        super::CODICE_FISCALE_SYSTEM
    );
}

#[test]
fn the_same_input_gives_the_same_bundle_and_a_reading_keeps_its_identifier() {
    let readings = fourteen_days();
    assert_eq!(bundle(&readings[..50], None), bundle(&readings[..50], None));
    // A reading sent in two different batches has one identifier (and fullUrl).
    let mut a = SubmissionBuilder::new(&patient());
    let mut b = SubmissionBuilder::new(&patient());
    let first = a.add_readings(&readings[10..20]);
    let second = b.add_readings(&readings[15..25]);
    assert_eq!(first[5..], second[..5]);
    // …and a different patient's identical reading does not.
    let mut c = SubmissionBuilder::new(&PatientInfo {
        id: "paziente-2".into(),
        fiscal_code: None,
        name: "Luca Bianchi".into(),
    });
    assert_ne!(c.add_readings(&readings[10..11])[0], first[0]);
}

#[test]
fn vitals_and_activity_follow_the_phd_codes() {
    let at = DateTime::from_timestamp(1_735_700_000, 0).unwrap();
    let mut bp = reading("CUFF-1", 1, 0.0, at);
    bp.measurement = Measurement::BloodPressure {
        systolic: Quantity::new(128.0, "mm[Hg]"),
        diastolic: Some(Quantity::new(82.0, "mm[Hg]")),
        mean_arterial: None,
        pulse: Some(Quantity::new(71.0, "/min")),
    };
    bp.flags = vec![ReadingFlag::BatteryLow];
    bp.source = ReadingSource::Mqtt {
        topic: "pghd/v1/gateways/gw-7/readings".into(),
    };
    let mut steps = reading("BAND-1", 2, 0.0, at);
    steps.measurement = Measurement::Steps {
        count: Quantity::new(1234.0, "{steps}"),
        period_min: 60.0,
    };
    let mut low = reading("SENSOR-1", 3, 40.0, at);
    low.flags = vec![ReadingFlag::BelowMeasurementRange];
    let mut builder = SubmissionBuilder::new(&patient());
    builder.add_readings(&[bp, steps, low]);
    let b = serde_json::to_value(builder.finish("k", now())).unwrap();

    let panel = by_code(&b, "150020")[0];
    assert_eq!(panel["code"]["coding"][1]["code"], "85354-9");
    assert_eq!(panel["component"][0]["valueQuantity"]["value"], 128.0);
    assert_eq!(panel["component"][0]["valueQuantity"]["code"], "mm[Hg]");
    assert_eq!(panel["component"][1]["code"]["coding"][1]["code"], "8462-4");
    assert_eq!(panel["note"][0]["text"], "device status: battery low");
    let gateway = panel["extension"][0]["valueReference"]["reference"]
        .as_str()
        .unwrap();
    let gateway_device = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fullUrl"] == gateway)
        .unwrap();
    assert_eq!(gateway_device["resource"]["identifier"][0]["value"], "gw-7");
    let pulse = by_code(&b, "149546")[0];
    assert_eq!(pulse["valueQuantity"]["value"], 71.0);
    assert!(pulse["identifier"][0]["value"]
        .as_str()
        .unwrap()
        .ends_with("/pulse"));

    let steps = by_code(&b, "55423-8")[0];
    assert_eq!(steps["valueQuantity"]["code"], "{steps}");
    assert_eq!(steps["effectivePeriod"]["end"], "2025-01-01T03:53:20+01:00");
    assert_eq!(
        steps["effectivePeriod"]["start"],
        "2025-01-01T02:53:20+01:00"
    );
    assert!(steps.get("effectiveDateTime").is_none());

    let low = by_code(&b, "99504-3")[0];
    assert_eq!(low["interpretation"][0]["coding"][0]["code"], "<");
    assert_eq!(low["effectiveDateTime"], "2025-01-01T03:53:20+01:00");
}

#[test]
fn a_summary_the_ig_cannot_express_is_refused_not_sent_half() {
    let readings = fourteen_days();
    let one = &readings[..1];
    let summary = crate::report::summarize_readings(one, chrono_tz::Europe::Rome).unwrap();
    let mut builder = SubmissionBuilder::new(&patient());
    let sources = builder.add_readings(one);
    let err = builder
        .add_cgm_summary(
            &summary,
            (one[0].time, one[0].time + Duration::minutes(5)),
            None,
            &sources,
            None,
            now(),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("coefficient of variation"),
        "{err}"
    );
}

#[test]
fn the_document_has_its_composition_first_presents_every_summary_observation_and_resolves() {
    let readings = fourteen_days();
    let transaction = bundle(&readings, None);
    let mut builder = SubmissionBuilder::new(&patient());
    let sources = builder.add_readings(&readings);
    let summary = crate::report::summarize_readings(&readings, chrono_tz::Europe::Rome).unwrap();
    let period = (readings[0].time, readings[readings.len() - 1].time);
    // The document is built from the summary alone, as the delivery builds it.
    let mut document = SubmissionBuilder::new(&patient());
    document
        .add_cgm_summary(&summary, period, Some(60), &sources, None, now())
        .unwrap();
    let document = document.finish_document("doc-1", "Report", now());
    let document = serde_json::to_value(document).unwrap();
    assert_eq!(document["type"], "document");
    let entries = document["entry"].as_array().unwrap();
    let composition = &entries[0]["resource"];
    assert_eq!(composition["resourceType"], "Composition");
    assert_eq!(composition["type"]["coding"][0]["code"], "53576-5");
    assert_eq!(composition["identifier"], document["identifier"]);
    assert!(entries.iter().all(|e| e.get("request").is_none()));
    let urls: HashSet<&str> = entries
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    for reference in [
        &composition["subject"],
        &composition["author"][0],
        &composition["author"][1],
    ] {
        assert!(urls.contains(reference["reference"].as_str().unwrap()));
    }
    // Every summary Observation of the transaction, with the same identifier, and
    // nothing else but the Patient and the hub.
    let observations = |b: &Value| -> Vec<Value> {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["resource"]["resourceType"] == "Observation"
                    && e["resource"]["effectivePeriod"].is_object()
            })
            .map(|e| e["resource"]["identifier"].clone())
            .collect()
    };
    assert_eq!(observations(&document), observations(&transaction));
    let presented = composition["section"][0]["entry"].as_array().unwrap();
    assert_eq!(
        presented.len(),
        entries.len() - 3,
        "all but Composition, Patient, hub"
    );
    // The narrative: one paragraph per Observation and component; the mean glucose as
    // the engine has it.
    let components: usize = entries
        .iter()
        .map(|e| e["resource"]["component"].as_array().map_or(0, Vec::len))
        .sum();
    let div = composition["section"][0]["text"]["div"].as_str().unwrap();
    assert_eq!(div.matches("<p>").count(), presented.len() + components);
    let mean = format!(
        "<p>Mean glucose: {}</p>",
        super::shown(summary.statistics.mean, "mg/dl")
    );
    assert!(div.contains(&mean), "{div}");
    assert!(mean.contains(&format!("{:.0}", summary.statistics.mean.trunc())));
}

#[test]
fn the_agp_pdf_is_a_cgm_summary_pdf_report_presenting_the_panel() {
    use base64::Engine as _;
    let readings = fourteen_days();
    let mut builder = SubmissionBuilder::new(&patient());
    let sources = builder.add_readings(&readings);
    let summary = crate::report::summarize_readings(&readings, chrono_tz::Europe::Rome).unwrap();
    let period = (readings[0].time, readings[readings.len() - 1].time);
    let panel = builder
        .add_cgm_summary(&summary, period, Some(60), &sources, None, now())
        .unwrap();
    let pdf = b"%PDF-1.7\n...\n%%EOF\n";
    let report = builder.add_cgm_report_pdf(&panel, period, Some(60), (pdf, "it"), now());
    let again = {
        let mut other = SubmissionBuilder::new(&patient());
        let sources = other.add_readings(&readings);
        let panel = other
            .add_cgm_summary(&summary, period, Some(60), &sources, None, now())
            .unwrap();
        other.add_cgm_report_pdf(&panel, period, Some(60), (b"other bytes", "en"), now())
    };
    assert_eq!(report, again, "identified by the summary, not by the bytes");
    let bundle = serde_json::to_value(builder.finish("with-report", now())).unwrap();
    let entry = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fullUrl"] == report.as_str())
        .unwrap();
    let resource = &entry["resource"];
    assert_eq!(resource["resourceType"], "DiagnosticReport");
    assert_eq!(
        resource["meta"]["profile"][0],
        "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-pdf"
    );
    assert_eq!(resource["code"]["coding"][0]["code"], "107931-8");
    assert_eq!(resource["result"][0]["reference"], panel.as_str());
    assert_eq!(
        resource["presentedForm"][0]["contentType"],
        "application/pdf"
    );
    let data = resource["presentedForm"][0]["data"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        pdf
    );
    assert!(entry["request"]["ifNoneExist"]
        .as_str()
        .unwrap()
        .starts_with("identifier="));
}
