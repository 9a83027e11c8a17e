//! Rendering the AGP report of 14 days of 5-minute CGM readings (4,032 readings, with
//! two weeks of wearable days on page 2) as SVG, PDF and PNG — from the engine's summary,
//! which is computed once outside the timing (its own cost is in the glucometrics
//! benches). Targets (issue 7): SVG ≤ 50 ms, PDF ≤ 200 ms.
//! `cargo bench -p pghd-hub --bench agp_report`.

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use glucometrics::synthetic::SyntheticTrace;
use pghd_hub::agp_report::{pdf, png, svg, Lang, ReportInput};
use pghd_hub::daily::DailySummary;

fn report(c: &mut Criterion) {
    let trace = SyntheticTrace {
        days: 14,
        ..SyntheticTrace::default()
    }
    .generate();
    let readings: Vec<glucometrics::GlucoseReading> = trace
        .iter()
        .map(|g| glucometrics::GlucoseReading::new(g.time, g.mg_dl))
        .collect();
    let summary = glucometrics::summarize(
        &readings,
        chrono_tz::Europe::Rome,
        &glucometrics::SummaryConfig::default(),
    )
    .unwrap();
    let first = trace[0].time;
    let days: Vec<DailySummary> = (0..14)
        .map(|i| DailySummary {
            date: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + Duration::days(i),
            steps: Some(7000.0),
            energy_kcal: Some(2100.0),
            distance_m: Some(5000.0),
            sleep_min: Some(420.0),
            sleep_by_stage_min: BTreeMap::from([("deep".into(), 90.0), ("light".into(), 330.0)]),
            heart_rate: None,
            blood_pressure: None,
            weight_kg: None,
        })
        .collect();
    let input = ReportInput {
        patient_name: "Mario Rossi",
        fiscal_code: Some("RSSMRA85T10A562S"),
        period: (first, first + Duration::days(14)),
        time_zone: chrono_tz::Europe::Rome,
        glucose: Some(&summary),
        days: &days,
        lang: Lang::It,
        generated_at: DateTime::<Utc>::from_timestamp(1_737_000_000, 0).unwrap(),
    };
    let mut group = c.benchmark_group("agp_report_14_days");
    group.bench_function("svg", |b| b.iter(|| svg(black_box(&input))));
    group.bench_function("pdf", |b| b.iter(|| pdf(black_box(&input), &[])));
    group.sample_size(10);
    group.bench_function("png_1_5x", |b| {
        b.iter(|| png(black_box(&input), 1.5).unwrap())
    });
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
