//! A simulated heart-rate strap (HRS 1.0) behind a [`GattLink`]: once connected and
//! subscribed, it notifies a Heart Rate Measurement every `interval_s` seconds, with
//! skin contact, energy expended and RR intervals consistent with the rate, from a
//! deterministic trace (lower at night, higher by day, an evening workout, noise from
//! the seed). Like a real strap it stores nothing: during a radio outage the link drops
//! and those measurements are gone. A host that polls less often than `interval_s`
//! gets the latest measurement only (notifications are not queued over the air).

use chrono::{DateTime, Timelike, Utc};
use device_adapters::gatt::heart_rate::{self, HeartRateMeasurement, SensorContact};

use super::Radio;
use crate::link::{GattEvent, GattLink, GattRequest};
use crate::session::HEART_RATE_MEASUREMENT;

/// The strap's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedHeartRateConfig {
    /// Seconds between measurements.
    pub interval_s: i64,
    /// Seed of the noise.
    pub seed: u64,
    /// The wearer's offset from UTC, minutes (places night and the workout).
    pub utc_offset_min: i32,
    /// Intervals during which the radio link is down.
    pub radio_outages: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Default for SimulatedHeartRateConfig {
    fn default() -> Self {
        Self {
            interval_s: 1,
            seed: 1,
            utc_offset_min: 60,
            radio_outages: Vec::new(),
        }
    }
}

/// The simulated strap.
#[derive(Debug)]
pub struct SimulatedHeartRate {
    config: SimulatedHeartRateConfig,
    radio: Radio,
    last_sent: Option<i64>,
    energy_kj: u16,
}

impl SimulatedHeartRate {
    /// A strap with `config`.
    #[must_use]
    pub fn new(config: SimulatedHeartRateConfig) -> Self {
        Self {
            radio: Radio::new(config.radio_outages.clone()),
            config,
            last_sent: None,
            energy_kj: 0,
        }
    }

    /// The rate the strap measures at `time`, beats per minute.
    #[must_use]
    pub fn rate_at(&self, time: DateTime<Utc>) -> u16 {
        let local = time + chrono::Duration::minutes(i64::from(self.config.utc_offset_min));
        let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
        let base = if !(6.5..23.0).contains(&hour) {
            56.0
        } else if (18.0..18.75).contains(&hour) {
            135.0 // the evening workout
        } else {
            72.0 + 8.0 * ((hour - 6.5) / 16.5 * std::f64::consts::PI).sin()
        };
        // Deterministic noise from the seed and the second: ±4 /min.
        let mut x =
            (time.timestamp() as u64) ^ self.config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 33;
        let noise = (x % 9) as f64 - 4.0;
        (base + noise).round().clamp(30.0, 220.0) as u16
    }

    fn measurement(&mut self, time: DateTime<Utc>) -> Vec<u8> {
        let bpm = self.rate_at(time);
        // About 0.1 kJ per beat at rest; enough to make the field move.
        self.energy_kj = self.energy_kj.wrapping_add(bpm / 60 + 1);
        let rr = (60.0 / f64::from(bpm) * 1024.0).round() as u16;
        let mut bytes = Vec::new();
        heart_rate::encode(
            &HeartRateMeasurement {
                bpm,
                wide: false,
                contact: SensorContact::Detected,
                energy_kj: Some(self.energy_kj),
                rr_intervals_1024ths: vec![rr],
            },
            &mut bytes,
        );
        bytes
    }
}

impl GattLink for SimulatedHeartRate {
    fn submit(&mut self, request: GattRequest, now: DateTime<Utc>) {
        let _ = self.radio.submit(request, now, &[HEART_RATE_MEASUREMENT]);
    }

    fn poll_event(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
        if let Some(event) = self.radio.poll(now) {
            return Some(event);
        }
        let slot = now.timestamp().div_euclid(self.config.interval_s.max(1));
        if self.radio.subscribed_to(HEART_RATE_MEASUREMENT)
            && self.last_sent.is_none_or(|last| slot > last)
        {
            self.last_sent = Some(slot);
            let bytes = self.measurement(now);
            return Some(GattEvent::Notification(HEART_RATE_MEASUREMENT, bytes));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{
        GattSession as _, MeasurementKind, MeasurementSession, SessionConfig, SessionState,
    };
    use device_adapters::reading::Measurement;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_session_reads_the_strap_every_interval_and_reconnects_after_an_outage() {
        let start = at("2026-03-10T17:00:00Z");
        let outage = (at("2026-03-10T17:10:00Z"), at("2026-03-10T17:20:00Z"));
        let mut strap = SimulatedHeartRate::new(SimulatedHeartRateConfig {
            interval_s: 60,
            radio_outages: vec![outage],
            ..SimulatedHeartRateConfig::default()
        });
        let mut session =
            MeasurementSession::new(MeasurementKind::HeartRate, SessionConfig::default(), start);
        let mut readings = Vec::new();
        for minute in 0..60 {
            let now = start + chrono::Duration::minutes(minute);
            session.exchange(&mut strap, now);
            while let Some(reading) = session.poll_reading() {
                readings.push(reading);
            }
        }
        assert_eq!(session.state(), SessionState::Streaming);
        assert_eq!(
            session.stats().connections,
            2,
            "reconnected after the outage"
        );
        // One a minute, none during the outage; the backoff (2, 4, 8, … s) retries at
        // each exchange once due, so the strap is back within a minute of the outage.
        assert!((48..=50).contains(&readings.len()), "{}", readings.len());
        assert!(readings
            .iter()
            .all(|r| r.time < outage.0 || r.time >= outage.1));
        // 18:00–18:45 local (17:00–17:45 UTC) is the workout: the rate is high, and the
        // reading is the strap's own number.
        for reading in &readings {
            let Measurement::HeartRate {
                rate,
                rr_intervals_s,
            } = &reading.measurement
            else {
                panic!("not a heart rate");
            };
            assert!((rate.value - f64::from(strap.rate_at(reading.time))).abs() < 1e-9);
            if reading.time < at("2026-03-10T17:45:00Z") {
                assert!(rate.value >= 125.0, "{}", rate.value);
            } else {
                assert!(rate.value < 100.0, "{}", rate.value);
            }
            assert!((rr_intervals_s[0] - 60.0 / rate.value).abs() < 0.01);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_rates() {
        let strap = SimulatedHeartRate::new(SimulatedHeartRateConfig::default());
        let again = SimulatedHeartRate::new(SimulatedHeartRateConfig::default());
        let other = SimulatedHeartRate::new(SimulatedHeartRateConfig {
            seed: 2,
            ..SimulatedHeartRateConfig::default()
        });
        let times: Vec<DateTime<Utc>> = (0..100)
            .map(|s| at("2026-03-10T03:00:00Z") + chrono::Duration::seconds(s))
            .collect();
        let rates =
            |s: &SimulatedHeartRate| times.iter().map(|&t| s.rate_at(t)).collect::<Vec<_>>();
        assert_eq!(rates(&strap), rates(&again));
        assert_ne!(rates(&strap), rates(&other));
        // Night: around 56 /min.
        assert!(rates(&strap).iter().all(|&r| (52..=60).contains(&r)));
    }
}
