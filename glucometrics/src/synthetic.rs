//! Deterministic synthetic CGM traces for tests, benchmarks and demonstrations: three
//! meals a day, a dawn rise, sensor noise, a night-time low every few days and
//! occasional sensor gaps. Looks like real data to the metrics; it is not a
//! physiological model and must never stand in for patient data.

use chrono::{DateTime, Duration, Utc};

use crate::series::GlucoseReading;

/// Shape of a synthetic trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticTrace {
    /// First reading (UTC).
    pub start: DateTime<Utc>,
    /// Length, days.
    pub days: u32,
    /// Sampling interval, seconds (300 for most CGMs, 60 for Libre 3).
    pub interval_s: u32,
    /// Offset of the wearer's local time from UTC, minutes (places meals and nights).
    pub utc_offset_min: i32,
    /// Seed of the pseudo-random generator: the same seed gives the same trace.
    pub seed: u64,
    /// Probability that a reading starts a sensor gap of 20–90 minutes.
    pub gap_probability: f64,
    /// Largest shift of a reading's timestamp off the cadence, either way, seconds (0:
    /// every reading exactly on it, and on the grid's instants). Real sensors' clocks
    /// start anywhere in the minute and drift by seconds, which costs the engine
    /// interpolation and distinct intervals that aligned readings do not.
    pub jitter_s: u32,
}

impl Default for SyntheticTrace {
    fn default() -> Self {
        Self {
            start: DateTime::from_timestamp(1_735_689_600, 0).unwrap_or_default(), // 2025-01-01Z
            days: 14,
            interval_s: 300,
            utc_offset_min: 60,
            seed: 42,
            gap_probability: 0.002,
            jitter_s: 0,
        }
    }
}

/// xorshift64*: small, fast, deterministic; quality is ample for test data.
struct Rng(u64);

impl Rng {
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1_u64 << 53) as f64
    }
}

impl SyntheticTrace {
    /// Generates the readings, mg/dL rounded to whole numbers, clamped to 40–400 mg/dL
    /// (a CGM's reporting range).
    #[must_use]
    pub fn generate(&self) -> Vec<GlucoseReading> {
        let mut rng = Rng(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // Timestamps jitter from a generator of their own: the values and gaps of a trace
        // are the same with and without jitter.
        let mut jitter_rng = Rng(self.seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let step = i64::from(self.interval_s.max(1));
        let total = i64::from(self.days) * 86_400 / step;
        let mut readings = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut noise = 0.0;
        let mut gap_left = 0_i64;
        // Meal sizes vary by day; a nocturnal low every fourth day.
        for k in 0..total {
            let instant = self.start + Duration::seconds(k * step);
            let local_min = (instant.timestamp() / 60 + i64::from(self.utc_offset_min)) as f64;
            let day = (local_min / 1440.0).floor();
            let minute = local_min - day * 1440.0;
            let day_seed = (day as i64).rem_euclid(97) as f64;
            let mut glucose = 115.0 + 12.0 * (-(minute - 360.0).powi(2) / 7200.0).exp();
            for (meal_at, size) in [(450.0, 70.0), (750.0, 85.0), (1170.0, 95.0)] {
                let since = minute - meal_at;
                if since > 0.0 {
                    let scale = size * (0.7 + 0.6 * ((day_seed * 7.3 + meal_at).sin() * 0.5 + 0.5));
                    glucose += scale * (since / 60.0) * (1.0 - since / 60.0).exp();
                }
            }
            if (day as i64).rem_euclid(4) == 1 && (120.0..240.0).contains(&minute) {
                glucose -= 60.0 * ((minute - 120.0) * std::f64::consts::PI / 120.0).sin();
            }
            noise = 0.9 * noise + 4.0 * (rng.next_unit() - 0.5);
            if gap_left > 0 {
                gap_left -= step;
                continue;
            }
            if rng.next_unit() < self.gap_probability {
                gap_left = (1200.0 + rng.next_unit() * 4200.0) as i64;
                continue;
            }
            let span_ms = f64::from(self.jitter_s) * 1000.0;
            let shift_ms = (span_ms * (2.0 * jitter_rng.next_unit() - 1.0)).round() as i64;
            readings.push(GlucoseReading::new(
                instant + Duration::milliseconds(shift_ms),
                (glucose + noise).round().clamp(40.0, 400.0),
            ));
        }
        readings
    }
}

/// The default trace validated in Europe/Rome, gridded by `config`: the data that unit
/// tests of the grid metrics run on (it has gaps, events and whole values).
#[cfg(test)]
pub(crate) fn default_grid(config: &crate::grid::GridConfig) -> crate::grid::DayByDayGrid {
    crate::grid::DayByDayGrid::new(&default_series(), config).expect("the trace spans days")
}

/// The default trace validated in Europe/Rome (see [`default_grid`]).
#[cfg(test)]
pub(crate) fn default_series() -> crate::GlucoseSeries {
    let readings = SyntheticTrace::default().generate();
    crate::GlucoseSeries::new(&readings, chrono_tz::Europe::Rome, &Default::default())
        .expect("synthetic readings are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_plausible() {
        let trace = SyntheticTrace::default();
        let a = trace.generate();
        assert_eq!(a, trace.generate());
        assert!(a.len() > 3900 && a.len() <= 4032, "{}", a.len());
        assert!(a.iter().all(|r| (40.0..=400.0).contains(&r.mg_dl)));
        let other = SyntheticTrace { seed: 7, ..trace }.generate();
        assert_ne!(a, other);
        // Jitter moves the timestamps within its bound and nothing else.
        let jittered = SyntheticTrace {
            jitter_s: 20,
            ..trace
        }
        .generate();
        assert_eq!(jittered.len(), a.len());
        for (j, r) in jittered.iter().zip(&a) {
            assert!((j.time - r.time).num_milliseconds().abs() <= 20_000);
            assert_eq!(j.mg_dl.to_bits(), r.mg_dl.to_bits());
        }
        assert!(jittered.iter().zip(&a).any(|(j, r)| j.time != r.time));
    }
}
