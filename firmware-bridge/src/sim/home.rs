//! Simulated home devices that measure at set times and keep what they measured — a
//! blood-pressure cuff (BLS 1.1, 0x2A35), a weight scale (WSS 1.0, 0x2A9D) and a glucose
//! meter (GLS 1.0, 0x2A18 with its Record Access Control Point 0x2A52) — behind a
//! [`GattLink`]. They measure at the given local times of day (a cuff morning and
//! evening, as home blood-pressure monitoring asks; a scale each morning; a meter before
//! meals and at bedtime). A cuff or scale keeps every measurement with its wall-clock
//! time stamp until a connected, subscribed collector has been sent it (indications: a
//! measurement is forgotten only once indicated) and sends what it kept, oldest first,
//! after each connection. A meter numbers its records (sequence numbers from 1), keeps
//! the last [`METER_MEMORY`] of them, notifies a new one while a collector is
//! subscribed, and sends stored ones only when asked through the RACP (`report stored
//! records`: all, first, last, or sequence number ≥ / ≤ / within a range), then
//! answers the request's outcome. Values follow a deterministic trace from the seed:
//! systolic 118–142, diastolic 74–90 mm[Hg], pulse 60–80 /min (higher in the
//! morning); weight 71.5–73.5 kg with BMI for 1.75 m; capillary glucose 85–135 mg/dL
//! before meals, 120–190 at bedtime.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use device_adapters::gatt::blood_pressure::{self, BloodPressureMeasurement, PressureUnit};
use device_adapters::gatt::glucose::{
    self, Concentration, ConcentrationUnit, GlucoseMeasurement, SampleLocation, SampleType,
};
use device_adapters::gatt::ieee11073::SFloat;
use device_adapters::gatt::racp::{self, RacpMessage, RecordFilter, ResponseCode};
use device_adapters::gatt::weight::{self, WeightMeasurement};
use device_adapters::gatt::DateTime as GattDateTime;

use super::Radio;
use crate::link::{GattEvent, GattLink, GattRequest};
use crate::session::{
    BLOOD_PRESSURE_MEASUREMENT, CURRENT_TIME, GLUCOSE_MEASUREMENT, RACP, WEIGHT_MEASUREMENT,
};

/// Records a simulated meter keeps (real meters keep 500 to 1,000).
pub const METER_MEMORY: usize = 1000;

/// Which device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeDeviceKind {
    /// A blood-pressure cuff.
    BloodPressureCuff,
    /// A weight scale.
    Scale,
    /// A glucose meter with a record memory and the RACP.
    GlucoseMeter,
}

impl HomeDeviceKind {
    /// The characteristics it offers, its measurement first.
    fn characteristics(self) -> &'static [u16] {
        match self {
            Self::BloodPressureCuff => &[BLOOD_PRESSURE_MEASUREMENT, CURRENT_TIME],
            Self::Scale => &[WEIGHT_MEASUREMENT, CURRENT_TIME],
            Self::GlucoseMeter => &[GLUCOSE_MEASUREMENT, RACP, CURRENT_TIME],
        }
    }

    fn characteristic(self) -> u16 {
        self.characteristics()[0]
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
    /// How far the device's clock is off, minutes (negative: slow), until a collector
    /// sets it through Current Time (0x2A2B).
    pub clock_error_min: i64,
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
            clock_error_min: 0,
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

    /// A glucose meter used before meals (07:30, 12:30, 19:30) and at bedtime (22:30)
    /// in Rome.
    #[must_use]
    pub fn glucose_meter() -> Self {
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
        Self {
            kind: HomeDeviceKind::GlucoseMeter,
            times_of_day: vec![at(7, 30), at(12, 30), at(19, 30), at(22, 30)],
            ..Self::cuff()
        }
    }
}

/// The simulated device.
#[derive(Debug)]
pub struct SimulatedHomeDevice {
    config: SimulatedHomeDeviceConfig,
    /// Measurements taken and not yet indicated (cuff, scale): (instant, bytes).
    kept: VecDeque<(DateTime<Utc>, Vec<u8>)>,
    /// A meter's record memory: (sequence number, bytes), oldest first.
    records: VecDeque<(u16, Vec<u8>)>,
    /// A meter's records not yet notified live (measured while subscribed).
    live: VecDeque<Vec<u8>>,
    /// Measurements are taken up to this instant.
    measured_until: Option<DateTime<Utc>>,
    /// The device clock's error (its wall clock − the true one).
    clock_error: Duration,
    radio: Radio,
}

impl SimulatedHomeDevice {
    /// A device with `config`.
    #[must_use]
    pub fn new(config: SimulatedHomeDeviceConfig) -> Self {
        Self {
            radio: Radio::new(config.radio_outages.clone()),
            kept: VecDeque::new(),
            records: VecDeque::new(),
            live: VecDeque::new(),
            measured_until: None,
            clock_error: Duration::minutes(config.clock_error_min),
            config,
        }
    }

    fn noise(&self, time: DateTime<Utc>) -> impl FnMut() -> f64 {
        super::noise(self.config.seed, time)
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

    /// The capillary glucose a meter measures at `time`, mg/dL (whole numbers).
    #[must_use]
    pub fn glucose_at(&self, time: DateTime<Utc>) -> f64 {
        let mut next = self.noise(time);
        let bedtime = time.with_timezone(&self.config.zone).hour() >= 21;
        if bedtime {
            (120.0 + 70.0 * next()).round()
        } else {
            (85.0 + 50.0 * next()).round()
        }
    }

    /// Takes the measurements due in `(measured_until, now]`.
    fn measure(&mut self, now: DateTime<Utc>) {
        let from = self.measured_until.unwrap_or(now - Duration::seconds(1));
        let zone = self.config.zone;
        let mut day = from.with_timezone(&zone).date_naive();
        while day <= now.with_timezone(&zone).date_naive() {
            for time_of_day in self.config.times_of_day.clone() {
                let Some(local) = zone
                    .from_local_datetime(&day.and_time(time_of_day))
                    .earliest()
                else {
                    continue; // a DST gap: no measurement that day at that time
                };
                let at = local.with_timezone(&Utc);
                if at > from && at <= now {
                    // Stamped by the device's own clock, error included.
                    let clock = (at + self.clock_error).with_timezone(&zone);
                    let stamp = GattDateTime::from_naive(clock.naive_local());
                    self.take(at, stamp);
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        self.measured_until = Some(now);
    }

    /// Keeps the measurement taken at `at`, time-stamped `stamp`: a cuff or scale until
    /// it is indicated; a meter as a numbered record (and, while a collector listens,
    /// notified now).
    fn take(&mut self, at: DateTime<Utc>, stamp: GattDateTime) {
        if self.config.kind != HomeDeviceKind::GlucoseMeter {
            let bytes = self.encode(at, stamp, 0);
            self.kept.push_back((at, bytes));
            return;
        }
        let sequence_number = self
            .records
            .back()
            .map_or(1, |(last, _)| last.wrapping_add(1).max(1));
        let bytes = self.encode(at, stamp, sequence_number);
        if self.radio.subscribed_to(GLUCOSE_MEASUREMENT) {
            self.live.push_back(bytes.clone());
        }
        self.records.push_back((sequence_number, bytes));
        if self.records.len() > METER_MEMORY {
            self.records.pop_front();
        }
    }

    /// A meter's answer to a RACP write: the matching records, oldest first, then the
    /// outcome (RACP §3.1: the response follows the last record).
    fn racp(&mut self, bytes: &[u8]) {
        let respond = |radio: &mut Radio, code| {
            let mut answer = Vec::new();
            racp::encode(
                &RacpMessage::Response {
                    request_op_code: 1,
                    code,
                },
                &mut answer,
            );
            radio.send(GattEvent::Notification(RACP, answer));
        };
        let filter = match racp::decode(bytes) {
            Ok(RacpMessage::ReportStoredRecords(filter)) => filter,
            Ok(_) | Err(_) => return respond(&mut self.radio, ResponseCode::OpCodeNotSupported),
        };
        let wanted: Vec<&Vec<u8>> = match filter {
            RecordFilter::All => self.records.iter().map(|(_, b)| b).collect(),
            RecordFilter::First => self.records.front().map(|(_, b)| b).into_iter().collect(),
            RecordFilter::Last => self.records.back().map(|(_, b)| b).into_iter().collect(),
            RecordFilter::SequenceAtLeast(n) => self
                .records
                .iter()
                .filter(|(s, _)| *s >= n)
                .map(|(_, b)| b)
                .collect(),
            RecordFilter::SequenceAtMost(n) => self
                .records
                .iter()
                .filter(|(s, _)| *s <= n)
                .map(|(_, b)| b)
                .collect(),
            RecordFilter::SequenceRange(a, b) => self
                .records
                .iter()
                .filter(|(s, _)| (a..=b).contains(s))
                .map(|(_, b)| b)
                .collect(),
            _ => return respond(&mut self.radio, ResponseCode::OperandNotSupported),
        };
        let found = !wanted.is_empty();
        let notifications: Vec<GattEvent> = wanted
            .into_iter()
            .map(|b| GattEvent::Notification(GLUCOSE_MEASUREMENT, b.clone()))
            .collect();
        for event in notifications {
            self.radio.send(event);
        }
        respond(
            &mut self.radio,
            if found {
                ResponseCode::Success
            } else {
                ResponseCode::NoRecordsFound
            },
        );
    }

    /// A collector set the clock (Current Time, CTS 1.1 §3.1): a wall-clock time in the
    /// device's zone; from now on the device stamps with it. A value that does not decode
    /// or names an impossible time is ignored, as a device would refuse it.
    fn set_clock(&mut self, bytes: &[u8], now: DateTime<Utc>) {
        let Ok(time) = device_adapters::gatt::current_time::decode(bytes) else {
            return;
        };
        let Some(wall) = time.date_time.to_naive() else {
            return;
        };
        let true_wall = now.with_timezone(&self.config.zone).naive_local();
        self.clock_error = wall - true_wall;
    }

    /// The device clock's error now (its wall clock − the true one).
    #[must_use]
    pub fn clock_error(&self) -> Duration {
        self.clock_error
    }

    /// Records a meter holds.
    #[must_use]
    pub fn records(&self) -> usize {
        self.records.len()
    }

    /// The measurement taken at `at`, time-stamped `stamp` (a meter's record
    /// `sequence_number`), in the device's bytes.
    fn encode(&self, at: DateTime<Utc>, stamp: GattDateTime, sequence_number: u16) -> Vec<u8> {
        let stamp_field = Some(stamp);
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
                        time_stamp: stamp_field,
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
                        time_stamp: stamp_field,
                        user_id: Some(1),
                        bmi_height_raw: Some(((bmi * 10.0).round() as u16, 1750)),
                    },
                    &mut bytes,
                );
            }
            HomeDeviceKind::GlucoseMeter => glucose::encode(
                &GlucoseMeasurement {
                    sequence_number,
                    base_time: stamp,
                    time_offset_min: None,
                    concentration: Some(Concentration {
                        // mg/dL as kg/L: 1 mg/dL = 1e-5 kg/L.
                        value: SFloat::from_f64(self.glucose_at(at) / 100_000.0, 5),
                        unit: ConcentrationUnit::KgPerL,
                        sample_type: SampleType::CapillaryWholeBlood,
                        location: SampleLocation::Finger,
                    }),
                    status: None,
                    context_follows: false,
                },
                &mut bytes,
            ),
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
        match self
            .radio
            .submit(request, now, self.config.kind.characteristics())
        {
            Some(GattRequest::Write(RACP, bytes)) => self.racp(&bytes),
            Some(GattRequest::WriteIfPresent(CURRENT_TIME, bytes)) => self.set_clock(&bytes, now),
            _ => {}
        }
    }

    fn poll_event(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
        self.measure(now);
        if let Some(event) = self.radio.poll(now) {
            return Some(event);
        }
        let characteristic = self.config.kind.characteristic();
        if !self.radio.subscribed_to(characteristic) {
            self.live.clear();
            return None;
        }
        if self.config.kind == HomeDeviceKind::GlucoseMeter {
            return self
                .live
                .pop_front()
                .map(|bytes| GattEvent::Notification(characteristic, bytes));
        }
        // Indicated and confirmed: only now may the cuff forget it.
        self.kept
            .pop_front()
            .map(|(_, bytes)| GattEvent::Notification(characteristic, bytes))
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

    #[test]
    fn a_meter_s_records_reach_the_collector_once_through_outages_and_restarts() {
        let zone = chrono_tz::Europe::Rome;
        let start = zone
            .with_ymd_and_hms(2026, 5, 4, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        // Out of reach from the morning of day 1 to the afternoon of day 2.
        let outage = (start + Duration::hours(10), start + Duration::hours(40));
        let mut meter = SimulatedHomeDevice::new(SimulatedHomeDeviceConfig {
            radio_outages: vec![outage],
            ..SimulatedHomeDeviceConfig::glucose_meter()
        });
        let kind = MeasurementKind::GlucoseMeter { zone };
        let mut session = MeasurementSession::new(kind, SessionConfig::default(), start);
        let mut readings = Vec::new();
        let mut run =
            |session: &mut MeasurementSession, meter: &mut SimulatedHomeDevice, hours: i64| {
                for minute in 0..(hours * 60) {
                    let now = start + Duration::minutes(minute);
                    session.exchange(meter, now);
                    while let Some(reading) = session.poll_reading() {
                        readings.push(reading);
                    }
                }
            };
        run(&mut session, &mut meter, 72);
        assert_eq!(meter.records(), 12, "four a day for three days");
        let local: Vec<String> = readings
            .iter()
            .map(|r| r.time.with_timezone(&zone).format("%d %H:%M").to_string())
            .collect();
        // Live, then the outage's records backfilled after the reconnection, then live.
        assert_eq!(
            local,
            [
                "04 07:30", "04 12:30", "04 19:30", "04 22:30", "05 07:30", "05 12:30", "05 19:30",
                "05 22:30", "06 07:30", "06 12:30", "06 19:30", "06 22:30"
            ]
        );
        for (i, reading) in readings.iter().enumerate() {
            let Measurement::MeterGlucose { glucose } = &reading.measurement else {
                panic!("not meter glucose");
            };
            assert!((glucose.value - meter.glucose_at(reading.time)).abs() < 1e-9);
            assert_eq!(
                reading.record,
                device_adapters::reading::RecordId::Sequence {
                    number: u32::try_from(i + 1).unwrap()
                }
            );
        }
        assert_eq!(session.cursor(), Some(12));
        assert_eq!(session.stats().duplicates, 0);
        assert!(session.stats().backfills >= 2);

        // A restarted collector resumes after its persisted cursor: nothing again.
        let later = start + Duration::hours(72);
        let mut resumed =
            MeasurementSession::new(kind, SessionConfig::default(), later).with_cursor(Some(10));
        let mut again = Vec::new();
        for minute in 0..5 {
            resumed.exchange(&mut meter, later + Duration::minutes(minute));
            while let Some(reading) = resumed.poll_reading() {
                again.push(reading);
            }
        }
        assert_eq!(again.len(), 2, "records 11 and 12 only");
        assert_eq!(resumed.cursor(), Some(12));
    }

    #[test]
    fn the_collector_sets_a_wrong_device_clock_so_later_stamps_are_right() {
        let zone = chrono_tz::Europe::Rome;
        let start = zone
            .with_ymd_and_hms(2026, 5, 4, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let run = |set_by_collector: bool| {
            let mut cuff = SimulatedHomeDevice::new(SimulatedHomeDeviceConfig {
                clock_error_min: -90,
                ..SimulatedHomeDeviceConfig::cuff()
            });
            let mut session = MeasurementSession::new(
                MeasurementKind::BloodPressure { zone },
                SessionConfig::default(),
                start,
            );
            let mut times = Vec::new();
            for minute in 0..(24 * 60) {
                let now = start + Duration::minutes(minute);
                if set_by_collector {
                    session.exchange(&mut cuff, now);
                } else {
                    // A collector that never writes Current Time.
                    crate::session::GattSession::exchange(
                        &mut NoClock(&mut session),
                        &mut cuff,
                        now,
                    );
                }
                while let Some(reading) = session.poll_reading() {
                    times.push(
                        reading
                            .time
                            .with_timezone(&zone)
                            .format("%H:%M")
                            .to_string(),
                    );
                }
            }
            (times, cuff.clock_error())
        };
        let (times, error) = run(true);
        assert_eq!(times, ["07:30", "20:30"], "stamped by the corrected clock");
        assert_eq!(error, Duration::zero());
        let (times, error) = run(false);
        assert_eq!(
            times,
            ["06:00", "19:00"],
            "a slow clock, left alone, shifts every reading"
        );
        assert_eq!(error, Duration::minutes(-90));
    }

    /// A session whose Current Time writes are dropped (a collector that does not set
    /// clocks), to show what the write changes.
    struct NoClock<'a>(&'a mut MeasurementSession);

    impl crate::session::GattSession for NoClock<'_> {
        fn poll_timeout(&self) -> Option<DateTime<Utc>> {
            self.0.poll_timeout()
        }
        fn handle_timeout(&mut self, now: DateTime<Utc>) {
            self.0.handle_timeout(now);
        }
        fn poll_request(&mut self) -> Option<GattRequest> {
            loop {
                match self.0.poll_request()? {
                    GattRequest::WriteIfPresent(CURRENT_TIME, _) => continue,
                    other => return Some(other),
                }
            }
        }
        fn handle(&mut self, event: GattEvent, now: DateTime<Utc>) {
            self.0.handle(event, now);
        }
        fn poll_reading(&mut self) -> Option<device_adapters::reading::Reading> {
            self.0.poll_reading()
        }
    }
}
