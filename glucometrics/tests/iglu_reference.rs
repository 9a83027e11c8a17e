//! Checks the engine against the R package iglu 4.3.0: every run recorded in
//! iglu-python 0.4.3's `tests/expected_results.json` (113 runs of 43 functions on real
//! Dexcom G4 data) is recomputed with iglu's parameters and compared value by value to
//! a relative error of 1e-6. The data is fetched by `scripts/fetch-reference-data.sh`
//! (or found through `IGLU_REFERENCE_DIR`); it is not vendored (GPL-2).
//!
//! A run whose method this file does not know fails the test, so a new reference run
//! cannot be skipped silently.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use glucometrics::active::{active_percent_last_days, active_period};
use glucometrics::episodes::{analyse_events, EventConfig};
use glucometrics::grid::{DayByDayGrid, GridConfig};
use glucometrics::mage::{mage, MageConfig};
use glucometrics::ranges::{percent_above, percent_below, percent_in_range};
use glucometrics::stats::ValueDistribution;
use glucometrics::{indices, pgs, variability, GlucoseReading, GlucoseSeries, ValidationConfig};
use serde_json::Value;

const RELATIVE_TOLERANCE: f64 = 1e-6;

fn reference_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("IGLU_REFERENCE_DIR") {
        return PathBuf::from(dir);
    }
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/reference/iglu-python-0.4.3/tests");
    assert!(
        default.join("expected_results.json").exists(),
        "iglu reference data missing at {}: run scripts/fetch-reference-data.sh",
        default.display()
    );
    default
}

/// Reads an iglu example CSV (`"",id,time,gl` with naive local times) into readings per
/// id, interpreting times in `tz` as R did.
fn load_csv(path: &PathBuf, tz: Tz) -> BTreeMap<String, Vec<GlucoseReading>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut by_id: BTreeMap<String, Vec<GlucoseReading>> = BTreeMap::new();
    for (line_number, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        assert_eq!(fields.len(), 4, "line {}: {line}", line_number + 1);
        let naive = NaiveDateTime::parse_from_str(fields[2], "%Y-%m-%d %H:%M:%S").unwrap();
        let local = tz
            .from_local_datetime(&naive)
            .single()
            .expect("unambiguous local time");
        let gl: f64 = fields[3].parse().unwrap();
        by_id
            .entry(fields[1].to_owned())
            .or_default()
            .push(GlucoseReading::new(local.with_timezone(&Utc), gl));
    }
    by_id
}

/// A pandas-style column (`{"0": v0, "1": v1, …}`) as values in row order.
fn column(results: &Value, name: &str) -> Vec<Value> {
    let object = results[name]
        .as_object()
        .unwrap_or_else(|| panic!("no column {name}"));
    let mut rows: Vec<(usize, Value)> = object
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.clone()))
        .collect();
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Report {
    compared: usize,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, context: &str, ours: f64, expected: f64) {
        self.compared += 1;
        let ok = if expected.is_nan() || ours.is_nan() {
            expected.is_nan() && ours.is_nan()
        } else {
            (ours - expected).abs() <= RELATIVE_TOLERANCE * expected.abs() + 1e-12
        };
        if !ok {
            let relative = ((ours - expected) / expected).abs();
            self.failures.push(format!(
                "{context}: ours {ours} iglu {expected} (rel {relative:.2e})"
            ));
        }
    }

    fn check_eq(&mut self, context: &str, ours: &str, expected: &str) {
        self.compared += 1;
        if ours != expected {
            self.failures
                .push(format!("{context}: ours {ours} iglu {expected}"));
        }
    }
}

fn series(readings: &[GlucoseReading], tz: Tz) -> GlucoseSeries {
    GlucoseSeries::new(readings, tz, &ValidationConfig::default()).unwrap()
}

fn grid(series: &GlucoseSeries, step: Option<u32>, gap: f64) -> DayByDayGrid {
    DayByDayGrid::new(
        series,
        &GridConfig {
            step_min: step,
            max_interpolation_gap_min: gap,
        },
    )
    .unwrap()
}

fn kw_f64(kwargs: &Value, name: &str, default: f64) -> f64 {
    kwargs.get(name).and_then(Value::as_f64).unwrap_or(default)
}

fn kw_list(kwargs: &Value, name: &str, default: &[f64]) -> Vec<f64> {
    kwargs
        .get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(number).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// Metrics that iglu returns as one row per subject with named numeric columns.
fn per_subject_columns(
    method: &str,
    kwargs: &Value,
    s: &GlucoseSeries,
) -> Option<Vec<(String, f64)>> {
    let v = s.values();
    // The engine's distribution-only figures, as the summary computes them.
    let d = ValueDistribution::of(v);
    let default_grid = || grid(s, None, 45.0);
    let one = |name: &str, value: f64| Some(vec![(name.to_owned(), value)]);
    match method {
        "above_percent" => Some(
            kw_list(kwargs, "targets_above", &[140.0, 180.0, 250.0])
                .into_iter()
                .map(|t| (format!("above_{t}"), percent_above(&d, t)))
                .collect(),
        ),
        "below_percent" => Some(
            kw_list(kwargs, "targets_below", &[54.0, 70.0])
                .into_iter()
                .map(|t| (format!("below_{t}"), percent_below(&d, t)))
                .collect(),
        ),
        "in_range_percent" => Some(vec![
            ("in_range_70_180".into(), percent_in_range(&d, 70.0, 180.0)),
            ("in_range_63_140".into(), percent_in_range(&d, 63.0, 140.0)),
        ]),
        "adrr" => one("ADRR", variability::adrr(s)),
        "auc" => one("hourly_auc", variability::hourly_auc_iglu(&default_grid())),
        "cogi" => {
            let t = kw_list(kwargs, "targets", &[70.0, 180.0]);
            one("COGI", indices::cogi(&d, t[0], t[1]))
        }
        "conga" => one(
            "CONGA",
            variability::conga(&default_grid(), kw_f64(kwargs, "n", 24.0) as u32),
        ),
        "cv_glu" => one("CV", indices::cv_percent(&d)),
        "cv_measures" => {
            let (mean, sd) = variability::cv_measures(&default_grid());
            Some(vec![("CVmean".into(), mean), ("CVsd".into(), sd)])
        }
        "ea1c" => one("eA1C", indices::ea1c_percent(&d)),
        "gmi" => one("GMI", indices::gmi_percent(&d)),
        "grade" => one("GRADE", indices::grade(&d)),
        "grade_eugly" => one(
            "GRADE_eugly",
            indices::grade_share(&d, |g| (70.0..=140.0).contains(&g)),
        ),
        "grade_hyper" => one("GRADE_hyper", indices::grade_share(&d, |g| g > 140.0)),
        "grade_hypo" => one("GRADE_hypo", indices::grade_share(&d, |g| g < 80.0)),
        "gri" => one("GRI", indices::gri(&d).gri),
        "gvp" => one("GVP", variability::gvp(&default_grid())),
        "hbgi" => one("HBGI", indices::hbgi(&d)),
        "lbgi" => one("LBGI", indices::lbgi(&d)),
        "hyper_index" => one("hyper_index", indices::hyper_index(&d, 140.0, 1.1, 30.0)),
        "hypo_index" => one("hypo_index", indices::hypo_index(&d, 80.0, 2.0, 30.0)),
        "igc" => one("IGC", indices::igc(&d)),
        "iqr_glu" => one("IQR", d.quantile(0.75) - d.quantile(0.25)),
        "j_index" => one("J_index", indices::j_index(&d)),
        "m_value" => one("M_value", indices::m_value(&d, 90.0)),
        "mad_glu" => one("MAD", d.mad()),
        "mag" => one("MAG", variability::mag(&default_grid())),
        "mage" if kwargs.get("version").and_then(Value::as_str) == Some("naive") => {
            one("MAGE", indices::mage_naive(&d, 1.0))
        }
        "mage" => one("MAGE", mage(s, &MageConfig::default())),
        "mean_glu" => one("mean", d.mean()),
        "median_glu" => one("median", d.median()),
        "modd" => one("MODD", variability::modd(&default_grid(), 1)),
        "pgs" => one("PGS", pgs::pgs(v, &default_grid())),
        "quantile_glu" => Some(
            [0.0, 25.0, 50.0, 75.0, 100.0]
                .into_iter()
                .map(|p| (format!("{p}"), d.quantile(p / 100.0)))
                .collect(),
        ),
        "range_glu" => one("range", d.quantile(1.0) - d.quantile(0.0)),
        "sd_glu" => one("SD", d.sd()),
        "sd_measures" => {
            let m = variability::sd_measures(&default_grid());
            Some(vec![
                ("SDw".into(), m.within_days),
                ("SDhhmm".into(), m.between_time_points),
                ("SDwsh".into(), m.within_series_1h),
                ("SDdm".into(), m.daily_means),
                ("SDb".into(), m.between_days),
                ("SDbdm".into(), m.between_days_corrected),
            ])
        }
        "sd_roc" => one(
            "sd_roc",
            variability::sd_rate_of_change(&grid(s, Some(5), 45.0), 15),
        ),
        "summary_glu" => Some(vec![
            ("Min.".into(), d.quantile(0.0)),
            ("1st Qu.".into(), d.quantile(0.25)),
            ("Median".into(), d.median()),
            ("Mean".into(), d.mean()),
            ("3rd Qu.".into(), d.quantile(0.75)),
            ("Max.".into(), d.quantile(1.0)),
        ]),
        "active_percent" => {
            if kwargs.get("range_type").and_then(Value::as_str) == Some("manual") {
                Some(vec![
                    (
                        "active_percent".into(),
                        active_percent_last_days(s, 14, None),
                    ),
                    ("ndays".into(), 14.0),
                ])
            } else {
                let period = active_period(s, None);
                Some(vec![
                    ("active_percent".into(), period.active_percent),
                    (
                        "ndays".into(),
                        (period.span_days * 10.0).round_ties_even() / 10.0,
                    ),
                ])
            }
        }
        _ => None,
    }
}

/// iglu's numeric column names print integers without a decimal point.
fn column_name(name: &str) -> String {
    name.strip_suffix(".0")
        .map_or_else(|| name.to_owned(), str::to_owned)
        .replace(".0_", "_")
}

fn check_per_subject(
    report: &mut Report,
    context: &str,
    run: &Value,
    subjects: &BTreeMap<String, GlucoseSeries>,
) -> bool {
    let method = run["method"].as_str().unwrap();
    let results = &run["results"];
    let ids: Vec<String> = column(results, "id")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut known = true;
    for (row, id) in ids.iter().enumerate() {
        let s = &subjects[id];
        let Some(columns) = per_subject_columns(method, &run["kwargs"], s) else {
            known = false;
            break;
        };
        for (name, ours) in columns {
            let name = column_name(&name);
            let expected = number(&column(results, &name)[row]);
            report.check(&format!("{context} {id} {name}"), ours, expected);
        }
        if method == "active_percent" {
            let (first, last) = (s.instant(0), s.instant(s.len() - 1));
            let manual = run["kwargs"].get("range_type").is_some();
            let start = if manual {
                last - chrono::Duration::days(14)
            } else {
                first
            };
            for (name, ours) in [("start_date", start), ("end_date", last)] {
                let expected = column(results, name)[row].as_str().unwrap().to_owned();
                let expected = DateTime::parse_from_rfc3339(&expected)
                    .unwrap()
                    .with_timezone(&Utc);
                report.check_eq(
                    &format!("{context} {id} {name}"),
                    &ours.to_rfc3339(),
                    &expected.to_rfc3339(),
                );
            }
        }
    }
    known
}

fn check_episodes(
    report: &mut Report,
    context: &str,
    summary: &Value,
    data: Option<&Value>,
    subjects: &BTreeMap<String, GlucoseSeries>,
    tz: Tz,
) {
    let ids = column(summary, "id");
    let level = column(summary, "level");
    let kind = column(summary, "type");
    let columns = [
        "avg_ep_per_day",
        "avg_ep_duration",
        "avg_ep_gl",
        "total_episodes",
    ];
    let expected: Vec<Vec<Value>> = columns.iter().map(|c| column(summary, c)).collect();
    let mut per_id_row = BTreeMap::<String, usize>::new();
    let mut analyses = BTreeMap::new();
    for (row, id) in ids.iter().enumerate() {
        let id = id.as_str().unwrap().to_owned();
        let analysis = analyses.entry(id.clone()).or_insert_with(|| {
            analyse_events(&grid(&subjects[&id], None, 45.0), &EventConfig::default())
        });
        let class = per_id_row.entry(id.clone()).or_insert(0);
        let ours = &analysis.summaries[*class];
        *class += 1;
        let label = format!(
            "{context} {id} {}/{}",
            kind[row].as_str().unwrap(),
            level[row].as_str().unwrap()
        );
        let ours_level = serde_json::to_value(ours.level).unwrap();
        let ours_level = match ours_level.as_str().unwrap() {
            "level1" => "lv1",
            "level2" => "lv2",
            "level1_exclusive" => "lv1_excl",
            other => other,
        };
        report.check_eq(
            &format!("{label} class"),
            ours_level,
            level[row].as_str().unwrap(),
        );
        let values = [
            ours.events_per_day,
            ours.mean_duration_min,
            ours.mean_glucose,
            ours.total as f64,
        ];
        for (c, ours) in values.into_iter().enumerate() {
            report.check(
                &format!("{label} {}", columns[c]),
                ours,
                number(&expected[c][row]),
            );
        }
    }
    let Some(data) = data else { return };
    // Labelled grid points, subjects in iglu's (sorted) order.
    let expected_gl = column(data, "gl");
    let expected_segment = column(data, "segment");
    let expected_time = column(data, "time");
    let label_columns = [
        "lv1_hypo",
        "lv2_hypo",
        "ext_hypo",
        "lv1_hyper",
        "lv2_hyper",
        "lv1_hypo_excl",
        "lv1_hyper_excl",
    ];
    let expected_labels: Vec<Vec<Value>> = label_columns.iter().map(|c| column(data, c)).collect();
    let mut row = 0;
    for (id, analysis) in &analyses {
        let g = grid(&subjects[id], None, 45.0);
        // iglu labels grid times from UTC midnight of the first date, not local midnight:
        // its times are ours shifted by the zone's UTC offset (documented quirk).
        let offset_s = {
            let first = g.dates()[0].and_hms_opt(0, 0, 0).unwrap();
            let local = tz.from_local_datetime(&first).unwrap();
            (local.naive_utc() - first).num_seconds()
        };
        let points = analysis.labelled_points(&g);
        for p in 0..points.values.len() {
            let ctx = format!("{context} data row {row} ({id})");
            report.check(
                &format!("{ctx} gl"),
                points.values[p],
                number(&expected_gl[row]),
            );
            report.check(
                &format!("{ctx} segment"),
                points.run[p] as f64,
                number(&expected_segment[row]),
            );
            for (c, name) in label_columns.iter().enumerate() {
                report.check(
                    &format!("{ctx} {name}"),
                    points.labels[c][p] as f64,
                    number(&expected_labels[c][row]),
                );
            }
            let ours_time = g.time_s(points.grid_index[p]) - offset_s as f64;
            let theirs = DateTime::parse_from_rfc3339(expected_time[row].as_str().unwrap())
                .unwrap()
                .timestamp() as f64;
            report.check(&format!("{ctx} time"), ours_time, theirs);
            row += 1;
        }
    }
    report.check(
        &format!("{context} data rows"),
        row as f64,
        expected_gl.len() as f64,
    );
}

fn check_roc(
    report: &mut Report,
    context: &str,
    results: &Value,
    subjects: &BTreeMap<String, GlucoseSeries>,
) {
    let expected = column(results, "roc");
    let ids = column(results, "id");
    let mut row = 0;
    for (id, s) in subjects {
        let ours = variability::rate_of_change(&grid(s, Some(5), 45.0), 15);
        for value in ours {
            assert_eq!(ids[row].as_str().unwrap(), id, "{context}: subject order");
            report.check(
                &format!("{context} {id} row {row}"),
                value,
                number(&expected[row]),
            );
            row += 1;
        }
    }
    report.check(
        &format!("{context} rows"),
        row as f64,
        expected.len() as f64,
    );
}

fn check_day_by_day(report: &mut Report, context: &str, run: &Value, s: &GlucoseSeries) {
    let kwargs = &run["kwargs"];
    let step = kwargs.get("dt0").and_then(Value::as_f64).map(|d| d as u32);
    let g = grid(s, step, kw_f64(kwargs, "inter_gap", 45.0));
    let results = &run["results"];
    report.check(
        &format!("{context} dt0"),
        f64::from(g.step_min()),
        number(&results["dt0"]),
    );
    let dates: Vec<String> = g.dates().iter().map(|d| format!("{d}T00:00:00")).collect();
    let expected_dates: Vec<String> = results["actual_dates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    report.check_eq(
        &format!("{context} actual_dates"),
        &dates.join(","),
        &expected_dates.join(","),
    );
    let rows = results["gd2d"].as_array().unwrap();
    report.check(
        &format!("{context} rows"),
        g.days() as f64,
        rows.len() as f64,
    );
    for (d, row) in rows.iter().enumerate().take(g.days()) {
        for (c, cell) in row.as_array().unwrap().iter().enumerate() {
            report.check(
                &format!("{context} gd2d[{d}][{c}]"),
                g.row(d)[c],
                number(cell),
            );
        }
    }
}

#[test]
fn every_iglu_reference_run_is_reproduced() {
    let dir = reference_dir();
    let text = std::fs::read_to_string(dir.join("expected_results.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let tz: Tz = reference["config"]["local_tz"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut report = Report::default();
    let mut runs_by_method = BTreeMap::<String, usize>::new();
    let mut unknown = Vec::new();
    let mut cache = BTreeMap::new();
    for run in reference["test_runs"].as_array().unwrap() {
        let method = run["method"].as_str().unwrap();
        let file = run["input_file_name"]
            .as_str()
            .unwrap()
            .trim_start_matches("tests/");
        let context = format!("{method}({}) {file}", run["kwargs"]);
        let subjects: &BTreeMap<String, GlucoseSeries> =
            cache.entry(file.to_owned()).or_insert_with(|| {
                load_csv(&dir.join(file), tz)
                    .into_iter()
                    .map(|(id, r)| (id, series(&r, tz)))
                    .collect()
            });
        *runs_by_method.entry(method.to_owned()).or_default() += 1;
        let results = &run["results"];
        match method {
            "episode_calculation" => {
                if results.get("episodes").is_some() {
                    check_episodes(
                        &mut report,
                        &context,
                        &results["episodes"],
                        Some(&results["data"]),
                        subjects,
                        tz,
                    );
                } else {
                    check_episodes(&mut report, &context, results, None, subjects, tz);
                }
            }
            "roc" => check_roc(&mut report, &context, results, subjects),
            "CGMS2DayByDay" => {
                let (_, s) = subjects.iter().next().unwrap();
                check_day_by_day(&mut report, &context, run, s);
            }
            "process_data" => {
                let ids = column(results, "id");
                let times = column(results, "time");
                let gls = column(results, "gl");
                let mut row = 0;
                for (id, s) in subjects {
                    for i in 0..s.len() {
                        report.check_eq(
                            &format!("{context} row {row} id"),
                            id,
                            ids[row].as_str().unwrap(),
                        );
                        let theirs =
                            DateTime::parse_from_rfc3339(times[row].as_str().unwrap()).unwrap();
                        report.check_eq(
                            &format!("{context} row {row} time"),
                            &s.instant(i).to_rfc3339(),
                            &theirs.with_timezone(&Utc).to_rfc3339(),
                        );
                        report.check(
                            &format!("{context} row {row} gl"),
                            s.values()[i],
                            number(&gls[row]),
                        );
                        row += 1;
                    }
                }
                report.check(&format!("{context} rows"), row as f64, gls.len() as f64);
            }
            _ => {
                if !check_per_subject(&mut report, &context, run, subjects) {
                    unknown.push(context);
                }
            }
        }
    }
    eprintln!(
        "compared {} values from {} runs of {} methods",
        report.compared,
        runs_by_method.values().sum::<usize>(),
        runs_by_method.len()
    );
    assert!(
        unknown.is_empty(),
        "reference runs with no check: {unknown:#?}"
    );
    assert_eq!(
        runs_by_method.values().sum::<usize>(),
        113,
        "expected_results.json changed"
    );
    let shown: Vec<&String> = report.failures.iter().take(60).collect();
    assert!(
        report.failures.is_empty(),
        "{} of {} values differ from iglu by more than {RELATIVE_TOLERANCE:e}:\n{shown:#?}",
        report.failures.len(),
        report.compared
    );
}
