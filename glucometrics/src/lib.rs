//! # glucometrics
//!
//! The glucose metrics of the Ambulatory Glucose Profile and the International
//! Consensus on Time in Range (Battelino et al. 2019, Diabetes Care 42:1593; 2023,
//! Lancet Diabetes Endocrinol 11:42), and the research indices of the R package iglu,
//! reproduced to 1e-6 against iglu 4.3.0's own outputs.
//!
//! Pure logic: no I/O, no async, no device, HTTP or FHIR types. Input is a list of
//! [`GlucoseReading`]s (UTC instant, mg/dL) in any order plus the patient's IANA time
//! zone; output is a serde-serialisable [`GlucoseSummary`]. Every public function cites
//! the definition it implements.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use glucometrics::{summarize, GlucoseReading, SummaryConfig};
//!
//! let readings: Vec<GlucoseReading> = (0..288)
//!     .map(|i| GlucoseReading::new(
//!         Utc.timestamp_opt(1_700_000_000 + i * 300, 0).unwrap(),
//!         120.0 + (i % 24) as f64,
//!     ))
//!     .collect();
//! let summary = summarize(&readings, chrono_tz::Europe::Rome, &SummaryConfig::default())?;
//! assert!(summary.time_in_ranges.in_range_70_180.percent > 99.0);
//! # Ok::<(), glucometrics::MetricsError>(())
//! ```

pub mod active;
pub mod agp;
pub mod episodes;
pub mod grid;
pub mod indices;
pub mod mage;
pub mod pgs;
pub mod ranges;
pub mod series;
pub mod stats;
pub mod summary;
pub mod synthetic;
pub mod units;
pub mod variability;

pub use series::{ExclusionCounts, GlucoseReading, GlucoseSeries, ValidationConfig};
pub use summary::{summarize, summarize_series, GlucoseSummary, SummaryConfig};
pub use units::{GlucoseUnit, MG_DL_PER_MMOL_L};

/// Why a summary or metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// No reading passed validation.
    #[error("no valid glucose readings ({} received, {} not a number, {} below and {} above the plausible range)",
        .exclusions.received, .exclusions.not_a_number, .exclusions.below_plausible, .exclusions.above_plausible)]
    NoValidReadings {
        /// What was excluded, and why.
        exclusions: ExclusionCounts,
    },
    /// The metric needs more readings than there are.
    #[error("at least {needed} readings are needed, got {got}")]
    TooFewReadings {
        /// Readings needed.
        needed: usize,
        /// Readings available.
        got: usize,
    },
    /// The grid step is larger than the longest gap that may be interpolated.
    #[error(
        "sampling interval {step_min} min is above the maximal interpolation gap of {gap_min} min"
    )]
    StepAboveGap {
        /// Grid step, minutes.
        step_min: f64,
        /// Interpolation gap, minutes.
        gap_min: f64,
    },
    /// The readings span more days than the engine accepts.
    #[error("readings span {span_days:.1} days, more than the limit of {max_days} days")]
    SpanTooLong {
        /// Span, days.
        span_days: f64,
        /// Limit, days.
        max_days: u32,
    },
}
