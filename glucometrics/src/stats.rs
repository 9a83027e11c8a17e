//! Descriptive statistics with R's conventions (the reference implementation iglu
//! is written in R): sample SD with n − 1, quantiles of Hyndman–Fan type 7, MAD
//! scaled by 1.4826. Functions skip NaN (R's `na.rm = TRUE`) unless they say otherwise.

use std::ops::Range;

use wide::f64x4;

/// Arithmetic mean of the non-NaN values, corrected in a second pass as R's
/// `mean.default` is so that long series agree with R to the last bits; NaN when there
/// are none. Read from the slice ([`sum_present_of`]).
#[must_use]
pub fn mean(values: &[f64]) -> f64 {
    let (count, sum) = sum_present_of(values, |v| v);
    if count == 0 {
        return f64::NAN;
    }
    let first = sum / count as f64;
    let (_, correction) = sum_present_of(values, |v| v - first);
    first + correction / count as f64
}

/// [`mean`] of values that are computed, not stored (gathered, then as [`mean`]).
#[must_use]
pub fn mean_of_iter(values: impl Iterator<Item = f64>) -> f64 {
    mean(&values.collect::<Vec<f64>>())
}

/// Number and sum of the non-NaN `values`. Four interleaved partial sums, added at the
/// end: a single running sum waits for each addition to finish before the next (about
/// four cycles a value), which made these sums the largest cost of the grid metrics.
/// The grouping changes the rounding by a few units in the last place, not more.
#[must_use]
pub fn sum_present(values: impl Iterator<Item = f64>) -> (usize, f64) {
    let lanes = PresentLanes::of_iter(values);
    (lanes.count(), lanes.sum())
}

/// The four lanes of [`sum_present`], [`moments_present`] and their slice forms: one
/// definition of how values are added (value `k` of a sequence to lane `k mod 4`) and
/// how the lanes are combined, so that every form gives the same result bit for bit.
/// The lanes are one packed vector per quantity ([`wide::f64x4`]), and a missing value
/// is masked, not branched on: four values are added, squared and counted by a handful
/// of packed instructions. Counts are kept as floating-point numbers (whole numbers,
/// exact below 2⁵³) for the same reason. A form that only needs the sums leaves the
/// squares (and the companions) unused, and the compiler drops them.
#[derive(Default)]
struct PresentLanes {
    sums: f64x4,
    squares: f64x4,
    present: f64x4,
    /// Sums of a second quantity computed with each value, where the value is present
    /// ([`sum_present_of_steps_with`]): two sums from one pass.
    companions: f64x4,
}

impl PresentLanes {
    /// Adds four values, one to each lane: a NaN adds +0 and is not counted. (A lane's
    /// sum is never −0, since it starts at +0, so adding +0 changes nothing.)
    #[inline]
    fn add(&mut self, four: [f64; 4]) {
        self.add_with(four, [0.0; 4]);
    }

    /// [`Self::add`], and adds each present value's companion to the companions' lanes.
    #[inline]
    fn add_with(&mut self, four: [f64; 4], companions: [f64; 4]) {
        let values = f64x4::new(four);
        let present = values.simd_eq(values);
        let values = values & present;
        self.sums += values;
        self.squares += values * values;
        self.present += f64x4::ONE & present;
        self.companions += f64x4::new(companions) & present;
    }

    /// The lanes of the values an iterator yields (the last group padded with NaN).
    fn of_iter(mut values: impl Iterator<Item = f64>) -> Self {
        let mut lanes = Self::default();
        loop {
            let mut four = [f64::NAN; 4];
            let mut taken = 0;
            for (slot, value) in four.iter_mut().zip(&mut values) {
                *slot = value;
                taken += 1;
            }
            if taken > 0 {
                lanes.add(four);
            }
            if taken < 4 {
                return lanes;
            }
        }
    }

    /// The lanes of `transform(a[i], b[i])` over two slices of equal length, read four
    /// at a time (the last group padded with NaN).
    #[inline]
    fn of_pairs(a: &[f64], b: &[f64], transform: impl Fn(f64, f64) -> f64) -> Self {
        Self::of_pairs_with(a, b, |x, y| (transform(x, y), 0.0))
    }

    /// [`Self::of_pairs`] where `transform` also gives each value's companion.
    #[inline]
    fn of_pairs_with(a: &[f64], b: &[f64], transform: impl Fn(f64, f64) -> (f64, f64)) -> Self {
        let mut lanes = Self::default();
        let (mut a_fours, mut b_fours) = (a.chunks_exact(4), b.chunks_exact(4));
        for (a_four, b_four) in (&mut a_fours).zip(&mut b_fours) {
            let pairs: [(f64, f64); 4] =
                std::array::from_fn(|lane| transform(a_four[lane], b_four[lane]));
            lanes.add_with(
                pairs.map(|(value, _)| value),
                pairs.map(|(_, companion)| companion),
            );
        }
        let rest = a_fours.remainder().iter().zip(b_fours.remainder());
        if rest.len() > 0 {
            let (mut four, mut companions) = ([f64::NAN; 4], [0.0; 4]);
            for ((slot, companion), (&x, &y)) in four.iter_mut().zip(&mut companions).zip(rest) {
                (*slot, *companion) = transform(x, y);
            }
            lanes.add_with(four, companions);
        }
        lanes
    }

    /// Number of values added.
    #[inline]
    fn count(&self) -> usize {
        let [a, b, c, d] = self.present.to_array();
        ((a + b) + (c + d)) as usize
    }

    /// Sum of the values added.
    #[inline]
    fn sum(&self) -> f64 {
        let [a, b, c, d] = self.sums.to_array();
        (a + b) + (c + d)
    }

    /// Sum of the companions of the values added.
    #[inline]
    fn companion_sum(&self) -> f64 {
        let [a, b, c, d] = self.companions.to_array();
        (a + b) + (c + d)
    }

    /// Sum of the squares of the values added.
    #[inline]
    fn sum_of_squares(&self) -> f64 {
        let [a, b, c, d] = self.squares.to_array();
        (a + b) + (c + d)
    }
}

/// [`sum_present`] of `transform(a[i], b[i])` over two slices of equal length, in the
/// same lanes and so with the same result, read four at a time: the lanes then run in
/// packed instructions (GVP's square roots two or four at a time instead of one).
#[must_use]
pub fn sum_present_of_pairs(
    a: &[f64],
    b: &[f64],
    transform: impl Fn(f64, f64) -> f64,
) -> (usize, f64) {
    let lanes = PresentLanes::of_pairs(a, b, transform);
    (lanes.count(), lanes.sum())
}

/// [`sum_present`] of `transform(v)` over a slice ([`sum_present_of_pairs`]).
#[must_use]
pub fn sum_present_of(values: &[f64], transform: impl Fn(f64) -> f64) -> (usize, f64) {
    sum_present_of_pairs(values, values, |v, _| transform(v))
}

/// [`sum_present`] of `transform(values[i + lag] − values[i])`, the changes over `lag`
/// steps ([`sum_present_of_pairs`]); nothing when the lag reaches past the values.
#[must_use]
pub fn sum_present_of_steps(
    values: &[f64],
    lag: usize,
    transform: impl Fn(f64) -> f64,
) -> (usize, f64) {
    let (later, earlier) = lagged_pairs(values, lag);
    sum_present_of_pairs(later, earlier, |l, e| transform(l - e))
}

/// [`sum_present_of_steps`] with a second sum from the same pass: `transform` gives,
/// for each change, a value (summed and counted where it is not NaN) and a companion
/// (summed where the value is counted). Number, sum of values, sum of companions; the
/// values' sum is bit for bit [`sum_present_of_steps`]'s.
#[must_use]
pub fn sum_present_of_steps_with(
    values: &[f64],
    lag: usize,
    transform: impl Fn(f64) -> (f64, f64),
) -> (usize, f64, f64) {
    let (later, earlier) = lagged_pairs(values, lag);
    let lanes = PresentLanes::of_pairs_with(later, earlier, |l, e| transform(l - e));
    (lanes.count(), lanes.sum(), lanes.companion_sum())
}

/// [`moments_present_of_steps`] with a companion sum from the same pass
/// ([`sum_present_of_steps_with`]): number, sum and sum of squares of the changes
/// (bit for bit [`moments_present_of_steps`]'s), and the sum of `companion(change)`
/// over the changes counted.
#[must_use]
pub fn moments_present_of_steps_with(
    values: &[f64],
    lag: usize,
    companion: impl Fn(f64) -> f64,
) -> (usize, f64, f64, f64) {
    let (later, earlier) = lagged_pairs(values, lag);
    let lanes = PresentLanes::of_pairs_with(later, earlier, |l, e| {
        let change = l - e;
        (change, companion(change))
    });
    (
        lanes.count(),
        lanes.sum(),
        lanes.sum_of_squares(),
        lanes.companion_sum(),
    )
}

/// `(v, 1.0)` for a number, `(0.0, 0.0)` for NaN: a missing value that adds nothing
/// and counts nothing. Bit masks, not a comparison and a branch, so that loops over
/// columns of values run several to an instruction.
#[inline]
#[must_use]
pub fn or_zero(v: f64) -> (f64, f64) {
    let mask = u64::from(!v.is_nan()).wrapping_neg();
    (
        f64::from_bits(v.to_bits() & mask),
        f64::from_bits(1.0_f64.to_bits() & mask),
    )
}

/// `numerator(item) / divisor` for each of `items`, in order. The divisions run four to
/// a packed vector, with the quotients of one division each (IEEE division rounds each
/// lane alike): one division per value otherwise keeps the divider busy for several
/// cycles a value, the longest step of loops that convert every reading's time.
#[must_use]
pub fn quotients<T: Copy>(items: &[T], numerator: impl Fn(T) -> f64, divisor: f64) -> Vec<f64> {
    let divisors = f64x4::splat(divisor);
    let mut quotients = Vec::with_capacity(items.len());
    let mut fours = items.chunks_exact(4);
    for four in &mut fours {
        let numerators = f64x4::new([
            numerator(four[0]),
            numerator(four[1]),
            numerator(four[2]),
            numerator(four[3]),
        ]);
        quotients.extend((numerators / divisors).to_array());
    }
    quotients.extend(
        fours
            .remainder()
            .iter()
            .map(|&item| numerator(item) / divisor),
    );
    quotients
}

/// The values `lag` steps later and those they follow, of equal length; empty when
/// the lag is 0 or reaches past the values.
pub(crate) fn lagged_pairs(values: &[f64], lag: usize) -> (&[f64], &[f64]) {
    let later = values.get(lag..).filter(|_| lag > 0).unwrap_or_default();
    (later, &values[..later.len()])
}

/// Number, sum and sum of squares of the non-NaN `values`, in one pass with four
/// interleaved partial sums of each (see [`sum_present`]).
#[must_use]
pub fn moments_present(values: impl Iterator<Item = f64>) -> (usize, f64, f64) {
    let lanes = PresentLanes::of_iter(values);
    (lanes.count(), lanes.sum(), lanes.sum_of_squares())
}

/// [`moments_present`] of `transform(a[i], b[i])` over two slices of equal length, in
/// the same lanes, read four at a time (see [`sum_present_of_pairs`]).
#[must_use]
pub fn moments_present_of_pairs(
    a: &[f64],
    b: &[f64],
    transform: impl Fn(f64, f64) -> f64,
) -> (usize, f64, f64) {
    let lanes = PresentLanes::of_pairs(a, b, transform);
    (lanes.count(), lanes.sum(), lanes.sum_of_squares())
}

/// [`moments_present`] of the changes over `lag` steps, `values[i + lag] − values[i]`
/// ([`moments_present_of_pairs`]).
#[must_use]
pub fn moments_present_of_steps(values: &[f64], lag: usize) -> (usize, f64, f64) {
    let (later, earlier) = lagged_pairs(values, lag);
    moments_present_of_pairs(later, earlier, |l, e| l - e)
}

/// [`mean`] and [`sd`] of the non-NaN `values` in two passes instead of four: the
/// second pass sums the deviations from the first-pass mean and their squares, giving
/// R's corrected mean and, with the same correction, the variance about it
/// (`(Σd² − (Σd)²/n) / (n − 1)`, exact algebra; the correction is tiny). NaN mean
/// without values, NaN SD with fewer than two.
#[must_use]
pub fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let (count, sum) = sum_present_of(values, |v| v);
    if count == 0 {
        return (f64::NAN, f64::NAN);
    }
    let n = count as f64;
    let first = sum / n;
    // Deviations from the first-pass mean and their squares, in one pass.
    let (_, deviations, squares) = moments_present_of_pairs(values, values, |v, _| v - first);
    let mean = first + deviations / n;
    let sd = if count < 2 {
        f64::NAN
    } else {
        ((squares - deviations * deviations / n) / (n - 1.0)).sqrt()
    };
    (mean, sd)
}

/// `value` as a whole number, and whether it is one from 0 to `max` (the number is
/// meaningless when not): glucose as sensors report it, which tables and histograms can
/// count ([`is_whole_number`]). A pair rather than an `Option` so that loops testing
/// every value keep no branch.
#[must_use]
pub(crate) fn whole_number(value: f64, max: u16) -> (u16, bool) {
    (value as u16, is_whole_number(value, max))
}

/// `value`, from 0 to 2⁵², rounded to the nearest whole number (ties to even): adding
/// 2⁵² leaves no bits below the units, and the sum's bits less 2⁵²'s are the integer.
/// Floating-point and integer additions only, so that a loop converting many values
/// runs on packed instructions (a cast checks for NaN and overflow on each).
#[must_use]
pub(crate) fn whole_below_2_52(value: f64) -> i64 {
    (value + WHOLE_ROUNDING)
        .to_bits()
        .wrapping_sub(WHOLE_ROUNDING.to_bits()) as i64
}

/// 2⁵²: from it up to 2⁵³ the doubles are the whole numbers, so adding it to a value
/// from 0 to 2⁵² rounds that value to a whole number.
const WHOLE_ROUNDING: f64 = 4_503_599_627_370_496.0;

/// Whether `value` is a whole number from 0 to `max`. Floating-point only: adding and
/// taking away 2⁵² rounds a value in range to a whole number, which equals it only if it
/// is one (unlike `f64::fract`, not a library call on baseline x86-64, and unlike a
/// round trip through an integer, it runs on packed instructions when tested for many
/// values). NaN fails the first comparison.
#[must_use]
fn is_whole_number(value: f64, max: u16) -> bool {
    #[expect(clippy::float_cmp, reason = "exact test for a whole number")]
    let whole = (value + WHOLE_ROUNDING) - WHOLE_ROUNDING == value;
    (value >= 0.0) & (value <= f64::from(max)) & whole
}

/// Largest whole mg/dL value counted in tables (the value distribution, the AGP's
/// histogram): one below a power of two, so that a table of `WHOLE_MG_DL_MAX + 1`
/// counts is indexed without a bounds check; above any glucose a sensor reports.
pub const WHOLE_MG_DL_MAX: u16 = 1023;

/// `values` as whole numbers from 0 to [`WHOLE_MG_DL_MAX`] when every one is (as
/// sensors report glucose); `None` otherwise. Tables and histograms then count the
/// `u16`s without testing them again. The values are tested eight at a time without a
/// branch between them, so that the test runs on packed instructions.
#[must_use]
pub fn whole_values(values: &[f64]) -> Option<Vec<u16>> {
    let whole = |all: bool, &v: &f64| all & is_whole_number(v, WHOLE_MG_DL_MAX);
    let mut eights = values.chunks_exact(8);
    let all = eights.all(|eight| eight.iter().fold(true, whole))
        && eights.remainder().iter().fold(true, whole);
    // Whole numbers from 0 to 1023 convert without a saturating cast.
    all.then(|| values.iter().map(|&v| whole_below_2_52(v) as u16).collect())
}

/// Which values of a slice meet a condition, one bit each (value `i` at bit `i % 64`
/// of word `i / 64`). Values cross glucose thresholds rarely: the runs in and out of a
/// condition are then found 64 values at a time (a word's trailing zeros), and the
/// values are read once to set the bits, four per packed comparison, not once per
/// search. The bits past the last value are clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flags {
    words: Vec<u64>,
    len: usize,
}

impl Flags {
    /// The flags of `values` under `condition`.
    pub(crate) fn meeting(values: &[f64], condition: Condition) -> Self {
        match condition {
            Condition::Missing => Self::missing(values),
            Condition::Below(threshold) => Self::below(values, threshold),
            Condition::Above(threshold) => Self::above(values, threshold),
        }
    }

    /// The values below `threshold` (a missing value is not).
    pub(crate) fn below(values: &[f64], threshold: f64) -> Self {
        let threshold = f64x4::splat(threshold);
        Self::of(values, |four| four.simd_lt(threshold))
    }

    /// The values above `threshold` (a missing value is not).
    pub(crate) fn above(values: &[f64], threshold: f64) -> Self {
        let threshold = f64x4::splat(threshold);
        Self::of(values, |four| four.simd_gt(threshold))
    }

    /// The missing values (NaN).
    pub(crate) fn missing(values: &[f64]) -> Self {
        Self::of(values, |four| four.simd_ne(four))
    }

    /// The flags of `values` under `test`, a packed comparison giving a lane mask. Whole
    /// words are set from fixed blocks of 64 values (a loop the compiler unrolls); the
    /// last block is padded with zeros and its extra bits cleared.
    fn of(values: &[f64], test: impl Fn(f64x4) -> f64x4) -> Self {
        let word_of = |block: &[f64; 64]| {
            let mut word = 0_u64;
            for (quad, four) in block.chunks_exact(4).enumerate() {
                let four = f64x4::new([four[0], four[1], four[2], four[3]]);
                word |= u64::from(test(four).to_bitmask()) << (4 * quad);
            }
            word
        };
        let blocks = values.chunks_exact(64);
        let rest = blocks.remainder();
        let mut words: Vec<u64> = Vec::with_capacity(values.len().div_ceil(64));
        words.extend(blocks.map(|block| word_of(block.try_into().unwrap_or(&[0.0; 64]))));
        if !rest.is_empty() {
            let mut last = [0.0; 64];
            last[..rest.len()].copy_from_slice(rest);
            words.push(word_of(&last) & ((1_u64 << rest.len()) - 1));
        }
        Self {
            words,
            len: values.len(),
        }
    }

    /// Whether value `index` meets the condition (false past the end).
    pub(crate) fn get(&self, index: usize) -> bool {
        self.words
            .get(index / 64)
            .is_some_and(|word| word >> (index % 64) & 1 == 1)
    }

    /// The first index at or after `from` whose flag is not `state`, or the number of
    /// values.
    pub(crate) fn next_change(&self, from: usize, state: bool) -> usize {
        if from >= self.len {
            return self.len;
        }
        let flip = if state { u64::MAX } else { 0 };
        let mut word_index = from / 64;
        let mut differing = (self.words[word_index] ^ flip) & (u64::MAX << (from % 64));
        while differing == 0 {
            word_index += 1;
            match self.words.get(word_index) {
                Some(&word) => differing = word ^ flip,
                None => return self.len,
            }
        }
        // Past the last value the bits are clear: a search for a set bit ends with the
        // words, a search for a clear one at the first bit past the last value.
        word_index * 64 + differing.trailing_zeros() as usize
    }

    /// How many values in `range` meet the condition.
    pub(crate) fn count_in(&self, range: Range<usize>) -> usize {
        let range = range.start.min(self.len)..range.end.min(self.len);
        if range.is_empty() {
            return 0;
        }
        let (first, last) = (range.start / 64, (range.end - 1) / 64);
        let below_end = u64::MAX >> (63 - (range.end - 1) % 64);
        let from_start = u64::MAX << (range.start % 64);
        if first == last {
            return (self.words[first] & from_start & below_end).count_ones() as usize;
        }
        let inner: u32 = self.words[first + 1..last]
            .iter()
            .map(|word| word.count_ones())
            .sum();
        ((self.words[first] & from_start).count_ones()
            + inner
            + (self.words[last] & below_end).count_ones()) as usize
    }

    /// The runs of equal flags within `within`, in order: (flag, index range).
    pub(crate) fn runs(
        &self,
        within: Range<usize>,
    ) -> impl Iterator<Item = (bool, Range<usize>)> + '_ {
        runs_of(self, within)
    }
}

/// A test of each value that [`Flags`] records: what events and segments look for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Condition {
    /// The value is missing (NaN).
    Missing,
    /// The value is below the threshold, mg/dL (a missing value is not).
    Below(f64),
    /// The value is above the threshold, mg/dL (a missing value is not).
    Above(f64),
}

/// The runs of equal flags of `flags` (owned, shared or borrowed) within `within`, in
/// order.
pub(crate) fn runs_of<F: std::borrow::Borrow<Flags>>(
    flags: F,
    within: Range<usize>,
) -> impl Iterator<Item = (bool, Range<usize>)> {
    let end = within.end.min(flags.borrow().len);
    let mut start = within.start;
    std::iter::from_fn(move || {
        if start >= end {
            return None;
        }
        let flags = flags.borrow();
        let state = flags.get(start);
        let run = start..flags.next_change(start + 1, state).min(end);
        start = run.end;
        Some((state, run))
    })
}

/// Lowest and highest of the non-NaN `values`; (+∞, −∞) when there is none. Eight
/// lanes without branches: `f64::min` keeps NaN semantics at a cost, and a running
/// extreme waits on the previous comparison (four cycles), so eight lanes, two packed
/// registers a side, keep two comparisons of each kind in flight.
#[must_use]
pub fn extremes(values: &[f64]) -> (f64, f64) {
    let mut lows = [f64::INFINITY; 8];
    let mut highs = [f64::NEG_INFINITY; 8];
    // A comparison with NaN is false: a missing value changes nothing.
    let mut take = |lane: usize, v: f64| {
        lows[lane] = if v < lows[lane] { v } else { lows[lane] };
        highs[lane] = if v > highs[lane] { v } else { highs[lane] };
    };
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &v) in chunk.iter().enumerate() {
            take(lane, v);
        }
    }
    for (lane, &v) in chunks.remainder().iter().enumerate() {
        take(lane, v);
    }
    let pick = |a: f64, b: f64, lower: bool| if (a < b) == lower { a } else { b };
    let lows: [f64; 4] = std::array::from_fn(|lane| pick(lows[lane], lows[lane + 4], true));
    let highs: [f64; 4] = std::array::from_fn(|lane| pick(highs[lane], highs[lane + 4], false));
    (
        pick(
            pick(lows[0], lows[1], true),
            pick(lows[2], lows[3], true),
            true,
        ),
        pick(
            pick(highs[0], highs[1], false),
            pick(highs[2], highs[3], false),
            false,
        ),
    )
}

/// Sample standard deviation (denominator n − 1) of the non-NaN values; NaN for fewer
/// than two. Two passes over the slice (mean, then squared deviations) as R's `var`,
/// without allocating; `statrs`' one-pass `std_dev` was measured slower here (see
/// docs/architecture.md, "Crates and why").
#[must_use]
pub fn sd(values: &[f64]) -> f64 {
    variance(values).sqrt()
}

/// [`sd`] of values that are computed, not stored (walked twice).
#[must_use]
pub fn sd_of_iter(values: impl Iterator<Item = f64>) -> f64 {
    variance_of_iter(values).sqrt()
}

/// Sample variance (n − 1) of the non-NaN values, two passes as R's `var`; NaN for
/// fewer than two. Read from the slice ([`sum_present_of`]).
#[must_use]
pub fn variance(values: &[f64]) -> f64 {
    let (count, sum) = sum_present_of(values, |v| v);
    if count < 2 {
        return f64::NAN;
    }
    let centre = sum / count as f64;
    let (_, squares) = sum_present_of(values, |v| (v - centre) * (v - centre));
    squares / (count - 1) as f64
}

/// [`variance`] of values that are computed, not stored (gathered, then as
/// [`variance`]).
#[must_use]
pub fn variance_of_iter(values: impl Iterator<Item = f64>) -> f64 {
    variance(&values.collect::<Vec<f64>>())
}

/// Where the type 7 quantile `p` of `count` ordered values lies (Hyndman & Fan 1996): the
/// 0-based rank of the lower order statistic and the fraction of the way to the next,
/// `h = (count − 1)·p`. The one definition behind every quantile of the engine.
#[must_use]
pub(crate) fn type7_position(count: usize, p: f64) -> (usize, f64) {
    // Conversions through i64, one instruction each on baseline x86-64 (an unsigned
    // one is several, and these sat on the AGP's chain of percentile searches): counts
    // of values in memory are below 2⁶³.
    let h = (count as i64 - 1) as f64 * p;
    // `h` is within [0, count − 1] for p in [0, 1]: truncation is the floor, without
    // `f64::floor`'s library call.
    let lower = (h as i64).max(0);
    (lower as usize, h - lower as f64)
}

/// Type 7 quantile ([`ValueDistribution::quantile`]) of NaN-free `values` by selection,
/// reordering them in place: linear time, for many distinct values of which one
/// quantile is wanted. NaN when empty or `p` is outside \[0, 1\].
#[must_use]
pub fn quantile_unsorted(values: &mut [f64], p: f64) -> f64 {
    quantile_unsorted_of(values, p, |v| v)
}

/// [`quantile_unsorted`] of `scale(v)` for every value, `scale` non-decreasing (a
/// change of unit): the order statistics are those of the values, so only the two
/// that the quantile lies between are scaled, not every value, and the result is the
/// same, bit for bit, as scaling first.
#[must_use]
pub fn quantile_unsorted_of(values: &mut [f64], p: f64, scale: impl Fn(f64) -> f64) -> f64 {
    quantile_by_selection(
        values,
        p,
        f64::total_cmp,
        |upper| upper.iter().copied().fold(f64::INFINITY, f64::min),
        scale,
    )
}

/// The type 7 quantile of `items` by selection: the order statistic at the lower rank
/// (`order` ranks them) and, when the quantile lies past it, the `lowest` of those
/// above, each turned into a value by `value` — the one mechanism behind
/// [`quantile_unsorted_of`] and [`quantile_of_positive_bits`]. NaN when empty or `p` is
/// outside \[0, 1\].
fn quantile_by_selection<T: Copy>(
    items: &mut [T],
    p: f64,
    order: impl FnMut(&T, &T) -> std::cmp::Ordering,
    lowest: impl FnOnce(&[T]) -> T,
    value: impl Fn(T) -> f64,
) -> f64 {
    if items.is_empty() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let (low_index, fraction) = type7_position(items.len(), p);
    let (_, low, upper) = items.select_nth_unstable_by(low_index, order);
    let low = value(*low);
    if fraction == 0.0 || upper.is_empty() {
        return low;
    }
    let high = value(lowest(upper));
    low + fraction * (high - low)
}

/// [`quantile_unsorted_of`] for values that are all positive or +0 and not NaN (the
/// intervals between increasing instants), given as their bit patterns
/// ([`f64::to_bits`]): for such values the patterns, as integers, order as the values
/// do, and integers select in a fraction of the time that [`f64::total_cmp`] takes. The
/// same result, bit for bit.
#[must_use]
pub(crate) fn quantile_of_positive_bits(
    bits: &mut [u64],
    p: f64,
    scale: impl Fn(f64) -> f64,
) -> f64 {
    quantile_by_selection(
        bits,
        p,
        u64::cmp,
        |upper| upper.iter().copied().fold(u64::MAX, u64::min),
        |bits| scale(f64::from_bits(bits)),
    )
}

/// Type 7 quantile ([`ValueDistribution::quantile`]) of values already sorted ascending
/// and free of NaN.
#[must_use]
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let (low_index, fraction) = type7_position(sorted.len(), p);
    let high_index = (low_index + 1).min(sorted.len() - 1);
    sorted[low_index] + fraction * (sorted[high_index] - sorted[low_index])
}

/// Units of [`WindowSums`] per unit of the values (2³²): mg/dL are kept to
/// 2.3 × 10⁻¹⁰ mg/dL, far below any sensor's resolution.
pub(crate) const FIXED_POINT_UNITS: f64 = 4_294_967_296.0;

/// `value` in the fixed-point units of [`WindowSums`] (2³² per unit of the value; NaN
/// converts to 0), for callers that keep their own sums of the same units.
#[must_use]
pub fn fixed_point_units(value: f64) -> i64 {
    (value * FIXED_POINT_UNITS) as i64
}

/// The count, sum and sum of squares of a sliding window's present values, in fixed
/// point. Integer additions and removals are exact, so windows holding the same values
/// have the same sums to the last unit whatever passed through before (MAGE's crossing
/// test relies on exact zero differences), no compensation or periodic recomputation
/// is needed, and each step is a few integer operations instead of a chain of
/// dependent floating-point ones (the moving averages of MAGE, the hourly SDs). Sums
/// wrap instead of overflowing; they stay exact for windows of up to a million values
/// below 1000 (mg/dL).
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowSums {
    total: i64,
    squares: i128,
    present: u32,
}

/// What one value contributes to a [`WindowSums`]: its fixed-point units, their square,
/// and 1 if present. Kept by a window that holds its values' terms until they leave, so
/// that each value is converted once.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowTerms {
    units: i64,
    square: i128,
    present: u32,
}

impl WindowTerms {
    /// The terms of `value` (NaN counts as missing: it converts to 0 and is not counted).
    #[must_use]
    pub fn of(value: f64) -> Self {
        let units = fixed_point_units(value);
        Self {
            units,
            square: i128::from(units).wrapping_mul(i128::from(units)),
            present: u32::from(!value.is_nan()),
        }
    }
}

impl WindowSums {
    /// Adds `value` (NaN counts as missing: it converts to 0 and is not counted).
    pub fn add(&mut self, value: f64) {
        self.add_terms(WindowTerms::of(value));
    }

    /// Removes a value added before.
    pub fn remove(&mut self, value: f64) {
        self.remove_terms(WindowTerms::of(value));
    }

    /// Adds a value's terms.
    pub fn add_terms(&mut self, terms: WindowTerms) {
        self.total = self.total.wrapping_add(terms.units);
        self.squares = self.squares.wrapping_add(terms.square);
        self.present = self.present.wrapping_add(terms.present);
    }

    /// Removes the terms of a value added before.
    pub fn remove_terms(&mut self, terms: WindowTerms) {
        self.total = self.total.wrapping_sub(terms.units);
        self.squares = self.squares.wrapping_sub(terms.square);
        self.present = self.present.wrapping_sub(terms.present);
    }

    /// The sign of this window's mean minus `other`'s: 1, −1, or 0 when they are equal
    /// or either window is empty. Exact: the sums are cross-multiplied by the counts.
    #[must_use]
    pub fn mean_above(&self, other: &Self) -> i8 {
        if self.present == 0 || other.present == 0 {
            return 0;
        }
        let this = i128::from(self.total) * i128::from(other.present);
        let that = i128::from(other.total) * i128::from(self.present);
        this.cmp(&that) as i8
    }

    /// Number of present values.
    #[must_use]
    pub fn present(&self) -> u32 {
        self.present
    }

    /// `n Σx² − (Σx)²` over the present values (units of the values, squared): `n(n − 1)`
    /// times their sample variance. Exact in integers, so a window of equal values gives
    /// exactly 0.
    #[must_use]
    pub fn scaled_variance(&self) -> f64 {
        let n = i128::from(self.present);
        let total = i128::from(self.total);
        let numerator = n
            .wrapping_mul(self.squares)
            .wrapping_sub(total.wrapping_mul(total))
            .max(0);
        // i128 → f64 in two exact halves (`as f64` on i128 is a library call).
        let high = (numerator >> 64) as i64 as f64;
        let low = numerator as u64 as f64;
        (high * 18_446_744_073_709_551_616.0 + low) / (FIXED_POINT_UNITS * FIXED_POINT_UNITS)
    }

    /// Sample SD (n − 1) of the present values; NaN for fewer than two.
    #[must_use]
    pub fn sd(&self) -> f64 {
        if self.present < 2 {
            return f64::NAN;
        }
        let n = f64::from(self.present);
        (self.scaled_variance() / (n * (n - 1.0))).sqrt()
    }
}

/// Values that can be counted: a slice of readings' values (NaN skipped) or their
/// [`ValueDistribution`]. What figures built on counts (time in ranges) accept.
pub trait ValueSet {
    /// Number of (non-NaN) values.
    fn present(&self) -> usize;
    /// Number of (non-NaN) values for which `predicate` holds.
    fn count_where(&self, predicate: impl Fn(f64) -> bool) -> usize;

    /// Number of values strictly below `threshold` (`v < threshold`).
    fn count_below(&self, threshold: f64) -> usize {
        self.count_where(|v| v < threshold)
    }

    /// Number of values strictly above `threshold` (`v > threshold`).
    fn count_above(&self, threshold: f64) -> usize {
        self.count_where(|v| v > threshold)
    }

    /// Number of values from `low` to `high`, both included.
    fn count_between(&self, low: f64, high: f64) -> usize {
        self.count_where(|v| v >= low && v <= high)
    }
}

impl ValueSet for [f64] {
    fn present(&self) -> usize {
        count_present(self)
    }

    fn count_where(&self, predicate: impl Fn(f64) -> bool) -> usize {
        self.iter()
            .filter(|v| !v.is_nan() && predicate(**v))
            .count()
    }
}

impl ValueSet for ValueDistribution {
    fn present(&self) -> usize {
        self.count()
    }

    fn count_where(&self, predicate: impl Fn(f64) -> bool) -> usize {
        self.iter()
            .filter(|&(value, _)| predicate(value))
            .map(|(_, count)| count as usize)
            .sum()
    }

    // The threshold counts by binary search on the ascending distinct values and their
    // cumulative counts, not a pass over every value: the time in ranges, GRI and COGI
    // ask for a dozen of them per summary.

    fn count_below(&self, threshold: f64) -> usize {
        self.count_before(self.values.partition_point(|&v| v < threshold))
    }

    fn count_above(&self, threshold: f64) -> usize {
        if threshold.is_nan() {
            return 0;
        }
        self.count() - self.count_before(self.values.partition_point(|&v| v <= threshold))
    }

    fn count_between(&self, low: f64, high: f64) -> usize {
        if low.is_nan() || high.is_nan() {
            return 0;
        }
        let up_to_high = self.count_before(self.values.partition_point(|&v| v <= high));
        // Empty (and so 0) when `low` is above `high`.
        up_to_high.saturating_sub(self.count_below(low))
    }
}

/// The values of a series as its distinct values, ascending, each with how many readings
/// have it (NaN left out). Every figure that depends only on which values occurred and
/// not on when (quantiles, time in ranges, risk indices, GRADE, M-value, …) is computed
/// over it once per distinct value instead of once per reading: CGM values are whole
/// mg/dL, so weeks or months of readings hold a few hundred distinct values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueDistribution {
    /// Distinct values, strictly ascending (in the unit of the input, mg/dL here).
    values: Vec<f64>,
    /// Readings having each value; none is zero.
    counts: Vec<u32>,
    /// Readings having this value or a lower one: `counts` summed so far.
    cumulative: Vec<usize>,
}

impl ValueDistribution {
    /// The distribution of `values` (any order; NaN skipped, as R's `na.rm = TRUE`).
    /// Whole mg/dL values ([`whole_values`]) are counted in a table instead of sorted.
    #[must_use]
    pub fn of(values: &[f64]) -> Self {
        whole_values(values).map_or_else(|| Self::of_sorted(values), |w| Self::of_whole(&w))
    }

    /// [`Self::of`] by sorting the values, for values known not to be all whole (the
    /// series has tested them: [`crate::GlucoseSeries::whole_values`]).
    #[must_use]
    pub(crate) fn of_sorted(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let mut distribution = Self::with_capacity(sorted.len());
        for value in sorted {
            distribution.push(value, 1);
        }
        distribution
    }

    /// The distribution of whole mg/dL values ([`whole_values`]), counted in a table.
    #[must_use]
    pub fn of_whole(values: &[u16]) -> Self {
        const LENGTH: usize = WHOLE_MG_DL_MAX as usize + 1;
        let mut table = vec![0_u32; LENGTH];
        for &value in values {
            // Whole values are at most WHOLE_MG_DL_MAX: the modulo spares the check.
            table[usize::from(value) % LENGTH] += 1;
        }
        let distinct = table.iter().filter(|&&count| count > 0).count();
        let mut distribution = Self::with_capacity(distinct);
        for (value, &count) in table.iter().enumerate() {
            if count > 0 {
                distribution.push(value as f64, count);
            }
        }
        distribution
    }

    /// An empty distribution with room for `distinct` values: built once, without the
    /// copies that growing three vectors a value at a time makes.
    fn with_capacity(distinct: usize) -> Self {
        Self {
            values: Vec::with_capacity(distinct),
            counts: Vec::with_capacity(distinct),
            cumulative: Vec::with_capacity(distinct),
        }
    }

    /// [`Self::of`] for values given as runs of equal values (value, count), in any
    /// order and possibly repeating a value (the intervals between a sensor's readings,
    /// which repeat for hours): the runs are sorted, not the values.
    #[must_use]
    pub fn of_runs(mut runs: Vec<(f64, u32)>) -> Self {
        runs.retain(|(value, _)| !value.is_nan());
        runs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut distribution = Self::with_capacity(runs.len());
        for (value, count) in runs {
            distribution.push(value, count);
        }
        distribution
    }

    /// Readings with one of the distinct values before the `index`-th (ascending).
    fn count_before(&self, index: usize) -> usize {
        index
            .checked_sub(1)
            .and_then(|last| self.cumulative.get(last))
            .copied()
            .unwrap_or(0)
    }

    /// Adds `count` readings of `value`, which is not below any value so far: a value
    /// equal to the last one adds to its count.
    fn push(&mut self, value: f64, count: u32) {
        let before = self.cumulative.last().copied().unwrap_or(0);
        if self.values.last() == Some(&value) {
            if let (Some(last_count), Some(last_cumulative)) =
                (self.counts.last_mut(), self.cumulative.last_mut())
            {
                *last_count += count;
                *last_cumulative += count as usize;
            }
            return;
        }
        self.values.push(value);
        self.counts.push(count);
        self.cumulative.push(before + count as usize);
    }

    /// Number of (non-NaN) values.
    #[must_use]
    pub fn count(&self) -> usize {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// Whether there is no value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The distinct values, ascending, with their counts.
    pub fn iter(&self) -> impl Iterator<Item = (f64, u32)> + '_ {
        self.values.iter().copied().zip(self.counts.iter().copied())
    }

    /// Mean of `transform(value)` over all values; NaN when there is none.
    #[must_use]
    pub fn mean_of(&self, transform: impl Fn(f64) -> f64) -> f64 {
        if self.is_empty() {
            return f64::NAN;
        }
        let total: f64 = self
            .iter()
            .map(|(value, count)| transform(value) * f64::from(count))
            .sum();
        total / self.count() as f64
    }

    /// Arithmetic mean, corrected in a second pass as R's `mean.default` is.
    #[must_use]
    pub fn mean(&self) -> f64 {
        let first = self.mean_of(|v| v);
        first + self.mean_of(|v| v - first)
    }

    /// Sample variance (n − 1); NaN for fewer than two values.
    #[must_use]
    pub fn variance(&self) -> f64 {
        let n = self.count();
        if n < 2 {
            return f64::NAN;
        }
        let centre = self.mean_of(|v| v);
        self.mean_of(|v| (v - centre) * (v - centre)) * n as f64 / (n - 1) as f64
    }

    /// Sample SD (n − 1).
    #[must_use]
    pub fn sd(&self) -> f64 {
        self.variance().sqrt()
    }

    /// The `rank`-th smallest value (0-based); `rank` < [`Self::count`].
    fn order_statistic(&self, rank: usize) -> f64 {
        let index = self.cumulative.partition_point(|&below| below <= rank);
        self.values[index.min(self.values.len() - 1)]
    }

    /// Quantile of Hyndman & Fan (1996) type 7, R's default `quantile(type = 7)` and
    /// numpy's default: the order statistic at `h = (n − 1)·p` interpolated linearly.
    /// NaN when empty or `p` is outside \[0, 1\]. (`statrs` offers type 8 only; iglu, R
    /// and the AGP reference reports use type 7.)
    #[must_use]
    pub fn quantile(&self, p: f64) -> f64 {
        if self.is_empty() || !(0.0..=1.0).contains(&p) {
            return f64::NAN;
        }
        let (low_rank, fraction) = type7_position(self.count(), p);
        let low = self.order_statistic(low_rank);
        if fraction == 0.0 {
            return low;
        }
        low + fraction * (self.order_statistic(low_rank + 1) - low)
    }

    /// Median (type 7 quantile 0.5).
    #[must_use]
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// Smallest value (NaN when empty).
    #[must_use]
    pub fn min(&self) -> f64 {
        self.values.first().copied().unwrap_or(f64::NAN)
    }

    /// Largest value (NaN when empty).
    #[must_use]
    pub fn max(&self) -> f64 {
        self.values.last().copied().unwrap_or(f64::NAN)
    }

    /// Median absolute deviation from the median, × 1.4826 (R's `mad`; the consistency
    /// constant for normal data, Hampel 1974).
    #[must_use]
    pub fn mad(&self) -> f64 {
        let centre = self.median();
        // The distinct values ascend, so their deviations ascend outward from the
        // centre on either side: merging the two sides gives them in order (equal
        // deviations join), without sorting them.
        let split = self.values.partition_point(|&v| v < centre);
        let deviation = |index: usize| (self.values[index] - centre).abs();
        let mut deviations = Self::with_capacity(self.values.len());
        let (mut below, mut above) = (split, split);
        while below > 0 || above < self.values.len() {
            let take_below = above == self.values.len()
                || (below > 0 && deviation(below - 1) <= deviation(above));
            let index = if take_below {
                below -= 1;
                below
            } else {
                above += 1;
                above - 1
            };
            deviations.push(deviation(index), self.counts[index]);
        }
        1.4826 * deviations.median()
    }
}

/// Number of non-NaN values.
#[must_use]
pub fn count_present(values: &[f64]) -> usize {
    values.iter().filter(|v| !v.is_nan()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_values_are_found_as_the_round_trip_finds_them() {
        let every: Vec<f64> = (0..=WHOLE_MG_DL_MAX).map(f64::from).collect();
        let whole = whole_values(&every).expect("all whole");
        assert!(whole
            .iter()
            .zip(&every)
            .all(|(&w, &v)| f64::from(w).to_bits() == v.to_bits()));
        // One value that is not, early, in a chunk of eight or in the remainder.
        for at in [0, 5, 17, 1019, 1023] {
            for odd in [
                f64::NAN,
                -1.0,
                1024.0,
                12.5,
                100.000_000_1,
                f64::INFINITY,
                1e300,
            ] {
                let mut values = every.clone();
                values[at] = odd;
                assert_eq!(whole_values(&values), None, "{odd} at {at}");
                assert!(!whole_number(odd, WHOLE_MG_DL_MAX).1, "{odd}");
            }
        }
        assert_eq!(whole_values(&[-0.0, 40.0]), Some(vec![0, 40]));
        assert_eq!(whole_values(&[]), Some(vec![]));
    }

    #[test]
    fn or_zero_keeps_numbers_and_drops_missing_values() {
        for v in [0.0, -0.0, 1.5, -3.25, 1e300, f64::INFINITY] {
            assert_eq!(or_zero(v).0.to_bits(), v.to_bits());
            assert_eq!(or_zero(v).1.to_bits(), 1.0_f64.to_bits());
        }
        assert_eq!(or_zero(f64::NAN), (0.0, 0.0));
        assert_eq!(or_zero(-f64::NAN), (0.0, 0.0));
    }

    #[test]
    fn window_sums_are_exact_whatever_passed_through() {
        // The same two values after very different histories give the same mean.
        let mut a = WindowSums::default();
        let mut b = WindowSums::default();
        for v in [0.1, 1e3, 123.456_789, 0.3] {
            a.add(v);
        }
        for v in [0.1, 1e3, 123.456_789] {
            a.remove(v);
        }
        a.add(0.7);
        b.add(0.7);
        b.add(0.3);
        assert_eq!(a.mean_above(&b), 0, "the same values, exactly");
        assert_eq!(a.sd().to_bits(), b.sd().to_bits());
        let mut above = b;
        above.remove(0.3);
        assert_eq!(above.mean_above(&a), 1);
        assert_eq!(a.mean_above(&above), -1);
        a.remove(0.3);
        a.remove(0.7);
        assert_eq!(a.mean_above(&b), 0, "an empty window has no mean");
    }

    #[test]
    fn slice_sums_equal_iterator_sums() {
        let values = [
            100.0,
            103.5,
            f64::NAN,
            98.25,
            97.0,
            120.125,
            119.0,
            1e-3,
            250.0,
            251.0,
            f64::NAN,
            f64::NAN,
            180.0,
        ];
        for len in 0..=values.len() {
            let values = &values[..len];
            for lag in [1, 2, 5] {
                let steps = values.windows(lag + 1).map(|w| w[lag] - w[0]);
                for transform in [|d: f64| d.abs(), |d: f64| (25.0 + d * d).sqrt()] {
                    let (count, sum) = sum_present_of_steps(values, lag, transform);
                    let (expected_count, expected) = sum_present(steps.clone().map(transform));
                    assert_eq!(count, expected_count, "{len} {lag}");
                    assert_eq!(sum.to_bits(), expected.to_bits(), "{len} {lag}");
                }
                let (n, total, squares) = moments_present_of_steps(values, lag);
                let (expected_n, expected_total, expected_squares) = moments_present(steps);
                assert_eq!(n, expected_n);
                assert_eq!(total.to_bits(), expected_total.to_bits());
                assert_eq!(squares.to_bits(), expected_squares.to_bits());
            }
            let (count, sum) = sum_present_of(values, |v| v * 0.5);
            let (expected_count, expected) = sum_present(values.iter().map(|v| v * 0.5));
            assert_eq!((count, sum.to_bits()), (expected_count, expected.to_bits()));
            // And the slice forms of the mean and variance as their iterator forms.
            let iter = values.iter().copied();
            assert_eq!(mean(values).to_bits(), mean_of_iter(iter.clone()).to_bits());
            assert_eq!(variance(values).to_bits(), variance_of_iter(iter).to_bits());
        }
    }

    #[test]
    fn runs_give_the_same_distribution() {
        let values = [5.0, 5.0, 5.0, 7.5, f64::NAN, 5.0, 5.0, 1.0, 7.5, 7.5, 5.0];
        let runs = vec![
            (5.0, 3),
            (7.5, 1),
            (f64::NAN, 1),
            (5.0, 2),
            (1.0, 1),
            (7.5, 2),
            (5.0, 1),
        ];
        let from_runs = ValueDistribution::of_runs(runs);
        let direct = ValueDistribution::of(&values);
        assert_eq!(from_runs, direct);
        assert!((from_runs.median() - 5.0).abs() < 1e-12);
        assert!(ValueDistribution::of_runs(Vec::new()).is_empty());
    }

    #[test]
    fn mean_and_sd_together_match_apart() {
        let values = [102.5, f64::NAN, 99.0, 180.25, 64.0, 140.0, 121.0];
        let (m, d) = mean_and_sd(&values);
        assert!((m - mean(&values)).abs() < 1e-12 && (d - sd(&values)).abs() < 1e-12);
        assert!(mean_and_sd(&[f64::NAN]).0.is_nan());
        let (m, d) = mean_and_sd(&[7.0]);
        assert!((m - 7.0).abs() < 1e-15 && d.is_nan());
        let (n, total, squares) = moments_present(values.iter().copied());
        assert_eq!(n, 6);
        assert!((total - 706.75).abs() < 1e-12);
        let variance_from_moments = (squares - total * total / 6.0) / 5.0;
        assert!((variance_from_moments - variance(&values)).abs() < 1e-9);
    }

    #[test]
    fn whole_below_2_52_rounds_to_the_nearest_whole_number() {
        for (value, whole) in [
            (0.0, 0),
            (0.49, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (187.75, 188),
            (1_048_575.25, 1_048_575),
            (4_503_599_627_370_495.0, 4_503_599_627_370_495),
            (4_503_599_627_370_496.0, 4_503_599_627_370_496),
        ] {
            assert_eq!(whole_below_2_52(value), whole, "{value}");
        }
    }

    #[test]
    fn extremes_skip_missing_values_in_every_lane() {
        let values = [120.0, f64::NAN, 95.0, 240.0, 61.0, f64::NAN, 130.0];
        assert_eq!(extremes(&values), (61.0, 240.0));
        assert_eq!(extremes(&values[..3]), (95.0, 120.0));
        assert_eq!(extremes(&[f64::NAN; 5]), (f64::INFINITY, f64::NEG_INFINITY));
        assert_eq!(extremes(&[]), (f64::INFINITY, f64::NEG_INFINITY));
    }

    #[test]
    fn window_sd_matches_two_pass_sd() {
        let values = [100.0, 120.5, f64::NAN, 87.25, 140.0, 99.0];
        let mut window = WindowSums::default();
        values.iter().for_each(|&v| window.add(v));
        assert!(
            (window.sd() - sd(&values)).abs() < 1e-9,
            "{} {}",
            window.sd(),
            sd(&values)
        );
        let mut flat = WindowSums::default();
        [123.4_f64; 7].iter().for_each(|&v| flat.add(v));
        assert_eq!(flat.sd().to_bits(), 0.0_f64.to_bits(), "exactly zero");
        flat.remove(123.4);
        assert_eq!(flat.sd().to_bits(), 0.0_f64.to_bits(), "exactly zero");
    }

    #[test]
    fn quantile_type_7_matches_r() {
        // R: quantile(c(1, 2, 4, 10), c(0.1, 0.25, 0.5, 0.9)) = 1.3 1.75 3.0 8.2
        let x = ValueDistribution::of(&[10.0, 1.0, 4.0, 2.0]);
        let expected = [(0.1, 1.3), (0.25, 1.75), (0.5, 3.0), (0.9, 8.2)];
        for (p, q) in expected {
            assert!((x.quantile(p) - q).abs() < 1e-12, "p={p}");
        }
        assert!(ValueDistribution::of(&[]).quantile(0.5).is_nan());
        assert!(x.quantile(1.5).is_nan());
    }

    #[test]
    fn sd_and_mean_skip_nan() {
        let x = [2.0, 4.0, f64::NAN, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((mean(&x) - 5.0).abs() < 1e-12);
        // R: sd(c(2,4,4,4,5,5,7,9)) = 2.13809
        assert!((sd(&x) - 2.138_089_935_299_395).abs() < 1e-12);
        assert!(sd(&[1.0]).is_nan());
        assert!(mean(&[f64::NAN]).is_nan());
    }

    #[test]
    fn selection_agrees_with_sorting() {
        let values: Vec<f64> = (0..101).map(|i| f64::from((i * 37) % 101)).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.05, 0.25, 0.333, 0.5, 0.75, 0.95, 1.0] {
            let mut scratch = values.clone();
            assert!(
                (quantile_unsorted(&mut scratch, p) - quantile_sorted(&sorted, p)).abs() < 1e-12
            );
        }
    }

    #[test]
    fn scaled_selection_equals_selecting_scaled_values() {
        // Intervals in seconds, fractional and repeated, odd and even counts: the median
        // in minutes is the same whether every value or only the neighbours are scaled.
        let minutes = |s: f64| s / 60.0;
        for count in [1_usize, 2, 7, 60, 61, 1000] {
            let seconds: Vec<f64> = (0..count)
                .map(|i| 40.0 + ((i * 7919) % 83) as f64 + 0.001 * ((i * 31) % 997) as f64)
                .collect();
            for p in [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0] {
                let mut scaled: Vec<f64> = seconds.iter().copied().map(minutes).collect();
                let mut scratch = seconds.clone();
                assert_eq!(
                    quantile_unsorted_of(&mut scratch, p, minutes).to_bits(),
                    quantile_unsorted(&mut scaled, p).to_bits(),
                    "{count} values, p {p}"
                );
            }
        }
    }

    #[test]
    fn distribution_agrees_with_the_slice_statistics() {
        // The definitions on the readings themselves: type 7 by sorting, MAD by selection.
        let present = |values: &[f64]| -> Vec<f64> {
            values.iter().copied().filter(|v| !v.is_nan()).collect()
        };
        let quantile = |values: &[f64], p: f64| {
            let mut sorted = present(values);
            sorted.sort_by(f64::total_cmp);
            quantile_sorted(&sorted, p)
        };
        let mad = |values: &[f64]| {
            let mut scratch = present(values);
            let centre = quantile_unsorted(&mut scratch, 0.5);
            let mut deviations: Vec<f64> = scratch.iter().map(|v| (v - centre).abs()).collect();
            1.4826 * quantile_unsorted(&mut deviations, 0.5)
        };
        let whole: Vec<f64> = (0..1001).map(|i| f64::from((i * 37) % 401 + 40)).collect();
        let mut fractional = whole.clone();
        fractional.extend([55.5, 0.25, 1500.0, f64::NAN, 72.125]);
        for values in [&whole, &fractional] {
            let distribution = ValueDistribution::of(values);
            assert_eq!(distribution.count(), count_present(values));
            for p in [0.0, 0.05, 0.25, 0.333, 0.5, 0.75, 0.95, 1.0] {
                assert!((distribution.quantile(p) - quantile(values, p)).abs() < 1e-12);
            }
            assert!((distribution.mean() - mean(values)).abs() < 1e-9);
            assert!((distribution.sd() - sd(values)).abs() < 1e-9);
            assert!((distribution.mad() - mad(values)).abs() < 1e-12);
        }
        assert!(ValueDistribution::of(&[f64::NAN]).quantile(0.5).is_nan());
        assert_eq!(ValueDistribution::of(&[]).count_where(|_| true), 0);
    }

    proptest::proptest! {
        /// The deviations merged from both sides of the median give the MAD that
        /// sorting them gives, bit for bit: whole and half values, so that deviations
        /// tie across the median and the median falls between two values.
        #[test]
        fn mad_by_merging_equals_mad_by_sorting(
            halves in proptest::collection::vec(0_u16..60, 1..80),
        ) {
            let values: Vec<f64> = halves.iter().map(|&h| 60.0 + f64::from(h) / 2.0).collect();
            let distribution = ValueDistribution::of(&values);
            let centre = distribution.median();
            let deviations = distribution.iter().map(|(v, c)| ((v - centre).abs(), c)).collect();
            let sorted = 1.4826 * ValueDistribution::of_runs(deviations).median();
            proptest::prop_assert_eq!(distribution.mad().to_bits(), sorted.to_bits());
        }
    }

    proptest::proptest! {
        /// Flags give the runs, changes and counts that testing each value gives: any
        /// length (a partial last word), missing values, any sub-range.
        #[test]
        fn flags_agree_with_testing_each_value(
            codes in proptest::collection::vec(0_u8..4, 0..300),
            from in 0_usize..300,
            length in 0_usize..300,
        ) {
            // Runs of a few values: 0 → 50, 1 → 100, 2 → 150, 3 → missing.
            let values: Vec<f64> = codes
                .iter()
                .flat_map(|&c| {
                    let value = [50.0, 100.0, 150.0, f64::NAN][usize::from(c)];
                    std::iter::repeat_n(value, usize::from(c) * 5 + 1)
                })
                .collect();
            let n = values.len();
            let within = from.min(n)..(from + length).min(n);
            for (flags, test) in [
                (Flags::below(&values, 100.0), &(|v: f64| v < 100.0) as &dyn Fn(f64) -> bool),
                (Flags::above(&values, 100.0), &|v: f64| v > 100.0),
                (Flags::missing(&values), &|v: f64| v.is_nan()),
            ] {
                let mut expected: Vec<(bool, Range<usize>)> = Vec::new();
                for index in within.clone() {
                    let state = test(values[index]);
                    match expected.last_mut() {
                        Some((last, run)) if *last == state => run.end = index + 1,
                        _ => expected.push((state, index..index + 1)),
                    }
                }
                proptest::prop_assert_eq!(flags.runs(within.clone()).collect::<Vec<_>>(), expected);
                let count = values[within.clone()].iter().filter(|&&v| test(v)).count();
                proptest::prop_assert_eq!(flags.count_in(within.clone()), count);
                for state in [false, true] {
                    let change = (within.start..n)
                        .find(|&index| test(values[index]) != state)
                        .unwrap_or(n);
                    proptest::prop_assert_eq!(flags.next_change(within.start, state), change);
                }
            }
        }
    }

    proptest::proptest! {
        /// Quantiles selected on the bit patterns of positive values equal those selected
        /// on the values, bit for bit: ties, +0, tiny and huge values, any p.
        #[test]
        fn positive_bits_select_as_the_values(
            codes in proptest::collection::vec(0_u32..200, 1..120),
            p_thousandths in 0_u32..=1000,
        ) {
            let values: Vec<f64> = codes
                .iter()
                .map(|&c| match c % 4 {
                    0 => f64::from(c),
                    1 => f64::from(c) * 1e-300,
                    2 => f64::from(c) * 1e300,
                    _ => f64::from(c) / 7.0,
                })
                .collect();
            let p = f64::from(p_thousandths) / 1000.0;
            let scale = |v: f64| v / 60.0;
            let mut bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
            let by_bits = quantile_of_positive_bits(&mut bits, p, scale);
            let by_values = quantile_unsorted_of(&mut values.clone(), p, scale);
            proptest::prop_assert_eq!(by_bits.to_bits(), by_values.to_bits());
        }

        /// The threshold counts by binary search equal counting every value: whole and
        /// half values, thresholds on them, between them, infinite and NaN, empty and
        /// inverted ranges.
        #[test]
        fn threshold_counts_equal_counting_each_value(
            halves in proptest::collection::vec(0_u16..40, 0..60),
            low_half in 0_u16..44,
            high_half in 0_u16..44,
        ) {
            let values: Vec<f64> = halves.iter().map(|&h| 60.0 + f64::from(h) / 2.0).collect();
            let distribution = ValueDistribution::of(&values);
            let half = |h: u16| 59.0 + f64::from(h) / 2.0;
            let thresholds = [
                half(low_half),
                half(high_half),
                half(low_half) + 0.25,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
            ];
            for &t in &thresholds {
                proptest::prop_assert_eq!(
                    distribution.count_below(t),
                    distribution.count_where(|v| v < t)
                );
                proptest::prop_assert_eq!(
                    distribution.count_above(t),
                    distribution.count_where(|v| v > t)
                );
                proptest::prop_assert_eq!(distribution.count_below(t), values.count_below(t));
                for &u in &thresholds {
                    proptest::prop_assert_eq!(
                        distribution.count_between(t, u),
                        values.count_where(|v| v >= t && v <= u)
                    );
                }
            }
        }
    }

    #[test]
    fn mad_matches_r() {
        // R: mad(c(1, 2, 3, 4, 100)) = 1.4826
        let values = ValueDistribution::of(&[1.0, 2.0, 3.0, 4.0, 100.0]);
        assert!((values.mad() - 1.4826).abs() < 1e-12);
    }
}
