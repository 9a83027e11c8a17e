//! Glycaemic indices computed from the readings themselves (no time grid): summary
//! statistics, GMI and eA1c, risk indices, GRADE, the J-index, M-value, hypo/hyper
//! index, IGC, COGI and GRI. Each function cites its definition and matches the R
//! package iglu 4.3.0 (checked in `tests/iglu_reference.rs`). Values are mg/dL;
//! NaN inputs are skipped (R's `na.rm = TRUE`).

use std::sync::OnceLock;

use crate::ranges::{percent_above, percent_below, percent_in_range};
use crate::stats::{whole_number, ValueDistribution};

/// A transform of glucose tabulated at every whole mg/dL up to [`Self::LAST_MG_DL`],
/// filled on first use. Sensors report whole mg/dL, so a summary's few hundred distinct
/// values are read from the table instead of each costing logarithms and powers; other
/// values are computed. The table holds the transform's own results: nothing changes
/// but the time.
struct WholeMgDlTable {
    transform: fn(f64) -> f64,
    table: OnceLock<Box<[f64]>>,
}

impl WholeMgDlTable {
    /// Highest tabulated value, mg/dL (the default plausibility limit).
    const LAST_MG_DL: u16 = 1000;

    const fn new(transform: fn(f64) -> f64) -> Self {
        Self {
            transform,
            table: OnceLock::new(),
        }
    }

    /// The mean of `term` over `values`, read from this table when `tabulated` (the
    /// parameters are those the table was filled with), else computed: indices with
    /// parameters tabulate their defaults only.
    fn mean_of(
        &self,
        values: &ValueDistribution,
        tabulated: bool,
        term: impl Fn(f64) -> f64,
    ) -> f64 {
        if tabulated {
            values.mean_of(self.lookup())
        } else {
            values.mean_of(term)
        }
    }

    /// The transform, looked up where `gl` is a tabulated whole number.
    fn lookup(&self) -> impl Fn(f64) -> f64 + '_ {
        let table = self.table.get_or_init(|| {
            (0..=Self::LAST_MG_DL)
                .map(|gl| (self.transform)(f64::from(gl)))
                .collect()
        });
        move |gl: f64| match whole_number(gl, Self::LAST_MG_DL) {
            (whole, true) => table[usize::from(whole)],
            (_, false) => (self.transform)(gl),
        }
    }
}

/// [`risk_transform`], tabulated.
static RISK_TRANSFORM: WholeMgDlTable = WholeMgDlTable::new(risk_transform);

/// [`grade_score`], tabulated.
static GRADE_SCORE: WholeMgDlTable = WholeMgDlTable::new(grade_score);

/// M-value reference glucose of iglu's default, mg/dL.
const M_VALUE_DEFAULT_REFERENCE_MG_DL: f64 = 90.0;

/// One reading's M-value term at the default reference ([`m_value`]), tabulated.
static M_VALUE_DEFAULT_TERM: WholeMgDlTable =
    WholeMgDlTable::new(|gl| m_value_term(gl, M_VALUE_DEFAULT_REFERENCE_MG_DL));

/// One reading's hyperglycaemia-index term with iglu's defaults, tabulated.
static HYPER_DEFAULT_TERM: WholeMgDlTable =
    WholeMgDlTable::new(|gl| hyper_term(gl, HYPER_DEFAULTS.0, HYPER_DEFAULTS.1));

/// One reading's hypoglycaemia-index term with iglu's defaults, tabulated.
static HYPO_DEFAULT_TERM: WholeMgDlTable =
    WholeMgDlTable::new(|gl| hypo_term(gl, HYPO_DEFAULTS.0, HYPO_DEFAULTS.1));

/// iglu's default hyperglycaemia index parameters: ULTR (mg/dL), exponent a, scale c.
const HYPER_DEFAULTS: (f64, f64, f64) = (140.0, 1.1, 30.0);

/// iglu's default hypoglycaemia index parameters: LLTR (mg/dL), exponent b, scale d.
const HYPO_DEFAULTS: (f64, f64, f64) = (80.0, 2.0, 30.0);

/// Glucose Management Indicator, % (NGSP): `3.31 + 0.02392 × mean` (mean in mg/dL).
/// Bergenstal et al. (2018) Diabetes Care 41:2275, doi:10.2337/dc18-1581; iglu `gmi`.
#[must_use]
pub fn gmi_percent(values: &ValueDistribution) -> f64 {
    3.31 + 0.02392 * values.mean()
}

/// Glucose Management Indicator, mmol/mol (IFCC): `12.71 + 4.70587 × mean` with the
/// mean in mmol/L. Bergenstal et al. (2018), same paper, second formula. The mean is
/// converted with [`crate::units::MG_DL_PER_MMOL_L`].
#[must_use]
pub fn gmi_mmol_per_mol(values: &ValueDistribution) -> f64 {
    12.71 + 4.705_87 * (values.mean() / crate::units::MG_DL_PER_MMOL_L)
}

/// Estimated A1c, %: `(46.7 + mean) / 28.7`. Nathan et al. (2008) Diabetes Care 31:1473,
/// doi:10.2337/dc08-0545; iglu `ea1c`.
#[must_use]
pub fn ea1c_percent(values: &ValueDistribution) -> f64 {
    (46.7 + values.mean()) / 28.7
}

/// Coefficient of variation, %: `100 × SD / mean` (iglu `cv_glu`; the consensus target is
/// ≤ 36 %, Danne et al. 2017, Diabetes Care 40:1631).
#[must_use]
pub fn cv_percent(values: &ValueDistribution) -> f64 {
    100.0 * values.sd() / values.mean()
}

/// J-index, (mg/dL)² / 1000: `0.001 × (mean + SD)²`. Wojcicki (1995) Horm Metab Res
/// 27:41; iglu `j_index`.
#[must_use]
pub fn j_index(values: &ValueDistribution) -> f64 {
    0.001 * (values.mean() + values.sd()).powi(2)
}

/// The Kovatchev blood-glucose risk transform before scaling:
/// `ln(gl)^1.084 − 5.381` (Kovatchev et al. 1997, Diabetes Care 20:1655).
fn risk_transform(gl: f64) -> f64 {
    gl.ln().powf(1.084) - 5.381
}

/// Scale of the risk function, `10 × 1.509² ≈ 22.77`; iglu uses the rounded 22.77.
const RISK_SCALE: f64 = 22.77;

/// Low Blood Glucose Index: `22.77 × Σ min(0, f(gl))² / n` over readings < 112.5 mg/dL,
/// `f` the risk transform. Kovatchev et al. (2006) Diabetes Care 29:2433,
/// doi:10.2337/dc06-1085; iglu `lbgi` (which uses 22.77 for 10 × 1.509²).
#[must_use]
pub fn lbgi(values: &ValueDistribution) -> f64 {
    risk_indices(values).0
}

/// High Blood Glucose Index: `22.77 × Σ max(0, f(gl))² / n`. Kovatchev et al. (2006);
/// iglu `hbgi`.
#[must_use]
pub fn hbgi(values: &ValueDistribution) -> f64 {
    risk_indices(values).1
}

/// [`lbgi`] and [`hbgi`] together, the risk transform (a logarithm and a power)
/// computed once per distinct value for both; NaN without readings.
#[must_use]
pub fn risk_indices(values: &ValueDistribution) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (mut low, mut high) = (0.0, 0.0);
    let transform = RISK_TRANSFORM.lookup();
    for (gl, count) in values.iter() {
        let f = transform(gl);
        low += f.min(0.0).powi(2) * f64::from(count);
        high += f.max(0.0).powi(2) * f64::from(count);
    }
    let n = values.count() as f64;
    (RISK_SCALE * (low / n), RISK_SCALE * (high / n))
}

/// Daily risk range of a day whose lowest and highest readings are `lowest` and
/// `highest` (mg/dL): `22.77 × (max(0, f(highest))² + min(0, f(lowest))²)`, `f` the risk
/// transform, which is increasing, so the day's extremes give the extremes of `f`.
/// Kovatchev et al. (2006); averaged over days it is ADRR. 0 for a day without readings
/// (`lowest > highest`).
#[must_use]
pub fn daily_risk_range(lowest: f64, highest: f64) -> f64 {
    if lowest > highest {
        return 0.0;
    }
    let transform = RISK_TRANSFORM.lookup();
    let low = transform(lowest).min(0.0);
    let high = transform(highest).max(0.0);
    RISK_SCALE * (low * low + high * high)
}

/// GRADE score of one reading: `425 × (log10(log10(gl / 18)) + 0.16)²`, capped at 50.
/// Hill et al. (2007) Diabet Med 24:753, doi:10.1111/j.1464-5491.2007.02119.x
/// (18 converts mg/dL to mmol/L as in the paper). At or below 18 mg/dL the formula is
/// undefined (iglu gives NaN); the score is the cap, 50, the highest risk.
#[must_use]
pub fn grade_score(gl: f64) -> f64 {
    if gl <= 18.0 {
        return 50.0;
    }
    (425.0 * ((gl / 18.0).log10().log10() + 0.16).powi(2)).min(50.0)
}

/// Mean GRADE score (iglu `grade`).
#[must_use]
pub fn grade(values: &ValueDistribution) -> f64 {
    grade_breakdown(values).mean
}

/// Share of the total GRADE score contributed by readings that satisfy `predicate`, %
/// (iglu `grade_hypo` < 80, `grade_eugly` 70–140, `grade_hyper` > 140 mg/dL).
#[must_use]
pub fn grade_share(values: &ValueDistribution, predicate: impl Fn(f64) -> bool) -> f64 {
    let score_of = GRADE_SCORE.lookup();
    let (total, part) = values.iter().fold((0.0, 0.0), |(t, p), (v, count)| {
        let score = score_of(v) * f64::from(count);
        (t + score, if predicate(v) { p + score } else { p })
    });
    if total == 0.0 {
        f64::NAN
    } else {
        part / total * 100.0
    }
}

/// The mean GRADE score and the shares from hypo (< 80), eugly (70–140) and hyper
/// (> 140 mg/dL) readings, %, in one pass (iglu `grade`, `grade_hypo`, `grade_eugly`,
/// `grade_hyper` with their defaults).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GradeBreakdown {
    /// Mean GRADE score.
    pub mean: f64,
    /// Share from readings < 80 mg/dL, %.
    pub hypo_percent: f64,
    /// Share from readings 70–140 mg/dL, %.
    pub eugly_percent: f64,
    /// Share from readings > 140 mg/dL, %.
    pub hyper_percent: f64,
}

/// Computes [`GradeBreakdown`].
#[must_use]
pub fn grade_breakdown(values: &ValueDistribution) -> GradeBreakdown {
    let (mut total, mut hypo, mut eugly, mut hyper) = (0.0, 0.0, 0.0, 0.0);
    let score_of = GRADE_SCORE.lookup();
    for (v, count) in values.iter() {
        let score = score_of(v) * f64::from(count);
        total += score;
        if v < 80.0 {
            hypo += score;
        }
        if (70.0..=140.0).contains(&v) {
            eugly += score;
        }
        if v > 140.0 {
            hyper += score;
        }
    }
    let count = values.count();
    let share = |part: f64| {
        if total == 0.0 {
            f64::NAN
        } else {
            part / total * 100.0
        }
    };
    GradeBreakdown {
        mean: if count == 0 {
            f64::NAN
        } else {
            total / count as f64
        },
        hypo_percent: share(hypo),
        eugly_percent: share(eugly),
        hyper_percent: share(hyper),
    }
}

/// M-value: `1000 × mean(|log10(gl / r)|³)` with reference `r` mg/dL (iglu default 90).
/// Schlichtkrull et al. (1965) Acta Med Scand 177:95; iglu `m_value`.
#[must_use]
pub fn m_value(values: &ValueDistribution, reference_mg_dl: f64) -> f64 {
    let tabulated = reference_mg_dl == M_VALUE_DEFAULT_REFERENCE_MG_DL;
    1000.0 * M_VALUE_DEFAULT_TERM.mean_of(values, tabulated, |gl| m_value_term(gl, reference_mg_dl))
}

/// One reading's M-value term, `|log10(gl / r)|³`.
fn m_value_term(gl: f64, reference_mg_dl: f64) -> f64 {
    (gl / reference_mg_dl).log10().abs().powi(3)
}

/// Hyperglycaemia index: `Σ (gl − ULTR)^a / (n × c)` over readings > ULTR (iglu defaults
/// ULTR 140 mg/dL, a 1.1, c 30). Rodbard (2009) Diabetes Technol Ther 11 Suppl 1:S55.
#[must_use]
pub fn hyper_index(values: &ValueDistribution, upper_limit: f64, exponent: f64, scale: f64) -> f64 {
    let tabulated = (upper_limit, exponent) == (HYPER_DEFAULTS.0, HYPER_DEFAULTS.1);
    HYPER_DEFAULT_TERM.mean_of(values, tabulated, |gl| {
        hyper_term(gl, upper_limit, exponent)
    }) / scale
}

/// Hypoglycaemia index: `Σ (LLTR − gl)^b / (n × d)` over readings < LLTR (iglu defaults
/// LLTR 80 mg/dL, b 2, d 30). Rodbard (2009).
#[must_use]
pub fn hypo_index(values: &ValueDistribution, lower_limit: f64, exponent: f64, scale: f64) -> f64 {
    let tabulated = (lower_limit, exponent) == (HYPO_DEFAULTS.0, HYPO_DEFAULTS.1);
    HYPO_DEFAULT_TERM.mean_of(values, tabulated, |gl| hypo_term(gl, lower_limit, exponent)) / scale
}

/// One reading's hyperglycaemia-index term: `(gl − ULTR)^a` above ULTR, else 0.
fn hyper_term(gl: f64, upper_limit: f64, exponent: f64) -> f64 {
    excursion_term((gl > upper_limit).then_some(gl - upper_limit), exponent)
}

/// One reading's hypoglycaemia-index term: `(LLTR − gl)^b` below LLTR, else 0.
fn hypo_term(gl: f64, lower_limit: f64, exponent: f64) -> f64 {
    excursion_term((gl < lower_limit).then_some(lower_limit - gl), exponent)
}

/// An excursion beyond a limit to the power `exponent`; 0 without one.
fn excursion_term(excess: Option<f64>, exponent: f64) -> f64 {
    excess.map_or(0.0, |e| e.powf(exponent))
}

/// Index of Glycaemic Control: hyper index + hypo index with iglu's defaults
/// (ULTR 140, a 1.1, c 30; LLTR 80, b 2, d 30). Rodbard (2009); iglu `igc`.
#[must_use]
pub fn igc(values: &ValueDistribution) -> f64 {
    let (hyper, hypo) = default_excursion_indices(values);
    hyper + hypo
}

/// The hyper- and hypoglycaemia indices with iglu's defaults, as [`igc`] adds them: for
/// callers that report all three without computing the two twice.
#[must_use]
pub fn default_excursion_indices(values: &ValueDistribution) -> (f64, f64) {
    (
        hyper_index(values, HYPER_DEFAULTS.0, HYPER_DEFAULTS.1, HYPER_DEFAULTS.2),
        hypo_index(values, HYPO_DEFAULTS.0, HYPO_DEFAULTS.1, HYPO_DEFAULTS.2),
    )
}

/// Continuous Glucose Monitoring Index (COGI), 0–100: 50 % weight on time in
/// `[low, high]` (scaled 0–100 %), 35 % on time below `low` (scaled 0–15 %, inverted),
/// 15 % on SD (scaled 18–108 mg/dL, inverted). Leelarathna et al. (2020) Diabetes
/// Technol Ther 22:?, doi:10.1089/dia.2019.0303 (COGI); iglu `cogi` (targets 70, 180).
#[must_use]
pub fn cogi(values: &ValueDistribution, low: f64, high: f64) -> f64 {
    let scaled = |x: f64, lo: f64, hi: f64| (x - lo) / (hi - lo);
    let in_range = scaled(percent_in_range(values, low, high), 0.0, 100.0).clamp(0.0, 1.0);
    let below = (1.0 - scaled(percent_below(values, low), 0.0, 15.0)).clamp(0.0, 1.0);
    let spread = (1.0 - scaled(values.sd(), 18.0, 108.0)).clamp(0.0, 1.0);
    (0.5 * in_range + 0.35 * below + 0.15 * spread) * 100.0
}

/// Glycemia Risk Index and its components (Klonoff et al. 2023, J Diabetes Sci Technol
/// 17:1226, doi:10.1177/19322968221085273).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gri {
    /// GRI, 0–100: `3.0 × VLow + 2.4 × Low + 1.6 × VHigh + 0.8 × High`, capped at 100.
    pub gri: f64,
    /// Hypoglycaemia component: `VLow + 0.8 × Low`, %.
    pub hypo_component: f64,
    /// Hyperglycaemia component: `VHigh + 0.5 × High`, %.
    pub hyper_component: f64,
    /// GRI zone, A (best, 0–20) to E (worst, 80–100), by 20-point quintiles.
    pub zone: char,
}

/// Computes the GRI from readings (ranges < 54, 54–69, 181–250, > 250 mg/dL as in
/// [`crate::ranges`]); matches iglu `gri`.
#[must_use]
pub fn gri(values: &ValueDistribution) -> Gri {
    let very_low = percent_below(values, 54.0);
    let low = percent_below(values, 70.0) - very_low;
    let very_high = percent_above(values, 250.0);
    let high = percent_above(values, 180.0) - very_high;
    let hypo_component = very_low + 0.8 * low;
    let hyper_component = very_high + 0.5 * high;
    let gri = (3.0 * very_low + 2.4 * low + 1.6 * very_high + 0.8 * high).min(100.0);
    let zone = match gri {
        g if g <= 20.0 => 'A',
        g if g <= 40.0 => 'B',
        g if g <= 60.0 => 'C',
        g if g <= 80.0 => 'D',
        _ => 'E',
    };
    Gri {
        gri,
        hypo_component,
        hyper_component,
        zone,
    }
}

/// MAGE by iglu's "naive" method: the mean of `|gl − mean|` over readings whose
/// deviation exceeds `sd_multiplier × SD` (iglu `mage(version = "naive")`, kept for
/// comparison with iglu ≤ 2.0.0; [`crate::mage`] is the recommended algorithm).
#[must_use]
pub fn mage_naive(values: &ValueDistribution, sd_multiplier: f64) -> f64 {
    let centre = values.mean();
    let limit = sd_multiplier * values.sd();
    let (count, total) = values
        .iter()
        .map(|(v, count)| ((v - centre).abs(), count))
        .filter(|&(deviation, _)| deviation > limit)
        .fold((0_u64, 0.0), |(n, t), (deviation, count)| {
            (n + u64::from(count), t + deviation * f64::from(count))
        });
    if count == 0 {
        f64::NAN
    } else {
        total / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmi_and_ea1c_follow_the_published_formulas() {
        let values = ValueDistribution::of(&[154.0; 10]);
        // Bergenstal 2018, table: mean 154 mg/dL -> GMI 7.0 %.
        assert!((gmi_percent(&values) - 6.99368).abs() < 1e-9);
        // Nathan 2008: eA1c 7 % <-> 154 mg/dL.
        assert!((ea1c_percent(&values) - 6.993_031_358_885_017).abs() < 1e-12);
        // IFCC: 53 mmol/mol ~ 7 %.
        assert!((gmi_mmol_per_mol(&values) - 52.93).abs() < 0.05);
    }

    #[test]
    fn gri_zone_and_cap() {
        let all_very_low = ValueDistribution::of(&[40.0; 5]);
        let g = gri(&all_very_low);
        assert!((g.gri - 100.0).abs() < f64::EPSILON);
        assert_eq!(g.zone, 'E');
        let in_range = ValueDistribution::of(&[120.0; 5]);
        assert_eq!(gri(&in_range).zone, 'A');
    }

    #[test]
    fn tabulated_defaults_equal_the_parameterised_indices() {
        // Whole values (read from the tables), fractions and values beyond the tables.
        let values = ValueDistribution::of(&[
            39.0, 54.0, 69.5, 80.0, 90.0, 139.0, 140.0, 141.0, 180.25, 250.0, 1000.0, 1200.0,
        ]);
        let (hyper, hypo) = default_excursion_indices(&values);
        let computed_hyper = values.mean_of(|gl| hyper_term(gl, 140.0, 1.1)) / 30.0;
        let computed_hypo = values.mean_of(|gl| hypo_term(gl, 80.0, 2.0)) / 30.0;
        assert_eq!(hyper.to_bits(), computed_hyper.to_bits());
        assert_eq!(hypo.to_bits(), computed_hypo.to_bits());
        let computed = 1000.0 * values.mean_of(|gl| m_value_term(gl, 90.0));
        assert_eq!(m_value(&values, 90.0).to_bits(), computed.to_bits());
    }

    #[test]
    fn tables_hold_the_transforms_own_results() {
        for table in [
            &RISK_TRANSFORM,
            &GRADE_SCORE,
            &M_VALUE_DEFAULT_TERM,
            &HYPER_DEFAULT_TERM,
            &HYPO_DEFAULT_TERM,
        ] {
            let lookup = table.lookup();
            for gl in [0.0, 1.0, 18.0, 39.0, 70.0, 112.0, 180.0, 999.0, 1000.0] {
                assert_eq!(
                    lookup(gl).to_bits(),
                    (table.transform)(gl).to_bits(),
                    "{gl}"
                );
            }
            // Off the table: fractions, beyond the last entry, negative, NaN.
            for gl in [112.5, 1000.5, 1001.0, 70_000.0, -3.0] {
                assert_eq!(
                    lookup(gl).to_bits(),
                    (table.transform)(gl).to_bits(),
                    "{gl}"
                );
            }
            assert_eq!(
                lookup(f64::NAN).is_nan(),
                (table.transform)(f64::NAN).is_nan()
            );
        }
    }

    #[test]
    fn grade_score_is_capped() {
        assert!((grade_score(5.0) - 50.0).abs() < f64::EPSILON);
        assert!(grade_score(100.0) < 50.0);
        assert!((grade_score(1000.0) - 50.0).abs() < f64::EPSILON);
    }
}
