//! `pghd-hub demo` (the README's run command) works end to end: embedded broker, store,
//! simulated CGM through the bridge, summary of what the hub stored.

use clap::Parser;
use pghd_hub::cli::{run, Cli};

#[test]
fn the_demo_stores_every_reading_and_summarises_them() {
    let directory = std::env::temp_dir().join(format!("pghd-e2e-demo-{}", std::process::id()));
    let cli = Cli::try_parse_from([
        "pghd-hub",
        "demo",
        "--minutes-per-second",
        "5000",
        "--data-dir",
        directory.to_str().unwrap(),
    ])
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run(cli, &mut out, &mut err, false).unwrap();
    let text = String::from_utf8(out).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("sensor measured"))
        .expect(&text);
    // "sensor measured N readings; bridge collected N; spool left 0; hub stored N (…)"
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(numbers[0] > 200, "{line}");
    assert_eq!(numbers[0], numbers[1], "{line}");
    assert_eq!(numbers[2], 0, "{line}");
    assert_eq!(numbers[0], numbers[3], "{line}");
    assert!(text.contains("RACP backfill recovered"), "{text}");
    assert!(text.contains("== demo-patient (from the hub's store) =="));
    std::fs::remove_dir_all(&directory).unwrap();
}
