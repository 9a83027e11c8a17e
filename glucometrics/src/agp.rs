//! The Ambulatory Glucose Profile: glucose percentiles (5, 25, 50, 75, 95) by local
//! time of day, and one profile per local calendar day (Mazze et al. 1987, Diabetes
//! Care 10:111; the AGP Report of the International Diabetes Center, Bergenstal et al.
//! 2013, J Diabetes Sci Technol 7:562, doi:10.1177/193229681300700302).
//!
//! Smoothing: the AGP Report shows smoothed curves but does not publish its filter.
//! We compute each bin's percentiles over the readings of the bin and of
//! `smoothing_bins_each_side` neighbouring bins on each side (default 2: a 75-minute
//! window for 15-minute bins, wrapping at midnight), so every point of a curve is an
//! order statistic of real readings and no value is invented between them. Bin width
//! and window are configurable; see docs/glucometrics.md.

use std::ops::Range;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ranges::percent_in_range;
use crate::series::{date_from_local_day, GlucoseSeries};
use crate::stats;

/// Percentiles drawn on the AGP, %.
pub const AGP_PERCENTILES: [f64; 5] = [5.0, 25.0, 50.0, 75.0, 95.0];

/// AGP layout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AgpConfig {
    /// Width of a time-of-day bin, minutes; must divide 1440 (default 15).
    pub bin_min: u32,
    /// Neighbouring bins on each side whose readings join a bin's percentiles
    /// (default 2; 0 for no smoothing).
    pub smoothing_bins_each_side: u32,
}

impl Default for AgpConfig {
    fn default() -> Self {
        Self {
            bin_min: 15,
            smoothing_bins_each_side: 2,
        }
    }
}

/// One time-of-day bin of the AGP.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AgpBin {
    /// Start of the bin, minutes after local midnight.
    pub start_min: u32,
    /// Readings in the bin's smoothing window.
    pub readings: usize,
    /// 5th, 25th, 50th, 75th and 95th percentiles, in the summary's unit (mg/dL as
    /// computed); NaN without readings.
    pub percentiles: [f64; 5],
}

/// One local calendar day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyProfile {
    /// Local date.
    pub date: NaiveDate,
    /// Readings that day.
    pub readings: usize,
    /// Mean glucose (mg/dL as computed).
    pub mean: f64,
    /// Lowest reading (mg/dL as computed).
    pub min: f64,
    /// Highest reading (mg/dL as computed).
    pub max: f64,
    /// Time in range 70–180 mg/dL that day, %.
    pub time_in_range_percent: f64,
    /// The day's readings as (minutes after local midnight, glucose in mg/dL as computed),
    /// the trace drawn for the day. Single precision, as a plot uses it: it resolves
    /// 0.000 12 min (7 ms) and 0.000 06 mg/dL, keeps whole mg/dL exact, and halves the
    /// largest part of a summary (16 → 8 bytes a reading; 0.9 MB at 90 days of 1-minute
    /// data). Every figure of the summary is computed from the f64 values.
    pub points: Vec<(f32, f32)>,
}

/// Computes the AGP bins. An invalid `bin_min` (0 or not dividing 1440) falls back to 15.
#[must_use]
pub fn agp_profile(series: &GlucoseSeries, config: &AgpConfig) -> Vec<AgpBin> {
    let bin = if config.bin_min == 0 || 1440 % config.bin_min != 0 {
        15
    } else {
        config.bin_min
    };
    let bins = (1440 / bin) as usize;
    let reach = (config.smoothing_bins_each_side as usize).min(bins / 2);
    // Counting sort of the readings into their bins, then each bin sorted by value.
    let runs = time_of_day_runs(series, bin, bins);
    let mut starts = vec![0_usize; bins + 1];
    for (b, readings) in &runs {
        starts[b + 1] += readings.len();
    }
    for b in 0..bins {
        starts[b + 1] += starts[b];
    }
    // Whole numbers: the histogram path; else sorting.
    if let Some(whole) = series.whole_values() {
        let by_bin = group_by_bin(whole, &runs, &starts);
        return sliding_histogram_bins(&by_bin, &starts, bins, reach, bin);
    }
    let mut by_bin = group_by_bin(series.values(), &runs, &starts);
    for b in 0..bins {
        by_bin[starts[b]..starts[b + 1]].sort_unstable_by(f64::total_cmp);
    }
    let (mut window, mut merged) = (Vec::new(), Vec::new());
    (0..bins)
        .map(|b| {
            window.clear();
            for k in 0..=2 * reach.min((bins - 1) / 2) {
                let n = (b + bins + k - reach) % bins;
                merged.clear();
                merge_sorted(&window, &by_bin[starts[n]..starts[n + 1]], &mut merged);
                std::mem::swap(&mut window, &mut merged);
            }
            let percentiles = AGP_PERCENTILES.map(|p| stats::quantile_sorted(&window, p / 100.0));
            AgpBin {
                start_min: b as u32 * bin,
                readings: window.len(),
                percentiles,
            }
        })
        .collect()
}

/// The readings as runs in one time-of-day bin (`bin_min` minutes wide, `bins` of
/// them): (bin, index range), in order, so that the bins are counted and filled a
/// slice at a time. A multiplication by the bin width's reciprocal, checked against
/// the bin's bounds, finds each reading's bin without a division.
fn time_of_day_runs(
    series: &GlucoseSeries,
    bin_min: u32,
    bins: usize,
) -> Vec<(usize, Range<usize>)> {
    let width_s = f64::from(bin_min) * 60.0;
    let per_second = 1.0 / width_s;
    // Bin numbers as i32: its conversions to and from f64 are single instructions.
    let last_bin = i32::try_from(bins - 1).unwrap_or(i32::MAX);
    let bin_of = |into_day: f64| {
        let mut bin = ((into_day * per_second) as i32).clamp(0, last_bin);
        if bin < last_bin && f64::from(bin + 1) * width_s <= into_day {
            bin += 1;
        } else if bin > 0 && f64::from(bin) * width_s > into_day {
            bin -= 1;
        }
        bin
    };
    let times_s = series.times_s();
    // A day's readings form at most one run per bin (more only on a day when clocks
    // fall back): room for that many, not grown a doubling at a time.
    let days = series.local_days().count();
    let mut runs: Vec<(usize, Range<usize>)> =
        Vec::with_capacity(series.len().min(days.saturating_mul(bins)));
    // The current run and its bin's bounds (seconds into the day), kept in registers:
    // most readings fall in the bin of the one before.
    let (mut bin, mut run_start) = (-1_i32, 0_usize);
    for (day, readings) in series.local_days() {
        let midnight = day as f64 * 86_400.0;
        for (run, offset) in series.offset_runs(readings) {
            // UTC seconds to seconds into the local day (exact: whole seconds apart).
            let shift = offset - midnight;
            // The bin found last, its end and the end of the one after it (none yet).
            // Within a day and an offset the readings' local times ascend, so a reading
            // is never before the bin found last: below its end, it is in it; else at
            // or past its end, and below the next end it is in the next bin.
            let (mut found, mut bin_end, mut next_end) = (0, -1.0, -1.0);
            for index in run {
                let into_day = times_s[index] + shift;
                if into_day < bin_end {
                    continue;
                }
                // Readings in time order mostly move on to the next bin.
                found = if into_day < next_end {
                    found + 1
                } else {
                    bin_of(into_day)
                };
                (bin_end, next_end) = if found == last_bin {
                    (f64::INFINITY, -1.0)
                } else {
                    let end = f64::from(found + 1) * width_s;
                    (end, end + width_s)
                };
                if found != bin {
                    if let Ok(previous) = usize::try_from(bin) {
                        runs.push((previous, run_start..index));
                    }
                    (bin, run_start) = (found, index);
                }
            }
        }
    }
    if let Ok(previous) = usize::try_from(bin) {
        runs.push((previous, run_start..series.len()));
    }
    runs
}

/// `values` (the series' values, or their whole numbers) grouped by time-of-day bin
/// (bin `b` at `starts[b]..starts[b + 1]`), in time order within a bin: each run of
/// readings in one bin is copied as a slice.
fn group_by_bin<T: Copy + Default>(
    values: &[T],
    runs: &[(usize, Range<usize>)],
    starts: &[usize],
) -> Vec<T> {
    let mut fill = starts.to_vec();
    let mut by_bin = vec![T::default(); values.len()];
    for (b, readings) in runs {
        let to = fill[*b];
        fill[*b] += readings.len();
        copy_run(&mut by_bin[to..fill[*b]], &values[readings.clone()]);
    }
    by_bin
}

/// `target.copy_from_slice(source)` (slices of equal length), in place for the few
/// readings of a run at sensor cadences (three in a 15-minute bin every 5 minutes): a
/// call to `memcpy` for each run cost more than the copying.
#[inline]
fn copy_run<T: Copy>(target: &mut [T], source: &[T]) {
    fn fixed<T: Copy, const N: usize>(target: &mut [T], source: &[T]) {
        target[..N].copy_from_slice(&source[..N]);
    }
    match source.len() {
        1 => fixed::<T, 1>(target, source),
        2 => fixed::<T, 2>(target, source),
        3 => fixed::<T, 3>(target, source),
        4 => fixed::<T, 4>(target, source),
        _ => target.copy_from_slice(source),
    }
}

/// Largest whole mg/dL value handled by the histogram path (the series' whole values).
const HISTOGRAM_MAX: u16 = stats::WHOLE_MG_DL_MAX;

/// Length of the histogram's table of counts.
const HISTOGRAM_VALUES: usize = HISTOGRAM_MAX as usize + 1;

/// The AGP bins when every reading is a whole mg/dL (as CGMs report): a histogram of the
/// window's values slides round the clock (each bin's readings enter and leave once),
/// and the order statistics of each window are read off its counts. Same results as
/// sorting, in time linear in readings plus bins × (blocks + block width).
fn sliding_histogram_bins(
    by_bin: &[u16],
    starts: &[usize],
    bins: usize,
    reach: usize,
    bin_min: u32,
) -> Vec<AgpBin> {
    let width = 2 * reach.min((bins - 1) / 2) + 1;
    let mut histogram = Histogram::default();
    let slide = |histogram: &mut Histogram, n: usize, delta: i32| {
        for &v in &by_bin[starts[n]..starts[n + 1]] {
            histogram.add(usize::from(v), delta);
        }
    };
    let window_bin = |b: usize, k: usize| (b + bins + k - reach) % bins;
    for k in 0..width {
        slide(&mut histogram, window_bin(0, k), 1);
    }
    let mut out = Vec::with_capacity(bins);
    for b in 0..bins {
        if b > 0 {
            // The readings leaving and those entering, each split in halves (different
            // days), updated four in step: equal values follow one another within a
            // bin, and an update of a count must wait for the previous update of the
            // same count; interleaving keeps four independent updates in flight.
            let (leaving, entering) = (window_bin(b - 1, 0), window_bin(b, width - 1));
            let leaving = &by_bin[starts[leaving]..starts[leaving + 1]];
            let entering = &by_bin[starts[entering]..starts[entering + 1]];
            let (out_early, out_late) = leaving.split_at(leaving.len() / 2);
            let (in_early, in_late) = entering.split_at(entering.len() / 2);
            let both = out_early.len().min(in_early.len());
            for k in 0..both {
                histogram.add(usize::from(out_early[k]), -1);
                histogram.add(usize::from(in_early[k]), 1);
                histogram.add(usize::from(out_late[k]), -1);
                histogram.add(usize::from(in_late[k]), 1);
            }
            for &v in out_early[both..].iter().chain(&out_late[both..]) {
                histogram.add(usize::from(v), -1);
            }
            for &v in in_early[both..].iter().chain(&in_late[both..]) {
                histogram.add(usize::from(v), 1);
            }
        }
        let total: usize = (0..width)
            .map(|k| {
                let n = window_bin(b, k);
                starts[n + 1] - starts[n]
            })
            .sum();
        out.push(AgpBin {
            start_min: b as u32 * bin_min,
            readings: total,
            percentiles: histogram.percentiles(total),
        });
    }
    out
}

/// Counts per block that the [`Histogram`]'s rank search sums at a time.
const HISTOGRAM_BLOCK: usize = 8;

/// Counts of whole mg/dL values 0..=[`HISTOGRAM_MAX`]. Finding the value of a rank
/// walks blocks of [`HISTOGRAM_BLOCK`] counts, each summed on packed instructions, and
/// then one block's counts. The block sums are not kept: updating a second level at
/// every reading made consecutive updates of the same block wait on each other.
#[derive(Debug)]
struct Histogram {
    counts: Box<[u32; HISTOGRAM_VALUES]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: Box::new([0; HISTOGRAM_VALUES]),
        }
    }
}

impl Histogram {
    /// Blocks of counts.
    const BLOCKS: usize = HISTOGRAM_VALUES / HISTOGRAM_BLOCK;

    /// Adds (`delta` 1) or removes (−1) one reading of `value` mg/dL.
    fn add(&mut self, value: usize, delta: i32) {
        // Values come from `u16`s up to HISTOGRAM_MAX: the modulo changes none of them
        // and lets the compiler drop the bounds checks.
        let value = value % HISTOGRAM_VALUES;
        self.counts[value] = self.counts[value].wrapping_add_signed(delta);
    }

    /// The counts of block `block`.
    fn block(&self, block: usize) -> &[u32; HISTOGRAM_BLOCK] {
        let first = (block % Self::BLOCKS) * HISTOGRAM_BLOCK;
        self.counts[first..first + HISTOGRAM_BLOCK]
            .try_into()
            .unwrap_or(&[0; HISTOGRAM_BLOCK])
    }

    /// The value of 0-based rank `rank` among the counted values, searching from block
    /// `from` (with `before` values counted below it); returns it with the block it is in
    /// and the count below that block, for a search of a higher rank to go on from, and
    /// the count of values up to and including it.
    fn value_of_rank(
        &self,
        rank: usize,
        from: usize,
        before: usize,
    ) -> (usize, usize, usize, usize) {
        let (mut block, mut below) = (from, before);
        let block_sum = |block: usize| self.block(block).iter().sum::<u32>() as usize;
        while block + 1 < Self::BLOCKS && below + block_sum(block) <= rank {
            below += block_sum(block);
            block += 1;
        }
        let mut seen = below;
        let first = block * HISTOGRAM_BLOCK;
        for (offset, &count) in self.block(block).iter().enumerate() {
            seen += count as usize;
            if rank < seen {
                return (first + offset, block, below, seen);
            }
        }
        (first + HISTOGRAM_BLOCK - 1, block, below, seen)
    }

    /// The lowest counted value above `value` (`value` itself when there is none).
    fn next_value_above(&self, value: usize) -> usize {
        self.counts[value + 1..]
            .iter()
            .position(|&count| count > 0)
            .map_or(value, |offset| value + 1 + offset)
    }

    /// Type-7 percentiles [`AGP_PERCENTILES`] of the `total` values counted. The lower
    /// order statistics are found in ascending order, each search going on from the
    /// last; the next one up is the same value when its count reaches that far, else
    /// the next counted value.
    fn percentiles(&self, total: usize) -> [f64; 5] {
        if total == 0 {
            return [f64::NAN; 5];
        }
        let (mut block, mut below) = (0, 0);
        AGP_PERCENTILES.map(|p| {
            let (low_rank, fraction) = stats::type7_position(total, p / 100.0);
            let (low, through);
            (low, block, below, through) = self.value_of_rank(low_rank, block, below);
            let high = if low_rank + 1 < through || low_rank + 1 >= total {
                low
            } else {
                self.next_value_above(low)
            };
            // Values are below 1024: through u32, whose conversion is one instruction.
            let (low, high) = (f64::from(low as u32), f64::from(high as u32));
            low + fraction * (high - low)
        })
    }
}

/// Merges two ascending slices into `out`.
fn merge_sorted(a: &[f64], b: &[f64], out: &mut Vec<f64>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// One profile per local calendar day with readings, in date order.
#[must_use]
pub fn daily_profiles(series: &GlucoseSeries) -> Vec<DailyProfile> {
    let all_values = series.values();
    series
        .local_days()
        .map(|(day, readings)| {
            let values = &all_values[readings.clone()];
            let (mean, min, max, time_in_range_percent) = match series.whole_values() {
                Some(whole) => whole_day_figures(&whole[readings.clone()]),
                None => {
                    let (min, max) = stats::extremes(values);
                    let in_range = percent_in_range(values, 70.0, 180.0);
                    (stats::mean(values), min, max, in_range)
                }
            };
            DailyProfile {
                date: date_from_local_day(day),
                readings: values.len(),
                mean,
                min,
                max,
                time_in_range_percent,
                points: series.day_points(day, readings),
            }
        })
        .collect()
}

/// A day's mean, lowest and highest glucose (mg/dL) and % of readings in 70–180 mg/dL
/// (both included, as [`percent_in_range`]) when every reading is a whole mg/dL: one
/// pass of integer arithmetic on packed instructions instead of four over the values.
/// The sum is exact, so the mean is the correctly rounded quotient, which R's
/// corrected `mean` also gives (a quotient of integers this small is never a tie
/// between two doubles); NaN without readings.
fn whole_day_figures(whole: &[u16]) -> (f64, f64, f64, f64) {
    if whole.is_empty() {
        return (f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0);
    }
    let (mut sum, mut low, mut high, mut in_range) = (0_u64, u16::MAX, 0_u16, 0_u64);
    for &value in whole {
        sum += u64::from(value);
        low = low.min(value);
        high = high.max(value);
        in_range += u64::from((70..=180).contains(&value));
    }
    let count = whole.len() as f64;
    (
        sum as f64 / count,
        f64::from(low),
        f64::from(high),
        in_range as f64 / count * 100.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{GlucoseReading, ValidationConfig};
    use crate::synthetic::SyntheticTrace;

    fn profile(readings: &[GlucoseReading]) -> Vec<AgpBin> {
        let series = GlucoseSeries::new(
            readings,
            chrono_tz::Europe::Rome,
            &ValidationConfig::default(),
        )
        .unwrap();
        agp_profile(&series, &AgpConfig::default())
    }

    #[test]
    fn time_of_day_runs_put_each_reading_in_its_bin() {
        use chrono::{TimeZone, Utc};
        // Jittered readings over 14 days, and readings every 7 min 17 s across both of
        // Europe/Rome's clock changes in 2024 (a 23-hour and a 25-hour day).
        let jittered = SyntheticTrace {
            jitter_s: 20,
            ..SyntheticTrace::default()
        }
        .generate();
        let across_changes = |start| -> Vec<GlucoseReading> {
            (0..1200)
                .map(|k| GlucoseReading::new(start + chrono::Duration::seconds(437 * k), 100.0))
                .collect()
        };
        let spring = across_changes(Utc.with_ymd_and_hms(2024, 3, 29, 0, 0, 0).unwrap());
        let autumn = across_changes(Utc.with_ymd_and_hms(2024, 10, 25, 0, 0, 0).unwrap());
        for readings in [jittered, spring, autumn] {
            let series = GlucoseSeries::new(
                &readings,
                chrono_tz::Europe::Rome,
                &ValidationConfig::default(),
            )
            .unwrap();
            for bin_min in [5_u32, 15, 60] {
                let bins = (1440 / bin_min) as usize;
                let mut next = 0;
                for (bin, readings) in time_of_day_runs(&series, bin_min, bins) {
                    assert_eq!(readings.start, next, "runs in order, none left out");
                    next = readings.end;
                    for index in readings {
                        let minute = series.local_minute_of_day(index);
                        let expected = ((minute / f64::from(bin_min)) as usize).min(bins - 1);
                        assert_eq!(bin, expected, "reading {index} at {minute} min");
                    }
                }
                assert_eq!(next, series.len());
            }
        }
    }

    #[test]
    fn whole_day_figures_equal_those_of_the_values() {
        let series = crate::synthetic::default_series();
        let whole = series.whole_values().expect("sensor-like whole values");
        let profiles = daily_profiles(&series);
        assert!(profiles.len() > 10);
        for (profile, (_, readings)) in profiles.iter().zip(series.local_days()) {
            let values = &series.values()[readings.clone()];
            let (min, max) = stats::extremes(values);
            assert_eq!(profile.min.to_bits(), min.to_bits());
            assert_eq!(profile.max.to_bits(), max.to_bits());
            let in_range = percent_in_range(values, 70.0, 180.0);
            assert_eq!(profile.time_in_range_percent.to_bits(), in_range.to_bits());
            let mean = stats::mean(values);
            assert!(
                (profile.mean - mean).abs() <= 1e-12 * mean,
                "{} {mean}",
                profile.mean
            );
            assert_eq!(
                whole_day_figures(&whole[readings]).0.to_bits(),
                profile.mean.to_bits()
            );
        }
        assert!(whole_day_figures(&[]).0.is_nan());
    }

    #[test]
    fn histogram_percentiles_equal_sorted_quantiles() {
        // Multisets of every size from 1 to 40, values bunched (ties, gaps across block
        // edges) and spread up to the histogram's ends, against a sort.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for size in 1..=40 {
            for spread in [3, 40, 1001] {
                let values: Vec<usize> = (0..size)
                    .map(|_| {
                        let base = if spread == 1001 { 0 } else { 14 };
                        base + next(spread) as usize
                    })
                    .collect();
                let mut histogram = Histogram::default();
                values.iter().for_each(|&v| histogram.add(v, 1));
                let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
                sorted.sort_by(f64::total_cmp);
                let got = histogram.percentiles(values.len());
                for (k, p) in AGP_PERCENTILES.iter().enumerate() {
                    let expected = stats::quantile_sorted(&sorted, p / 100.0);
                    assert_eq!(got[k].to_bits(), expected.to_bits(), "{sorted:?} p{p}");
                }
            }
        }
    }

    #[test]
    fn histogram_path_equals_sorting() {
        let whole = SyntheticTrace {
            days: 10,
            ..SyntheticTrace::default()
        }
        .generate();
        // A quarter of a mg/dL more on one reading sends everything through the sorting path.
        let mut fractional = whole.clone();
        fractional[0].mg_dl += 0.25;
        let (fast, slow) = (profile(&whole), profile(&fractional));
        assert_eq!(fast.len(), 96);
        for (a, b) in fast.iter().zip(&slow) {
            assert_eq!(a.readings, b.readings);
            for (x, y) in a.percentiles.iter().zip(&b.percentiles) {
                // The one changed reading may move a percentile by at most 0.25 mg/dL.
                assert!(
                    (x - y).abs() <= 0.25 + 1e-9,
                    "bin {}: {x} vs {y}",
                    a.start_min
                );
            }
        }
        // And against a direct sort of one window, exactly.
        let series = GlucoseSeries::new(
            &whole,
            chrono_tz::Europe::Rome,
            &ValidationConfig::default(),
        )
        .unwrap();
        let mut window: Vec<f64> = (0..series.len())
            .filter(|&i| {
                let m = series.local_minute_of_day(i);
                !(45.0..1410.0).contains(&m)
            })
            .map(|i| series.values()[i])
            .collect();
        window.sort_by(f64::total_cmp);
        for (k, p) in AGP_PERCENTILES.iter().enumerate() {
            assert!(
                (fast[0].percentiles[k] - stats::quantile_sorted(&window, p / 100.0)).abs() < 1e-12
            );
        }
    }
}
