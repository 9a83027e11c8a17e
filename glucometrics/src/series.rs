//! Input validation: turns raw readings (any order, duplicates, bad values) into one
//! clean, time-ordered series in the patient's time zone, counting everything it
//! sets aside so that nothing is dropped silently.

use std::ops::Range;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::MetricsError;

/// One glucose reading: a UTC instant and a concentration in mg/dL.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GlucoseReading {
    /// When the reading was taken (UTC).
    pub time: DateTime<Utc>,
    /// Glucose concentration, mg/dL.
    pub mg_dl: f64,
}

impl GlucoseReading {
    /// A reading at `time` (UTC) of `mg_dl` mg/dL.
    #[must_use]
    pub fn new(time: DateTime<Utc>, mg_dl: f64) -> Self {
        Self { time, mg_dl }
    }
}

/// Limits applied to readings before any metric is computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationConfig {
    /// Lowest plausible reading, mg/dL (inclusive). CGMs report down to 39–40 mg/dL and
    /// meters to 10–20 mg/dL; values below this are excluded and counted.
    pub min_mg_dl: f64,
    /// Highest plausible reading, mg/dL (inclusive). CGMs cap at 400–500 mg/dL, meters
    /// at 600 mg/dL; values above this are excluded and counted.
    pub max_mg_dl: f64,
    /// Longest period the engine accepts between the first and last reading, days.
    /// Guards memory: the interpolation grid grows with the span (288 points a day).
    pub max_span_days: u32,
}

impl ValidationConfig {
    /// Whether `mg_dl` is kept: finite and within the plausible limits (inclusive).
    /// Comparisons joined without branches, so that whole inputs can be tested in one
    /// pass; NaN fails them.
    #[must_use]
    pub fn accepts(&self, mg_dl: f64) -> bool {
        (mg_dl >= self.min_mg_dl) & (mg_dl <= self.max_mg_dl) & mg_dl.is_finite()
    }
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            min_mg_dl: 10.0,
            max_mg_dl: 1000.0,
            max_span_days: 400,
        }
    }
}

/// What validation set aside or merged, so callers can report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusionCounts {
    /// Readings given as input.
    pub received: usize,
    /// Readings whose value was NaN or infinite.
    pub not_a_number: usize,
    /// Readings below [`ValidationConfig::min_mg_dl`] (including zero and negatives).
    pub below_plausible: usize,
    /// Readings above [`ValidationConfig::max_mg_dl`].
    pub above_plausible: usize,
    /// Readings identical in time and value to another one, merged into it.
    pub exact_duplicates: usize,
    /// Readings sharing their instant with a different value; all values at that instant
    /// are replaced by their mean (as iglu's `check_data_time` does).
    pub conflicting_duplicates: usize,
    /// Instants at which conflicting readings were averaged into one.
    pub conflicting_instants: usize,
}

impl ExclusionCounts {
    /// Readings kept after validation: what was received less what was excluded or
    /// merged into another reading.
    #[must_use]
    pub fn kept(&self) -> usize {
        self.received
            - self.not_a_number
            - self.below_plausible
            - self.above_plausible
            - self.exact_duplicates
            - (self.conflicting_duplicates - self.conflicting_instants)
    }
}

/// A validated glucose series: strictly increasing instants, finite plausible values.
#[derive(Debug, Clone, PartialEq)]
pub struct GlucoseSeries {
    tz: Tz,
    /// Instants, seconds since the Unix epoch (UTC), strictly increasing.
    times_s: Vec<f64>,
    /// Values, mg/dL, aligned with `times_s`.
    values: Vec<f64>,
    /// The values as whole mg/dL when every one is ([`crate::stats::whole_values`]).
    whole_values: Option<Vec<u16>>,
    /// The zone's UTC offsets over the readings, seconds: (index of the first reading
    /// it applies to, offset), ascending, the first at index 0. Offsets change a few
    /// times a year, so this stands for a local time per reading at a fraction of the
    /// memory.
    offsets: Vec<(usize, f64)>,
    /// Each local calendar day with readings: (day number, index range), in order.
    days: Vec<(i64, Range<usize>)>,
    /// Median of the intervals between consecutive readings, minutes (NaN for one
    /// reading): the sampling interval that the grid and % time active assume.
    median_interval_min: f64,
    exclusions: ExclusionCounts,
}

impl GlucoseSeries {
    /// Validates `readings` (any order) for a patient living in `tz`.
    ///
    /// # Errors
    /// [`MetricsError::NoValidReadings`] when nothing usable remains;
    /// [`MetricsError::SpanTooLong`] when the readings span more than
    /// `config.max_span_days`.
    pub fn new(
        readings: &[GlucoseReading],
        tz: Tz,
        config: &ValidationConfig,
    ) -> Result<Self, MetricsError> {
        // Sorting by (instant, value) makes the result independent of input order.
        // Readings mostly come in that order already: then they are merged as they are
        // read, in one pass and without a copy of the input; the first one out of
        // order sends the whole input through the sorting path instead.
        let (times_s, values, exclusions) = match distinct_in_order(readings, config) {
            Some((times_s, values)) => {
                let exclusions = ExclusionCounts {
                    received: readings.len(),
                    ..ExclusionCounts::default()
                };
                (times_s, values, exclusions)
            }
            None => {
                let (merged, exclusions) = match merge_in_order(readings, config) {
                    Some(in_order) => in_order,
                    None => merge_sorted(readings, config),
                };
                (merged.times_s, merged.values, exclusions)
            }
        };
        if values.is_empty() {
            return Err(MetricsError::NoValidReadings { exclusions });
        }
        let span_days = (times_s[times_s.len() - 1] - times_s[0]) / 86_400.0;
        if span_days > f64::from(config.max_span_days) {
            return Err(MetricsError::SpanTooLong {
                span_days,
                max_days: config.max_span_days,
            });
        }
        let clock = LocalClock::new(tz, times_s[0], times_s[times_s.len() - 1]);
        let offsets = clock.offset_runs(&times_s);
        let median_interval_min = median_interval_min(&times_s);
        let whole_values = crate::stats::whole_values(&values);
        let mut series = Self {
            tz,
            times_s,
            values,
            whole_values,
            offsets,
            days: Vec::new(),
            median_interval_min,
            exclusions,
        };
        series.days = day_ranges(&series.times_s, series.offset_runs(0..series.len()));
        Ok(series)
    }

    /// The patient's time zone (local civil time for days and time of day).
    #[must_use]
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Instants as seconds since the Unix epoch (UTC), strictly increasing.
    #[must_use]
    pub fn times_s(&self) -> &[f64] {
        &self.times_s
    }

    /// Glucose values, mg/dL, aligned with [`Self::times_s`].
    #[must_use]
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The values as whole mg/dL (0 to [`crate::stats::WHOLE_MG_DL_MAX`]) when every one
    /// is, as sensors report glucose; `None` when any is not. Tables and histograms
    /// count these without converting and testing each value again.
    #[must_use]
    pub fn whole_values(&self) -> Option<&[u16]> {
        self.whole_values.as_deref()
    }

    /// Number of distinct readings kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: a series holds at least one reading.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// What validation excluded or merged.
    #[must_use]
    pub fn exclusions(&self) -> ExclusionCounts {
        self.exclusions
    }

    /// The instant of reading `index` as a UTC date-time.
    #[must_use]
    pub fn instant(&self, index: usize) -> DateTime<Utc> {
        utc_from_seconds(self.times_s[index])
    }

    /// The local civil date of reading `index` in the patient's zone.
    #[must_use]
    pub fn local_date(&self, index: usize) -> NaiveDate {
        date_from_local_day(self.local_day_number(index))
    }

    /// The local civil day of reading `index` as days since 1970-01-01 (local).
    #[must_use]
    pub fn local_day_number(&self, index: usize) -> i64 {
        local_day_of(self.local_second(index))
    }

    /// Local time of day of reading `index`, minutes after local midnight (0 ≤ m < 1440).
    #[must_use]
    pub fn local_minute_of_day(&self, index: usize) -> f64 {
        let seconds = self.local_second(index);
        (seconds - local_day_of(seconds) as f64 * 86_400.0) / 60.0
    }

    /// Local civil time of reading `index`, seconds since 1970-01-01T00:00 local time.
    fn local_second(&self, index: usize) -> f64 {
        let run = self.offsets.partition_point(|&(from, _)| from <= index);
        self.times_s[index] + self.offsets[run.saturating_sub(1)].1
    }

    /// The readings `readings` split where the zone's UTC offset changes: (index range,
    /// offset in seconds, local minus UTC), in order. Local civil time of reading `i`
    /// is `times_s()[i] + offset` seconds since 1970-01-01T00:00 local time.
    pub fn offset_runs(
        &self,
        readings: Range<usize>,
    ) -> impl Iterator<Item = (Range<usize>, f64)> + '_ {
        let first = self
            .offsets
            .partition_point(|&(from, _)| from <= readings.start)
            .saturating_sub(1);
        let offsets = &self.offsets[first..];
        offsets
            .iter()
            .enumerate()
            .map(move |(k, &(from, offset))| {
                let to = offsets
                    .get(k + 1)
                    .map_or(readings.end, |&(next, _)| next.min(readings.end));
                (from.max(readings.start)..to, offset)
            })
            .take_while(|(run, _)| !run.is_empty())
    }

    /// Local civil time of the readings `readings`, in order: seconds since
    /// 1970-01-01T00:00 local time (day `d` of [`Self::local_days`] starts at
    /// `d × 86 400`). Iterate it with `for_each` or `fold` in loops that matter.
    pub fn local_seconds(&self, readings: Range<usize>) -> impl Iterator<Item = f64> + '_ {
        self.offset_runs(readings)
            .flat_map(|(run, offset)| self.times_s[run].iter().map(move |&t| t + offset))
    }

    /// Median of the intervals between consecutive readings, minutes; NaN for a single
    /// reading.
    #[must_use]
    pub fn median_interval_min(&self) -> f64 {
        self.median_interval_min
    }

    /// The readings of each local calendar day: (day number as in
    /// [`Self::local_day_number`], index range), in date order. Local days never move
    /// backwards along UTC order (clocks fall back within a day, at most to the
    /// previous midnight), so each day is one contiguous range.
    pub fn local_days(&self) -> impl Iterator<Item = (i64, Range<usize>)> + '_ {
        self.days.iter().cloned()
    }

    /// The readings `readings` of local day `day` (as [`Self::local_days`] gives them) as
    /// (minutes after local midnight, 0 ≤ m < 1440; mg/dL), in order: the day's trace,
    /// each time as [`Self::local_minute_of_day`] gives it, rounded to single precision
    /// for drawing (see [`crate::agp::DailyProfile::points`]).
    #[must_use]
    pub fn day_points(&self, day: i64, readings: Range<usize>) -> Vec<(f32, f32)> {
        let midnight = day as f64 * 86_400.0;
        let mut points = Vec::with_capacity(readings.len());
        for (run, offset) in self.offset_runs(readings) {
            // UTC seconds to seconds into the local day (exact: whole seconds apart).
            let shift = offset - midnight;
            let times = &self.times_s[run.clone()];
            points.extend(times.iter().zip(&self.values[run]).map(|(&time, &value)| {
                (((time + shift) * MINUTES_PER_SECOND) as f32, value as f32)
            }));
        }
        points
    }
}

/// A minute per second, for [`GlucoseSeries::day_points`]: multiplying by it rather
/// than dividing by 60 took a tenth off the daily profiles (the division bound the
/// loop). The product can differ from the quotient in the last bit of an f64, never in
/// the f32 that a point keeps: a time into the day is whole microseconds, so its
/// quotient is either an f32 or, relative to its size, more than 10⁻¹³ from the
/// midpoint of two, about a thousand times the product's rounding error (checked by
/// `minutes_by_product_round_as_by_quotient`).
const MINUTES_PER_SECOND: f64 = 1.0 / 60.0;

/// The instant (µs since the epoch, UTC) and value of `reading` if its value is
/// plausible; otherwise it is counted in `exclusions` under its reason.
fn plausible(
    reading: &GlucoseReading,
    config: &ValidationConfig,
    exclusions: &mut ExclusionCounts,
    clock: &mut MicrosSinceEpoch,
) -> Option<(i64, f64)> {
    let value = reading.mg_dl;
    if config.accepts(value) {
        return Some((clock.of(reading.time), value));
    }
    if !value.is_finite() {
        exclusions.not_a_number += 1;
    } else if value < config.min_mg_dl {
        exclusions.below_plausible += 1;
    } else {
        exclusions.above_plausible += 1;
    }
    None
}

/// [`DateTime::timestamp_micros`] (and whole seconds) for many instants, remembering
/// the last date's midnight: readings come days at a time, and turning a date into a
/// day count was the largest part of validating a reading.
#[derive(Debug, Default)]
struct MicrosSinceEpoch {
    /// The last date converted and its midnight, seconds since the epoch (UTC).
    midnight: Option<(NaiveDate, i64)>,
}

impl MicrosSinceEpoch {
    /// Microseconds since the Unix epoch of `time`, as `time.timestamp_micros()`.
    fn of(&mut self, time: DateTime<Utc>) -> i64 {
        let (second, fraction) = self.second_and_fraction(time);
        micros_of(second, fraction)
    }

    /// Seconds since the Unix epoch of `time` and microseconds past that second (0 for
    /// a whole second, as sensors' timestamps are).
    fn second_and_fraction(&mut self, time: DateTime<Utc>) -> (i64, u32) {
        // The UTC fields as stored: no offset arithmetic.
        let naive = time.naive_utc();
        let date = naive.date();
        let midnight = match self.midnight {
            Some((known, seconds)) if known == date => seconds,
            _ => {
                let seconds = date.and_time(NaiveTime::MIN).and_utc().timestamp();
                self.midnight = Some((date, seconds));
                seconds
            }
        };
        (
            midnight + i64::from(naive.time().num_seconds_from_midnight()),
            micros_past_second(time),
        )
    }
}

/// Microseconds since the Unix epoch from whole seconds and the microseconds past them.
fn micros_of(second: i64, fraction: u32) -> i64 {
    second * 1_000_000 + i64::from(fraction)
}

/// The microseconds of `time` past its whole second. A leap second's nanoseconds run
/// past 10⁹, as chrono counts them, and so do these past 10⁶.
fn micros_past_second(time: DateTime<Utc>) -> u32 {
    time.naive_utc().time().nanosecond() / 1_000
}

/// The order that makes a series independent of its input's order: by instant, then
/// by value.
fn instant_then_value(a: &(i64, f64), b: &(i64, f64)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// The instants (seconds since the epoch, UTC) and values of `readings` when every
/// reading is plausible and each comes strictly after the one before, as most inputs
/// are: then nothing is excluded or merged, and the series is the readings as they
/// are. Each step is a whole pass that the compiler can keep in registers (collecting
/// from a slice knows its length; pushing one reading at a time into two vectors
/// reloads their lengths from memory on every reading). `None` otherwise, for
/// [`merge_in_order`] and [`merge_sorted`].
fn distinct_in_order(
    readings: &[GlucoseReading],
    config: &ValidationConfig,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let plausible = readings
        .iter()
        .fold(true, |all, r| all & config.accepts(r.mg_dl));
    if !plausible {
        return None;
    }
    // Whole seconds first, as sensors give them: exact as doubles within
    // ±WHOLE_SECONDS_EXACT (checked on the first and last, the extremes when the
    // instants increase), and what the division of their microseconds gives. The
    // fractions of a second are or-ed together on the way: any left, the microseconds
    // are the seconds' and the fractions' (read again, without the dates).
    let mut clock = MicrosSinceEpoch::default();
    let mut fractions = 0;
    let seconds: Vec<i64> = readings
        .iter()
        .map(|r| {
            let (second, fraction) = clock.second_and_fraction(r.time);
            fractions |= fraction;
            second
        })
        .collect();
    let within = |s: &i64| s.unsigned_abs() <= WHOLE_SECONDS_EXACT;
    let times_s = if fractions == 0
        && seconds.first().is_some_and(within)
        && seconds.last().is_some_and(within)
    {
        if !strictly_increasing(&seconds) {
            return None;
        }
        seconds.iter().map(|&s| s as f64).collect()
    } else {
        let micros: Vec<i64> = seconds
            .iter()
            .zip(readings)
            .map(|(&second, r)| micros_of(second, micros_past_second(r.time)))
            .collect();
        if !strictly_increasing(&micros) {
            return None;
        }
        seconds_of_micros(&micros)
    };
    let values = readings.iter().map(|r| r.mg_dl).collect();
    Some((times_s, values))
}

/// Whether each of `instants` comes strictly after the one before: one pass without a
/// branch per instant.
fn strictly_increasing(instants: &[i64]) -> bool {
    instants
        .iter()
        .zip(instants.get(1..).unwrap_or_default())
        .fold(true, |all, (earlier, later)| all & (earlier < later))
}

/// 2⁵⁹ µs in whole seconds (about 18,000 years either side of 1970): a whole second's
/// microseconds are a multiple of 2⁶ (10⁶ = 2⁶ × 15,625), and below 2⁵⁹ such a
/// multiple is a double exactly, so dividing it by 10⁶ gives the second itself, as
/// [`distinct_in_order`] takes it without the division. (chrono reaches 262,143 years.)
const WHOLE_SECONDS_EXACT: u64 = (1 << 59) / 1_000_000;

/// Seconds since the Unix epoch of each of `micros` (microseconds), `µs / 10⁶` as a
/// division rounds it ([`crate::stats::quotients`]: one division per reading
/// was a quarter of the validation's time).
fn seconds_of_micros(micros: &[i64]) -> Vec<f64> {
    crate::stats::quotients(micros, |us| us as f64, MICROS_PER_SECOND)
}

/// Seconds since the Unix epoch of `micros` microseconds: one of [`seconds_of_micros`].
fn second_of_micros(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_SECOND
}

/// Microseconds in a second.
const MICROS_PER_SECOND: f64 = 1e6;

/// [`merge_sorted`] for readings already in [`instant_then_value`] order, read once;
/// `None` at the first reading out of that order.
fn merge_in_order(
    readings: &[GlucoseReading],
    config: &ValidationConfig,
) -> Option<(InstantMerger, ExclusionCounts)> {
    let mut exclusions = ExclusionCounts {
        received: readings.len(),
        ..Default::default()
    };
    let mut merger = InstantMerger::with_capacity(readings.len());
    let mut clock = MicrosSinceEpoch::default();
    let mut last: Option<(i64, f64)> = None;
    for reading in readings {
        if let Some(kept) = plausible(reading, config, &mut exclusions, &mut clock) {
            if last.is_some_and(|last| instant_then_value(&last, &kept).is_gt()) {
                return None;
            }
            merger.push(kept, &mut exclusions);
            last = Some(kept);
        }
    }
    merger.finish(&mut exclusions);
    Some((merger, exclusions))
}

/// The plausible readings sorted by [`instant_then_value`] and merged per instant.
fn merge_sorted(
    readings: &[GlucoseReading],
    config: &ValidationConfig,
) -> (InstantMerger, ExclusionCounts) {
    let mut exclusions = ExclusionCounts {
        received: readings.len(),
        ..Default::default()
    };
    let mut clock = MicrosSinceEpoch::default();
    let mut kept: Vec<(i64, f64)> = readings
        .iter()
        .filter_map(|reading| plausible(reading, config, &mut exclusions, &mut clock))
        .collect();
    kept.sort_unstable_by(instant_then_value);
    let mut merger = InstantMerger::with_capacity(kept.len());
    for reading in kept {
        merger.push(reading, &mut exclusions);
    }
    merger.finish(&mut exclusions);
    (merger, exclusions)
}

/// Builds the series' instants and values from readings in [`instant_then_value`]
/// order, one value per instant: readings identical to the first at their instant are
/// exact duplicates; differing values at one instant are replaced by their mean (as
/// iglu's `check_data_time`), summed in value order.
#[derive(Debug)]
struct InstantMerger {
    /// Instants, seconds since the epoch (UTC).
    times_s: Vec<f64>,
    /// Values, mg/dL.
    values: Vec<f64>,
    /// The instant being merged, if any.
    group: Option<InstantGroup>,
}

/// The readings of one instant, as they are merged.
#[derive(Debug, Clone, Copy)]
struct InstantGroup {
    /// The instant, µs since the epoch (UTC).
    instant: i64,
    /// Its first value, mg/dL.
    first: f64,
    /// Sum of its values, mg/dL, summed in value order.
    sum: f64,
    /// Number of its values.
    count: usize,
    /// Whether every value is bit-identical to the first.
    all_equal: bool,
}

impl InstantMerger {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            times_s: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
            group: None,
        }
    }

    /// Adds a reading (µs, mg/dL) not before the previous one.
    #[inline]
    fn push(&mut self, (instant, value): (i64, f64), exclusions: &mut ExclusionCounts) {
        match &mut self.group {
            Some(group) if group.instant == instant => {
                group.sum += value;
                group.count += 1;
                group.all_equal &= value.to_bits() == group.first.to_bits();
            }
            _ => {
                self.finish(exclusions);
                self.group = Some(InstantGroup {
                    instant,
                    first: value,
                    sum: value,
                    count: 1,
                    all_equal: true,
                });
            }
        }
    }

    /// Closes the instant being merged.
    fn finish(&mut self, exclusions: &mut ExclusionCounts) {
        let Some(group) = self.group.take() else {
            return;
        };
        let value = if group.all_equal {
            exclusions.exact_duplicates += group.count - 1;
            group.first
        } else {
            exclusions.conflicting_duplicates += group.count;
            exclusions.conflicting_instants += 1;
            group.sum / group.count as f64
        };
        self.times_s.push(second_of_micros(group.instant));
        self.values.push(value);
    }
}

/// The local days of the readings of `times_s` (seconds, UTC) as (day number, index
/// range), in order, given the runs of readings sharing one UTC offset (seconds).
/// Within a run the local times ascend, so each day's end is found by a binary search,
/// making the comparison a walk would make at each reading (`local < end of day`), not
/// a test of every reading. A day continuing into the next run extends its range; a day
/// that local time re-enters after leaving it (clocks set back over midnight) starts a
/// new one.
fn day_ranges(
    times_s: &[f64],
    offset_runs: impl Iterator<Item = (Range<usize>, f64)>,
) -> Vec<(i64, Range<usize>)> {
    let mut days: Vec<(i64, Range<usize>)> = Vec::new();
    for (run, offset) in offset_runs {
        let mut start = run.start;
        while start < run.end {
            let day = local_day_of(times_s[start] + offset);
            let day_end = day as f64 * 86_400.0 + 86_400.0;
            // At least the reading at `start`, whose local time is before the day's end.
            let end = start
                + times_s[start..run.end]
                    .partition_point(|&t| t + offset < day_end)
                    .max(1);
            match days.last_mut() {
                Some((last, range)) if *last == day && range.end == start => range.end = end,
                _ => days.push((day, start..end)),
            }
            start = end;
        }
    }
    days
}

/// Median of the intervals between consecutive `times_s` (seconds), minutes; NaN for a
/// single instant. A sensor's intervals mostly repeat: their distribution is then built
/// from a few runs. Timestamps that jitter make nearly every interval distinct; then
/// the median is selected from all of them in linear time rather than sorting as many
/// runs as intervals (which took most of a 90-day summary).
fn median_interval_min(times_s: &[f64]) -> f64 {
    let intervals = times_s.len().saturating_sub(1);
    if let Some(runs) = interval_runs(times_s, intervals / 16) {
        let runs_min = runs
            .into_iter()
            .map(|(interval_s, count)| (interval_s / 60.0, count))
            .collect();
        return crate::stats::ValueDistribution::of_runs(runs_min).median();
    }
    // Selected in seconds and only the median's neighbours turned into minutes: a
    // division per interval was a third of the selection's time. The instants
    // increase, so every interval is positive and selects by its bit pattern.
    let mut seconds: Vec<u64> = times_s
        .iter()
        .zip(times_s.get(1..).unwrap_or_default())
        .map(|(earlier, later)| (later - earlier).to_bits())
        .collect();
    crate::stats::quantile_of_positive_bits(&mut seconds, 0.5, |interval_s| interval_s / 60.0)
}

/// The intervals between consecutive `times_s` as runs of equal intervals (seconds,
/// count), in order. A sensor keeps its interval for hours: eight intervals are
/// compared with the run's at a time, without a branch between them (packed
/// comparisons), and only the chunk where the run ends is walked interval by interval.
/// `None` as soon as there are more than `max_runs` runs.
fn interval_runs(times_s: &[f64], max_runs: usize) -> Option<Vec<(f64, u32)>> {
    const CHUNK: usize = 8;
    let mut runs = Vec::new();
    // `end` is the later instant of the next interval to look at.
    let mut end = 1;
    while end < times_s.len() {
        let interval = times_s[end] - times_s[end - 1];
        let start = end;
        end += 1;
        #[expect(clippy::float_cmp, reason = "a run is of exactly equal intervals")]
        let same = |earlier: f64, later: f64| later - earlier == interval;
        while let (Some(earlier), Some(later)) = (
            times_s.get(end - 1..end - 1 + CHUNK),
            times_s.get(end..end + CHUNK),
        ) {
            let unchanged = earlier
                .iter()
                .zip(later)
                .fold(true, |all, (&e, &l)| all & same(e, l));
            if !unchanged {
                break;
            }
            end += CHUNK;
        }
        while end < times_s.len() && same(times_s[end - 1], times_s[end]) {
            end += 1;
        }
        if runs.len() == max_runs {
            return None;
        }
        runs.push((interval, u32::try_from(end - start).unwrap_or(u32::MAX)));
    }
    Some(runs)
}

/// The day number (days since 1970-01-01) of local seconds `seconds`. Integer division
/// rather than `f64::floor`/`rem_euclid`, which are library calls on baseline x86-64.
fn local_day_of(seconds: f64) -> i64 {
    let whole = seconds as i64;
    // `as` truncates toward zero; step back for negative non-whole seconds.
    let whole = if seconds < whole as f64 {
        whole - 1
    } else {
        whole
    };
    whole.div_euclid(86_400)
}

/// The date `days` days after 1970-01-01.
#[must_use]
pub fn date_from_local_day(days: i64) -> NaiveDate {
    NaiveDate::default() + Duration::days(days)
}

/// UTC offsets of a zone over a period, precomputed so that converting many instants
/// to local civil time costs a comparison each, not a time-zone database look-up.
#[derive(Debug, Clone)]
struct LocalClock {
    /// Instants (UTC seconds) at which the offset changes, ascending.
    changes_s: Vec<f64>,
    /// `offsets_s[0]` applies before `changes_s[0]`, `offsets_s[k + 1]` from `changes_s[k]`.
    offsets_s: Vec<f64>,
}

impl LocalClock {
    /// Offsets change at most a few times a year; probing every six hours finds each
    /// change, and a binary search pins it to the second.
    const PROBE_S: i64 = 6 * 3600;

    fn new(tz: Tz, first_s: f64, last_s: f64) -> Self {
        let offset_at = |s: i64| -> i64 {
            let naive = DateTime::from_timestamp(s, 0)
                .unwrap_or_default()
                .naive_utc();
            i64::from(tz.offset_from_utc_datetime(&naive).fix().local_minus_utc())
        };
        let start = first_s.floor() as i64 - 86_400;
        let end = last_s.ceil() as i64 + 86_400;
        let mut current = offset_at(start);
        let mut changes_s = Vec::new();
        let mut offsets_s = vec![current as f64];
        let mut probe = start;
        while probe < end {
            let next = probe + Self::PROBE_S;
            let offset = offset_at(next);
            if offset != current {
                let (mut low, mut high) = (probe, next);
                while high - low > 1 {
                    let middle = low + (high - low) / 2;
                    if offset_at(middle) == current {
                        low = middle;
                    } else {
                        high = middle;
                    }
                }
                changes_s.push(high as f64);
                offsets_s.push(offset as f64);
                current = offset;
            }
            probe = next;
        }
        Self {
            changes_s,
            offsets_s,
        }
    }

    /// The offsets in force over ascending UTC instants `times_s` (not empty), as
    /// [`GlucoseSeries`] keeps them: (index of the first instant each applies to,
    /// offset), the first at index 0.
    fn offset_runs(&self, times_s: &[f64]) -> Vec<(usize, f64)> {
        // Offset `k` applies from the `k`-th change on (`offsets_s[0]` before the first).
        let in_force = self
            .changes_s
            .partition_point(|&change| change <= times_s[0]);
        let mut runs = vec![(0, self.offsets_s[in_force])];
        for (&change, &offset) in self.changes_s.iter().zip(&self.offsets_s[1..]) {
            let from = times_s.partition_point(|&t| t < change);
            if from == 0 {
                continue;
            }
            if from == times_s.len() {
                break;
            }
            match runs.last_mut() {
                Some(last) if last.0 == from => last.1 = offset,
                _ => runs.push((from, offset)),
            }
        }
        runs
    }
}

/// A UTC date-time from seconds since the Unix epoch (microsecond resolution).
#[must_use]
pub fn utc_from_seconds(seconds: f64) -> DateTime<Utc> {
    // Instants come from validated `DateTime<Utc>` values, so they are in range.
    DateTime::from_timestamp_micros((seconds * MICROS_PER_SECOND).round() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64, mg_dl: f64) -> GlucoseReading {
        GlucoseReading::new(
            Utc.timestamp_opt(1_600_000_000 + minute * 60, 0).unwrap(),
            mg_dl,
        )
    }

    #[test]
    fn distinct_readings_in_order_take_the_direct_path_with_the_same_result() {
        let config = ValidationConfig::default();
        // Sub-second instants, a day boundary, values at both limits.
        let mut readings: Vec<GlucoseReading> = (0..3000)
            .map(|k| {
                let time = Utc
                    .timestamp_millis_opt(1_600_000_000_000 + k * 61_003)
                    .unwrap();
                GlucoseReading::new(time, 40.0 + (k % 23) as f64 * 0.5)
            })
            .collect();
        readings[7].mg_dl = config.min_mg_dl;
        readings[8].mg_dl = config.max_mg_dl;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let same_as_merged = |readings: &[GlucoseReading]| {
            let (times_s, values) = distinct_in_order(readings, &config).expect("in order");
            let (merged, exclusions) = merge_in_order(readings, &config).expect("in order");
            assert_eq!(exclusions.kept(), readings.len());
            assert_eq!(bits(&times_s), bits(&merged.times_s));
            assert_eq!(bits(&values), bits(&merged.values));
        };
        same_as_merged(&readings);
        // Whole seconds take the path without a division, before and after 1970.
        let whole: Vec<GlucoseReading> = (-1500..1500)
            .map(|k| GlucoseReading::new(Utc.timestamp_opt(k * 86_461, 0).unwrap(), 100.0))
            .collect();
        same_as_merged(&whole);
        // Whole seconds too far from 1970 for their microseconds to be doubles exactly
        // (after the year 18,000) take the division, as the merging paths do.
        let far: Vec<GlucoseReading> = (0..100)
            .map(|k| {
                let second = WHOLE_SECONDS_EXACT as i64 + 2 * k - 100;
                GlucoseReading::new(Utc.timestamp_opt(second, 0).unwrap(), 100.0)
            })
            .collect();
        same_as_merged(&far);
        // Anything to exclude, merge or sort leaves it to the general path.
        let nudged = |index: usize, change: &dyn Fn(&mut GlucoseReading)| {
            let mut changed = readings.clone();
            change(&mut changed[index]);
            distinct_in_order(&changed, &config).is_none()
        };
        assert!(nudged(5, &|r| r.mg_dl = f64::NAN));
        assert!(nudged(5, &|r| r.mg_dl = f64::INFINITY));
        assert!(nudged(5, &|r| r.mg_dl = config.min_mg_dl - 0.5));
        assert!(nudged(2999, &|r| r.mg_dl = config.max_mg_dl + 0.5));
        let first_time = readings[0].time;
        assert!(nudged(1, &|r| r.time = first_time), "a duplicate instant");
        assert!(nudged(2999, &|r| r.time = first_time), "out of order");
    }

    #[test]
    fn whole_seconds_convert_as_by_division() {
        let limit = WHOLE_SECONDS_EXACT as i64;
        let seconds = (-limit..=limit)
            .step_by(9_973_331)
            .chain([-limit, -1, 0, 1, limit])
            .chain((0..100_000).map(|k| 1_600_000_000 + k * 7));
        for second in seconds {
            let micros = [second * 1_000_000];
            assert_eq!(
                (second as f64).to_bits(),
                seconds_of_micros(&micros)[0].to_bits(),
                "{second} s"
            );
        }
    }

    #[test]
    fn sorts_merges_and_counts() {
        let readings = [
            at(10, 120.0),
            at(0, 100.0),
            at(5, f64::NAN),
            at(0, 100.0),
            at(15, 0.0),
            at(20, 10_000.0),
            at(25, 150.0),
            at(25, 160.0),
        ];
        let series =
            GlucoseSeries::new(&readings, chrono_tz::UTC, &ValidationConfig::default()).unwrap();
        assert_eq!(series.values(), &[100.0, 120.0, 155.0]);
        let counts = series.exclusions();
        assert_eq!(counts.received, 8);
        assert_eq!(counts.not_a_number, 1);
        assert_eq!(counts.below_plausible, 1);
        assert_eq!(counts.above_plausible, 1);
        assert_eq!(counts.exact_duplicates, 1);
        assert_eq!(counts.conflicting_duplicates, 2);
        assert_eq!(counts.conflicting_instants, 1);
        assert_eq!(counts.kept(), series.len());
    }

    #[test]
    fn local_days_are_contiguous_through_a_fall_back() {
        // Europe/Rome: 2024-10-27 01:00Z clocks go back from 03:00 to 02:00 local; readings
        // every 20 min from 2024-10-26 20:00Z (22:00 local) to 2024-10-28 00:00Z.
        let start = Utc.with_ymd_and_hms(2024, 10, 26, 20, 0, 0).unwrap();
        let readings: Vec<GlucoseReading> = (0..=84)
            .map(|k| GlucoseReading::new(start + chrono::Duration::minutes(20 * k), 100.0))
            .collect();
        let series = GlucoseSeries::new(
            &readings,
            chrono_tz::Europe::Rome,
            &ValidationConfig::default(),
        )
        .unwrap();
        let days: Vec<(NaiveDate, usize)> = series
            .local_days()
            .map(|(day, range)| (date_from_local_day(day), range.len()))
            .collect();
        let date = |d| NaiveDate::from_ymd_opt(2024, 10, d).unwrap();
        // 26th: 22:00–23:40 local (6); 27th: 25 local hours (75); 28th: 00:00–01:00 (4).
        assert_eq!(days, vec![(date(26), 6), (date(27), 75), (date(28), 4)]);
        let points: Vec<(f32, f32)> = series
            .local_days()
            .flat_map(|(day, readings)| series.day_points(day, readings))
            .collect();
        assert_eq!(points.len(), series.len());
        for (index, (minute, value)) in points.into_iter().enumerate() {
            // Plotting precision: f32 resolves 0.000 12 min (7 ms) below 1440.
            let expected_minute = series.local_minute_of_day(index) as f32;
            assert_eq!(minute.to_bits(), expected_minute.to_bits());
            assert_eq!(value.to_bits(), (series.values()[index] as f32).to_bits());
        }
    }

    #[test]
    fn minutes_by_product_round_as_by_quotient() {
        let same = |seconds: f64| {
            let (product, quotient) = (seconds * MINUTES_PER_SECOND, seconds / 60.0);
            assert_eq!(
                (product as f32).to_bits(),
                (quotient as f32).to_bits(),
                "{seconds} s"
            );
        };
        // Every whole second of the longest local day (25 h), and every millisecond of
        // its first and last hours.
        (0..=90_000).for_each(|s| same(f64::from(s)));
        (0..3_600_000).for_each(|ms| same(f64::from(ms) / 1e3));
        (86_400_000..90_000_000).for_each(|ms| same(f64::from(ms) / 1e3));
        // Whole microseconds across the day, spread by a multiplicative hash.
        (0..1_000_000_u64)
            .map(|k| (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % 90_000_000_000)
            .for_each(|us| same(us as f64 / 1e6));
    }

    #[test]
    fn local_time_follows_dst() {
        // Europe/Rome: 2024-03-31 01:00Z clocks go from 02:00 to 03:00 local.
        let before =
            GlucoseReading::new(Utc.with_ymd_and_hms(2024, 3, 31, 0, 30, 0).unwrap(), 100.0);
        let after =
            GlucoseReading::new(Utc.with_ymd_and_hms(2024, 3, 31, 1, 30, 0).unwrap(), 100.0);
        let late =
            GlucoseReading::new(Utc.with_ymd_and_hms(2024, 3, 31, 22, 30, 0).unwrap(), 100.0);
        let series = GlucoseSeries::new(
            &[before, after, late],
            chrono_tz::Europe::Rome,
            &ValidationConfig::default(),
        )
        .unwrap();
        assert!((series.local_minute_of_day(0) - 90.0).abs() < 1e-9);
        assert!((series.local_minute_of_day(1) - 210.0).abs() < 1e-9);
        assert_eq!(
            series.local_date(2),
            NaiveDate::from_ymd_opt(2024, 4, 1).unwrap()
        );
        assert_eq!(
            series.local_date(0),
            NaiveDate::from_ymd_opt(2024, 3, 31).unwrap()
        );
    }

    #[test]
    fn days_found_by_search_are_the_days_a_walk_finds() {
        // Readings every 7 min 13 s for 30 days over DST changes: at 02:00 (Rome), at
        // midnight (Santiago, Asuncion: local time leaves a day and comes back), by 30
        // minutes (Lord Howe), and none (UTC).
        let start = Utc.with_ymd_and_hms(2023, 3, 20, 0, 0, 0).unwrap();
        let readings: Vec<GlucoseReading> = (0..6_000)
            .map(|k| GlucoseReading::new(start + Duration::seconds(k * 433), 120.0))
            .collect();
        for tz in [
            chrono_tz::Europe::Rome,
            chrono_tz::America::Santiago,
            chrono_tz::America::Asuncion,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::UTC,
        ] {
            for period in [&readings[..], &readings[2_500..]] {
                let series = GlucoseSeries::new(period, tz, &ValidationConfig::default()).unwrap();
                // The walk: a new range wherever a reading's local day differs from the
                // one before.
                let mut expected: Vec<(i64, Range<usize>)> = Vec::new();
                for index in 0..series.len() {
                    let day = series.local_day_number(index);
                    match expected.last_mut() {
                        Some((last, range)) if *last == day => range.end = index + 1,
                        _ => expected.push((day, index..index + 1)),
                    }
                }
                assert_eq!(series.local_days().collect::<Vec<_>>(), expected, "{tz}");
            }
        }
    }

    #[test]
    fn packed_seconds_equal_one_division_each() {
        let micros = [
            1_700_000_000_000_000,
            1_700_000_000_123_457,
            -1,
            0,
            4_102_444_800_999_999,
            -86_400_000_001,
            1_700_000_300_000_000,
            999_999,
            1_700_000_600_500_000,
        ];
        for len in 0..=micros.len() {
            let expected: Vec<u64> = micros[..len]
                .iter()
                .map(|&us| second_of_micros(us).to_bits())
                .collect();
            let packed: Vec<u64> = seconds_of_micros(&micros[..len])
                .iter()
                .map(|s| s.to_bits())
                .collect();
            assert_eq!(packed, expected, "{len}");
        }
    }

    #[test]
    fn micros_since_epoch_match_chrono() {
        let mut clock = MicrosSinceEpoch::default();
        let instants = [
            Utc.with_ymd_and_hms(2024, 3, 31, 0, 30, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 3, 31, 23, 59, 59).unwrap()
                + chrono::Duration::microseconds(999_999),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 0, 0).unwrap()
                + chrono::Duration::microseconds(1),
            Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2100, 1, 1, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 3, 31, 0, 30, 0).unwrap(),
            // A leap second, as chrono represents it (nanoseconds past 10⁹).
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
                .unwrap()
                .and_utc(),
        ];
        for instant in instants {
            assert_eq!(clock.of(instant), instant.timestamp_micros(), "{instant}");
        }
    }

    #[test]
    fn median_interval_is_the_same_from_runs_and_by_selection() {
        // Regular readings with a few gaps (runs) and jittered ones (every interval
        // distinct), against the median of all intervals sorted.
        let regular: Vec<f64> = (0..500_u32)
            .map(|k| f64::from(k * 300 + if k > 200 { 1_800 } else { 0 }))
            .collect();
        let mut state = 88_172_645_463_325_252_u64;
        let jittered: Vec<f64> = (0..501_u32)
            .map(|k| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                f64::from(k * 60) + (state % 40_000) as f64 / 1000.0
            })
            .collect();
        for times in [&regular[..], &jittered[..], &regular[..2], &regular[..1]] {
            let mut minutes: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) / 60.0).collect();
            minutes.sort_by(f64::total_cmp);
            let expected = crate::stats::quantile_sorted(&minutes, 0.5);
            let got = median_interval_min(times);
            assert_eq!(
                got.to_bits(),
                expected.to_bits(),
                "{} instants",
                times.len()
            );
        }
        assert!(
            interval_runs(&jittered, 500 / 16).is_none(),
            "the selection path was taken"
        );
        assert!(
            interval_runs(&regular, 499 / 16).is_some(),
            "and the runs' path"
        );
    }

    #[test]
    fn interval_runs_cover_every_interval() {
        // Runs longer and shorter than a chunk, a run ending at a chunk's edge, one
        // interval alone, and the last run reaching the end.
        let mut times = vec![0.0];
        for (interval, count) in [(60.0, 20), (61.5, 1), (60.0, 8), (300.0, 3), (60.0, 9)] {
            for _ in 0..count {
                times.push(times[times.len() - 1] + interval);
            }
        }
        let runs = interval_runs(&times, usize::MAX).unwrap_or_default();
        assert_eq!(
            runs,
            vec![(60.0, 20), (61.5, 1), (60.0, 8), (300.0, 3), (60.0, 9)]
        );
        let naive: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let expanded: Vec<f64> = runs
            .iter()
            .flat_map(|&(interval, count)| std::iter::repeat_n(interval, count as usize))
            .collect();
        assert_eq!(expanded, naive);
        assert_eq!(interval_runs(&[5.0], 0), Some(Vec::new()));
        assert_eq!(interval_runs(&times, 4), None, "five runs");
        assert!(interval_runs(&times, 5).is_some());
    }

    #[test]
    fn day_numbers_floor_before_the_epoch() {
        assert_eq!(local_day_of(0.0), 0);
        assert_eq!(local_day_of(86_399.9), 0);
        assert_eq!(local_day_of(86_400.0), 1);
        assert_eq!(local_day_of(-0.5), -1);
        assert_eq!(local_day_of(-86_400.0), -1);
        assert_eq!(local_day_of(-86_400.5), -2);
    }

    #[test]
    fn rejects_empty_and_overlong() {
        let config = ValidationConfig::default();
        assert!(matches!(
            GlucoseSeries::new(&[], chrono_tz::UTC, &config),
            Err(MetricsError::NoValidReadings { .. })
        ));
        let far = [at(0, 100.0), at(60 * 24 * 500, 100.0)];
        assert!(matches!(
            GlucoseSeries::new(&far, chrono_tz::UTC, &config),
            Err(MetricsError::SpanTooLong { .. })
        ));
    }
}
