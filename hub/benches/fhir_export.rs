//! Throughput of the FHIR export: building and serialising the transaction Bundle of
//! one patient-day of 5-minute CGM readings (288 Observations with their Patient and
//! Device), and of a 14-day summary submission (4,032 readings, the CGM IG summary,
//! Provenance). Patient-days per second = 1 / (time per patient-day).
//! `cargo bench -p pghd-hub --bench fhir_export`.

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use device_adapters::reading::{
    DeviceIdentity, DeviceTime, Measurement, Reading, ReadingSource, RecordId,
};
use glucometrics::synthetic::SyntheticTrace;
use pghd_hub::fhir::{PatientInfo, SubmissionBuilder};

fn readings(days: u32) -> Vec<Reading> {
    SyntheticTrace {
        days,
        gap_probability: 0.0,
        ..SyntheticTrace::default()
    }
    .generate()
    .iter()
    .enumerate()
    .map(|(i, g)| Reading {
        measurement: Measurement::glucose(g.mg_dl, true),
        time: g.time,
        local_offset_min: Some(60),
        device_time: DeviceTime::SessionOffset {
            session_start: "2025-01-01T00:00:00".parse().unwrap(),
            session_utc_offset_min: Some(60),
            offset_min: u32::try_from(i * 5).unwrap(),
        },
        device: DeviceIdentity {
            address: Some("C0:FF:EE:00:00:01".into()),
            serial: Some("SENSOR-1".into()),
            model: Some("Simulated CGM".into()),
        },
        record: RecordId::Session {
            session_start: "2025-01-01T00:00:00".into(),
            offset_min: u32::try_from(i * 5).unwrap(),
        },
        flags: Vec::new(),
        source: ReadingSource::Mqtt {
            topic: "pghd/v1/gateways/gw-1/readings".into(),
        },
    })
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

fn bundles(c: &mut Criterion) {
    let day = readings(1);
    let fortnight = readings(14);
    let summary =
        pghd_hub::report::summarize_readings(&fortnight, chrono_tz::Europe::Rome).unwrap();
    let mut group = c.benchmark_group("fhir_bundle");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_patient_day_readings", |b| {
        b.iter(|| {
            let mut builder = SubmissionBuilder::new(&patient());
            builder.add_readings(black_box(&day));
            builder.finish_json("k", now()).unwrap()
        });
    });
    group.throughput(Throughput::Elements(14));
    let period = (fortnight[0].time, fortnight[fortnight.len() - 1].time);
    let fourteen_days = |with_report: bool| {
        let mut builder = SubmissionBuilder::new(&patient());
        let sources = builder.add_readings(black_box(&fortnight));
        let panel = builder
            .add_cgm_summary(&summary, period, Some(60), &sources, None, now())
            .unwrap();
        if with_report {
            // The AGP report rendered and attached (`cgm-summary-pdf`), as the delivery does.
            let report = pghd_hub::agp_report::pdf(
                &pghd_hub::agp_report::ReportInput {
                    patient_name: "Mario Rossi",
                    fiscal_code: Some("RSSMRA85T10A562S"),
                    period,
                    time_zone: chrono_tz::Europe::Rome,
                    glucose: Some(&summary),
                    days: &[],
                    lang: pghd_hub::agp_report::Lang::It,
                    generated_at: now(),
                },
                &[],
            );
            builder.add_cgm_report_pdf(&panel, period, Some(60), (report.as_bytes(), "it"), now());
        }
        builder.finish_json("k", now()).unwrap()
    };
    group.bench_function("fourteen_days_with_summary", |b| {
        b.iter(|| fourteen_days(false));
    });
    group.bench_function("fourteen_days_with_summary_and_agp_pdf", |b| {
        b.iter(|| fourteen_days(true));
    });
    group.finish();
}

criterion_group!(benches, bundles);
criterion_main!(benches);
