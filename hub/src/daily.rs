//! Daily summaries of the wearables and cuffs: steps, energy, distance, sleep (total and
//! by stage), heart rate (mean, resting, range) and blood pressure (means), by the
//! patient's local day. Pure: readings in, summaries out.
//!
//! Rules (docs/http-api.md):
//! - A reading belongs to the local day (patient's IANA zone, DST included) of its
//!   instant; a reading over a period (steps, energy, distance, a sleep span) belongs to
//!   the day on which its period ends, so a night's sleep counts for the morning it ends.
//! - When several devices count steps, energy or distance on the same day (a phone and
//!   a watch), the day takes the largest device total instead of adding them up: the
//!   devices count the same walking.
//! - Resting heart rate is the lowest mean over the day's 30-minute windows that hold at
//!   least three readings (absent when no window does); devices compute their own
//!   resting rates differently, so this one is only comparable with itself.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use device_adapters::reading::{Measurement, Reading};
use serde::Serialize;

/// Heart rate over a day (beats per minute).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeartRateDay {
    /// Readings.
    pub readings: usize,
    /// Mean, /min.
    pub mean_per_min: f64,
    /// Resting rate (lowest 30-minute mean with ≥ 3 readings), /min.
    pub resting_per_min: Option<f64>,
    /// Lowest reading, /min.
    pub min_per_min: f64,
    /// Highest reading, /min.
    pub max_per_min: f64,
}

/// Blood pressure over a day (mm[Hg]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BloodPressureDay {
    /// Measurements.
    pub readings: usize,
    /// Mean systolic, mm[Hg].
    pub systolic_mean_mm_hg: f64,
    /// Mean diastolic over the measurements that have one, mm[Hg].
    pub diastolic_mean_mm_hg: Option<f64>,
}

/// One local day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailySummary {
    /// The local date.
    pub date: NaiveDate,
    /// Steps (largest device total).
    pub steps: Option<f64>,
    /// Energy expended, kcal (largest device total).
    pub energy_kcal: Option<f64>,
    /// Distance, m (largest device total).
    pub distance_m: Option<f64>,
    /// Sleep ending this day, minutes, all stages but `awake`.
    pub sleep_min: Option<f64>,
    /// Sleep ending this day by stage (`light`, `deep`, `rem`, `awake`, `asleep`), minutes.
    pub sleep_by_stage_min: BTreeMap<String, f64>,
    /// Heart rate.
    pub heart_rate: Option<HeartRateDay>,
    /// Blood pressure.
    pub blood_pressure: Option<BloodPressureDay>,
    /// Last body weight of the day, kg.
    pub weight_kg: Option<f64>,
}

#[derive(Default)]
struct DayParts {
    /// (kind, device key) → total.
    counted: BTreeMap<(&'static str, String), f64>,
    sleep: BTreeMap<String, f64>,
    heart: Vec<(DateTime<Utc>, f64)>,
    pressure: Vec<(f64, Option<f64>)>,
    weight: Option<(DateTime<Utc>, f64)>,
}

/// The daily summaries of `readings` (any kinds; glucose is ignored) in zone `tz`, in
/// date order; days without any of these readings are absent.
#[must_use]
pub fn daily_summaries(readings: &[Reading], tz: chrono_tz::Tz) -> Vec<DailySummary> {
    let mut days: BTreeMap<NaiveDate, DayParts> = BTreeMap::new();
    for reading in readings {
        let date = reading.time.with_timezone(&tz).date_naive();
        let device = serde_json::to_string(&reading.device).unwrap_or_default();
        let finite = |v: f64| v.is_finite().then_some(v);
        match &reading.measurement {
            Measurement::Steps { count, .. } => {
                if let Some(v) = finite(count.value) {
                    let part = days.entry(date).or_default();
                    *part.counted.entry(("steps", device)).or_default() += v;
                }
            }
            Measurement::Calories { energy, .. } => {
                if let Some(v) = finite(energy.value) {
                    let part = days.entry(date).or_default();
                    *part.counted.entry(("energy", device)).or_default() += v;
                }
            }
            Measurement::Distance { distance, .. } => {
                if let Some(v) = finite(distance.value) {
                    let part = days.entry(date).or_default();
                    *part.counted.entry(("distance", device)).or_default() += v;
                }
            }
            Measurement::Sleep { duration, stage } => {
                if let Some(v) = finite(duration.value) {
                    let name = stage.map_or_else(
                        || "asleep".to_owned(),
                        |s| {
                            serde_json::to_value(s)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_else(|| "asleep".into())
                        },
                    );
                    *days.entry(date).or_default().sleep.entry(name).or_default() += v;
                }
            }
            Measurement::HeartRate { rate, .. } => {
                if let Some(v) = finite(rate.value) {
                    days.entry(date).or_default().heart.push((reading.time, v));
                }
            }
            Measurement::BloodPressure {
                systolic,
                diastolic,
                ..
            } => {
                if let Some(v) = finite(systolic.value) {
                    let diastolic = diastolic.as_ref().and_then(|d| finite(d.value));
                    days.entry(date).or_default().pressure.push((v, diastolic));
                }
            }
            Measurement::BodyWeight { weight, .. } => {
                if let Some(v) = finite(weight.value) {
                    let part = days.entry(date).or_default();
                    if part.weight.is_none_or(|(t, _)| reading.time >= t) {
                        part.weight = Some((reading.time, v));
                    }
                }
            }
            Measurement::CgmGlucose { .. } | Measurement::MeterGlucose { .. } => {}
        }
    }
    days.into_iter()
        .map(|(date, parts)| summarise_day(date, parts, tz))
        .collect()
}

fn summarise_day(date: NaiveDate, parts: DayParts, tz: chrono_tz::Tz) -> DailySummary {
    let largest = |kind: &str| {
        parts
            .counted
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, total)| *total)
            .reduce(f64::max)
    };
    let sleep_min = (!parts.sleep.is_empty()).then(|| {
        parts
            .sleep
            .iter()
            .filter(|(stage, _)| stage.as_str() != "awake")
            .map(|(_, minutes)| minutes)
            .sum()
    });
    DailySummary {
        date,
        steps: largest("steps"),
        energy_kcal: largest("energy"),
        distance_m: largest("distance"),
        sleep_min,
        sleep_by_stage_min: parts.sleep,
        heart_rate: heart_rate_day(&parts.heart, tz),
        blood_pressure: blood_pressure_day(&parts.pressure),
        weight_kg: parts.weight.map(|(_, kg)| kg),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0_usize), |(s, n), v| (s + v, n + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Heart rate of one day; resting as the module documents.
fn heart_rate_day(heart: &[(DateTime<Utc>, f64)], tz: chrono_tz::Tz) -> Option<HeartRateDay> {
    let mean_per_min = mean(heart.iter().map(|(_, v)| *v))?;
    let mut windows: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (time, rate) in heart {
        let local = time.with_timezone(&tz);
        windows
            .entry(local.hour() * 2 + local.minute() / 30)
            .or_default()
            .push(*rate);
    }
    let resting_per_min = windows
        .values()
        .filter(|rates| rates.len() >= 3)
        .filter_map(|rates| mean(rates.iter().copied()))
        .reduce(f64::min);
    Some(HeartRateDay {
        readings: heart.len(),
        mean_per_min,
        resting_per_min,
        min_per_min: heart.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min),
        max_per_min: heart
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max),
    })
}

fn blood_pressure_day(pressure: &[(f64, Option<f64>)]) -> Option<BloodPressureDay> {
    Some(BloodPressureDay {
        readings: pressure.len(),
        systolic_mean_mm_hg: mean(pressure.iter().map(|(s, _)| *s))?,
        diastolic_mean_mm_hg: mean(pressure.iter().filter_map(|(_, d)| *d)),
    })
}

#[cfg(test)]
mod tests {
    use device_adapters::reading::{DeviceIdentity, Quantity, ReadingSource, RecordId, SleepStage};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn reading(measurement: Measurement, time: &str, serial: &str) -> Reading {
        Reading::stamped(
            measurement,
            at(time),
            None,
            DeviceIdentity {
                serial: Some(serial.into()),
                ..DeviceIdentity::default()
            },
            RecordId::Instant { at: time.into() },
            ReadingSource::Import {
                importer: "test".into(),
                file: None,
                line: 0,
            },
        )
    }

    fn steps(count: f64, time: &str, serial: &str) -> Reading {
        reading(
            Measurement::Steps {
                count: Quantity::new(count, "{steps}"),
                period_min: 60.0,
            },
            time,
            serial,
        )
    }

    fn heart(rate: f64, time: &str) -> Reading {
        reading(
            Measurement::HeartRate {
                rate: Quantity::new(rate, "/min"),
                rr_intervals_s: Vec::new(),
            },
            time,
            "band",
        )
    }

    #[test]
    fn steps_of_two_devices_are_not_added_up_and_days_are_local() {
        let readings = [
            steps(3000.0, "2026-03-10T09:00:00+01:00", "phone"),
            steps(2000.0, "2026-03-10T18:00:00+01:00", "phone"),
            steps(4500.0, "2026-03-10T18:00:00+01:00", "watch"),
            // 23:30 UTC on the 10th is 00:30 on the 11th in Rome.
            steps(100.0, "2026-03-10T23:30:00Z", "phone"),
        ];
        let days = daily_summaries(&readings, chrono_tz::Europe::Rome);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].date, NaiveDate::from_ymd_opt(2026, 3, 10).unwrap());
        assert_eq!(days[0].steps, Some(5000.0));
        assert_eq!(days[1].steps, Some(100.0));
        assert_eq!(days[0].heart_rate, None);
    }

    #[test]
    fn sleep_counts_for_the_morning_it_ends_and_awake_is_not_sleep() {
        let span = |minutes: f64, stage: Option<SleepStage>, end: &str| {
            reading(
                Measurement::Sleep {
                    duration: Quantity::new(minutes, "min"),
                    stage,
                },
                end,
                "band",
            )
        };
        let readings = [
            span(200.0, Some(SleepStage::Light), "2026-03-11T03:00:00+01:00"),
            span(90.0, Some(SleepStage::Deep), "2026-03-11T04:30:00+01:00"),
            span(20.0, Some(SleepStage::Awake), "2026-03-11T04:50:00+01:00"),
            span(100.0, Some(SleepStage::Rem), "2026-03-11T06:30:00+01:00"),
        ];
        let day = &daily_summaries(&readings, chrono_tz::Europe::Rome)[0];
        assert_eq!(day.date, NaiveDate::from_ymd_opt(2026, 3, 11).unwrap());
        assert_eq!(day.sleep_min, Some(390.0));
        assert_eq!(day.sleep_by_stage_min.get("awake"), Some(&20.0));
        assert_eq!(day.sleep_by_stage_min.get("deep"), Some(&90.0));
    }

    #[test]
    fn resting_heart_rate_is_the_lowest_full_half_hour() {
        let readings = [
            heart(58.0, "2026-03-10T04:00:00+01:00"),
            heart(56.0, "2026-03-10T04:10:00+01:00"),
            heart(57.0, "2026-03-10T04:20:00+01:00"),
            // A lower window with only two readings does not count.
            heart(40.0, "2026-03-10T05:00:00+01:00"),
            heart(41.0, "2026-03-10T05:10:00+01:00"),
            heart(90.0, "2026-03-10T12:00:00+01:00"),
            heart(100.0, "2026-03-10T12:10:00+01:00"),
            heart(110.0, "2026-03-10T12:20:00+01:00"),
        ];
        let day = &daily_summaries(&readings, chrono_tz::Europe::Rome)[0];
        let hr = day.heart_rate.as_ref().unwrap();
        assert_eq!(hr.readings, 8);
        assert_eq!(hr.resting_per_min, Some(57.0));
        assert_eq!((hr.min_per_min, hr.max_per_min), (40.0, 110.0));
        assert!((hr.mean_per_min - 69.0).abs() < 1e-9);
    }

    #[test]
    fn blood_pressure_means_and_the_last_weight() {
        let bp = |s: f64, d: Option<f64>, time: &str| {
            reading(
                Measurement::BloodPressure {
                    systolic: Quantity::new(s, "mm[Hg]"),
                    diastolic: d.map(|d| Quantity::new(d, "mm[Hg]")),
                    mean_arterial: None,
                    pulse: None,
                },
                time,
                "cuff",
            )
        };
        let weight = |kg: f64, time: &str| {
            reading(
                Measurement::BodyWeight {
                    weight: Quantity::new(kg, "kg"),
                    bmi: None,
                },
                time,
                "scale",
            )
        };
        let readings = [
            bp(130.0, Some(85.0), "2026-03-10T08:00:00+01:00"),
            bp(140.0, None, "2026-03-10T20:00:00+01:00"),
            bp(f64::NAN, Some(80.0), "2026-03-10T21:00:00+01:00"),
            weight(71.0, "2026-03-10T21:00:00+01:00"),
            weight(70.5, "2026-03-10T07:00:00+01:00"),
        ];
        let day = &daily_summaries(&readings, chrono_tz::Europe::Rome)[0];
        let pressure = day.blood_pressure.as_ref().unwrap();
        assert_eq!(pressure.readings, 2, "the NaN measurement is not counted");
        assert!((pressure.systolic_mean_mm_hg - 135.0).abs() < 1e-12);
        assert_eq!(pressure.diastolic_mean_mm_hg, Some(85.0));
        assert_eq!(day.weight_kg, Some(71.0));
    }
}
