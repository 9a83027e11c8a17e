//! Glucose summaries of stored readings (`summarize_readings`, the one place readings
//! meet the engine) and their plain-text rendering for the terminal: one block per
//! series, the consensus figures first, research indices after.

use std::fmt::Write;

use glucometrics::episodes::{EventKind, EventLevel};
use glucometrics::{GlucoseSummary, GlucoseUnit};

/// The glucometrics summary (consensus defaults) of the glucose readings among
/// `readings` — CGM and meter, in mg/dL; other kinds are ignored — with days and times
/// of day in zone `tz`.
///
/// # Errors
/// The engine's: no valid readings, or a span too long.
pub fn summarize_readings(
    readings: &[device_adapters::reading::Reading],
    tz: chrono_tz::Tz,
) -> Result<GlucoseSummary, glucometrics::MetricsError> {
    let glucose: Vec<glucometrics::GlucoseReading> = readings
        .iter()
        .filter_map(|r| {
            Some(glucometrics::GlucoseReading::new(
                r.time,
                r.glucose_mg_dl()?,
            ))
        })
        .collect();
    glucometrics::summarize(&glucose, tz, &glucometrics::SummaryConfig::default())
}

fn number(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "n/a".to_owned()
    } else {
        format!("{value:.decimals$}")
    }
}

/// Renders `summary` of series `id` as a text block; with `show_agp`, adds an hourly
/// table of the AGP percentiles.
#[must_use]
pub fn render_text(id: &str, summary: &GlucoseSummary, show_agp: bool) -> String {
    let unit = summary.unit.ucum();
    // Glucose figures: whole numbers in mg/dL, one decimal in mmol/L.
    let g = |v: f64| {
        number(
            v,
            if summary.unit == GlucoseUnit::MgDl {
                0
            } else {
                1
            },
        )
    };
    let s = &summary.statistics;
    let tir = &summary.time_in_ranges;
    let zone: chrono_tz::Tz = summary.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
    };
    let mut text = String::new();
    let _ = writeln!(text, "== {id} ==");
    let _ = writeln!(
        text,
        "Period          {} to {} ({}), {:.1} days, {} days with data",
        local(summary.first_reading),
        local(summary.last_reading),
        summary.time_zone,
        summary.wear.days,
        summary.days_with_data
    );
    let sufficiency = &summary.sufficiency;
    let mut missing = Vec::new();
    if !sufficiency.at_least_14_days {
        missing.push("fewer than 14 days");
    }
    if !sufficiency.at_least_70_percent_active {
        missing.push("under 70 % active");
    }
    let _ = writeln!(
        text,
        "Readings        {} ({} % CGM active){}{}",
        summary.readings,
        number(summary.wear.active_percent, 1),
        summary
            .scans
            .map(|n| format!(", {n} scans"))
            .unwrap_or_default(),
        if missing.is_empty() {
            "; data sufficient for a report".to_owned()
        } else {
            format!("; NOT sufficient for a report: {}", missing.join(", "))
        }
    );
    let excluded = summary.exclusions.received - summary.readings;
    if excluded > 0 {
        let e = &summary.exclusions;
        let _ = writeln!(
            text,
            "Excluded        {excluded} (not a number {}, implausible low {}, high {}, duplicates {}, conflicting {})",
            e.not_a_number, e.below_plausible, e.above_plausible, e.exact_duplicates, e.conflicting_duplicates
        );
    }
    let _ = writeln!(
        text,
        "Glucose         mean {} {unit}, median {}, SD {}, CV {} %",
        g(s.mean),
        g(s.median),
        g(s.sd),
        number(s.cv_percent, 1)
    );
    let _ = writeln!(
        text,
        "Distribution    min {}, p5 {}, p25 {}, p75 {}, p95 {}, max {} (IQR {})",
        g(s.min),
        g(s.p05),
        g(s.p25),
        g(s.p75),
        g(s.p95),
        g(s.max),
        g(s.iqr)
    );
    let _ = writeln!(
        text,
        "GMI             {} % ({} mmol/mol); eA1c {} %",
        number(summary.gmi_percent, 1),
        number(summary.gmi_mmol_per_mol, 0),
        number(summary.ea1c_percent, 1)
    );
    let _ = writeln!(text, "Time in ranges  (mg/dL)          %   min/day");
    for (label, share) in [
        ("very high  >250", tir.very_high_above_250),
        ("high    181-250", tir.high_181_250),
        ("in range 70-180", tir.in_range_70_180),
        ("low       54-69", tir.low_54_69),
        ("very low    <54", tir.very_low_below_54),
        ("tight    70-140", tir.tight_range_70_140),
    ] {
        let _ = writeln!(
            text,
            "  {label}       {:>6} {:>7}",
            number(share.percent, 1),
            number(share.minutes_per_day, 0)
        );
    }
    let gri = &summary.gri;
    let _ = writeln!(
        text,
        "GRI             {} (zone {}; hypo component {}, hyper component {})",
        number(gri.gri, 1),
        gri.zone,
        number(gri.hypo_component, 1),
        number(gri.hyper_component, 1)
    );
    let _ = writeln!(
        text,
        "Events          class                 total  per day  mean min"
    );
    for class in &summary.event_summaries {
        let kind = match class.kind {
            EventKind::Hypo => "hypo",
            EventKind::Hyper => "hyper",
        };
        let level = match class.level {
            EventLevel::Level1 => "level 1",
            EventLevel::Level2 => "level 2",
            EventLevel::Extended => "extended",
            EventLevel::Level1Exclusive => "level 1 only",
        };
        let _ = writeln!(
            text,
            "  {:<28} {:>5} {:>8} {:>9}",
            format!("{kind} {level}"),
            class.total,
            number(class.events_per_day, 2),
            number(class.mean_duration_min, 0)
        );
    }
    let r = &summary.research;
    let _ = writeln!(
        text,
        "Variability     MAGE {}, MODD {}, CONGA(1 h) {}, MAG {} {unit}/h, GVP {} %",
        g(r.mage),
        g(r.modd),
        g(r.conga_1h),
        g(r.mag),
        number(r.gvp, 1)
    );
    let _ = writeln!(
        text,
        "Risk            LBGI {}, HBGI {}, ADRR {}, J-index {}, GRADE {}, M-value {}, COGI {}",
        number(r.lbgi, 2),
        number(r.hbgi, 2),
        number(r.adrr, 1),
        number(r.j_index, 1),
        number(r.grade, 1),
        number(r.m_value, 1),
        number(r.cogi, 1)
    );
    if show_agp {
        let _ = writeln!(text, "AGP ({unit})     time    p5   p25   p50   p75   p95");
        for bin in summary.agp.iter().filter(|b| b.start_min % 60 == 0) {
            let p = bin.percentiles;
            let _ = writeln!(
                text,
                "                {:02}:00 {:>5} {:>5} {:>5} {:>5} {:>5}",
                bin.start_min / 60,
                g(p[0]),
                g(p[1]),
                g(p[2]),
                g(p[3]),
                g(p[4])
            );
        }
    }
    text.push('\n');
    text
}
