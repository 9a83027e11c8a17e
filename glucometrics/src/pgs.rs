//! Personal Glycemic State (PGS), 4 (best) to 40: the sum of four-to-five sigmoid
//! scores for GVP, mean glucose, time in range 70–180 and hypoglycaemia frequency.
//! Hirsch et al. (2017) Diabetes Technol Ther 19:S42 (poster), as implemented by
//! iglu 4.3.0 `pgs` (events of ≥ 20 min, ended by ≥ 30 min of recovery).

use crate::episodes::{hypo_events_per_day, EventConfig};
use crate::grid::DayByDayGrid;
use crate::ranges::percent_in_range;
use crate::stats;
use crate::variability::gvp;

/// PGS from the readings (`values`, mg/dL), the default grid (for GVP) and a grid for
/// the events (iglu uses the same default grid for both).
#[must_use]
pub fn pgs(values: &[f64], grid: &DayByDayGrid) -> f64 {
    pgs_of(
        gvp(grid),
        stats::mean(values),
        percent_in_range(values, 70.0, 180.0),
        grid,
    )
}

/// [`pgs`] from figures the caller already has: GVP (%), mean glucose (mg/dL) and time
/// in range 70–180 mg/dL (%); the hypoglycaemia events are found on `grid`.
#[must_use]
pub fn pgs_of(
    gvp_percent: f64,
    mean_mg_dl: f64,
    time_in_range_percent: f64,
    grid: &DayByDayGrid,
) -> f64 {
    let config = EventConfig {
        start_duration_min: 20,
        end_duration_min: 30,
        ..EventConfig::default()
    };
    // Hypo level 2 and hypo level 1 exclusive, per week.
    let [_, level2_per_day, level1_exclusive_per_day] = hypo_events_per_day(grid, &config);
    let level2_per_week = level2_per_day * 7.0;
    let level1_per_week = level1_exclusive_per_day * 7.0;
    let f_gvp = 1.0 + 9.0 / (1.0 + (-0.049 * (gvp_percent - 65.47)).exp());
    let f_tir = 1.0 + 9.0 / (1.0 + (0.0833 * (time_in_range_percent - 55.04)).exp());
    let f_mean = 1.0
        + 9.0
            * (1.0 / (1.0 + (0.1139 * (mean_mg_dl - 72.08)).exp())
                + 1.0 / (1.0 + (-0.09195 * (mean_mg_dl - 157.57)).exp()));
    let f_hypo54 = 0.5 + 4.5 * (1.0 - (-0.91093 * level2_per_week).exp());
    let f_hypo70 = if level1_per_week <= 7.65 {
        0.5714 * level1_per_week + 0.625
    } else {
        5.0
    };
    f_gvp + f_tir + f_mean + f_hypo54 + f_hypo70
}
