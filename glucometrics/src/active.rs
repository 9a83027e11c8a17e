//! Sensor wear: how much of the period the CGM was recording, as iglu 4.3.0
//! `active_percent` computes it, and the data-sufficiency rule of the consensus
//! (Battelino et al. 2019, Diabetes Care 42:1593: ≥ 14 days with ≥ 70 % of data).

use serde::{Deserialize, Serialize};

use crate::series::GlucoseSeries;
use crate::stats;

/// Wear over the observed period (iglu `active_percent(range_type = "automatic")`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActivePeriod {
    /// Share of expected readings present, % (0–100).
    pub active_percent: f64,
    /// Wear period, days: from the first reading to the end of the last reading's
    /// interval (14 days of 5-minute readings make exactly 14.0).
    pub days: f64,
    /// From the first to the last reading, days (iglu's `ndays` before its rounding).
    pub span_days: f64,
    /// Sampling interval used, minutes (rounded median interval unless given).
    pub interval_min: f64,
}

/// Computes [`ActivePeriod`]: expected readings are `round(span / interval) + 1`;
/// each gap longer than the interval (after rounding to whole minutes) removes
/// `round((gap total − gaps × interval) / interval)` of them. `interval_min` of `None`
/// takes the rounded median interval. A single reading is 100 % of a zero-length period.
#[must_use]
pub fn active_period(series: &GlucoseSeries, interval_min: Option<f64>) -> ActivePeriod {
    let times = series.times_s();
    let span_min = (times[times.len() - 1] - times[0]) / 60.0;
    let interval = interval_min
        .unwrap_or_else(|| series.median_interval_min().round_ties_even())
        .max(1.0);
    if times.len() < 2 {
        return ActivePeriod {
            active_percent: 100.0,
            days: interval / 1440.0,
            span_days: 0.0,
            interval_min: interval,
        };
    }
    let expected = (span_min.round_ties_even() / interval).round_ties_even() + 1.0;
    // A gap counts when it rounds (half to even) above the interval. Gaps are rare:
    // eight intervals are tested at a time without a branch between them, and only a
    // chunk that may hold a gap is walked, adding its gaps in order as before. The
    // chunk test is in seconds, without a division per interval: any interval whose
    // minutes can count is at least `possible_s` long (the minutes' rounding moves
    // them by far less than the second of margin).
    let counts = gap_rounds_above(interval);
    let possible_s = (interval.floor() + 0.5) * 60.0 - 1.0;
    let minutes = |later: f64, earlier: f64| (later - earlier) / 60.0;
    let (mut gap_count, mut gap_minutes) = (0_usize, 0.0);
    let (later, earlier) = stats::lagged_pairs(times, 1);
    let (mut later_eights, mut earlier_eights) = (later.chunks_exact(8), earlier.chunks_exact(8));
    let mut add_gaps = |later: &[f64], earlier: &[f64]| {
        for gap in later
            .iter()
            .zip(earlier)
            .map(|(&l, &e)| minutes(l, e))
            .filter(|&gap| counts(gap))
        {
            gap_count += 1;
            gap_minutes += gap;
        }
    };
    for (later, earlier) in (&mut later_eights).zip(&mut earlier_eights) {
        let any = later
            .iter()
            .zip(earlier)
            .fold(false, |any, (&l, &e)| any | (l - e >= possible_s));
        if any {
            add_gaps(later, earlier);
        }
    }
    add_gaps(later_eights.remainder(), earlier_eights.remainder());
    let missing = ((gap_minutes - gap_count as f64 * interval) / interval).round_ties_even();
    ActivePeriod {
        active_percent: (expected - missing) / expected * 100.0,
        days: (span_min + interval) / 1440.0,
        span_days: span_min / 1440.0,
        interval_min: interval,
    }
}

/// Share of the `days` days ending at the last reading that have readings, % — iglu
/// `active_percent(range_type = "manual", ndays)`: readings in the window divided by
/// `days × 1440 / interval`.
#[must_use]
pub fn active_percent_last_days(
    series: &GlucoseSeries,
    days: u32,
    interval_min: Option<f64>,
) -> f64 {
    let times = series.times_s();
    let interval = interval_min
        .unwrap_or_else(|| series.median_interval_min().round_ties_even())
        .max(1.0);
    let end = times[times.len() - 1];
    let start = end - f64::from(days) * 86_400.0;
    let present = times.iter().filter(|&&t| t >= start && t <= end).count();
    present as f64 / (f64::from(days) * 1440.0 / interval) * 100.0
}

/// The consensus data-sufficiency rule for a report (Battelino et al. 2019).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSufficiency {
    /// The readings span at least 14 days.
    pub at_least_14_days: bool,
    /// At least 70 % of expected readings are present.
    pub at_least_70_percent_active: bool,
}

impl DataSufficiency {
    /// Applies the rule to a wear period.
    #[must_use]
    pub fn of(period: &ActivePeriod) -> Self {
        Self {
            at_least_14_days: period.days >= 14.0,
            at_least_70_percent_active: period.active_percent >= 70.0,
        }
    }

    /// Both conditions hold.
    #[must_use]
    pub fn sufficient(&self) -> bool {
        self.at_least_14_days && self.at_least_70_percent_active
    }
}

/// Whether a gap (minutes) rounds, half to even, to more than `interval` minutes: at
/// least to the next whole minute `k`, so above k − ½, or exactly k − ½ with k even.
/// Compared rather than rounded: rounding is a library call per gap on baseline x86-64.
fn gap_rounds_above(interval: f64) -> impl Fn(f64) -> bool {
    let next_whole = interval.floor() + 1.0;
    let halfway = next_whole - 0.5;
    let tie_rounds_up = next_whole % 2.0 == 0.0;
    #[expect(clippy::float_cmp, reason = "an exact half-way gap is the tie case")]
    move |gap: f64| gap > halfway || (tie_rounds_up && gap == halfway)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{GlucoseReading, ValidationConfig};
    use chrono::{TimeZone, Utc};

    /// The gaps and % time active of `series` at `interval` minutes, every interval
    /// turned into minutes and tested, in order: the rule without the chunk test.
    fn every_interval_tested(series: &GlucoseSeries, interval: f64) -> (usize, f64) {
        let counts = gap_rounds_above(interval);
        let (n, total) = series
            .times_s()
            .windows(2)
            .map(|w| (w[1] - w[0]) / 60.0)
            .filter(|&gap| counts(gap))
            .fold((0_usize, 0.0), |(n, total), gap| (n + 1, total + gap));
        let times = series.times_s();
        let span = (times[times.len() - 1] - times[0]) / 60.0;
        let expected = (span.round_ties_even() / interval).round_ties_even() + 1.0;
        let missing = ((total - n as f64 * interval) / interval).round_ties_even();
        (n, (expected - missing) / expected * 100.0)
    }

    #[test]
    fn gaps_anywhere_in_a_chunk_are_counted_in_order() {
        // 5-minute readings with gaps of 10 to 90 minutes at positions around the
        // chunks of eight, against a plain fold over every interval.
        let mut minute = 0_i64;
        let mut readings = Vec::new();
        for k in 0..200_i64 {
            minute += if [7, 8, 9, 16, 63, 64, 150, 199].contains(&k) {
                10 + 10 * (k % 9)
            } else {
                5
            };
            let time = Utc
                .timestamp_opt(1_600_000_000 + minute * 60 + k % 3, 0)
                .unwrap();
            readings.push(GlucoseReading::new(time, 100.0));
        }
        let series =
            GlucoseSeries::new(&readings, chrono_tz::UTC, &ValidationConfig::default()).unwrap();
        let period = active_period(&series, None);
        let (gaps, percent) = every_interval_tested(&series, 5.0);
        assert_eq!(gaps, 8);
        assert_eq!(period.active_percent.to_bits(), percent.to_bits());
    }

    #[test]
    fn gaps_at_the_rounding_boundary_are_found_by_the_chunk_test() {
        // Intervals just below, at and above the half-way gap of 1-, 2- and 5-minute
        // sampling (in ms), each alone in a chunk, against testing every interval.
        for interval in [1.0_f64, 2.0, 5.0] {
            let halfway_ms = ((interval.floor() + 0.5) * 60_000.0) as i64;
            let odd = [-1_000, -1, 0, 1, 7, 1_000];
            let mut at_ms = 1_600_000_000_000_i64;
            let mut readings = Vec::new();
            for k in 0..100_usize {
                at_ms += match odd.get(k / 9).filter(|_| k % 9 == 4) {
                    Some(offset) => halfway_ms + offset,
                    None => (interval * 60_000.0) as i64,
                };
                let time = Utc.timestamp_millis_opt(at_ms).unwrap();
                readings.push(GlucoseReading::new(time, 100.0));
            }
            let series =
                GlucoseSeries::new(&readings, chrono_tz::UTC, &ValidationConfig::default())
                    .unwrap();
            let (gaps, percent) = every_interval_tested(&series, interval);
            assert!(gaps >= 3, "some boundary gaps count at {interval} min");
            assert_eq!(
                active_period(&series, Some(interval))
                    .active_percent
                    .to_bits(),
                percent.to_bits(),
                "{interval} min"
            );
        }
    }

    #[test]
    fn gaps_count_as_rounding_says() {
        for interval in [1.0, 2.0, 5.0, 15.0, 2.5] {
            let counts = gap_rounds_above(interval);
            for tenths in 0..400 {
                let gap = f64::from(tenths) / 10.0;
                for gap in [gap, gap + 0.05] {
                    assert_eq!(
                        counts(gap),
                        gap.round_ties_even() > interval,
                        "gap {gap} interval {interval}"
                    );
                }
            }
        }
    }
}
