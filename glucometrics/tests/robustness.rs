//! Property tests: the summary does not depend on the order or exact duplication of
//! readings, its disjoint ranges add up to 100 %, and no input makes it panic — bad
//! values are excluded and counted, or rejected with a typed error.

use chrono::{DateTime, TimeZone, Utc};
use glucometrics::{summarize, GlucoseReading, MetricsError, SummaryConfig};
use proptest::prelude::*;

const START_2024: i64 = 1_704_067_200;

fn instant(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).unwrap()
}

/// A plausible CGM trace: ~5-min steps with jitter and occasional gaps, 1–3 days.
fn cgm_trace() -> impl Strategy<Value = Vec<GlucoseReading>> {
    prop::collection::vec(
        (240_i64..=360, 40.0_f64..400.0, prop::bool::weighted(0.02)),
        10..700,
    )
    .prop_map(|steps| {
        let mut t = START_2024;
        steps
            .into_iter()
            .map(|(step, value, gap)| {
                t += if gap { step * 20 } else { step };
                GlucoseReading::new(instant(t), value.round())
            })
            .collect()
    })
}

fn summary_json(readings: &[GlucoseReading]) -> String {
    let summary = summarize(readings, chrono_tz::Europe::Rome, &SummaryConfig::default()).unwrap();
    let mut value = serde_json::to_value(&summary).unwrap();
    // Duplicates are counted on purpose; everything else must be identical.
    value["exclusions"] = serde_json::Value::Null;
    value.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn invariant_under_reordering_and_duplication(
        trace in cgm_trace(),
        seed in any::<u64>(),
        duplicate_every in 2_usize..9,
    ) {
        let reference = summary_json(&trace);
        let mut shuffled = trace.clone();
        // Deterministic Fisher–Yates from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let duplicated: Vec<GlucoseReading> = shuffled
            .iter()
            .enumerate()
            .flat_map(|(i, r)| std::iter::repeat_n(*r, if i % duplicate_every == 0 { 2 } else { 1 }))
            .collect();
        prop_assert_eq!(&reference, &summary_json(&shuffled));
        prop_assert_eq!(&reference, &summary_json(&duplicated));
    }

    #[test]
    fn disjoint_ranges_sum_to_100(trace in cgm_trace()) {
        let summary = summarize(&trace, chrono_tz::UTC, &SummaryConfig::default()).unwrap();
        let total = summary.time_in_ranges.disjoint_total_percent();
        prop_assert!((total - 100.0).abs() < 1e-9, "total {}", total);
        let minutes = summary.time_in_ranges.in_range_70_180.minutes_per_day;
        prop_assert!((0.0..=1440.0).contains(&minutes));
    }

    #[test]
    fn hostile_input_never_panics(
        raw in prop::collection::vec(
            (
                prop_oneof![
                    Just(0_i64), Just(4_102_444_800_i64), Just(-1_i64),
                    START_2024..START_2024 + 86_400 * 3,
                ],
                prop_oneof![
                    Just(f64::NAN), Just(f64::INFINITY), Just(-5.0), Just(0.0), Just(10_000.0),
                    Just(39.0), Just(401.0), 1.0_f64..700.0,
                ],
            ),
            0..200,
        ),
        zone in prop_oneof![
            Just(chrono_tz::Europe::Rome), Just(chrono_tz::America::Santiago),
            Just(chrono_tz::Australia::Lord_Howe), Just(chrono_tz::UTC),
        ],
    ) {
        let readings: Vec<GlucoseReading> =
            raw.iter().map(|&(t, v)| GlucoseReading::new(instant(t), v)).collect();
        match summarize(&readings, zone, &SummaryConfig::default()) {
            Ok(summary) => {
                let counts = summary.exclusions;
                // Every reading is either used or counted as excluded or merged.
                prop_assert_eq!(counts.kept(), summary.readings);
                prop_assert_eq!(counts.received, readings.len());
                let _ = serde_json::to_string(&summary).unwrap();
            }
            Err(MetricsError::NoValidReadings { exclusions }) => {
                prop_assert_eq!(exclusions.received, readings.len());
            }
            Err(MetricsError::SpanTooLong { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}

#[test]
fn one_reading_gets_a_summary_without_grid_metrics() {
    let summary = summarize(
        &[GlucoseReading::new(instant(START_2024), 123.0)],
        chrono_tz::Europe::Rome,
        &SummaryConfig::default(),
    )
    .unwrap();
    assert_eq!(summary.readings, 1);
    assert!((summary.statistics.mean - 123.0).abs() < f64::EPSILON);
    assert!(summary.research.mage.is_nan());
    assert!(summary.research.modd.is_nan());
    assert!((summary.wear.active_percent - 100.0).abs() < f64::EPSILON);
    // Late in the local day there are hundreds of grid points before the one reading,
    // and no interval to expect the readings' advance from (found by the proptest
    // below: 1970-01-01T00:00Z, which is evening in Santiago).
    for (seconds, zone) in [
        (0, chrono_tz::America::Santiago),
        (START_2024 + 22 * 3600, chrono_tz::Europe::Rome),
    ] {
        let one = [GlucoseReading::new(instant(seconds), 39.0)];
        let summary = summarize(&one, zone, &SummaryConfig::default()).unwrap();
        assert_eq!(summary.readings, 1, "{zone}");
    }
}

#[test]
fn dst_gap_day_keeps_local_days_and_times() {
    // Europe/Rome, 2024-03-31: 02:00 local does not exist. Readings every 5 min over
    // 30 and 31 March must land on two local days, the second 23 hours long.
    let start = chrono_tz::Europe::Rome
        .with_ymd_and_hms(2024, 3, 30, 0, 0, 0)
        .unwrap();
    let readings: Vec<GlucoseReading> = (0..(47 * 12))
        .map(|i| {
            GlucoseReading::new(
                start.with_timezone(&Utc) + chrono::Duration::minutes(5 * i),
                110.0,
            )
        })
        .collect();
    let summary = summarize(
        &readings,
        chrono_tz::Europe::Rome,
        &SummaryConfig::default(),
    )
    .unwrap();
    let days: Vec<usize> = summary.daily_profiles.iter().map(|d| d.readings).collect();
    assert_eq!(days, vec![288, 276]);
    assert_eq!(summary.days_with_data, 2);
}

#[test]
fn empty_input_is_a_typed_error() {
    let error = summarize(&[], chrono_tz::UTC, &SummaryConfig::default()).unwrap_err();
    assert!(matches!(error, MetricsError::NoValidReadings { .. }));
    assert!(error.to_string().contains("no valid glucose readings"));
}
