//! The day-by-day interpolation grid of iglu's `CGMS2DayByDay` (iglu 4.3.0,
//! `R/utils.R`): readings are linearly interpolated onto an equally spaced grid that
//! starts one step after local midnight of the first day, one row per day, with no
//! interpolation across gaps longer than `inter_gap` minutes.
//!
//! Reproduced exactly, including two iglu choices that a fresh design would not make
//! (documented in docs/glucometrics.md): the grid has `ceil(span_days + 1)` rows, which
//! can leave a trailing all-missing day, and it steps in physical minutes from the
//! first local midnight, so after a DST change rows are an hour off local midnight.
//! Consensus metrics that need civil days use readings' local dates instead.

use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::series::GlucoseSeries;
use crate::stats::{self, Condition, Flags};
use crate::MetricsError;

/// Minutes in a day.
pub const MINUTES_PER_DAY: u32 = 1440;

/// How to build the grid (iglu's `dt0` and `inter_gap` arguments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridConfig {
    /// Grid step, minutes; `None` takes the rounded median interval between readings.
    pub step_min: Option<u32>,
    /// Longest gap between readings, minutes, that is bridged by interpolation.
    pub max_interpolation_gap_min: f64,
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            step_min: None,
            max_interpolation_gap_min: 45.0,
        }
    }
}

impl GridConfig {
    /// The grid iglu uses where it fixes `dt0 = 5` (MAGE, rate of change, episodes).
    #[must_use]
    pub fn five_minutes() -> Self {
        Self {
            step_min: Some(5),
            ..Self::default()
        }
    }
}

/// Glucose on an equally spaced grid, one row per day; NaN where no value.
#[derive(Debug, Clone, PartialEq)]
pub struct DayByDayGrid {
    step_min: u32,
    first_day: NaiveDate,
    /// UTC instant (seconds since the epoch) of local midnight of `first_day`.
    origin_s: f64,
    days: usize,
    /// Row-major values, mg/dL; NaN where missing.
    values: Vec<f64>,
    /// Mean and SD of each row, computed when first asked for.
    row_statistics: OnceLock<Vec<RowStatistics>>,
    /// Lowest and highest value, mg/dL, found when first asked for.
    extremes: OnceLock<(f64, f64)>,
    /// The values' flags under each condition asked for so far.
    flags: FlagsMemo,
}

/// Flags of a grid's values by condition, each found when first asked for. A clone
/// starts empty and any two compare equal: they follow from the values.
#[derive(Debug, Default)]
struct FlagsMemo(Mutex<Vec<(Condition, Arc<Flags>)>>);

impl Clone for FlagsMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for FlagsMemo {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

/// Mean and sample SD (n − 1) of one day's grid values, mg/dL (NaN values skipped; NaN
/// when the row has too few values), as R's `mean` and `sd` with `na.rm = TRUE`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowStatistics {
    /// Mean, mg/dL.
    pub mean: f64,
    /// Sample SD, mg/dL.
    pub sd: f64,
}

impl DayByDayGrid {
    /// Interpolates `series` onto the grid (iglu `CGMS2DayByDay`).
    ///
    /// # Errors
    /// [`MetricsError::TooFewReadings`] when the step must be estimated from fewer than
    /// two readings; [`MetricsError::StepAboveGap`] when the step exceeds the
    /// interpolation gap (iglu stops with the same condition).
    pub fn new(series: &GlucoseSeries, config: &GridConfig) -> Result<Self, MetricsError> {
        let times = series.times_s();
        let values = series.values();
        let mut step = match config.step_min {
            Some(step) => f64::from(step.max(1)),
            None => {
                if series.len() < 2 {
                    return Err(MetricsError::TooFewReadings {
                        needed: 2,
                        got: series.len(),
                    });
                }
                series.median_interval_min().round_ties_even().max(1.0)
            }
        };
        if step > config.max_interpolation_gap_min {
            return Err(MetricsError::StepAboveGap {
                step_min: step,
                gap_min: config.max_interpolation_gap_min,
            });
        }
        if f64::from(MINUTES_PER_DAY) % step != 0.0 {
            step = if step > 20.0 {
                20.0
            } else {
                let remainder = step % 5.0;
                if remainder > 2.0 {
                    step + 5.0 - remainder
                } else {
                    step - remainder
                }
            };
        }
        // After the adjustment `step` is a whole number of minutes in 1..=45.
        let step_min = step.max(1.0) as u32;
        let span_days = (times[times.len() - 1] - times[0]) / 86_400.0;
        let days = (span_days + 1.0).ceil() as usize;
        let first_day = series.local_date(0);
        let origin_s = local_midnight_utc(first_day, series.tz()).timestamp() as f64;
        let per_day = (MINUTES_PER_DAY / step_min) as usize;
        let step_s = f64::from(step_min) * 60.0;
        let max_gap_s = config.max_interpolation_gap_min * 60.0;

        let points = days * per_day;
        let instant = |k: usize| point_instant(origin_s, step_s, k);
        // Points before the first reading or after the last are missing (R's `approx`
        // with rule 1): the points between are found once, by the same instants, so
        // that the loop does not test every point against the data's span.
        let inside = points_within(points, instant, times[0], times[times.len() - 1]);
        let mut grid = vec![f64::NAN; points];
        let mut search = ReadingSearch::new(times, step_s, series.median_interval_min());
        let mut branch_free = false;
        let within = &mut grid[inside.clone()];
        for (block_number, out) in within.chunks_mut(ReadingSearch::BLOCK).enumerate() {
            let first = inside.start + block_number * ReadingSearch::BLOCK;
            // Each instant one step after the one before: whole seconds, so the sums
            // are exact and equal `instant(k)` (an addition, not a conversion and a
            // multiplication, per point).
            let instants = (0..out.len()).scan(instant(first) - step_s, |at, _| {
                *at += step_s;
                Some(*at)
            });
            let mut slots = out.iter_mut();
            let mut each = |at: f64, left: usize| {
                if let Some(slot) = slots.next() {
                    *slot = interpolate_within(times, values, left, at, max_gap_s);
                }
            };
            let changes = if branch_free {
                search.block::<true>(instants, &mut each)
            } else {
                search.block::<false>(instants, &mut each)
            };
            branch_free = changes > ReadingSearch::BLOCK / 8;
        }
        Ok(Self {
            step_min,
            first_day,
            origin_s,
            days,
            values: grid,
            row_statistics: OnceLock::new(),
            extremes: OnceLock::new(),
            flags: FlagsMemo::default(),
        })
    }

    /// Grid step, minutes.
    #[must_use]
    pub fn step_min(&self) -> u32 {
        self.step_min
    }

    /// Grid points per day.
    #[must_use]
    pub fn points_per_day(&self) -> usize {
        (MINUTES_PER_DAY / self.step_min) as usize
    }

    /// Number of rows (days).
    #[must_use]
    pub fn days(&self) -> usize {
        self.days
    }

    /// Local date of each row (iglu's `actual_dates`).
    #[must_use]
    pub fn dates(&self) -> Vec<NaiveDate> {
        (0..self.days)
            .map(|d| self.first_day + Duration::days(d as i64))
            .collect()
    }

    /// All values, row after row (iglu's `as.vector(t(gd2d))`), mg/dL, NaN if missing.
    #[must_use]
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// One day's row.
    #[must_use]
    pub fn row(&self, day: usize) -> &[f64] {
        let width = self.points_per_day();
        &self.values[day * width..(day + 1) * width]
    }

    /// The rows, first day first.
    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.values.chunks(self.points_per_day())
    }

    /// Mean and SD of each row, first day first: shared by the SD and CV subtypes.
    #[must_use]
    pub fn row_statistics(&self) -> &[RowStatistics] {
        self.row_statistics.get_or_init(|| {
            self.rows()
                .map(|row| {
                    let (mean, sd) = stats::mean_and_sd(row);
                    RowStatistics { mean, sd }
                })
                .collect()
        })
    }

    /// Lowest and highest value, mg/dL ((+∞, −∞) when every value is missing): found
    /// once per grid and shared by the metrics that scale the values to fixed point
    /// (MAGE's moving averages, the one-hour SDs).
    #[must_use]
    pub fn extremes(&self) -> (f64, f64) {
        *self.extremes.get_or_init(|| stats::extremes(&self.values))
    }

    /// The values' flags under `condition`, found once per grid and condition and shared
    /// by every metric that tests it (the events and PGS's, MAGE's segments).
    pub(crate) fn flags(&self, condition: Condition) -> Arc<Flags> {
        let mut memo = self.flags.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, flags)) = memo.iter().find(|(known, _)| *known == condition) {
            return Arc::clone(flags);
        }
        let flags = Arc::new(Flags::meeting(&self.values, condition));
        memo.push((condition, Arc::clone(&flags)));
        flags
    }

    /// The runs of points with and without a value, in order: (missing, index range).
    pub(crate) fn missing_runs(&self) -> impl Iterator<Item = (bool, Range<usize>)> {
        stats::runs_of(self.flags(Condition::Missing), 0..self.values.len())
    }

    /// The UTC instant of grid point `index` (counting across rows), seconds since the
    /// epoch: one step after local midnight of the first day for index 0.
    #[must_use]
    pub fn time_s(&self, index: usize) -> f64 {
        point_instant(self.origin_s, f64::from(self.step_min) * 60.0, index)
    }
}

/// Finds, for ascending instants, the last reading at or before each (the reading a grid
/// point interpolates from).
///
/// Two ways, chosen block by block. Readings that keep their cadence pass the same
/// number of readings each step: the last step's advance is tried first, a branch the
/// processor predicts, so one point's search need not wait for the last one's. When
/// timestamps jitter around the grid's instants, a step passes one reading more or
/// less at random, that branch mispredicts on half the points, and the search instead
/// compares the three candidates around the expected advance without a branch (each
/// point then waits on the last, a few cycles). A block of [`Self::BLOCK`] points takes
/// the branch-free way when the advance changed on more than an eighth of the block
/// before. Either way the answer is exact: outside the candidates, the readings are
/// walked one by one.
struct ReadingSearch<'a> {
    times: &'a [f64],
    /// Readings a step passes at the sampling interval (at least 1).
    expected: usize,
    /// The last answer and the advance that led to it.
    left: usize,
    advance: usize,
}

impl<'a> ReadingSearch<'a> {
    /// Points per block between choices of the way to search.
    const BLOCK: usize = 256;

    fn new(times: &'a [f64], step_s: f64, interval_min: f64) -> Self {
        // One reading has no interval (NaN): then, as for any ratio below one, 1.
        let ratio = (step_s / (interval_min * 60.0)).round_ties_even();
        let expected = if ratio > 1.0 {
            ratio.min(1e6) as usize
        } else {
            1
        };
        Self {
            times,
            expected,
            left: 0,
            advance: 0,
        }
    }

    /// Calls `each(at, reading)` for the ascending `instants` with the last reading at
    /// or before `at` (0 when none is), searching branch-free or not; returns how many
    /// points changed the advance.
    fn block<const BRANCH_FREE: bool>(
        &mut self,
        instants: impl Iterator<Item = f64>,
        each: &mut impl FnMut(f64, usize),
    ) -> usize {
        let times = self.times;
        let (mut left, mut advance, mut changes) = (self.left, self.advance, 0);
        for at in instants {
            let found = if BRANCH_FREE {
                let guess = left + self.expected - 1;
                match times.get(guess..guess + 4) {
                    Some(&[first, second, third, fourth]) if first <= at && fourth > at => {
                        guess + usize::from(second <= at) + usize::from(third <= at)
                    }
                    _ => Self::walk(times, left, at),
                }
            } else {
                let guess = left + advance;
                if guess < times.len()
                    && times[guess] <= at
                    && times.get(guess + 1).is_none_or(|&next| next > at)
                {
                    guess
                } else {
                    // The last advance missed. Before the first reading it misses
                    // without the advance changing: that is not counted.
                    let found = Self::walk(times, left, at);
                    changes += usize::from(found - left != advance);
                    found
                }
            };
            if BRANCH_FREE {
                changes += usize::from(found - left != advance);
            }
            advance = found - left;
            left = found;
            each(at, left);
        }
        (self.left, self.advance) = (left, advance);
        changes
    }

    /// The last of `times` at or before `at`, walking on from `from`.
    #[cold]
    fn walk(times: &[f64], from: usize, at: f64) -> usize {
        let mut index = from;
        while index + 1 < times.len() && times[index + 1] <= at {
            index += 1;
        }
        index
    }
}

/// Grid point `index` (from 0, across rows), seconds since the epoch: `index + 1` steps
/// of `step_s` after `origin_s`, local midnight of the first day. Whole seconds, so
/// exact; the count goes through i64, whose conversion to f64 is one instruction (an
/// unsigned one is several).
fn point_instant(origin_s: f64, step_s: f64, index: usize) -> f64 {
    origin_s + (index + 1) as i64 as f64 * step_s
}

/// The indices of the `points` ascending instants `instant(k)` that lie from `first_s`
/// to `last_s` (seconds, inclusive), found by binary search on the instants themselves,
/// so that the answer is exactly the points the comparison would keep.
fn points_within(
    points: usize,
    instant: impl Fn(usize) -> f64,
    first_s: f64,
    last_s: f64,
) -> Range<usize> {
    // The first point for which `before` no longer holds (it holds for a prefix).
    let first_not = |before: &dyn Fn(f64) -> bool| {
        let (mut low, mut high) = (0, points);
        while low < high {
            let middle = low + (high - low) / 2;
            if before(instant(middle)) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    };
    let start = first_not(&|t| t < first_s);
    let end = first_not(&|t| t <= last_s).max(start);
    start..end
}

/// Linear interpolation as R's `approx(rule = 1)` at `at`, within the readings' span
/// (the grid leaves the points outside it missing, [`points_within`]), given `left`,
/// the last reading at or before `at`: the reading itself on an exact hit, NaN strictly
/// inside a gap longer than `max_gap_s`.
#[inline]
fn interpolate_within(times: &[f64], values: &[f64], left: usize, at: f64, max_gap_s: f64) -> f64 {
    // R's `approx` returns the reading itself on an exact hit; exact on purpose.
    #[expect(
        clippy::float_cmp,
        reason = "an exact hit on a reading instant, as R's approx"
    )]
    let exact_hit = times[left] == at;
    if exact_hit {
        return values[left];
    }
    let right = left + 1;
    let (x0, x1) = (times[left], times[right]);
    if x1 - x0 > max_gap_s {
        return f64::NAN;
    }
    values[left] + (values[right] - values[left]) * ((at - x0) / (x1 - x0))
}

/// The UTC instant of local midnight starting `date` in `tz`. Where midnight does not
/// exist (a DST jump at 00:00), the first local instant of the day is used; where it
/// occurs twice, the earlier.
#[must_use]
pub fn local_midnight_utc(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for shift_min in (0..=180).step_by(15) {
        let local = midnight + Duration::minutes(shift_min);
        if let Some(instant) = tz.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{GlucoseReading, ValidationConfig};

    fn series(points: &[(i64, f64)]) -> GlucoseSeries {
        let readings: Vec<_> = points
            .iter()
            .map(|&(s, v)| GlucoseReading::new(Utc.timestamp_opt(s, 0).unwrap(), v))
            .collect();
        GlucoseSeries::new(&readings, chrono_tz::UTC, &ValidationConfig::default()).unwrap()
    }

    #[test]
    fn flags_are_found_once_per_condition_and_match_the_values() {
        let grid = crate::synthetic::default_grid(&GridConfig::default());
        let conditions = [
            Condition::Missing,
            Condition::Below(70.0),
            Condition::Below(54.0),
            Condition::Above(180.0),
        ];
        for condition in conditions {
            let first = grid.flags(condition);
            assert_eq!(*first, Flags::meeting(grid.values(), condition));
            assert!(Arc::ptr_eq(&first, &grid.flags(condition)), "{condition:?}");
        }
        assert!(!Arc::ptr_eq(
            &grid.flags(Condition::Below(70.0)),
            &grid.flags(Condition::Above(70.0))
        ));
        assert_eq!(grid.extremes(), stats::extremes(grid.values()));
        let missing: Vec<_> = grid.missing_runs().collect();
        assert!(missing.iter().any(|(gap, _)| *gap), "the trace has gaps");
        // A copy finds its own flags, the same.
        let copy = grid.clone();
        assert_eq!(copy.missing_runs().collect::<Vec<_>>(), missing);
    }

    /// Every point of the 5- and 1-minute grids of `s` equals the interpolation from
    /// the reading a binary search finds for it, bit for bit.
    fn assert_grids_match_a_search(s: &GlucoseSeries) {
        for step_min in [5, 1] {
            let config = GridConfig {
                step_min: Some(step_min),
                ..GridConfig::default()
            };
            let grid = DayByDayGrid::new(s, &config).unwrap();
            let times = s.times_s();
            for (index, &value) in grid.values().iter().enumerate() {
                let at = grid.time_s(index);
                let left = times.partition_point(|&t| t <= at).saturating_sub(1);
                // R's `approx(rule = 1)`: missing outside the readings' span.
                let expected = if at < times[0] || at > times[times.len() - 1] {
                    f64::NAN
                } else {
                    interpolate_within(times, s.values(), left, at, 45.0 * 60.0)
                };
                assert_eq!(
                    value.to_bits(),
                    expected.to_bits(),
                    "step {step_min}, {index}"
                );
            }
        }
    }

    #[test]
    fn points_within_are_the_points_a_comparison_keeps() {
        let origin = 1_577_836_800.0;
        for points in [0, 1, 2, 7, 288] {
            for step in [60.0, 300.0, 420.0] {
                let instant = |k: usize| origin + (k + 1) as f64 * step;
                // Bounds before, on, between and after the instants.
                let bounds = [-1e6, 0.0, step, step + 0.5, 3.0 * step - 1.0, 1e6];
                for first in bounds {
                    for last in bounds {
                        let (first_s, last_s) = (origin + first, origin + last);
                        let expected: Vec<usize> = (0..points)
                            .filter(|&k| first_s <= instant(k) && instant(k) <= last_s)
                            .collect();
                        let found: Vec<usize> =
                            points_within(points, instant, first_s, last_s).collect();
                        assert_eq!(found, expected, "{points} {step} {first} {last}");
                    }
                }
            }
        }
    }

    #[test]
    fn interpolates_between_readings_and_not_across_gaps() {
        // 2020-01-01T00:02:00Z .. readings every 5 min, then a 60-min gap.
        let base = 1_577_836_800;
        let s = series(&[
            (base + 120, 100.0),
            (base + 420, 110.0),
            (base + 720, 120.0),
            (base + 4500, 200.0),
        ]);
        let grid = DayByDayGrid::new(&s, &GridConfig::default()).unwrap();
        assert_eq!(grid.step_min(), 5);
        assert_eq!(grid.days(), 2);
        // 00:05 lies 3/5 of the way from 00:02 (100) to 00:07 (110).
        assert!((grid.values()[0] - 106.0).abs() < 1e-12);
        assert!((grid.values()[1] - 116.0).abs() < 1e-12);
        assert!(grid.values()[2].is_nan(), "00:15 is inside the 63-min gap");
        assert!(grid.values()[13].is_nan(), "01:10 too");
        assert!(
            (grid.values()[14] - 200.0).abs() < 1e-12,
            "01:15 hits the reading"
        );
        assert!(grid.values()[15].is_nan(), "after the last reading");
    }

    #[test]
    fn cadence_changes_find_the_same_readings_as_a_search() {
        // Readings whose interval changes (1, 7, 2 and 13 minutes, a 50-minute gap, odd
        // seconds) onto 5- and 1-minute grids: each point as a binary search finds it.
        let base = 1_577_836_800;
        let mut at = base + 17;
        let mut points = Vec::new();
        for (interval_s, count) in [(60, 40), (420, 9), (120, 30), (780, 5), (3000, 1), (61, 50)] {
            for _ in 0..count {
                points.push((at, 100.0 + (at % 97) as f64));
                at += interval_s;
            }
        }
        assert_grids_match_a_search(&series(&points));
    }

    #[test]
    fn jittered_readings_find_the_same_readings_as_a_search() {
        // Readings a few seconds either side of the grid's instants (the branch-free
        // search), interrupted by gaps and a change of cadence (its walks), then steady
        // again (back to the last step's advance).
        let base = 1_577_836_800;
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut jitter = |span: i64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % (2 * span as u64 + 1)) as i64 - span
        };
        let mut points = Vec::new();
        let mut minute = 1_i64;
        for (interval_min, count, span_s) in [(1, 1500, 20), (1, 0, 0), (5, 400, 40), (1, 600, 0)] {
            if count == 0 {
                minute += 200; // a gap longer than the interpolation limit
            }
            for _ in 0..count {
                let at = base + minute * 60 + jitter(span_s);
                points.push((at, 80.0 + (at % 113) as f64));
                minute += interval_min;
            }
        }
        assert_grids_match_a_search(&series(&points));
    }

    #[test]
    fn one_reading_late_in_the_day_fills_a_grid_of_missing_values_but_one() {
        // No interval to expect an advance from, and hundreds of points before the
        // reading: the search must neither overflow nor lose the reading.
        let s = series(&[(1_577_836_800 + 20 * 3600, 120.0)]);
        let grid = DayByDayGrid::new(&s, &GridConfig::five_minutes()).unwrap();
        let present: Vec<f64> = grid
            .values()
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        assert_eq!(present, vec![120.0]);
        assert_grids_match_a_search(&s);
        // Without an interval, the expected advance is one reading a step.
        assert_eq!(ReadingSearch::new(s.times_s(), 300.0, f64::NAN).expected, 1);
        assert_eq!(ReadingSearch::new(s.times_s(), 300.0, 0.4).expected, 12);
    }

    #[test]
    fn step_above_gap_is_an_error() {
        let s = series(&[(0, 100.0), (3600, 100.0), (7200, 100.0)]);
        assert!(matches!(
            DayByDayGrid::new(&s, &GridConfig::default()),
            Err(MetricsError::StepAboveGap { .. })
        ));
    }

    #[test]
    fn local_midnight_handles_missing_midnight() {
        // America/Santiago skipped 2022-09-11 00:00 (clocks to 01:00).
        let date = NaiveDate::from_ymd_opt(2022, 9, 11).unwrap();
        let instant = local_midnight_utc(date, chrono_tz::America::Santiago);
        assert_eq!(
            instant
                .with_timezone(&chrono_tz::America::Santiago)
                .date_naive(),
            date
        );
    }
}
