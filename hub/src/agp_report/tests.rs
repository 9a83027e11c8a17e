//! The report's numbers are the engine's (read back from the SVG text), the consensus'
//! data-sufficiency rule is honoured, the output is deterministic, and a golden SVG keeps
//! the layout from drifting unnoticed.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use glucometrics::GlucoseSummary;

use super::*;

fn summary(days: usize) -> GlucoseSummary {
    let readings = crate::fhir::tests::fourteen_days();
    let cut = readings[0].time + Duration::days(i64::try_from(days).unwrap());
    let readings: Vec<_> = readings.into_iter().filter(|r| r.time < cut).collect();
    crate::report::summarize_readings(&readings, chrono_tz::Europe::Rome).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn wearable_days() -> Vec<DailySummary> {
    (0..14)
        .map(|i| DailySummary {
            date: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + Duration::days(i),
            steps: Some(6000.0 + 250.0 * i as f64),
            energy_kcal: Some(2100.0),
            distance_m: Some(4500.0),
            sleep_min: Some(420.0),
            sleep_by_stage_min: BTreeMap::from([
                ("deep".to_owned(), 90.0),
                ("light".to_owned(), 240.0),
                ("rem".to_owned(), 90.0),
                ("awake".to_owned(), 20.0),
            ]),
            heart_rate: Some(crate::daily::HeartRateDay {
                readings: 100,
                mean_per_min: 72.0,
                resting_per_min: Some(58.0),
                min_per_min: 52.0,
                max_per_min: 140.0,
            }),
            blood_pressure: (i % 2 == 0).then_some(crate::daily::BloodPressureDay {
                readings: 2,
                systolic_mean_mm_hg: 128.0,
                diastolic_mean_mm_hg: Some(82.0),
            }),
            weight_kg: None,
        })
        .collect()
}

fn input<'a>(
    summary: Option<&'a GlucoseSummary>,
    days: &'a [DailySummary],
    lang: Lang,
) -> ReportInput<'a> {
    ReportInput {
        patient_name: "Mario Rossi",
        fiscal_code: Some("RSSMRA85T10A562S"),
        period: (at("2024-12-31T23:00:00Z"), at("2025-01-14T23:00:00Z")),
        time_zone: chrono_tz::Europe::Rome,
        glucose: summary,
        days,
        lang,
        generated_at: at("2025-01-15T08:00:00Z"),
    }
}

/// The text of the element whose `data-metric` is `id`.
fn metric<'a>(svg: &'a str, id: &str) -> &'a str {
    let marker = format!("data-metric=\"{id}\">");
    let start = svg.find(&marker).unwrap_or_else(|| panic!("no {id}")) + marker.len();
    &svg[start..start + svg[start..].find('<').unwrap()]
}

/// The first number in `text` (Italian decimal comma accepted).
fn first_number(text: &str) -> f64 {
    let number: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .collect();
    number.replace(',', ".").parse().unwrap()
}

/// `shown` is `value` rounded to `decimals`.
fn assert_shows(shown: f64, value: f64, decimals: i32, what: &str) {
    let half = 0.5 * 10f64.powi(-decimals) + 1e-9;
    assert!(
        (shown - value).abs() <= half,
        "{what}: shows {shown}, engine {value}"
    );
}

#[test]
fn the_numbers_are_the_engine_s() {
    let engine = summary(14);
    assert!(engine.sufficiency.sufficient(), "the fixture is a full AGP");
    let days = wearable_days();
    for lang in [Lang::It, Lang::En] {
        let svg = svg(&input(Some(&engine), &days, lang));
        let s = &engine.statistics;
        let tir = &engine.time_in_ranges;
        for (id, value, decimals) in [
            ("mean_glucose", s.mean, 0),
            ("gmi", engine.gmi_percent, 1),
            ("cv", s.cv_percent, 1),
            ("sd", s.sd, 0),
            ("days_worn", engine.wear.days, 1),
            ("active_percent", engine.wear.active_percent, 1),
            ("tir_very_high", tir.very_high_above_250.percent, 0),
            ("tir_high", tir.high_181_250.percent, 0),
            ("tir_in_range", tir.in_range_70_180.percent, 0),
            ("tir_low", tir.low_54_69.percent, 0),
            ("tir_very_low", tir.very_low_below_54.percent, 0),
            ("titr", tir.tight_range_70_140.percent, 0),
            ("gri", engine.gri.gri, 1),
            ("gri_hypo", engine.gri.hypo_component, 1),
            ("gri_hyper", engine.gri.hyper_component, 1),
        ] {
            assert_shows(first_number(metric(&svg, id)), value, decimals, id);
        }
        assert_eq!(metric(&svg, "readings"), engine.readings.to_string());
        assert_eq!(metric(&svg, "gri_zone"), engine.gri.zone.to_string());
        let level1 = engine
            .event_summaries
            .iter()
            .find(|e| e.kind == EventKind::Hypo && e.level == EventLevel::Level1)
            .unwrap();
        assert!(metric(&svg, "events_hypo_level1").starts_with(&format!("{} (", level1.total)));
        assert_shows(first_number(metric(&svg, "steps_mean")), 7625.0, 0, "steps");
        assert_eq!(
            metric(&svg, "sleep_mean").split(": ").nth(1),
            Some("7 h 00 min")
        );
        assert!(metric(&svg, "blood_pressure_mean").ends_with("128/82"));
        // The AGP curve is drawn: a median line and the two bands.
        assert!(svg.contains("stroke-width=\"2\""));
        assert!(!svg.contains("agp_insufficient"));
    }
    let it = svg(&input(Some(&engine), &days, Lang::It));
    assert!(it.contains("Glucosio medio") && it.contains(",") && it.contains("xml:lang=\"it\""));
    let en = svg(&input(Some(&engine), &days, Lang::En));
    assert!(en.contains("Mean glucose") && en.contains("xml:lang=\"en\""));
}

#[test]
fn too_little_data_shows_the_reason_instead_of_a_curve() {
    let engine = summary(5);
    assert!(!engine.sufficiency.sufficient());
    let svg = svg(&input(Some(&engine), &[], Lang::It));
    assert!(metric(&svg, "agp_insufficient").contains("almeno 14 giorni"));
    assert!(!svg.contains("stroke-width=\"2\""), "no median line");
    // The statistics are still shown, and page 2 says there is nothing to show.
    assert_shows(
        first_number(metric(&svg, "mean_glucose")),
        engine.statistics.mean,
        0,
        "mean",
    );
    assert!(metric(&svg, "no_wearables").starts_with("Nessun dato"));
    let none = super::svg(&input(None, &[], Lang::En));
    assert_eq!(
        metric(&none, "no_glucose"),
        "No glucose readings in the period."
    );
}

#[test]
fn svg_and_pdf_are_deterministic_and_the_pdf_shows_the_same_figures() {
    let engine = summary(14);
    let days = wearable_days();
    let report = input(Some(&engine), &days, Lang::It);
    assert_eq!(svg(&report), svg(&report));
    let pdf = pdf(&report, &[]);
    assert_eq!(pdf, super::pdf(&report, &[]));
    assert!(pdf.contains("/Count 2 "));
    let mean = metric(&svg(&report), "mean_glucose").to_owned();
    assert!(pdf.contains(&format!("({mean}) Tj")), "{mean}");
}

#[test]
fn the_gri_zones_are_the_bands_between_the_published_lines() {
    let rect = [(0.0, 0.0), (30.0, 0.0), (30.0, 60.0), (0.0, 60.0)];
    let a = clip_gri(&rect, 20.0);
    assert_eq!(a.len(), 3);
    for (x, y) in &a {
        assert!(3.0 * x + 1.6 * y <= 20.0 + 1e-9);
    }
    let near = |p: (f64, f64)| {
        a.iter()
            .any(|q| (q.0 - p.0).abs() < 1e-9 && (q.1 - p.1).abs() < 1e-9)
    };
    assert!(
        near((20.0 / 3.0, 0.0)) && near((0.0, 12.5)) && near((0.0, 0.0)),
        "{a:?}"
    );
    // Zone E's line leaves the grid on its right edge: a five-sided region below it.
    assert_eq!(clip_gri(&rect, 100.0).len(), 5);
}

#[test]
fn the_layout_matches_the_golden_svg() {
    // Regenerate after a deliberate change with PGHD_UPDATE_GOLDEN=1, and look at it.
    let engine = summary(14);
    let days = wearable_days();
    let svg =
        svg(&input(Some(&engine), &days, Lang::It)).replace(env!("CARGO_PKG_VERSION"), "VERSION");
    // The report as files to look at (`PGHD_REPORT_ARTEFACTS=DIR`).
    if let Some(dir) = std::env::var_os("PGHD_REPORT_ARTEFACTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("agp-report-it.svg"), &svg).unwrap();
        let english = input(Some(&engine), &days, Lang::En);
        std::fs::write(dir.join("agp-report-en.pdf"), pdf(&english, &[])).unwrap();
    }
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/agp_report/golden-it.svg");
    if std::env::var("PGHD_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, &svg).unwrap();
    }
    let golden =
        std::fs::read_to_string(&path).expect("golden SVG (PGHD_UPDATE_GOLDEN=1 writes it)");
    if golden != svg {
        let line = golden
            .lines()
            .zip(svg.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(golden.lines().count().min(svg.lines().count()));
        panic!(
            "the report's layout changed from src/agp_report/golden-it.svg at line {}:\n golden: {:?}\n now:    {:?}",
            line + 1,
            golden.lines().nth(line),
            svg.lines().nth(line)
        );
    }
}

#[test]
fn the_png_is_the_same_picture_with_the_embedded_fonts() {
    let engine = summary(14);
    let days = wearable_days();
    let png = png(&input(Some(&engine), &days, Lang::It), 1.0).unwrap();
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
    // 595 × (2 × 842 + 16) pt at 4/3 px per pt.
    assert_eq!((pixmap.width(), pixmap.height()), (793, 2267));
    let px_per_pt = 4.0 / 3.0;
    let dark_in = |x0: f32, y0: f32, x1: f32, y1: f32| {
        let mut dark = 0;
        for y in (y0 * px_per_pt) as u32..(y1 * px_per_pt) as u32 {
            for x in (x0 * px_per_pt) as u32..(x1 * px_per_pt) as u32 {
                let p = pixmap.pixel(x, y).unwrap();
                if p.red() < 80 && p.green() < 80 && p.blue() < 80 {
                    dark += 1;
                }
            }
        }
        dark
    };
    // The title's glyphs are drawn (the fonts are the hub's own, not the host's) …
    assert!(dark_in(28.0, 26.0, 300.0, 42.0) > 500);
    // … and the margin beside it is blank.
    assert_eq!(dark_in(2.0, 2.0, 20.0, 60.0), 0);
    // The AGP chart's target band (70–180 mg/dL) at 01:00, under the curve's bands.
    let (x, y) = (
        60.0 + 507.0 / 24.0 * 0.5,
        402.0 + 170.0 - 100.0 / 350.0 * 170.0 - 35.0,
    );
    let p = pixmap
        .pixel((x * px_per_pt) as u32, (y * px_per_pt) as u32)
        .unwrap();
    let band = colors::TARGET_BAND;
    assert_eq!((p.red(), p.green(), p.blue()), (band.0, band.1, band.2));
    assert_eq!(
        png,
        super::png(&input(Some(&engine), &days, Lang::It), 1.0).unwrap()
    );
}
