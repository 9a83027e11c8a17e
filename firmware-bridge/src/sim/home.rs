//! Simulated home devices that measure at set times and keep what they measured — a
//! blood-pressure cuff (BLS 1.1, 0x2A35) and a weight scale (WSS 1.0, 0x2A9D) — behind a
//! [`GattLink`]. They measure at the given local times of day (a cuff morning and
//! evening, as home blood-pressure monitoring asks; a scale each morning), keep every
//! measurement with its wall-clock time stamp until a connected, subscribed collector
//! has been sent it (indications: a measurement is forgotten only once indicated), and
//! send what they kept, oldest first, after each connection. Values follow a
//! deterministic trace from the seed: systolic 118–142, diastolic 74–90 mm[Hg], pulse
//! 60–80 /min (higher in the morning); weight 71.5–73.5 kg with BMI for 1.75 m.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use device_adapters::gatt::blood_pressure::{self, BloodPressureMeasurement, PressureUnit};
use device_adapters::gatt::ieee11073::SFloat;
use device_adapters::gatt::weight::{self, WeightMeasurement};
use device_adapters::gatt::DateTime as GattDateTime;

use super::Radio;
use crate::link::{GattEvent, GattLink, GattRequest};
use crate::session::{BLOOD_PRESSURE_MEASUREMENT, WEIGHT_MEASUREMENT};

/// Which device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeDeviceKind {
    /// A blood-pressure cuff.
    BloodPressureCuff,
    /// A weight scale.
    Scale,
}

impl HomeDeviceKind {
    fn characteristic(self) -> u16 {
        match self {
            Self::BloodPressureCuff => BLOOD_PRESSURE_MEASUREMENT,
            Self::Scale => WEIGHT_MEASUREMENT,
        }
    }
}

/// The device's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedHomeDeviceConfig {
    /// Which device.
    pub kind: HomeDeviceKind,
    /// The zone of the cuff's clock (its time stamps are wall-clock times in it).
    pub zone: chrono_tz::Tz,
    /// Local times of day at which the patient measures.
    pub times_of_day: Vec<NaiveTime>,
    /// Seed of the values.
    pub seed: u64,
    /// Intervals during which the radio link is down.
    pub radio_outages: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl SimulatedHomeDeviceConfig {
    /// A cuff used at 07:30 and 20:30 in Rome.
    #[must_use]
    pub fn cuff() -> Self {
        Self {
            kind: HomeDeviceKind::BloodPressureCuff,
            zone: chrono_tz::Europe::Rome,
            times_of_day: vec![
                NaiveTime::from_hms_opt(7, 30, 0).unwrap_or_default(),
                NaiveTime::from_hms_opt(20, 30, 0).unwrap_or_default(),
            ],
            seed: 1,
            radio_outages: Vec::new(),
        }
    }

    /// A scale used at 07:00 in Rome.
    #[must_use]
    pub fn scale() -> Self {
        Self {
            kind: HomeDeviceKind::Scale,
            times_of_day: vec![NaiveTime::from_hms_opt(7, 0, 0).unwrap_or_default()],
            ..Self::cuff()
        }
    }
}

/// The simulated device.
#[derive(Debug)]
pub struct SimulatedHomeDevice {
    config: SimulatedHomeDeviceConfig,
    /// Measurements taken and not yet indicated: (instant, bytes).
    kept: VecDeque<(DateTime<Utc>, Vec<u8>)>,
    /// Measurements are taken up to this instant.
    measured_until: Option<DateTime<Utc>>,
    radio: Radio,
}

impl SimulatedHomeDevice {
    /// A device with `config`.
    #[must_use]
    pub fn new(config: SimulatedHomeDeviceConfig) -> Self {
        Self {
            radio: Radio::new(config.radio_outages.clone()),
            config,
            kept: VecDeque::new(),
            measured_until: None,
        }
    }

    /// Deterministic numbers in [0, 1) for `time` and the seed.
    fn noise(&self, time: DateTime<Utc>) -> impl FnMut() -> f64 {
        let mut x =
            (time.timestamp() as u64) ^ self.config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        move || {
            x ^= x >> 33;
            x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
            x ^= x >> 33;
            (x % 1000) as f64 / 1000.0
        }
    }

    /// The weight a scale measures at `time`, kg (a multiple of the wire's 0.005 kg).
    #[must_use]
    pub fn weight_at(&self, time: DateTime<Utc>) -> f64 {
        let mut next = self.noise(time);
        ((71.5 + 2.0 * next()) / 0.005).round() * 0.005
    }

    /// The (systolic, diastolic, pulse) a cuff measures at `time`.
    #[must_use]
    pub fn values_at(&self, time: DateTime<Utc>) -> (f64, f64, f64) {
        let mut next = self.noise(time);
        let morning = time.with_timezone(&self.config.zone).hour() < 12;
        let lift = if morning { 6.0 } else { 0.0 };
        (
            (118.0 + lift + 18.0 * next()).round(),
            (74.0 + lift / 2.0 + 13.0 * next()).round(),
            (60.0 + 20.0 * next()).round(),
        )
    }

    /// Takes the measurements due in `(measured_until, now]`.
    fn measure(&mut self, now: DateTime<Utc>) {
        let from = self.measured_until.unwrap_or(now - Duration::seconds(1));
        let zone = self.config.zone;
        let mut day = from.with_timezone(&zone).date_naive();
        while day <= now.with_timezone(&zone).date_naive() {
            for &time_of_day in &self.config.times_of_day {
                let Some(local) = zone
                    .from_local_datetime(&day.and_time(time_of_day))
                    .earliest()
                else {
                    continue; // a DST gap: no measurement that day at that time
                };
                let at = local.with_timezone(&Utc);
                if at > from && at <= now {
                    let stamp = Some(GattDateTime::from_naive(local.naive_local()));
                    let bytes = self.encode(at, stamp);
                    self.kept.push_back((at, bytes));
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        self.measured_until = Some(now);
    }

    /// The measurement taken at `at`, time-stamped `stamp`, in the device's bytes.
    fn encode(&self, at: DateTime<Utc>, stamp: Option<GattDateTime>) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self.config.kind {
            HomeDeviceKind::BloodPressureCuff => {
                let (systolic, diastolic, pulse) = self.values_at(at);
                blood_pressure::encode(
                    &BloodPressureMeasurement {
                        unit: PressureUnit::MmHg,
                        systolic: SFloat::from_f64(systolic, 0),
                        diastolic: SFloat::from_f64(diastolic, 0),
                        mean_arterial: SFloat::from_f64(
                            ((systolic + 2.0 * diastolic) / 3.0).round(),
                            0,
                        ),
                        time_stamp: stamp,
                        pulse_bpm: Some(SFloat::from_f64(pulse, 0)),
                        user_id: Some(1),
                        status: Some(0),
                    },
                    &mut bytes,
                );
            }
            HomeDeviceKind::Scale => {
                let kg = self.weight_at(at);
                let bmi = kg / (1.75 * 1.75);
                weight::encode(
                    &WeightMeasurement {
                        imperial: false,
                        weight_raw: Some((kg / 0.005).round() as u16),
                        time_stamp: stamp,
                        user_id: Some(1),
                        bmi_height_raw: Some(((bmi * 10.0).round() as u16, 1750)),
                    },
                    &mut bytes,
                );
            }
        }
        bytes
    }

    /// Measurements kept, not yet sent.
    #[must_use]
    pub fn kept(&self) -> usize {
        self.kept.len()
    }
}

impl GattLink for SimulatedHomeDevice {
    fn submit(&mut self, request: GattRequest, now: DateTime<Utc>) {
        self.measure(now);
        self.radio
            .submit(request, now, self.config.kind.characteristic());
    }

    fn poll_event(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
        self.measure(now);
        if let Some(event) = self.radio.poll(now) {
            return Some(event);
        }
        if self.radio.streaming() {
            // Indicated and confirmed: only now may the cuff forget it.
            let characteristic = self.config.kind.characteristic();
            return self
                .kept
                .pop_front()
                .map(|(_, bytes)| GattEvent::Notification(characteristic, bytes));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{GattSession as _, MeasurementKind, MeasurementSession, SessionConfig};
    use device_adapters::reading::Measurement;

    #[test]
    fn measurements_kept_through_an_outage_arrive_with_their_own_times() {
        let zone = chrono_tz::Europe::Rome;
        // Three days across the spring DST change (29 March 2026 in Rome).
        let start = zone
            .with_ymd_and_hms(2026, 3, 28, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let outage = (start + Duration::hours(12), start + Duration::hours(50));
        let mut cuff = SimulatedHomeDevice::new(SimulatedHomeDeviceConfig {
            radio_outages: vec![outage],
            ..SimulatedHomeDeviceConfig::cuff()
        });
        let mut session = MeasurementSession::new(
            MeasurementKind::BloodPressure { zone },
            SessionConfig::default(),
            start,
        );
        let mut readings = Vec::new();
        for minute in 0..(72 * 60) {
            let now = start + Duration::minutes(minute);
            session.exchange(&mut cuff, now);
            while let Some(reading) = session.poll_reading() {
                readings.push(reading);
            }
        }
        assert_eq!(cuff.kept(), 0);
        assert_eq!(readings.len(), 6, "two a day for three days, none lost");
        let local: Vec<String> = readings
            .iter()
            .map(|r| r.time.with_timezone(&zone).format("%d %H:%M").to_string())
            .collect();
        assert_eq!(
            local,
            ["28 07:30", "28 20:30", "29 07:30", "29 20:30", "30 07:30", "30 20:30"]
        );
        for reading in &readings {
            let Measurement::BloodPressure {
                systolic,
                diastolic,
                pulse,
                ..
            } = &reading.measurement
            else {
                panic!("not a blood pressure");
            };
            let (s, d, p) = cuff.values_at(reading.time);
            assert!(
                (systolic.value - s).abs() < 1e-9
                    && (diastolic.as_ref().unwrap().value - d).abs() < 1e-9
            );
            assert!((pulse.as_ref().unwrap().value - p).abs() < 1e-9);
            assert!((118.0..=142.0).contains(&systolic.value));
        }
        assert_eq!(session.stats().connections, 2);
    }

    #[test]
    fn a_scale_weighs_each_morning_and_its_readings_carry_kg_and_bmi() {
        let zone = chrono_tz::Europe::Rome;
        let start = zone
            .with_ymd_and_hms(2026, 5, 4, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let mut scale = SimulatedHomeDevice::new(SimulatedHomeDeviceConfig {
            radio_outages: vec![(start, start + Duration::hours(30))],
            ..SimulatedHomeDeviceConfig::scale()
        });
        let mut session = MeasurementSession::new(
            MeasurementKind::Weight { zone },
            SessionConfig::default(),
            start,
        );
        let mut readings = Vec::new();
        for minute in 0..(48 * 60) {
            let now = start + Duration::minutes(minute);
            session.exchange(&mut scale, now);
            while let Some(reading) = session.poll_reading() {
                readings.push(reading);
            }
        }
        let local: Vec<String> = readings
            .iter()
            .map(|r| r.time.with_timezone(&zone).format("%d %H:%M").to_string())
            .collect();
        assert_eq!(
            local,
            ["04 07:00", "05 07:00"],
            "the first kept through the outage"
        );
        for reading in &readings {
            let Measurement::BodyWeight { weight, bmi } = &reading.measurement else {
                panic!("not a weight");
            };
            assert!((weight.value - scale.weight_at(reading.time)).abs() < 1e-9);
            let bmi = bmi.as_ref().unwrap().value;
            assert!((bmi - weight.value / (1.75 * 1.75)).abs() < 0.06, "{bmi}");
        }
    }
}
