//! Glycaemic variability on the day-by-day grid ([`crate::grid`]): CONGA, MODD, MAG,
//! GVP, the SD and CV subtypes, rate of change, AUC, and ADRR on local days. Each
//! function cites its definition and reproduces the R package iglu 4.3.0.

use crate::grid::DayByDayGrid;
use crate::indices::daily_risk_range;
use crate::series::GlucoseSeries;
use crate::stats::{self, WindowSums, WindowTerms};
use wide::f64x4;

/// Differences `g[i + lag] − g[i]` over the flattened grid (NaN where either is missing).
fn lagged_differences(values: &[f64], lag: usize) -> impl Iterator<Item = f64> + Clone + '_ {
    let (later, earlier) = stats::lagged_pairs(values, lag);
    later
        .iter()
        .zip(earlier)
        .map(|(later, earlier)| later - earlier)
}

/// CONGA(n), mg/dL: SD of the differences between grid values `hours` hours apart.
/// McDonnell et al. (2005) Diabetes Technol Ther 7:253, doi:10.1089/dia.2005.7.253;
/// iglu `conga(n)` (default n = 24). NaN with fewer than two differences.
#[must_use]
pub fn conga(grid: &DayByDayGrid, hours: u32) -> f64 {
    sd_of_moments(stats::moments_present_of_steps(
        grid.values(),
        conga_lag(grid, hours),
    ))
}

/// CONGA's lag for `hours` hours: grid points in an hour (rounded, as iglu) times hours.
fn conga_lag(grid: &DayByDayGrid, hours: u32) -> usize {
    let per_hour = (60.0 / f64::from(grid.step_min())).round() as usize;
    per_hour * hours as usize
}

/// Sample SD of differences (changes of glucose over a lag) from their count, sum and
/// sum of squares, taken in one pass: `(Σd² − (Σd)²/n) / (n − 1)`. Differences centre
/// near zero, so the one-pass form loses nothing to cancellation that R's two-pass one
/// would keep. NaN for fewer than two.
fn sd_of_moments((count, sum, squares): (usize, f64, f64)) -> f64 {
    if count < 2 {
        return f64::NAN;
    }
    let n = count as f64;
    ((squares - sum * sum / n) / (n - 1.0)).max(0.0).sqrt()
}

/// MODD, mg/dL: mean absolute difference between grid values `lag_days` days apart
/// (Molnar et al. 1972, Diabetologia 8:342, doi:10.1007/BF01218495; iglu `modd`,
/// default lag 1).
#[must_use]
pub fn modd(grid: &DayByDayGrid, lag_days: u32) -> f64 {
    let lag = lag_days as usize * grid.points_per_day();
    let (count, total) = stats::sum_present_of_steps(grid.values(), lag, f64::abs);
    mean_absolute_change(count, total)
}

/// [`modd`] over one day and [`conga`] over 24 hours. On a grid whose day holds 24 of
/// CONGA's hours (any step that divides an hour) both take the changes over one day,
/// and they are found in one pass: CONGA's moments with the changes' absolute values
/// beside them. The same figures, bit for bit, as the two functions.
#[must_use]
pub fn modd_and_conga_24h(grid: &DayByDayGrid) -> (f64, f64) {
    let lag = grid.points_per_day();
    if conga_lag(grid, 24) != lag {
        return (modd(grid, 1), conga(grid, 24));
    }
    let (count, sum, squares, absolute) =
        stats::moments_present_of_steps_with(grid.values(), lag, f64::abs);
    (
        mean_absolute_change(count, absolute),
        sd_of_moments((count, sum, squares)),
    )
}

/// The mean of `count` absolute changes summing to `total`; NaN without changes.
fn mean_absolute_change(count: usize, total: f64) -> f64 {
    if count == 0 {
        return f64::NAN;
    }
    total / count as f64
}

/// MAG, mg/dL per hour: the sum of absolute changes between consecutive grid values
/// divided by the hours they cover (Hermanides et al. 2010, Crit Care Med 38:838,
/// doi:10.1097/CCM.0b013e3181cc4be9). As iglu 4.3.0, changes are taken over one grid
/// step; 0 when no change can be computed.
#[must_use]
pub fn mag(grid: &DayByDayGrid) -> f64 {
    gvp_and_mag(grid).1
}

/// Glycemic Variability Percentage, %: how much longer the glucose trace is than a flat
/// line over the same time, `(Σ √(Δt² + Δg²) / Σ Δt − 1) × 100` on the grid (Δt the
/// step in minutes). Peyser et al. (2018) Diabetes Technol Ther 20:6,
/// doi:10.1089/dia.2017.0187; iglu `gvp`.
#[must_use]
pub fn gvp(grid: &DayByDayGrid) -> f64 {
    gvp_and_mag(grid).0
}

/// [`gvp`] and [`mag`] from one pass over the changes between consecutive grid values:
/// GVP's square roots keep the pass busy for several cycles a change, and MAG's
/// absolute values fit in that time.
#[must_use]
pub fn gvp_and_mag(grid: &DayByDayGrid) -> (f64, f64) {
    let step = f64::from(grid.step_min());
    // A missing change gives a NaN length, which is skipped with its absolute value.
    let (count, length, absolute_changes) =
        stats::sum_present_of_steps_with(grid.values(), 1, |d| {
            ((step * step + d * d).sqrt(), d.abs())
        });
    let hours = count as f64 * step / 60.0;
    let gvp = if count == 0 {
        f64::NAN
    } else {
        (length / (count as f64 * step) - 1.0) * 100.0
    };
    let mag = if hours == 0.0 {
        0.0
    } else {
        absolute_changes / hours
    };
    (gvp, mag)
}

/// The six SD subtypes of Rodbard (2009) Diabetes Technol Ther 11:551,
/// doi:10.1089/dia.2009.0015, as iglu `sd_measures`; all mg/dL.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SdMeasures {
    /// SDw: mean of the within-day SDs.
    pub within_days: f64,
    /// SDhhmm: SD of the mean glucose at each time of day.
    pub between_time_points: f64,
    /// SDws,h: mean SD within one-hour windows sliding over the series.
    pub within_series_1h: f64,
    /// SDdm: SD of the daily means.
    pub daily_means: f64,
    /// SDb: mean over times of day of the SD across days.
    pub between_days: f64,
    /// SDb,dm: as SDb after subtracting each day's mean.
    pub between_days_corrected: f64,
}

/// Computes [`SdMeasures`] on the grid.
#[must_use]
pub fn sd_measures(grid: &DayByDayGrid) -> SdMeasures {
    let width = grid.points_per_day();
    let row_statistics = grid.row_statistics();
    let row_means = || row_statistics.iter().map(|row| row.mean);
    // Per time of day: statistics across days, accumulated row by row (two passes as
    // R's `sd`), for the raw values and for the values centred on their day's mean.
    // The column loops are branch-free (a missing value adds zero) so that they run
    // several columns per instruction, and take rows four at a time
    // ([`for_row_groups`]) so that each column's sums are loaded and stored once per
    // four values rather than once per value; each sum still adds its rows in order.
    let mut count = vec![0.0_f64; width];
    let mut sum = vec![0.0; width];
    let mut centred_sum = vec![0.0; width];
    for_row_groups(grid, |rows, row_means| {
        let (count, sum, centred_sum) = (
            &mut count[..width],
            &mut sum[..width],
            &mut centred_sum[..width],
        );
        for column in 0..width {
            // Held in locals down the group: stored once, not once per row.
            let (mut n, mut total, mut centred) = (count[column], sum[column], centred_sum[column]);
            for (row, &row_mean) in rows.iter().zip(row_means) {
                let (value, present) = stats::or_zero(row[column]);
                n += present;
                total += value;
                centred += stats::or_zero(value - row_mean * present).0;
            }
            (count[column], sum[column], centred_sum[column]) = (n, total, centred);
        }
    });
    let mean_of = |total: &[f64]| -> Vec<f64> {
        total
            .iter()
            .zip(&count)
            .map(|(s, &n)| if n == 0.0 { f64::NAN } else { s / n })
            .collect()
    };
    let column_means = mean_of(&sum);
    let centred_means = mean_of(&centred_sum);
    let mut squares = vec![0.0; width];
    let mut centred_squares = vec![0.0; width];
    for_row_groups(grid, |rows, row_means| {
        let (column_means, centred_means) = (&column_means[..width], &centred_means[..width]);
        let (squares, centred_squares) = (&mut squares[..width], &mut centred_squares[..width]);
        for column in 0..width {
            let (column_mean, centred_mean) = (column_means[column], centred_means[column]);
            let (mut square, mut centred_square) = (squares[column], centred_squares[column]);
            for (row, &row_mean) in rows.iter().zip(row_means) {
                let value = row[column];
                let deviation = stats::or_zero(value - column_mean).0;
                let centred = stats::or_zero(value - row_mean - centred_mean).0;
                square += deviation * deviation;
                centred_square += centred * centred;
            }
            (squares[column], centred_squares[column]) = (square, centred_square);
        }
    });
    let sd_of = |total: &[f64]| -> Vec<f64> {
        total
            .iter()
            .zip(&count)
            .map(|(s, &n)| {
                if n < 2.0 {
                    f64::NAN
                } else {
                    (s / (n - 1.0)).sqrt()
                }
            })
            .collect()
    };
    let column_sds = sd_of(&squares);
    let corrected_sds = sd_of(&centred_squares);

    let window = (60.0 / f64::from(grid.step_min())).round() as usize;
    let (window_sd_sum, window_sd_count) =
        sliding_window_sds(grid.values(), grid.extremes(), window);
    SdMeasures {
        within_days: stats::mean_of_iter(row_statistics.iter().map(|row| row.sd)),
        between_time_points: stats::sd(&column_means),
        within_series_1h: if window_sd_count == 0 {
            f64::NAN
        } else {
            window_sd_sum / window_sd_count as f64
        },
        daily_means: stats::sd_of_iter(row_means()),
        between_days: stats::mean(&column_sds),
        between_days_corrected: stats::mean(&corrected_sds),
    }
}

/// Rows that [`for_row_groups`] hands over at a time.
const ROW_GROUP: usize = 4;

/// Calls `accumulate` with the grid's rows (each a day's width) and their means
/// ([`DayByDayGrid::row_statistics`]), [`ROW_GROUP`] at a time in order, so that column
/// sums are taken down a group in registers. The last group is filled up with rows of
/// missing values (mean 0), which add +0 to every sum and count: no sum is −0 (each
/// starts at +0, and a sum of two numbers is −0 only when both are), so +0 changes
/// none.
fn for_row_groups(
    grid: &DayByDayGrid,
    mut accumulate: impl FnMut(&[&[f64]; ROW_GROUP], &[f64; ROW_GROUP]),
) {
    let width = grid.points_per_day();
    let missing = vec![f64::NAN; width];
    let mut rows = grid.rows();
    let mut means = grid.row_statistics().iter().map(|row| row.mean);
    loop {
        let group: [Option<(&[f64], f64)>; ROW_GROUP] =
            std::array::from_fn(|_| rows.next().zip(means.next()));
        if group[0].is_none() {
            return;
        }
        let filler = (missing.as_slice(), 0.0);
        accumulate(
            &group.map(|row| row.unwrap_or(filler).0),
            &group.map(|row| row.unwrap_or(filler).1),
        );
    }
}

/// Sum and number of the SDs (n − 1) of the windows of `window` points starting at
/// every index (the last ones run past the end and hold fewer points, as iglu 4.3.0
/// pads with missing values); windows with fewer than two values are skipped. The
/// windows' exact fixed-point sums slide along: linear in the series length. In 64-bit
/// units when the values' range allows a resolution of 2⁻¹⁶ mg/dL or finer
/// ([`narrow_units_per_value`]), else in [`WindowSums`]' 128-bit squares. `(low, high)`
/// are the values' [`stats::extremes`].
fn sliding_window_sds(values: &[f64], (low, high): (f64, f64), window: usize) -> (f64, usize) {
    let window = window.max(1);
    match narrow_units_per_value(high - low, window) {
        Some(units_per_value) => narrow_window_sds(values, window, low, units_per_value),
        None => wide_window_sds(values, window),
    }
}

/// Fixed-point units per mg/dL for [`narrow_window_sds`]: the largest power of two up to
/// 2³² (the resolution of [`WindowSums`]) at which every window of `window` values
/// spread over `range` mg/dL keeps `n Σu² − (Σu)²` below 2⁶². That sum is
/// `Σ_{i<j} (u_i − u_j)²`, at most `(n/2)² (range × units)²`, so `(n/2) × range ×
/// units < 2³¹` suffices. `None` when that would be coarser than 2¹⁶ units per mg/dL
/// (a range near 1,000 mg/dL in hourly windows of a one-minute grid): the wide path then
/// keeps 2³². No range (no values, or all equal) takes the finest.
fn narrow_units_per_value(range: f64, window: usize) -> Option<f64> {
    const FINEST: f64 = stats::FIXED_POINT_UNITS; // 2^32
    const COARSEST: f64 = 65_536.0; // 2^16
    let limit = 2_147_483_648.0 / (window as f64 / 2.0).max(1.0); // 2^31 / (n/2)
    let range = if range > 0.0 { range } else { 0.0 };
    let mut units = FINEST;
    while range * units >= limit && units >= COARSEST {
        units /= 2.0;
    }
    (units >= COARSEST).then_some(units)
}

/// [`sliding_window_sds`] in 64-bit integers: each value becomes `(v − low) × units`
/// rounded to a whole number, once, and a window's count, sum and sum of squares slide
/// in wrapping 64-bit arithmetic. `n Σu² − (Σu)²` is exact modulo 2⁶⁴ and, by the choice
/// of `units` ([`narrow_units_per_value`]), below 2⁶², so exact: a window of equal values
/// gives exactly 0, and the same values give the same SD whatever passed before.
/// Rounding to `1/units` mg/dL moves each SD by at most `√(n/(n − 1))/(2 units)` mg/dL
/// (the largest SD of errors lying in an interval `1/units` wide): below 10⁻⁵ mg/dL.
#[inline(never)]
fn narrow_window_sds(values: &[f64], window: usize, low: f64, units: f64) -> (f64, usize) {
    let low = if low.is_finite() { low } else { 0.0 };
    let n = values.len();
    // Each value's units and presence, then `window` missing values that the windows
    // running past the end take in (a missing value is 0 units, not present).
    // Built by extending, not zero-filled and then written: zeroing twice 35 KB at 14
    // days cost as much as the conversion.
    let mut scaled: Vec<i64> = Vec::with_capacity(n + window);
    scaled.extend(
        values
            .iter()
            .map(|&v| stats::whole_below_2_52(stats::or_zero(v - low).0 * units)),
    );
    scaled.resize(n + window, 0);
    // Presence as bytes: four steps' entering and leaving presences compare as two words.
    let mut present: Vec<u8> = Vec::with_capacity(n + window);
    present.extend(values.iter().map(|v| u8::from(!v.is_nan())));
    present.resize(n + window, 0);
    // 1 / (n(n − 1) units²) for every count a window can hold, 0 below two values (whose
    // numerator is 0 anyway): a multiplication per window, not a division or a branch.
    let per_pair: Vec<f64> = (0..=window)
        .map(|n| {
            if n < 2 {
                0.0
            } else {
                1.0 / (n as f64 * (n as f64 - 1.0) * units * units)
            }
        })
        .collect();
    // Indexed by a count clamped to the window: no bounds check.
    let per_pair = &per_pair[..=window];
    let per_pair_of = |count: i64| per_pair[usize::try_from(count).unwrap_or(0).min(window)];
    // A window's variance (its SD squared, mg/dL²) from its count, sum and sum of
    // squares, and `per_pair_of(count)`.
    let variance = |count: i64, sum: i64, squares: i64, per_pair: f64| {
        let numerator = count
            .wrapping_mul(squares)
            .wrapping_sub(sum.wrapping_mul(sum));
        numerator as f64 * per_pair
    };
    let first = window.min(n);
    let mut count: i64 = present[..first].iter().map(|&p| i64::from(p)).sum();
    let sum = scaled[..first]
        .iter()
        .fold(0_i64, |total, &u| total.wrapping_add(u));
    let squares = scaled[..first]
        .iter()
        .fold(0_i64, |total, &u| total.wrapping_add(u.wrapping_mul(u)));
    if n == 0 {
        return (0.0, 0);
    }
    // The window's sum and sum of squares, slid along with its count.
    let mut sums = (sum, squares);
    let first_sd = variance(count, sum, squares, per_pair_of(count)).sqrt();
    let mut windows = usize::from(count >= 2);
    // Window `start` gains the value at `start + window − 1` and loses `start − 1`:
    // each step slides the sums, giving them back.
    let slide_sums = |(sum, squares): &mut (i64, i64), unit_in: i64, unit_out: i64| {
        *sum = sum.wrapping_add(unit_in.wrapping_sub(unit_out));
        *squares = squares.wrapping_add(
            unit_in
                .wrapping_add(unit_out)
                .wrapping_mul(unit_in.wrapping_sub(unit_out)),
        );
        (*sum, *squares)
    };
    // A step that slides the count too (a missing value may enter or leave), counting
    // the window when it holds two values; gives the window's variance.
    let counted_step = |sums: &mut (i64, i64),
                        count: &mut i64,
                        windows: &mut usize,
                        (unit_in, unit_out): (i64, i64),
                        (present_in, present_out): (u8, u8)| {
        *count += i64::from(present_in) - i64::from(present_out);
        *windows += usize::from(*count >= 2);
        let (sum, squares) = slide_sums(sums, unit_in, unit_out);
        variance(*count, sum, squares, per_pair_of(*count))
    };
    let steps = n - 1;
    let (units_in, units_out) = (&scaled[window..][..steps], &scaled[..steps]);
    let (present_in, present_out) = (&present[window..][..steps], &present[..steps]);
    // Four windows at a time: their square roots on one packed instruction, summed in
    // four lanes (window `1 + k` of the steps to lane `k mod 4`). One at a time, the
    // square roots bounded the loop while the sliding sums left that unit idle. Where
    // no missing value enters or leaves over the four steps (the words compare equal),
    // the count and its factor stay as they are and are not slid.
    let (units_in4, units_in_rest) = fours(units_in);
    let (units_out4, units_out_rest) = fours(units_out);
    let (present_in4, present_in_rest) = fours(present_in);
    let (present_out4, present_out_rest) = fours(present_out);
    let mut lanes = f64x4::ZERO;
    for (((unit_in, unit_out), present_in), present_out) in
        units_in4.zip(units_out4).zip(present_in4).zip(present_out4)
    {
        let four: [f64; 4] = if present_in == present_out {
            let per_pair = per_pair_of(count);
            windows += 4 * usize::from(count >= 2);
            std::array::from_fn(|k| {
                let (sum, squares) = slide_sums(&mut sums, unit_in[k], unit_out[k]);
                variance(count, sum, squares, per_pair)
            })
        } else {
            std::array::from_fn(|k| {
                counted_step(
                    &mut sums,
                    &mut count,
                    &mut windows,
                    (unit_in[k], unit_out[k]),
                    (present_in[k], present_out[k]),
                )
            })
        };
        lanes += f64x4::from(four).sqrt();
    }
    let [a, b, c, d] = lanes.to_array();
    let mut total = first_sd + ((a + b) + (c + d));
    for (((&unit_in, &unit_out), &present_in), &present_out) in units_in_rest
        .iter()
        .zip(units_out_rest)
        .zip(present_in_rest)
        .zip(present_out_rest)
    {
        total += counted_step(
            &mut sums,
            &mut count,
            &mut windows,
            (unit_in, unit_out),
            (present_in, present_out),
        )
        .sqrt();
    }
    (total, windows)
}

/// `slice` as arrays of four, in order, and the elements left over (`as_chunks`
/// without its Rust 1.88).
fn fours<T: Copy + Default>(slice: &[T]) -> (impl Iterator<Item = [T; 4]> + '_, &[T]) {
    let chunks = slice.chunks_exact(4);
    let rest = chunks.remainder();
    (
        chunks.map(|four| four.try_into().unwrap_or([T::default(); 4])),
        rest,
    )
}

/// [`sliding_window_sds`] with [`WindowSums`]' 128-bit squares at 2³² units per mg/dL,
/// for any range of values.
fn wide_window_sds(values: &[f64], window: usize) -> (f64, usize) {
    let mut sums = WindowSums::default();
    // The window's values' terms, in a ring: each value is converted once, on entering.
    let mut held: Vec<WindowTerms> = (0..window)
        .map(|k| {
            values
                .get(k)
                .map_or_else(WindowTerms::default, |&v| WindowTerms::of(v))
        })
        .collect();
    held.iter().for_each(|&terms| sums.add_terms(terms));
    // 1 / (n(n − 1)) for every count a window can hold: a multiplication per window
    // where a division would be the slowest step.
    let per_pair: Vec<f64> = (0..=window)
        .map(|n| 1.0 / (n as f64 * (n as f64 - 1.0)))
        .collect();
    let (mut total, mut windows) = (0.0, 0_usize);
    let mut oldest = 0_usize;
    for start in 0..values.len() {
        if start > 0 {
            // The value leaving is the oldest held; past the end nothing enters.
            sums.remove_terms(held[oldest]);
            let entering = values
                .get(start + window - 1)
                .map_or_else(WindowTerms::default, |&v| WindowTerms::of(v));
            sums.add_terms(entering);
            held[oldest] = entering;
            oldest = if oldest + 1 == window { 0 } else { oldest + 1 };
        }
        let present = sums.present() as usize;
        if present >= 2 {
            total += (sums.scaled_variance() * per_pair[present.min(window)]).sqrt();
            windows += 1;
        }
    }
    (total, windows)
}

/// Mean and SD of the daily coefficients of variation, % (Umpierrez & Kovatchev 2018,
/// Am J Med Sci 356:350, doi:10.1016/j.amjms.2018.07.005; iglu `cv_measures`).
#[must_use]
pub fn cv_measures(grid: &DayByDayGrid) -> (f64, f64) {
    let daily_cv: Vec<f64> = grid
        .row_statistics()
        .iter()
        .map(|row| row.sd * 100.0 / row.mean)
        .collect();
    (stats::mean(&daily_cv), stats::sd(&daily_cv))
}

/// Rate of change at each grid point, mg/dL per minute: `(g[i] − g[i − k]) / timelag`
/// with `k = timelag / step`; NaN for the first `k` points and where either value is
/// missing. Clarke & Kovatchev (2009) Diabetes Technol Ther 11 Suppl 1:S45,
/// doi:10.1089/dia.2008.0138; iglu `roc` (timelag 15 min on a 5-min grid).
#[must_use]
pub fn rate_of_change(grid: &DayByDayGrid, timelag_min: u32) -> Vec<f64> {
    rates_of_change(grid, timelag_min).collect()
}

/// [`rate_of_change`] as the values come, without storing them.
fn rates_of_change(
    grid: &DayByDayGrid,
    timelag_min: u32,
) -> impl Iterator<Item = f64> + Clone + '_ {
    let (lag, timelag) = rate_lag(grid, timelag_min);
    let values = grid.values();
    let leading = values.len().min(lag);
    std::iter::repeat_n(f64::NAN, leading)
        .chain(lagged_differences(values, lag).map(move |difference| difference / timelag))
}

/// The lag of the rate of change in grid steps, and its time lag in minutes (at least
/// one step).
fn rate_lag(grid: &DayByDayGrid, timelag_min: u32) -> (usize, f64) {
    let step = grid.step_min();
    let timelag = timelag_min.max(step);
    ((timelag / step) as usize, f64::from(timelag))
}

/// SD of the rate of change, mg/dL per minute (iglu `sd_roc`): the SD of the changes
/// over the time lag ([`stats::moments_present_of_steps`]) divided by the lag in
/// minutes, which is the SD of the rates without a division per point (the same up to
/// the last bits of rounding).
#[must_use]
pub fn sd_rate_of_change(grid: &DayByDayGrid, timelag_min: u32) -> f64 {
    let (lag, timelag) = rate_lag(grid, timelag_min);
    sd_of_moments(stats::moments_present_of_steps(grid.values(), lag)) / timelag
}

/// Hourly area under the curve, mg/dL (AUC per hour, i.e. mg/dL·h ÷ h), by the
/// trapezoid rule on the grid, as iglu 4.3.0 `auc` computes it: the grid is labelled
/// with its rows' dates recycled (`rep(dates, 1440/dt0)`), trapezoids join successive
/// points carrying the same label, and their total is divided by the hours they cover.
/// Danne et al. (2017) Diabetes Care 40:1631 names AUC; the recycling is iglu's and
/// is kept for comparability (see docs/glucometrics.md).
#[must_use]
pub fn hourly_auc_iglu(grid: &DayByDayGrid) -> f64 {
    let days = grid.days();
    let hours_per_step = f64::from(grid.step_min()) / 60.0;
    let values = grid.values();
    let (mut area, mut trapezoids) = (0.0, 0_usize);
    for label in 0..days {
        let members: Vec<f64> = values.iter().skip(label).step_by(days).copied().collect();
        for pair in members.windows(2) {
            let trapezoid = hours_per_step * (pair[0] + pair[1]) / 2.0;
            if !trapezoid.is_nan() {
                area += trapezoid;
                trapezoids += 1;
            }
        }
    }
    area / (hours_per_step * trapezoids as f64)
}

/// Average Daily Risk Range: the mean over local calendar days of each day's risk range
/// ([`daily_risk_range`]). Kovatchev et al. (2006) Diabetes Care 29:2433; iglu `adrr`.
#[must_use]
pub fn adrr(series: &GlucoseSeries) -> f64 {
    let values = series.values();
    adrr_of_extremes(
        series
            .local_days()
            .map(|(_, readings)| stats::extremes(&values[readings])),
    )
}

/// [`adrr`] from each local day's lowest and highest reading (mg/dL), which the daily
/// profiles already hold.
#[must_use]
pub fn adrr_of_extremes(days: impl Iterator<Item = (f64, f64)>) -> f64 {
    let ranges: Vec<f64> = days
        .map(|(lowest, highest)| daily_risk_range(lowest, highest))
        .collect();
    stats::mean(&ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R's `sd` of each window's present values, summed, with the windows counted: the
    /// definition the sliding sums implement.
    fn two_pass_window_sds(values: &[f64], window: usize) -> (f64, usize) {
        (0..values.len())
            .map(|start| stats::sd(&values[start..(start + window).min(values.len())]))
            .filter(|sd| !sd.is_nan())
            .fold((0.0, 0), |(total, windows), sd| (total + sd, windows + 1))
    }

    #[test]
    fn sd_of_rates_is_the_sd_of_the_rate_of_change() {
        use crate::grid::GridConfig;
        use crate::synthetic::SyntheticTrace;
        for jitter_s in [0, 20] {
            let readings = SyntheticTrace {
                jitter_s,
                ..SyntheticTrace::default()
            }
            .generate();
            let series =
                GlucoseSeries::new(&readings, chrono_tz::Europe::Rome, &Default::default())
                    .unwrap();
            let grid = DayByDayGrid::new(&series, &GridConfig::default()).unwrap();
            for timelag in [5, 15, 60] {
                let expected = stats::sd(&rate_of_change(&grid, timelag));
                let sd = sd_rate_of_change(&grid, timelag);
                assert!((sd - expected).abs() <= 1e-12 * expected, "{sd} {expected}");
            }
        }
    }

    #[test]
    fn gvp_and_mag_from_one_pass_equal_their_own_passes() {
        let grid = crate::synthetic::default_grid(&crate::grid::GridConfig::default());
        let values = grid.values();
        assert!(
            values.iter().any(|v| v.is_nan()),
            "the grid has gaps to skip"
        );
        let step = f64::from(grid.step_min());
        let (count, length) =
            stats::sum_present_of_steps(values, 1, |d| (step * step + d * d).sqrt());
        let (absolute_count, absolute) = stats::sum_present_of_steps(values, 1, f64::abs);
        assert_eq!(count, absolute_count);
        let gvp = (length / (count as f64 * step) - 1.0) * 100.0;
        let mag = absolute / (count as f64 * step / 60.0);
        let (fused_gvp, fused_mag) = gvp_and_mag(&grid);
        assert_eq!(fused_gvp.to_bits(), gvp.to_bits());
        assert_eq!(fused_mag.to_bits(), mag.to_bits());
    }

    #[test]
    fn modd_and_conga_from_one_pass_equal_their_own_passes() {
        // 5 and 15 minutes divide an hour (one pass); 7 does not (CONGA's day is 24 × 9
        // points, MODD's 205: two passes).
        for step_min in [5, 15, 7] {
            let grid = crate::synthetic::default_grid(&crate::grid::GridConfig {
                step_min: Some(step_min),
                ..crate::grid::GridConfig::default()
            });
            assert!(grid.values().iter().any(|v| v.is_nan()), "gaps to skip");
            let (modd_24h, conga_24h) = modd_and_conga_24h(&grid);
            assert_eq!(modd_24h.to_bits(), modd(&grid, 1).to_bits(), "{step_min}");
            assert_eq!(
                conga_24h.to_bits(),
                conga(&grid, 24).to_bits(),
                "{step_min}"
            );
            assert!(modd_24h > 0.0 && conga_24h > 0.0);
        }
    }

    #[test]
    fn narrow_resolution_follows_the_range_and_the_window() {
        // 400 mg/dL in windows of 12: (12/2) × 400 × 2¹⁹ < 2³¹ ≤ (12/2) × 400 × 2²⁰.
        assert_eq!(narrow_units_per_value(400.0, 12), Some(524_288.0));
        // Nothing to spread over: the finest.
        assert_eq!(
            narrow_units_per_value(0.0, 12),
            Some(stats::FIXED_POINT_UNITS)
        );
        assert_eq!(
            narrow_units_per_value(f64::NEG_INFINITY, 60),
            Some(stats::FIXED_POINT_UNITS)
        );
        // Hourly windows of a one-minute grid: 1,023 mg/dL still fit at 2¹⁶, 1,100 do not.
        assert_eq!(narrow_units_per_value(1023.0, 60), Some(65_536.0));
        assert_eq!(narrow_units_per_value(1100.0, 60), None);
    }

    #[test]
    fn equal_values_have_no_spread_on_either_path() {
        let values = [187.3; 40];
        assert_eq!(
            narrow_window_sds(&values, 12, 187.3, stats::FIXED_POINT_UNITS),
            (0.0, 40 - 1)
        );
        assert_eq!(wide_window_sds(&values, 12), (0.0, 40 - 1));
    }

    #[test]
    fn widest_spread_at_the_coarsest_resolution_does_not_overflow() {
        // Windows half at the lowest and half at the highest value: the largest
        // `n Σu² − (Σu)²` the range allows, at the limit of its resolution.
        let values: Vec<f64> = (0..180)
            .map(|i| if i % 2 == 0 { 20.0 } else { 1043.0 })
            .collect();
        let (total, windows) = sliding_window_sds(&values, stats::extremes(&values), 60);
        let (expected, expected_windows) = two_pass_window_sds(&values, 60);
        assert_eq!(windows, expected_windows);
        assert!(
            (total - expected).abs() <= 1e-9 * expected,
            "{total} {expected}"
        );
    }

    proptest::proptest! {
        /// Both paths give every window's SD as R computes it, to each path's
        /// rounding bound (`√(n/(n − 1))/(2 units)` mg/dL per window), and count the
        /// same windows: values with fractions, missing runs, windows past the end.
        #[test]
        fn window_sds_match_two_pass_sds(
            values in proptest::collection::vec(
                proptest::option::weighted(0.85, 39.0_f64..401.0), 0..200),
            window in 1_usize..30,
        ) {
            let values: Vec<f64> = values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect();
            let (expected, expected_windows) = two_pass_window_sds(&values, window);
            let (low, high) = stats::extremes(&values);
            // The narrow path rounds to 1/units, the wide one truncates to 2⁻³².
            let bound = |units: f64| expected_windows as f64 * 2.0_f64.sqrt() / (2.0 * units);
            let units = narrow_units_per_value(high - low, window).unwrap_or(stats::FIXED_POINT_UNITS);
            let (narrow, narrow_windows) = sliding_window_sds(&values, (low, high), window);
            let (wide, wide_windows) = wide_window_sds(&values, window);
            proptest::prop_assert_eq!(narrow_windows, expected_windows);
            proptest::prop_assert_eq!(wide_windows, expected_windows);
            let rounding = 1e-12 * expected.max(1.0);
            proptest::prop_assert!((narrow - expected).abs() <= bound(units) + rounding,
                "narrow {} expected {} units {}", narrow, expected, units);
            proptest::prop_assert!((wide - expected).abs() <= bound(stats::FIXED_POINT_UNITS) + rounding,
                "wide {} expected {}", wide, expected);
        }
    }
}
