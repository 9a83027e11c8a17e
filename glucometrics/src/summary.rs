//! The report summary: every metric of the engine for one patient and period, as one
//! serde-serialisable value. Glucose figures are mg/dL; [`GlucoseSummary::in_unit`]
//! gives the same summary in mmol/L.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::active::{active_period, ActivePeriod, DataSufficiency};
use crate::agp::{agp_profile, daily_profiles, AgpBin, AgpConfig, DailyProfile};
use crate::episodes::{analyse_events, EventClassSummary, EventConfig, GlycemicEvent};
use crate::grid::{DayByDayGrid, GridConfig};
use crate::indices::{self, Gri};
use crate::mage::{mage_on_grid, MageConfig};
use crate::ranges::TimeInRanges;
use crate::series::{ExclusionCounts, GlucoseReading, GlucoseSeries, ValidationConfig};
use crate::stats::ValueDistribution;
use crate::units::GlucoseUnit;
use crate::variability::{self, SdMeasures};
use crate::MetricsError;

/// Everything configurable about a summary; `Default` is the consensus and iglu's
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SummaryConfig {
    /// Plausibility limits for readings.
    pub validation: ValidationConfig,
    /// Longest gap bridged by interpolation, minutes (default 45).
    pub grid: GridConfig,
    /// Event thresholds and durations.
    pub events: EventConfig,
    /// AGP bins and smoothing.
    pub agp: AgpConfig,
    /// MAGE windows.
    pub mage: MageConfig,
}

/// Descriptive statistics of the readings, mg/dL unless stated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GlucoseStatistics {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// Sample SD (n − 1).
    pub sd: f64,
    /// Coefficient of variation, %.
    pub cv_percent: f64,
    /// Lowest reading.
    pub min: f64,
    /// 5th percentile (type 7).
    pub p05: f64,
    /// 25th percentile.
    pub p25: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Highest reading.
    pub max: f64,
    /// Interquartile range, p75 − p25.
    pub iqr: f64,
    /// Range, max − min.
    pub range: f64,
    /// Median absolute deviation × 1.4826.
    pub mad: f64,
}

/// Research indices of variability and risk (units per field).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResearchIndices {
    /// MAGE, moving-average algorithm, mg/dL.
    pub mage: f64,
    /// MODD (1-day lag), mg/dL.
    pub modd: f64,
    /// CONGA(1 h), mg/dL.
    pub conga_1h: f64,
    /// CONGA(24 h), iglu's default n, mg/dL.
    pub conga_24h: f64,
    /// Low Blood Glucose Index (unitless).
    pub lbgi: f64,
    /// High Blood Glucose Index (unitless).
    pub hbgi: f64,
    /// Average Daily Risk Range (unitless).
    pub adrr: f64,
    /// J-index, (mg/dL)²/1000.
    pub j_index: f64,
    /// Glycemic Variability Percentage, %.
    pub gvp: f64,
    /// Mean Absolute Glucose change, mg/dL per hour.
    pub mag: f64,
    /// M-value (reference 90 mg/dL).
    pub m_value: f64,
    /// Index of Glycaemic Control.
    pub igc: f64,
    /// Hyperglycaemia index (ULTR 140).
    pub hyper_index: f64,
    /// Hypoglycaemia index (LLTR 80).
    pub hypo_index: f64,
    /// Mean GRADE score.
    pub grade: f64,
    /// GRADE share from readings < 80 mg/dL, %.
    pub grade_hypo_percent: f64,
    /// GRADE share from readings 70–140 mg/dL, %.
    pub grade_eugly_percent: f64,
    /// GRADE share from readings > 140 mg/dL, %.
    pub grade_hyper_percent: f64,
    /// COGI (targets 70–180), 0–100.
    pub cogi: f64,
    /// Personal Glycemic State, 4–40.
    pub pgs: f64,
    /// SD subtypes, mg/dL.
    pub sd_measures: SdMeasures,
    /// Mean of the daily CVs, %.
    pub cv_mean_percent: f64,
    /// SD of the daily CVs, %.
    pub cv_sd_percent: f64,
    /// SD of the 15-min rate of change, mg/dL per minute.
    pub sd_rate_of_change: f64,
}

/// The full summary of one patient's glucose over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlucoseSummary {
    /// The unit of every glucose figure below.
    pub unit: GlucoseUnit,
    /// IANA time zone used for days and time of day.
    pub time_zone: String,
    /// First reading (UTC).
    pub first_reading: DateTime<Utc>,
    /// Last reading (UTC).
    pub last_reading: DateTime<Utc>,
    /// Distinct readings used.
    pub readings: usize,
    /// What validation set aside or merged.
    pub exclusions: ExclusionCounts,
    /// Scans, for sources that distinguish them (LibreView); set by the caller.
    pub scans: Option<usize>,
    /// Local calendar days with at least one reading.
    pub days_with_data: usize,
    /// Wear period and % time CGM active.
    pub wear: ActivePeriod,
    /// Consensus data-sufficiency flags.
    pub sufficiency: DataSufficiency,
    /// Descriptive statistics.
    pub statistics: GlucoseStatistics,
    /// Glucose Management Indicator, %.
    pub gmi_percent: f64,
    /// Glucose Management Indicator, mmol/mol.
    pub gmi_mmol_per_mol: f64,
    /// Estimated A1c (Nathan 2008), %.
    pub ea1c_percent: f64,
    /// Consensus time in ranges.
    pub time_in_ranges: TimeInRanges,
    /// Glycemia Risk Index.
    pub gri: Gri,
    /// Event summaries per class.
    pub event_summaries: Vec<EventClassSummary>,
    /// Every event found.
    pub events: Vec<GlycemicEvent>,
    /// AGP percentile bins by time of day.
    pub agp: Vec<AgpBin>,
    /// One profile per local day.
    pub daily_profiles: Vec<DailyProfile>,
    /// Research indices.
    pub research: ResearchIndices,
}

/// Summarises `readings` of a patient living in `tz`.
///
/// # Errors
/// [`MetricsError::NoValidReadings`] when no reading passes validation and
/// [`MetricsError::SpanTooLong`] for periods over the configured limit. A series too
/// short for the interpolation grid still gets a summary, with the grid-based metrics
/// NaN (`null` in JSON).
pub fn summarize(
    readings: &[GlucoseReading],
    tz: Tz,
    config: &SummaryConfig,
) -> Result<GlucoseSummary, MetricsError> {
    let series = GlucoseSeries::new(readings, tz, &config.validation)?;
    Ok(summarize_series(&series, config))
}

/// [`summarize`] for an already validated series.
#[must_use]
pub fn summarize_series(series: &GlucoseSeries, config: &SummaryConfig) -> GlucoseSummary {
    let values = series.values();
    let distribution = series.whole_values().map_or_else(
        || ValueDistribution::of_sorted(values),
        ValueDistribution::of_whole,
    );
    let q = |p: f64| distribution.quantile(p);
    let mean = distribution.mean();
    let sd = distribution.sd();
    let statistics = GlucoseStatistics {
        mean,
        median: q(0.5),
        sd,
        cv_percent: 100.0 * sd / mean,
        min: distribution.min(),
        p05: q(0.05),
        p25: q(0.25),
        p75: q(0.75),
        p95: q(0.95),
        max: distribution.max(),
        iqr: q(0.75) - q(0.25),
        range: distribution.max() - distribution.min(),
        mad: distribution.mad(),
    };
    let wear = active_period(series, None);
    let grid = DayByDayGrid::new(series, &config.grid).ok();
    // MAGE and the rate of change use a 5-minute grid; most CGMs give it already.
    let five_minute_grid = match &grid {
        Some(g) if g.step_min() == 5 => Some(Cow::Borrowed(g)),
        _ => DayByDayGrid::new(
            series,
            &GridConfig {
                step_min: Some(5),
                ..config.grid
            },
        )
        .ok()
        .map(Cow::Owned),
    };
    let (event_summaries, events) = match &grid {
        Some(grid) => {
            let analysis = analyse_events(grid, &config.events);
            (analysis.summaries, analysis.events)
        }
        None => (Vec::new(), Vec::new()),
    };
    let on_grid = |f: &dyn Fn(&DayByDayGrid) -> f64| grid.as_ref().map_or(f64::NAN, f);
    // Figures found in pairs (one pass for both): NaN and NaN without a grid.
    let pair_on_grid =
        |f: fn(&DayByDayGrid) -> (f64, f64)| grid.as_ref().map_or((f64::NAN, f64::NAN), f);
    let nan_sd = SdMeasures {
        within_days: f64::NAN,
        between_time_points: f64::NAN,
        within_series_1h: f64::NAN,
        daily_means: f64::NAN,
        between_days: f64::NAN,
        between_days_corrected: f64::NAN,
    };
    let (cv_mean_percent, cv_sd_percent) = pair_on_grid(variability::cv_measures);
    let grade = indices::grade_breakdown(&distribution);
    let daily = daily_profiles(series);
    let time_in_ranges = TimeInRanges::from_values(&distribution);
    let (lbgi, hbgi) = indices::risk_indices(&distribution);
    let (gvp, mag) = pair_on_grid(variability::gvp_and_mag);
    let (modd, conga_24h) = pair_on_grid(variability::modd_and_conga_24h);
    // IGC is their sum (indices::igc): computed once for the three fields.
    let (hyper_index, hypo_index) = indices::default_excursion_indices(&distribution);
    let research = ResearchIndices {
        mage: five_minute_grid
            .as_ref()
            .map_or(f64::NAN, |g| mage_on_grid(g, &config.mage)),
        modd,
        conga_1h: on_grid(&|g| variability::conga(g, 1)),
        conga_24h,
        lbgi,
        hbgi,
        adrr: variability::adrr_of_extremes(daily.iter().map(|day| (day.min, day.max))),
        j_index: indices::j_index(&distribution),
        gvp,
        mag,
        m_value: indices::m_value(&distribution, 90.0),
        igc: hyper_index + hypo_index,
        hyper_index,
        hypo_index,
        grade: grade.mean,
        grade_hypo_percent: grade.hypo_percent,
        grade_eugly_percent: grade.eugly_percent,
        grade_hyper_percent: grade.hyper_percent,
        cogi: indices::cogi(&distribution, 70.0, 180.0),
        pgs: on_grid(&|g| crate::pgs::pgs_of(gvp, mean, time_in_ranges.in_range_70_180.percent, g)),
        sd_measures: grid.as_ref().map_or(nan_sd, variability::sd_measures),
        cv_mean_percent,
        cv_sd_percent,
        sd_rate_of_change: five_minute_grid
            .as_ref()
            .map_or(f64::NAN, |g| variability::sd_rate_of_change(g, 15)),
    };
    GlucoseSummary {
        unit: GlucoseUnit::MgDl,
        time_zone: series.tz().name().to_owned(),
        first_reading: series.instant(0),
        last_reading: series.instant(series.len() - 1),
        readings: series.len(),
        exclusions: series.exclusions(),
        scans: None,
        days_with_data: daily.len(),
        sufficiency: DataSufficiency::of(&wear),
        wear,
        statistics,
        gmi_percent: indices::gmi_percent(&distribution),
        gmi_mmol_per_mol: indices::gmi_mmol_per_mol(&distribution),
        ea1c_percent: indices::ea1c_percent(&distribution),
        time_in_ranges,
        gri: indices::gri(&distribution),
        event_summaries,
        events,
        agp: agp_profile(series, &config.agp),
        daily_profiles: daily,
        research,
    }
}

impl GlucoseSummary {
    /// The same summary with every glucose concentration expressed in `unit`
    /// (percentages, counts, risk indices and scores are unit-free and unchanged).
    /// Indices whose formulas are defined on mg/dL stay as computed.
    #[must_use]
    pub fn in_unit(&self, unit: GlucoseUnit) -> Self {
        let mut out = self.clone();
        let rescale = |value: f64| unit.from_mg_dl(self.unit.to_mg_dl(value));
        out.unit = unit;
        let s = &mut out.statistics;
        for field in [
            &mut s.mean,
            &mut s.median,
            &mut s.sd,
            &mut s.min,
            &mut s.p05,
            &mut s.p25,
            &mut s.p75,
            &mut s.p95,
            &mut s.max,
            &mut s.iqr,
            &mut s.range,
            &mut s.mad,
        ] {
            *field = rescale(*field);
        }
        for bin in &mut out.agp {
            bin.percentiles = bin.percentiles.map(rescale);
        }
        for event in &mut out.events {
            event.extreme = rescale(event.extreme);
            event.mean = rescale(event.mean);
        }
        for class in &mut out.event_summaries {
            class.mean_glucose = rescale(class.mean_glucose);
        }
        for day in &mut out.daily_profiles {
            day.mean = rescale(day.mean);
            day.min = rescale(day.min);
            day.max = rescale(day.max);
            for point in &mut day.points {
                point.1 = rescale(f64::from(point.1)) as f32;
            }
        }
        let r = &mut out.research;
        for field in [
            &mut r.mage,
            &mut r.modd,
            &mut r.conga_1h,
            &mut r.conga_24h,
            &mut r.mag,
        ] {
            *field = rescale(*field);
        }
        let sd = &mut r.sd_measures;
        for field in [
            &mut sd.within_days,
            &mut sd.between_time_points,
            &mut sd.within_series_1h,
            &mut sd.daily_means,
            &mut sd.between_days,
            &mut sd.between_days_corrected,
        ] {
            *field = rescale(*field);
        }
        r.sd_rate_of_change = rescale(r.sd_rate_of_change);
        out
    }
}
