//! Mean Amplitude of Glycemic Excursions by the moving-average algorithm of
//! Fernandes et al. (2022) J Diabetes Sci Technol 16:576, doi:10.1177/19322968211061165,
//! which emulates the manual method of Service et al. (1970) Diabetes 19:644,
//! doi:10.2337/diab.19.9.644. This is iglu 4.3.0's default `mage(version = "ma")`
//! (`R/mage_ma_single.R`), reproduced step by step:
//!
//! 1. interpolate onto a 5-minute grid ([`crate::grid`]);
//! 2. split the trace where values are more than `max_gap_min` apart (default 180 min);
//! 3. in each segment, cross a short (5-point) and a long (32-point) trailing moving
//!    average; between crossings take the glucose minimum or maximum as a turning point;
//! 4. keep excursions between turning points that exceed one SD of the segment, rising
//!    (MAGE+) and falling (MAGE−) separately;
//! 5. average MAGE+ and MAGE− of each segment, weighting segments by their duration.

use std::ops::Range;

use crate::grid::{DayByDayGrid, GridConfig};
use crate::series::GlucoseSeries;
use crate::stats::{self, Condition, WindowSums, WindowTerms};

/// Parameters of the moving-average MAGE (iglu defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MageConfig {
    /// Short moving-average window, grid points (default 5, i.e. 25 min on 5-min grid).
    pub short_window: usize,
    /// Long moving-average window, grid points (default 32, i.e. 160 min).
    pub long_window: usize,
    /// Gaps longer than this split the trace into segments, minutes (default 180).
    pub max_gap_min: f64,
    /// Longest gap bridged by interpolation, minutes (default 45).
    pub max_interpolation_gap_min: f64,
}

impl Default for MageConfig {
    fn default() -> Self {
        Self {
            short_window: 5,
            long_window: 32,
            max_gap_min: 180.0,
            max_interpolation_gap_min: 45.0,
        }
    }
}

/// MAGE, mg/dL (mean of MAGE+ and MAGE− per segment, duration-weighted); NaN when no
/// segment has at least 7 grid points, an SD of at least 1 mg/dL and an excursion
/// larger than its SD.
#[must_use]
pub fn mage(series: &GlucoseSeries, config: &MageConfig) -> f64 {
    let grid_config = GridConfig {
        step_min: Some(5),
        max_interpolation_gap_min: config.max_interpolation_gap_min,
    };
    let Ok(grid) = DayByDayGrid::new(series, &grid_config) else {
        return f64::NAN;
    };
    mage_on_grid(&grid, config)
}

/// [`mage`] on an existing grid.
#[must_use]
pub fn mage_on_grid(grid: &DayByDayGrid, config: &MageConfig) -> f64 {
    let (mut short, mut long) = (config.short_window, config.long_window);
    if short >= long {
        std::mem::swap(&mut short, &mut long);
    }
    let step = f64::from(grid.step_min());
    let (mut weighted, mut total_weight) = (0.0, 0.0);
    let n = grid.values().len();
    // One set of flags gives the segments and each segment's gaps.
    let missing = grid.flags(Condition::Missing);
    for (start, end) in segments(missing.runs(0..n), n, config.max_gap_min, step) {
        let segment = &grid.values()[start..end];
        let gaps: Vec<Range<usize>> = stats::runs_of(&*missing, start..end)
            .filter(|(missing, _)| *missing)
            .map(|(_, run)| run.start - start..run.end - start)
            .collect();
        // Segment duration from its first to its last grid point; the unit cancels.
        let duration = (end - 1 - start) as f64;
        for amplitude in segment_amplitudes(segment, grid.extremes(), &gaps, short, long)
            .into_iter()
            .flatten()
        {
            weighted += amplitude * duration;
            total_weight += duration;
        }
    }
    // No excursion anywhere, or only in one-point segments: 0/0, as in iglu.
    if total_weight > 0.0 {
        weighted / total_weight
    } else {
        f64::NAN
    }
}

/// Half-open index ranges of the segments: a new segment starts at a value that follows
/// the previous value by more than `max_gap_min`; each segment runs from a value to the
/// last value before the next such gap (missing points at its end are dropped, shorter
/// missing runs inside are kept). `missing_runs` are the runs of the `n` values with
/// and without a value, in order ([`DayByDayGrid::missing_runs`]).
fn segments(
    missing_runs: impl Iterator<Item = (bool, Range<usize>)>,
    n: usize,
    max_gap_min: f64,
    step_min: f64,
) -> Vec<(usize, usize)> {
    let mut bounds = Vec::new();
    // The segment being built: its first value and one past its last present value.
    let mut current: Option<(usize, usize)> = None;
    for (missing, run) in missing_runs {
        match current {
            _ if !missing => {
                current = Some((current.map_or(run.start, |(start, _)| start), run.end));
            }
            // Missing values between two present ones: the gap from the last present
            // value to the next is one step more than the missing run.
            Some((start, present_end))
                if run.end < n && (run.len() + 1) as f64 * step_min > max_gap_min =>
            {
                bounds.push((start, present_end));
                current = None;
            }
            _ => {}
        }
    }
    bounds.extend(current);
    bounds
}

/// The sign of the short minus the long trailing moving average at each point of
/// `segment`: 1, −1, or 0 where either is missing or they are equal (a zero difference
/// is no crossing; iglu treats it as missing). Each average is over the present values
/// of its window (pandas `rolling(min_periods = 1)`, zoo `rollapply(na.rm = TRUE)`),
/// with the first `window` averages replaced by the first complete one (or the last
/// one when the segment is shorter than the window), as iglu fills them.
///
/// Only the sign enters the algorithm (crossings, and the direction of each), so the
/// averages are compared, not computed: exactly, by cross-multiplying the windows'
/// fixed-point sums and counts, without a division. Where values differ the
/// averages differ by far more than the rounding of a floating-point mean, so the
/// signs are those that iglu's floating-point differences have.
///
/// `(low, high)` bound the segment's values: the grid's [`DayByDayGrid::extremes`],
/// found once for all segments and shared with the one-hour SDs. When the products fit
/// in 64 bits (bounds less than 2³⁰ / `long`² mg/dL apart: 2²⁰ for iglu's windows) the
/// sums are kept in `i64` over the values' units and counts, without a branch per
/// point; otherwise [`moving_average_signs_wide`] computes the same signs with 128-bit
/// products. The units count from `low`: taking the same amount from every value takes
/// it from both averages, and the signs are unchanged.
///
/// `gaps` are the segment's runs of missing values (index ranges, ascending).
fn moving_average_signs(
    segment: &[f64],
    (low, high): (f64, f64),
    gaps: &[Range<usize>],
    short: usize,
    long: usize,
) -> Vec<i8> {
    let windows = long.max(short).max(1) as f64;
    // The bounds' span in the windows' fixed-point units: below 2⁵² each value's
    // units are found by adding 2⁵² (no saturating cast per value), and below
    // 2⁶² / windows² no sum of products overflows. (No value: NaN, the wide path.)
    let span_units = (high - low) * stats::FIXED_POINT_UNITS;
    let narrow = span_units < 2.0_f64.powi(52) && span_units * windows * windows < 2.0_f64.powi(62);
    if short == 0 || short > long || !narrow {
        return moving_average_signs_wide(segment, short, long);
    }
    // A missing value is 0 units (and not present).
    let units: Vec<i64> = segment
        .iter()
        .map(|&v| stats::whole_below_2_52(stats::or_zero(v - low).0 * stats::FIXED_POINT_UNITS))
        .collect();
    narrow_signs(&units, segment, gaps, short, long)
}

/// Whether each value of a segment is present (1) or missing (0), for
/// [`narrow_signs`]: read off the values, or [`EveryValuePresent`] where the windows
/// hold no missing value.
trait Presence: Copy {
    /// 1 when value `index` is present, else 0.
    fn at(self, index: usize) -> i64;
}

impl Presence for &[f64] {
    #[inline]
    fn at(self, index: usize) -> i64 {
        i64::from(!self[index].is_nan())
    }
}

/// Stretches of a segment where no missing value enters or leaves a window.
#[derive(Clone, Copy)]
struct EveryValuePresent;

impl Presence for EveryValuePresent {
    #[inline]
    fn at(self, _index: usize) -> i64 {
        1
    }
}

/// [`moving_average_signs`] over the values' fixed-point `units` (a missing value is 0
/// units and not present) in 64-bit sums and counts, without a branch per point.
/// `gaps` are the `segment`'s runs of missing values.
fn narrow_signs(
    units: &[i64],
    segment: &[f64],
    gaps: &[Range<usize>],
    short: usize,
    long: usize,
) -> Vec<i8> {
    let n = units.len();
    // Sum and count of the first `window` values (or all of them): the leading averages.
    let leading = |window: usize| {
        let filled = window.min(n);
        let total: i64 = units[..filled].iter().sum();
        let count: i64 = (0..filled).map(|index| segment.at(index)).sum();
        (filled, total, count)
    };
    let (short_filled, short_fill_total, short_fill_count) = leading(short);
    let (long_filled, long_fill_total, long_fill_count) = leading(long);
    let mut signs = Vec::with_capacity(n);
    // The points before the long window is full: the leading average stands for it.
    let (mut short_total, mut short_count) = (0_i64, 0_i64);
    for index in 0..long_filled {
        short_total += units[index];
        short_count += segment.at(index);
        if index >= short {
            short_total -= units[index - short];
            short_count -= segment.at(index - short);
        }
        let (total, count) = if index < short_filled {
            (short_fill_total, short_fill_count)
        } else {
            (short_total, short_count)
        };
        signs.push(window_sign([
            total,
            count,
            long_fill_total,
            long_fill_count,
        ]));
    }
    // The rest: each step a value enters both windows and one leaves each. Only the
    // steps where a missing value enters or leaves change a count; between them the
    // counts stay as they are, and the loop keeps none (presence a constant 1).
    if n > long {
        let steps = n - long;
        // Written in place: a push per point checks the capacity each time.
        signs.resize(n, 0);
        let mut windows = [short_total, short_count, long_fill_total, long_fill_count];
        let mut slide = |presence_changes: bool, stretch: Range<usize>| {
            let out = &mut signs[long..][..steps];
            if presence_changes {
                slide_windows(units, segment, stretch, [short, long], &mut windows, out);
            } else {
                slide_windows(
                    units,
                    EveryValuePresent,
                    stretch,
                    [short, long],
                    &mut windows,
                    out,
                );
            }
        };
        let mut done = 0;
        for counted in steps_changing_counts(gaps, [short, long], steps) {
            slide(false, done..counted.start);
            slide(true, counted.clone());
            done = counted.end;
        }
        slide(false, done..steps);
    }
    signs
}

/// The sign of the short minus the long average from their windows' `[short total,
/// short count, long total, long count]`, cross-multiplied. Both windows empty give
/// 0 × 0 against 0 × 0: equal, no sign; a present value in either only with a present
/// value in the long window, which holds the short.
fn window_sign([short_total, short_count, long_total, long_count]: [i64; 4]) -> i8 {
    (short_total * long_count).cmp(&(long_total * short_count)) as i8
}

/// Moves both windows of [`narrow_signs`] over the steps `stretch` (step `s` brings in
/// the value at `long + s` and drops `long − short + s` from the short window and `s`
/// from the long one), from and into `windows` (as [`window_sign`] takes them), writing
/// each point's sign to `out[s]`.
fn slide_windows(
    units: &[i64],
    present: impl Presence,
    stretch: Range<usize>,
    [short, long]: [usize; 2],
    windows: &mut [i64; 4],
    out: &mut [i8],
) {
    let length = stretch.len();
    let entering = &units[long + stretch.start..][..length];
    let leaving_short = &units[long - short + stretch.start..][..length];
    let leaving_long = &units[stretch.start..][..length];
    let out = &mut out[stretch.start..][..length];
    let [mut short_total, mut short_count, mut long_total, mut long_count] = *windows;
    for k in 0..length {
        let step = stretch.start + k;
        let (index, short_out, long_out) = (long + step, long - short + step, step);
        short_total += entering[k] - leaving_short[k];
        short_count += present.at(index) - present.at(short_out);
        long_total += entering[k] - leaving_long[k];
        long_count += present.at(index) - present.at(long_out);
        out[k] = window_sign([short_total, short_count, long_total, long_count]);
    }
    *windows = [short_total, short_count, long_total, long_count];
}

/// The steps of [`slide_windows`] (of `steps`) where a missing value of `gaps` enters
/// the windows (at `long + s`) or leaves one (at `long − short + s` or `s`), as
/// ascending disjoint ranges.
fn steps_changing_counts(
    gaps: &[Range<usize>],
    [short, long]: [usize; 2],
    steps: usize,
) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = gaps
        .iter()
        .flat_map(|gap| {
            [long, long - short, 0].map(|offset| {
                gap.start.saturating_sub(offset).min(steps)
                    ..gap.end.saturating_sub(offset).min(steps)
            })
        })
        .filter(|range| !range.is_empty())
        .collect();
    ranges.sort_unstable_by_key(|range| range.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// [`moving_average_signs`] with 128-bit products, for any values: the windows'
/// [`WindowSums`].
fn moving_average_signs_wide(segment: &[f64], short: usize, long: usize) -> Vec<i8> {
    let n = segment.len();
    // The leading averages: over the first `window` values (or all of them).
    let leading = |window: usize| {
        let filled = window.min(n);
        let mut sums = WindowSums::default();
        segment[..filled].iter().for_each(|&v| sums.add(v));
        (filled, sums)
    };
    let (short_filled, short_fill) = leading(short);
    let (long_filled, long_fill) = leading(long);
    let (mut short_sums, mut long_sums) = (WindowSums::default(), WindowSums::default());
    // The terms of the latest values, in a ring as long as the longer window (rounded up
    // to a power of two): each value is converted once, not on each entry and exit.
    let ring_mask = short.max(long).max(1).next_power_of_two() - 1;
    let mut ring = vec![WindowTerms::default(); ring_mask + 1];
    let mut signs = Vec::with_capacity(n);
    for (index, &value) in segment.iter().enumerate() {
        let terms = WindowTerms::of(value);
        short_sums.add_terms(terms);
        long_sums.add_terms(terms);
        if index >= short {
            short_sums.remove_terms(ring[(index - short) & ring_mask]);
        }
        if index >= long {
            long_sums.remove_terms(ring[(index - long) & ring_mask]);
        }
        ring[index & ring_mask] = terms;
        let short_window = if index < short_filled {
            &short_fill
        } else {
            &short_sums
        };
        let long_window = if index < long_filled {
            &long_fill
        } else {
            &long_sums
        };
        signs.push(short_window.mean_above(long_window));
    }
    signs
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    Minimum,
    Maximum,
}

/// MAGE+ and MAGE− of one segment (`None` for a direction without excursions); both
/// `None` when the segment is all missing, shorter than 7 points or the short window,
/// or has an SD below 1 mg/dL.
/// `bounds` hold the segment's values and `gaps` are its runs of missing values
/// ([`moving_average_signs`]).
fn segment_amplitudes(
    segment: &[f64],
    bounds: (f64, f64),
    gaps: &[Range<usize>],
    short: usize,
    long: usize,
) -> [Option<f64>; 2] {
    let n = segment.len();
    let sd = stats::sd(segment);
    if n < 7 || n < short || segment.iter().all(|v| v.is_nan()) || sd.is_nan() || sd < 1.0 {
        return [None, None];
    }
    let sign = moving_average_signs(segment, bounds, gaps, short, long);
    // The first and last turns follow the sign of the difference (zero or missing: a
    // minimum).
    let turn_of = |sign: i8| {
        if sign > 0 {
            Turn::Maximum
        } else {
            Turn::Minimum
        }
    };
    let first_turn = turn_of(sign[0]);
    let last_turn = turn_of(sign[n - 1]);

    // A crossing is a change of sign; the new sign tells its direction (falling below
    // the long average: a minimum follows).
    let mut crosses: Vec<(usize, Turn)> = vec![(0, first_turn)];
    let mut i = 1;
    while i < n {
        // Eight signs equal to the one before cannot hold a crossing (within a run of
        // one sign the last crossing has that sign or none): skipped without a branch
        // between them.
        if let Some(chunk) = sign.get(i..i + 8) {
            let before = sign[i - 1];
            if chunk.iter().fold(true, |same, &s| same & (s == before)) {
                i += 8;
                continue;
            }
        }
        let at = i;
        i += 1;
        if sign[at] == 0 {
            continue;
        }
        let usable = !segment[at].is_nan() && !segment[at - 1].is_nan() && sign[at - 1] != 0;
        // After missing values, compare with the sign at the last crossing.
        let before = if usable {
            sign[at - 1]
        } else {
            sign[crosses[crosses.len() - 1].0]
        };
        if sign[at] * before < 0 {
            crosses.push((at, turn_of(sign[at])));
        }
    }
    crosses.push((n - 1, last_turn));

    // Turning points: the extreme glucose between the previous turning point and the
    // next crossing (first occurrence of ties).
    let mut extremes = Vec::with_capacity(crosses.len() - 1);
    let mut previous_index = crosses[0].0;
    for window in crosses.windows(2) {
        let (from, to) = (previous_index, window[1].0);
        let Some((offset, value)) = first_extreme(&segment[from..=to], window[0].1) else {
            return [None, None];
        };
        let index = from + offset;
        extremes.push(value);
        previous_index = index;
    }

    let rising = excursions(&extremes, sd, Direction::Rising);
    let falling = excursions(&extremes, sd, Direction::Falling);
    if rising.is_empty() && falling.is_empty() {
        return [None, None];
    }
    [
        (!rising.is_empty()).then(|| stats::mean(&rising)),
        (!falling.is_empty()).then(|| stats::mean(&falling).abs()),
    ]
}

/// Index and value of the first largest (for a maximum) or smallest (for a minimum)
/// present value of `values`; `None` when all are missing. Two branch-free passes: the
/// extreme by [`stats::extremes`] (packed, eight lanes), then the first value equal to
/// it, eight values compared at a time. The turning points' values go up and down
/// unpredictably, and a branch per comparison was the costliest step of MAGE; keeping
/// each lane's index beside its extreme made every comparison a chain of three steps.
fn first_extreme(values: &[f64], turn: Turn) -> Option<(usize, f64)> {
    const CHUNK: usize = 8;
    let (lowest, highest) = stats::extremes(values);
    let extreme = if turn == Turn::Maximum {
        highest
    } else {
        lowest
    };
    // No present value leaves ±∞, which no value equals (values are finite or NaN).
    #[expect(
        clippy::float_cmp,
        reason = "the extreme is one of the values, exactly"
    )]
    let is_extreme = |v: &f64| *v == extreme;
    let mut chunks = values.chunks_exact(CHUNK);
    let mut start = 0;
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |any, v| any | is_extreme(v)) {
            break;
        }
        start += CHUNK;
    }
    let index = start + values[start..].iter().position(is_extreme)?;
    Some((index, values[index]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Nadir to peak (MAGE+).
    Rising,
    /// Peak to nadir (MAGE−).
    Falling,
}

/// The excursion heights (signed: peak − nadir for rising) between turning points
/// `extremes` that exceed `sd`, scanning left to right as iglu's `mage_atomic`: from the
/// lowest point since the last excursion, ride the peak upward (a later equal peak
/// wins) until the trace falls more than `sd` below it or ends. Falling excursions
/// mirror this.
fn excursions(extremes: &[f64], sd: f64, direction: Direction) -> Vec<f64> {
    let n = extremes.len();
    let sign = if direction == Direction::Rising {
        1.0
    } else {
        -1.0
    };
    // `lift(a, b)` > 0 when b is above a (for falling, below).
    let lift = |from: usize, to: usize| sign * (extremes[to] - extremes[from]);
    let mut heights = Vec::new();
    let (mut j, mut previous_j) = (0_usize, 0_usize);
    // Each pass moves `j` forward or ends the scan; the bound is a guard only.
    let mut passes = 0;
    while j < n && passes <= 4 * n + 4 {
        passes += 1;
        let mut origin = previous_j;
        for candidate in previous_j..=j {
            if lift(candidate, j) > lift(origin, j) {
                origin = candidate;
            }
        }
        if lift(origin, j) > sd {
            let scan_from = j;
            for k in scan_from..n {
                if lift(j, k) >= 0.0 {
                    j = k;
                }
                if lift(j, k) < -sd || k == n - 1 {
                    heights.push(extremes[j] - extremes[origin]);
                    previous_j = if direction == Direction::Rising { k } else { j };
                    j = k;
                    break;
                }
            }
        } else {
            j += 1;
        }
    }
    heights
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`moving_average_signs`] with the segment's gaps found from its values and its
    /// own extremes as the bounds.
    fn signs_of(segment: &[f64], short: usize, long: usize) -> Vec<i8> {
        signs_within(segment, stats::extremes(segment), short, long)
    }

    /// [`moving_average_signs`] with the segment's gaps found from its values and the
    /// given bounds on them.
    fn signs_within(segment: &[f64], bounds: (f64, f64), short: usize, long: usize) -> Vec<i8> {
        let gaps: Vec<Range<usize>> = stats::Flags::missing(segment)
            .runs(0..segment.len())
            .filter(|(missing, _)| *missing)
            .map(|(_, run)| run)
            .collect();
        moving_average_signs(segment, bounds, &gaps, short, long)
    }

    #[test]
    fn first_extreme_takes_the_first_of_equal_extremes() {
        // Lengths around the lanes' and the search's width (8), ties in different lanes
        // and chunks, extremes first and last in a chunk, missing values.
        let nan = f64::NAN;
        let cases: [&[f64]; 8] = [
            &[],
            &[nan, nan, nan],
            &[3.0, 1.0, 3.0, 2.0, 1.0, 3.0, 0.5],
            &[nan, 2.0, 7.0, 7.0, nan, 7.0, 1.0, 0.5, 0.5],
            &[5.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 9.0, 9.0, 9.0, 0.0, 0.0, 0.0],
            &[
                5.0, 6.0, 7.0, 1.0, 2.0, 3.0, 4.0, 4.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0,
                0.5, 9.0, 0.5, 2.0,
            ],
            &[
                nan, 6.0, 7.0, 1.0, 2.0, 3.0, 4.0, 8.0, nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0,
                8.0, nan,
            ],
        ];
        for values in cases {
            for turn in [Turn::Maximum, Turn::Minimum] {
                // Reference: one pass, a strict comparison keeps the first.
                let mut expected: Option<(usize, f64)> = None;
                for (index, &value) in values.iter().enumerate() {
                    let beats = |(_, best): (usize, f64)| match turn {
                        Turn::Maximum => value > best,
                        Turn::Minimum => value < best,
                    };
                    if !value.is_nan() && expected.is_none_or(beats) {
                        expected = Some((index, value));
                    }
                }
                assert_eq!(first_extreme(values, turn), expected, "{values:?} {turn:?}");
            }
        }
    }

    proptest::proptest! {
        /// The 64-bit sums give the signs of the 128-bit ones: values from a few levels
        /// (so that averages tie), fractions, missing values, windows longer than the
        /// segment; and the same signs when the bounds are wider than the segment's
        /// values (the grid's, for a segment of it).
        #[test]
        fn narrow_moving_average_signs_equal_wide_ones(
            levels in proptest::collection::vec(0_u8..12, 0..90),
            fraction in proptest::sample::select(vec![0.0, 0.25, 0.1, 1.0 / 3.0]),
            short in 1_usize..7,
            extra in 0_usize..40,
            (below, above) in (0.0_f64..400.0, 0.0_f64..400.0),
        ) {
            let segment: Vec<f64> = levels
                .iter()
                .map(|&level| if level == 11 { f64::NAN } else { 40.0 * f64::from(level) + fraction })
                .collect();
            let long = short + extra;
            let wide = moving_average_signs_wide(&segment, short, long);
            proptest::prop_assert_eq!(&signs_of(&segment, short, long), &wide);
            let (low, high) = stats::extremes(&segment);
            proptest::prop_assert_eq!(
                &signs_within(&segment, (low - below, high + above), short, long),
                &wide
            );
        }
    }

    #[test]
    fn moving_average_signs_fill_leading_values() {
        // Short window 1 (the value itself) against window 2.
        let values = [1.0, 2.0, 3.0, f64::NAN, 5.0, 5.0, 4.0];
        // Window 2 averages: 1.5 (filled), 1.5, 2.5, 3 (NaN skipped), 5, 5, 4.5.
        // Missing short value, then equal averages: no sign.
        assert_eq!(signs_of(&values, 1, 2), vec![-1, 1, 1, 0, 0, 0, -1]);
        // Windows longer than the segment: filled with the average of all of it (4).
        assert_eq!(signs_of(&[1.0, 3.0, 8.0], 2, 5), vec![-1, -1, 1]);
    }

    #[test]
    fn segments_split_at_long_gaps_only() {
        let of_values = |values: &[f64]| {
            let missing = stats::Flags::missing(values);
            segments(missing.runs(0..values.len()), values.len(), 180.0, 5.0)
        };
        let mut trace = vec![f64::NAN; 2];
        trace.extend(vec![1.0; 10]);
        trace.extend(vec![f64::NAN; 40]); // 205 min between values at 5 min: splits
        trace.extend(vec![1.0; 10]);
        trace.extend(vec![f64::NAN; 3]); // 20 min: kept inside the segment
        trace.extend(vec![1.0; 5]);
        trace.extend(vec![f64::NAN; 2]);
        assert_eq!(of_values(&trace), vec![(2, 12), (52, 70)]);
        // Gaps around the limit (35 missing = 180 min: kept; 36 = 185 min: split),
        // runs across chunk edges, all missing, none missing, nothing.
        for (pattern, expected) in [
            (vec![(3, false), (35, true), (9, false)], vec![(0, 47)]),
            (
                vec![(3, false), (36, true), (9, false)],
                vec![(0, 3), (39, 48)],
            ),
            (vec![(17, true)], vec![]),
            (vec![(17, false)], vec![(0, 17)]),
            (vec![], vec![]),
            (
                vec![(1, false), (40, true), (1, false), (1, true), (1, false)],
                vec![(0, 1), (41, 44)],
            ),
        ] {
            let values: Vec<f64> = pattern
                .iter()
                .flat_map(|&(count, missing)| {
                    std::iter::repeat_n(if missing { f64::NAN } else { 1.0 }, count)
                })
                .collect();
            assert_eq!(of_values(&values), expected, "{pattern:?}");
        }
    }

    #[test]
    fn excursions_find_a_clear_swing() {
        // 100 -> 200 -> 100 with SD far below 100.
        let extremes = [100.0, 200.0, 100.0];
        assert_eq!(excursions(&extremes, 30.0, Direction::Rising), vec![100.0]);
        assert_eq!(
            excursions(&extremes, 30.0, Direction::Falling),
            vec![-100.0]
        );
        assert!(excursions(&extremes, 150.0, Direction::Rising).is_empty());
    }
}
