//! Time in ranges: the share of readings below, inside or above glucose thresholds.
//!
//! Boundary rules (International Consensus on Time in Range, Battelino et al. 2019,
//! Diabetes Care 42:1593, table 1; and iglu's `below_percent`, `above_percent`,
//! `in_range_percent`): "below t" is `gl < t`, "above t" is `gl > t`, a range
//! `[lo, hi]` includes both ends. So 70 and 180 mg/dL are in range, 54 is level 1
//! (54–69), 250 is level 1 (181–250).

use serde::{Deserialize, Serialize};

use crate::stats::ValueSet;

/// Percentage of values strictly below `threshold` mg/dL (iglu `below_percent`).
/// NaN values are skipped; 0 when none remain (as iglu).
#[must_use]
pub fn percent_below(values: &(impl ValueSet + ?Sized), threshold: f64) -> f64 {
    percent_of(values, values.count_below(threshold))
}

/// Percentage of values strictly above `threshold` mg/dL (iglu `above_percent`).
#[must_use]
pub fn percent_above(values: &(impl ValueSet + ?Sized), threshold: f64) -> f64 {
    percent_of(values, values.count_above(threshold))
}

/// Percentage of values in `[low, high]` mg/dL, both ends included
/// (iglu `in_range_percent`).
#[must_use]
pub fn percent_in_range(values: &(impl ValueSet + ?Sized), low: f64, high: f64) -> f64 {
    percent_of(values, values.count_between(low, high))
}

/// `count` as a percentage of the (non-NaN) values; 0 without values.
fn percent_of(values: &(impl ValueSet + ?Sized), count: usize) -> f64 {
    let total = values.present();
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64 * 100.0
    }
}

/// One consensus range: share of readings and the equivalent minutes per day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RangeShare {
    /// Share of readings, % (0–100).
    pub percent: f64,
    /// The same share of a 24-hour day, minutes per day (`percent / 100 × 1440`).
    pub minutes_per_day: f64,
}

impl RangeShare {
    fn from_percent(percent: f64) -> Self {
        Self {
            percent,
            minutes_per_day: percent / 100.0 * 1440.0,
        }
    }
}

/// The consensus time-in-ranges breakdown (Battelino et al. 2019; TITR 70–140 from
/// Battelino et al. 2023, Lancet Diabetes Endocrinol 11:42). The five disjoint ranges
/// sum to 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeInRanges {
    /// Level 2 hypoglycaemia, < 54 mg/dL.
    pub very_low_below_54: RangeShare,
    /// Level 1 hypoglycaemia, 54–69 mg/dL (54 ≤ gl < 70).
    pub low_54_69: RangeShare,
    /// Time in range, 70–180 mg/dL inclusive.
    pub in_range_70_180: RangeShare,
    /// Level 1 hyperglycaemia, 181–250 mg/dL (180 < gl ≤ 250).
    pub high_181_250: RangeShare,
    /// Level 2 hyperglycaemia, > 250 mg/dL.
    pub very_high_above_250: RangeShare,
    /// Time in tight range, 70–140 mg/dL inclusive (overlaps `in_range_70_180`).
    pub tight_range_70_140: RangeShare,
}

impl TimeInRanges {
    /// Computes the breakdown over `values` (mg/dL; NaN skipped).
    #[must_use]
    pub fn from_values(values: &(impl ValueSet + ?Sized)) -> Self {
        let below_54 = percent_below(values, 54.0);
        let below_70 = percent_below(values, 70.0);
        let above_180 = percent_above(values, 180.0);
        let above_250 = percent_above(values, 250.0);
        Self {
            very_low_below_54: RangeShare::from_percent(below_54),
            low_54_69: RangeShare::from_percent(below_70 - below_54),
            in_range_70_180: RangeShare::from_percent(percent_in_range(values, 70.0, 180.0)),
            high_181_250: RangeShare::from_percent(above_180 - above_250),
            very_high_above_250: RangeShare::from_percent(above_250),
            tight_range_70_140: RangeShare::from_percent(percent_in_range(values, 70.0, 140.0)),
        }
    }

    /// Sum of the five disjoint ranges, % (100 up to rounding when there is data).
    #[must_use]
    pub fn disjoint_total_percent(&self) -> f64 {
        self.very_low_below_54.percent
            + self.low_54_69.percent
            + self.in_range_70_180.percent
            + self.high_181_250.percent
            + self.very_high_above_250.percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_follow_the_consensus() {
        let values = [
            53.9,
            54.0,
            69.9,
            70.0,
            140.0,
            180.0,
            180.1,
            250.0,
            250.1,
            f64::NAN,
        ];
        // The same counts from the readings and from their distribution.
        let distribution = crate::stats::ValueDistribution::of(&values);
        for tir in [
            TimeInRanges::from_values(&values[..]),
            TimeInRanges::from_values(&distribution),
        ] {
            let share = 100.0 / 9.0;
            assert!((tir.very_low_below_54.percent - share).abs() < 1e-9);
            assert!((tir.low_54_69.percent - 2.0 * share).abs() < 1e-9);
            assert!((tir.in_range_70_180.percent - 3.0 * share).abs() < 1e-9);
            assert!((tir.high_181_250.percent - 2.0 * share).abs() < 1e-9);
            assert!((tir.very_high_above_250.percent - share).abs() < 1e-9);
            assert!((tir.tight_range_70_140.percent - 2.0 * share).abs() < 1e-9);
            assert!((tir.disjoint_total_percent() - 100.0).abs() < 1e-9);
            assert!((tir.in_range_70_180.minutes_per_day - 480.0).abs() < 1e-9);
        }
    }
}
