//! `pghd-hub synth` → CSV → `pghd-hub metrics --json`: the command-line path from a
//! file to a summary agrees with calling the engine directly, and bad rows are
//! reported with their line numbers.

use clap::Parser;
use glucometrics::synthetic::SyntheticTrace;
use glucometrics::{summarize, SummaryConfig};
use pghd_hub::cli::{run, Cli};

fn run_cli(args: &[&str]) -> (Result<(), String>, String, String) {
    let cli = Cli::try_parse_from(args).expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = run(cli, &mut out, &mut err, false).map_err(|e| format!("{e:#}"));
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn synth_then_metrics_matches_the_engine() {
    let dir = std::env::temp_dir().join(format!("pghd-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv_path = dir.join("trace.csv");
    let (result, csv, _) = run_cli(&[
        "pghd-hub", "synth", "--id", "p1", "--days", "3", "--seed", "5",
    ]);
    result.unwrap();
    // Append rows that must be rejected, and one exact duplicate.
    let first_row = csv.lines().nth(1).unwrap().to_owned();
    let extra = format!("{first_row}\np1,not-a-time,100\np1,2025-01-02T00:00:00Z,\n");
    std::fs::write(&csv_path, format!("{csv}{extra}")).unwrap();

    let path = csv_path.to_str().unwrap();
    let (result, json, diagnostics) =
        run_cli(&["pghd-hub", "metrics", path, "--tz", "Europe/Rome", "--json"]);
    result.unwrap();
    let rows = csv.lines().count() - 1;
    assert!(
        diagnostics.contains(&format!(
            "{} rows read: {} imported, 1 duplicate, 2 rejected",
            rows + 3,
            rows
        )),
        "{diagnostics}"
    );
    assert!(
        diagnostics.contains(&format!("line {}: time `not-a-time`", rows + 3)),
        "{diagnostics}"
    );
    assert!(
        diagnostics.contains(&format!("line {}: glucose value missing", rows + 4)),
        "{diagnostics}"
    );

    let documents: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ours = &documents[0]["summary"];
    assert_eq!(documents[0]["id"], "p1");
    let trace = SyntheticTrace {
        days: 3,
        seed: 5,
        ..SyntheticTrace::default()
    }
    .generate();
    let direct = summarize(&trace, chrono_tz::Europe::Rome, &SummaryConfig::default()).unwrap();
    let direct = serde_json::to_value(&direct).unwrap();
    assert_eq!(ours["readings"], direct["readings"]);
    assert_eq!(ours["time_in_ranges"], direct["time_in_ranges"]);
    assert_eq!(ours["research"]["mage"], direct["research"]["mage"]);
    assert_eq!(ours["agp"], direct["agp"]);

    // mmol/L output: same numbers divided by 18.0156.
    let (result, json, _) = run_cli(&[
        "pghd-hub",
        "metrics",
        path,
        "--tz",
        "Europe/Rome",
        "--json",
        "--unit",
        "mmol-l",
    ]);
    result.unwrap();
    let mmol: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mean_mmol = mmol[0]["summary"]["statistics"]["mean"].as_f64().unwrap();
    let mean_mg = direct["statistics"]["mean"].as_f64().unwrap();
    assert!((mean_mmol * glucometrics::MG_DL_PER_MMOL_L - mean_mg).abs() < 1e-9);
    assert_eq!(mmol[0]["summary"]["unit"], "mmol_l");

    // The text table names the series and the consensus ranges.
    let (result, text, _) = run_cli(&["pghd-hub", "metrics", path, "--tz", "Europe/Rome", "--agp"]);
    result.unwrap();
    assert!(text.contains("== p1 =="));
    assert!(text.contains("in range 70-180"));
    assert!(text.contains("AGP (mg/dL)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metrics_on_a_file_without_readings_fails_clearly() {
    let dir = std::env::temp_dir().join(format!("pghd-e2e-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("empty.csv");
    std::fs::write(&path, "id,time,gl\nx,2025-01-01T00:00:00Z,abc\n").unwrap();
    let (result, _, diagnostics) =
        run_cli(&["pghd-hub", "metrics", path.to_str().unwrap(), "--tz", "UTC"]);
    assert!(result.unwrap_err().contains("no readings to summarise"));
    assert!(diagnostics.contains("line 2: glucose `abc` is not a number"));
    let (result, _, _) = run_cli(&[
        "pghd-hub",
        "metrics",
        "/nonexistent/file.csv",
        "--tz",
        "UTC",
    ]);
    assert!(result
        .unwrap_err()
        .contains("reading /nonexistent/file.csv"));
    std::fs::remove_dir_all(&dir).unwrap();
}
