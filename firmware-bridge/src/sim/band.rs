//! A simulated step/sleep band (PAMS 1.0) behind a [`GattLink`]. It runs one activity
//! session from `session_start` and, like a real band, keeps what it summarised until a
//! collector has been sent it:
//!
//! - every `summary_interval_min` a Step Counter Activity Summary (0x2B40) of the
//!   interval: normal walking and intensity steps, distance (0.72 m a step) and worn
//!   duration — nothing at night, a few hundred steps an interval by day, walks to and
//!   from work and an evening run from the seed;
//! - each morning at `wake_time` a Sleep Activity Summary (0x2B42) of the night: total
//!   sleep 6 h 20 min – 7 h 50 min, 10–50 min awake, latency, awakenings, efficiency
//!   and the average sleeping heart rate.
//!
//! Each summary carries the session id (1), a sub-session id (the local day since the
//! session began), its relative timestamp (seconds since the session's start) and a
//! sequence number shared by both kinds. The band answers a read of Activity Current
//! Session (0x2B44) with where its time base is now. Once a collector is connected and
//! subscribed to both summaries, it sends what it kept, oldest first, each value in
//! segments of at most `segment_len` octets (PAMS segmentation: header octet with
//! first/last bits and a rolling counter). A value is forgotten once its last segment
//! is out; a link that drops mid-value sends the whole value again next time.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use device_adapters::gatt::pams::{
    self, CurrentSession, RecordHeader, SleepSummary, StepCounterSummary,
};

use super::Radio;
use crate::link::{GattEvent, GattLink, GattRequest};

/// Metres a step (an adult's average stride).
const STRIDE_M: f64 = 0.72;

/// The band's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedBandConfig {
    /// The zone of the wearer's day (places night, walks and the morning summary).
    pub zone: chrono_tz::Tz,
    /// When the band's activity session began (its relative timestamps count from
    /// here), UTC.
    pub session_start: DateTime<Utc>,
    /// Minutes summarised by each step summary.
    pub summary_interval_min: u32,
    /// Local time the wearer goes to bed.
    pub bed_time: NaiveTime,
    /// Local time the wearer wakes; the sleep summary of the night is written then.
    pub wake_time: NaiveTime,
    /// Seed of the values.
    pub seed: u64,
    /// Largest notification, octets (header included): 20 at the default ATT MTU.
    pub segment_len: usize,
    /// Intervals during which the radio link is down.
    pub radio_outages: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl SimulatedBandConfig {
    /// A band worn in Rome from `session_start`: 15-minute step summaries, bed at
    /// 23:00, awake at 07:00.
    #[must_use]
    pub fn new(session_start: DateTime<Utc>) -> Self {
        Self {
            zone: chrono_tz::Europe::Rome,
            session_start,
            summary_interval_min: 15,
            bed_time: NaiveTime::from_hms_opt(23, 0, 0).unwrap_or_default(),
            wake_time: NaiveTime::from_hms_opt(7, 0, 0).unwrap_or_default(),
            seed: 1,
            segment_len: pams::DEFAULT_SEGMENT_LEN,
            radio_outages: Vec::new(),
        }
    }
}

/// The simulated band.
#[derive(Debug)]
pub struct SimulatedBand {
    config: SimulatedBandConfig,
    radio: Radio,
    /// Summaries written and not yet sent whole: (characteristic, value), oldest first.
    kept: VecDeque<(u16, Vec<u8>)>,
    /// Segments of the front value still to send on this connection.
    in_flight: VecDeque<Vec<u8>>,
    /// Next segment counter per characteristic (steps, sleep).
    counters: [u8; 2],
    /// Summaries are written up to this instant.
    summarised_until: DateTime<Utc>,
    next_sequence: u32,
    /// Summaries written so far (for tests and demos).
    written: u64,
}

impl SimulatedBand {
    /// A band with `config`, its session starting at `config.session_start`.
    #[must_use]
    pub fn new(config: SimulatedBandConfig) -> Self {
        Self {
            radio: Radio::new(config.radio_outages.clone()),
            summarised_until: config.session_start,
            config,
            kept: VecDeque::new(),
            in_flight: VecDeque::new(),
            counters: [0; 2],
            next_sequence: 1,
            written: 0,
        }
    }

    fn relative_s(&self, at: DateTime<Utc>) -> u32 {
        u32::try_from((at - self.config.session_start).num_seconds().max(0)).unwrap_or(u32::MAX)
    }

    fn record(&mut self, at: DateTime<Utc>) -> RecordHeader {
        let zone = self.config.zone;
        let first_day = self.config.session_start.with_timezone(&zone).date_naive();
        let day = (at.with_timezone(&zone).date_naive() - first_day).num_days();
        let sequence_number = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        RecordHeader {
            session_id: 1,
            sub_session_id: u16::try_from(day).unwrap_or(u16::MAX),
            relative_timestamp_s: self.relative_s(at),
            sequence_number,
        }
    }

    /// Local time `at` falls in the wearer's night.
    fn asleep(&self, at: DateTime<Utc>) -> bool {
        let t = at.with_timezone(&self.config.zone).time();
        let (bed, wake) = (self.config.bed_time, self.config.wake_time);
        if bed > wake {
            t >= bed || t < wake
        } else {
            t >= bed && t < wake
        }
    }

    /// (normal walking, intensity) steps in the interval ending at `end`.
    #[must_use]
    pub fn steps_in_interval_ending(&self, end: DateTime<Utc>) -> (u32, u32) {
        let middle = end - Duration::minutes(i64::from(self.config.summary_interval_min) / 2);
        if self.asleep(middle) {
            return (0, 0);
        }
        let mut next = super::noise(self.config.seed, end);
        let scale = f64::from(self.config.summary_interval_min) / 15.0;
        let local = middle.with_timezone(&self.config.zone);
        let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
        let walk = |from: f64, to: f64| (from..to).contains(&hour);
        let normal = if walk(8.0, 8.5) || walk(17.5, 18.0) {
            1200.0 + 400.0 * next()
        } else {
            120.0 + 480.0 * next()
        };
        let intensity = if walk(19.0, 19.5) {
            1800.0 + 300.0 * next()
        } else {
            0.0
        };
        (
            (normal * scale).round() as u32,
            (intensity * scale).round() as u32,
        )
    }

    /// (total sleep, total wake) seconds of the night ending at `wake`.
    #[must_use]
    pub fn night_ending(&self, wake: DateTime<Utc>) -> (u32, u32) {
        let mut next = super::noise(self.config.seed ^ 0x51EE_9000, wake);
        let sleep_min = 380.0 + 90.0 * next();
        let wake_min = 10.0 + 40.0 * next();
        (
            (sleep_min * 60.0).round() as u32,
            (wake_min * 60.0).round() as u32,
        )
    }

    fn keep(&mut self, characteristic: u16, value: Vec<u8>) {
        self.kept.push_back((characteristic, value));
        self.written += 1;
    }

    fn step_summary(&mut self, end: DateTime<Utc>) {
        let (normal, intensity) = self.steps_in_interval_ending(end);
        let worn_s = self.config.summary_interval_min * 60;
        let distance = (f64::from(normal + intensity) * STRIDE_M).round() as u32;
        let summary = StepCounterSummary {
            record: self.record(end),
            fields: [
                Some(normal),
                Some(intensity),
                None,
                Some(distance),
                Some(worn_s),
            ],
        };
        let mut value = Vec::new();
        pams::encode_step_counter_summary(&summary, &mut value);
        self.keep(pams::STEP_COUNTER_SUMMARY_UUID, value);
    }

    fn sleep_summary(&mut self, wake: DateTime<Utc>) {
        let (sleep_s, wake_s) = self.night_ending(wake);
        let mut next = super::noise(self.config.seed ^ 0xBED, wake);
        let latency_s = (300.0 + 900.0 * next()).round() as u32;
        let bed_s = sleep_s + wake_s + latency_s;
        let mut fields = [None; 20];
        fields[SleepSummary::TOTAL_SLEEP_TIME_S] = Some(sleep_s);
        fields[SleepSummary::TOTAL_WAKE_TIME_S] = Some(wake_s);
        fields[SleepSummary::TOTAL_BED_TIME_S] = Some(bed_s);
        fields[SleepSummary::AWAKENINGS] = Some(1 + (4.0 * next()) as u32);
        fields[4] = Some(latency_s);
        fields[SleepSummary::SLEEP_EFFICIENCY_PERCENT] =
            Some((100.0 * f64::from(sleep_s) / f64::from(bed_s)).round() as u32);
        fields[SleepSummary::AVERAGE_SLEEPING_HEART_RATE] = Some(50 + (10.0 * next()) as u32);
        let summary = SleepSummary {
            record: self.record(wake),
            fields,
        };
        let mut value = Vec::new();
        pams::encode_sleep_summary(&summary, &mut value);
        self.keep(pams::SLEEP_SUMMARY_UUID, value);
    }

    /// Writes the summaries due in `(summarised_until, now]`, in time order.
    fn summarise(&mut self, now: DateTime<Utc>) {
        let interval = Duration::minutes(i64::from(self.config.summary_interval_min.max(1)));
        let zone = self.config.zone;
        let start = self.config.session_start;
        loop {
            let from = self.summarised_until;
            let elapsed = (from - start).num_seconds() / interval.num_seconds();
            let next_steps = start + interval * (elapsed as i32 + 1);
            let next_wake = {
                let mut day = from.with_timezone(&zone).date_naive();
                loop {
                    let wake = zone
                        .from_local_datetime(&day.and_time(self.config.wake_time))
                        .earliest()
                        .map(|t| t.with_timezone(&Utc));
                    match wake {
                        Some(t) if t > from => break t,
                        _ => match day.succ_opt() {
                            Some(d) => day = d,
                            None => break DateTime::<Utc>::MAX_UTC,
                        },
                    }
                }
            };
            let due = next_steps.min(next_wake);
            if due > now {
                break;
            }
            // A wake time on an interval boundary: steps first, then the night.
            if next_steps <= next_wake {
                self.step_summary(next_steps);
            }
            if next_wake <= next_steps && next_wake - start >= Duration::hours(4) {
                self.sleep_summary(next_wake);
            }
            self.summarised_until = due;
        }
    }

    /// Summaries written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Summaries kept, not yet sent whole.
    #[must_use]
    pub fn kept(&self) -> usize {
        self.kept.len()
    }

    fn subscribed(&self) -> bool {
        self.radio.subscribed_to(pams::STEP_COUNTER_SUMMARY_UUID)
            && self.radio.subscribed_to(pams::SLEEP_SUMMARY_UUID)
    }
}

const CHARACTERISTICS: [u16; 3] = [
    pams::STEP_COUNTER_SUMMARY_UUID,
    pams::SLEEP_SUMMARY_UUID,
    pams::CURRENT_SESSION_UUID,
];

impl GattLink for SimulatedBand {
    fn submit(&mut self, request: GattRequest, now: DateTime<Utc>) {
        self.summarise(now);
        if let Some(GattRequest::Read(pams::CURRENT_SESSION_UUID)) =
            self.radio.submit(request, now, &CHARACTERISTICS)
        {
            let zone = self.config.zone;
            let first_day = self.config.session_start.with_timezone(&zone).date_naive();
            let day = (now.with_timezone(&zone).date_naive() - first_day).num_days();
            let mut value = Vec::new();
            pams::encode_current_session(
                &CurrentSession {
                    session_id: 1,
                    sub_session_id: u16::try_from(day).unwrap_or(u16::MAX),
                    relative_timestamp_s: self.relative_s(now),
                },
                &mut value,
            );
            self.radio
                .send(GattEvent::ReadResult(pams::CURRENT_SESSION_UUID, value));
        }
    }

    fn poll_event(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
        self.summarise(now);
        if let Some(event) = self.radio.poll(now) {
            return Some(event);
        }
        if !self.subscribed() {
            // Dropped (or not yet subscribed): a value cut short is sent whole next time.
            self.in_flight.clear();
            return None;
        }
        if self.in_flight.is_empty() {
            let (characteristic, value) = self.kept.front()?;
            let which = usize::from(*characteristic == pams::SLEEP_SUMMARY_UUID);
            let mut segments = Vec::new();
            self.counters[which] = pams::segment(
                value,
                self.config.segment_len,
                self.counters[which],
                &mut segments,
            );
            self.in_flight.extend(segments);
        }
        let characteristic = self.kept.front()?.0;
        let segment = self.in_flight.pop_front()?;
        if self.in_flight.is_empty() {
            // Its last segment is out: indicated and confirmed, now forgotten.
            self.kept.pop_front();
        }
        Some(GattEvent::Notification(characteristic, segment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{
        GattSession as _, MeasurementKind, MeasurementSession, SessionConfig, SLEEP_SUMMARY,
    };
    use device_adapters::reading::{Measurement, Reading, RecordId, SleepStage};

    fn rome(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Rome
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn band_session(start: DateTime<Utc>) -> MeasurementSession {
        MeasurementSession::new(
            MeasurementKind::ActivityMonitor,
            SessionConfig::default(),
            start,
        )
    }

    fn drain(session: &mut MeasurementSession, readings: &mut Vec<Reading>) {
        while let Some(reading) = session.poll_reading() {
            readings.push(reading);
        }
        if let Some(issue) = session.poll_issue() {
            panic!("unexpected issue: {issue}");
        }
    }

    #[test]
    fn three_days_with_a_night_offline_arrive_once_with_the_band_s_own_times() {
        let start = rome(2026, 5, 4, 10);
        // Offline from 22:00 on the 5th to 09:00 on the 6th: that morning's sleep
        // summary and eleven hours of step summaries wait on the band.
        let outage = (rome(2026, 5, 5, 22), rome(2026, 5, 6, 9));
        let mut band = SimulatedBand::new(SimulatedBandConfig {
            radio_outages: vec![outage],
            ..SimulatedBandConfig::new(start)
        });
        let mut session = band_session(start);
        let mut readings = Vec::new();
        for minute in 0..=(72 * 60) {
            session.exchange(&mut band, start + Duration::minutes(minute));
            drain(&mut session, &mut readings);
        }
        assert_eq!(band.kept(), 0);
        assert_eq!(
            band.written(),
            288 + 3,
            "a step summary every 15 min, 3 nights"
        );
        assert_eq!(
            readings.len(),
            2 * 291,
            "steps and distance; sleep and awake"
        );
        let mut keys: Vec<_> = readings.iter().map(Reading::dedup_key).collect();
        keys.sort_by_key(|k| format!("{k:?}"));
        keys.dedup();
        assert_eq!(keys.len(), readings.len(), "every reading its own identity");

        let mut total_steps = 0.0;
        let mut expected_steps = 0.0;
        let mut step_times = Vec::new();
        for reading in &readings {
            match &reading.measurement {
                Measurement::Steps { count, period_min } => {
                    assert!((period_min - 15.0).abs() < 1e-9);
                    total_steps += count.value;
                    let (normal, intensity) = band.steps_in_interval_ending(reading.time);
                    expected_steps += f64::from(normal + intensity);
                    step_times.push(reading.time);
                    let local = reading.time.with_timezone(&chrono_tz::Europe::Rome);
                    if (1..6).contains(&local.hour()) {
                        assert!(count.value.abs() < 1e-9, "asleep at {local}");
                    }
                }
                Measurement::Sleep { duration, stage } => {
                    let local = reading.time.with_timezone(&chrono_tz::Europe::Rome);
                    assert_eq!(local.format("%H:%M").to_string(), "07:00");
                    let (sleep_s, wake_s) = band.night_ending(reading.time);
                    let expected = match stage {
                        Some(SleepStage::Asleep) => sleep_s,
                        Some(SleepStage::Awake) => wake_s,
                        other => panic!("stage {other:?}"),
                    };
                    assert!((duration.value - f64::from(expected) / 60.0).abs() < 1e-9);
                    assert!(matches!(
                        &reading.record,
                        RecordId::SessionRecord { session_id: 1, .. }
                    ));
                }
                Measurement::Distance { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!((total_steps - expected_steps).abs() < 1e-9);
        assert!(
            total_steps > 20_000.0,
            "three days of walking: {total_steps}"
        );
        step_times.sort();
        let expected_times: Vec<_> = (1..=288)
            .map(|k| start + Duration::minutes(15 * k))
            .collect();
        assert_eq!(
            step_times, expected_times,
            "each at its interval's end, none missing"
        );
        assert_eq!(session.stats().connections, 2);
    }

    /// Delivers at most `budget` events, then nothing (the rest stays on the band).
    struct Throttled<'a> {
        band: &'a mut SimulatedBand,
        budget: usize,
    }

    impl GattLink for Throttled<'_> {
        fn submit(&mut self, request: GattRequest, now: DateTime<Utc>) {
            self.band.submit(request, now);
        }

        fn poll_event(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
            self.budget = self.budget.checked_sub(1)?;
            self.band.poll_event(now)
        }
    }

    #[test]
    fn a_link_that_drops_mid_value_gets_the_whole_value_again_never_a_glued_one() {
        let start = rome(2026, 5, 4, 10);
        let cut = start + Duration::minutes(31);
        let mut band = SimulatedBand::new(SimulatedBandConfig {
            radio_outages: vec![(cut, cut + Duration::minutes(5))],
            ..SimulatedBandConfig::new(start)
        });
        let mut session = band_session(start);
        // Two summaries are waiting at 10:30. Deliver Connected, the current session,
        // and the first segment of the first summary only.
        let at = start + Duration::minutes(30);
        session.exchange(
            &mut Throttled {
                band: &mut band,
                budget: 3,
            },
            at,
        );
        let mut readings = Vec::new();
        drain(&mut session, &mut readings);
        assert!(readings.is_empty());
        // The link drops; the band resends from the first segment after reconnecting.
        for minute in 31..=60 {
            session.exchange(&mut band, start + Duration::minutes(minute));
            drain(&mut session, &mut readings);
        }
        assert_eq!(
            readings.len(),
            8,
            "four summaries, steps and distance each, once"
        );
        assert_eq!(session.stats().connections, 2);
    }

    #[test]
    fn a_summary_from_another_session_is_refused_with_its_reason_not_mistimed() {
        let start = rome(2026, 5, 4, 10);
        let mut session = band_session(start);
        let mut band = SimulatedBand::new(SimulatedBandConfig::new(start));
        session.exchange(&mut band, start + Duration::minutes(1));
        // A sleep summary of session 7 arrives while the band says session 1 runs.
        let mut value = Vec::new();
        let mut fields = [None; 20];
        fields[SleepSummary::TOTAL_SLEEP_TIME_S] = Some(25_000);
        pams::encode_sleep_summary(
            &SleepSummary {
                record: RecordHeader {
                    session_id: 7,
                    sub_session_id: 0,
                    relative_timestamp_s: 60,
                    sequence_number: 1,
                },
                fields,
            },
            &mut value,
        );
        let mut segments = Vec::new();
        pams::segment(&value, 20, 0, &mut segments);
        for segment in segments {
            session.handle(
                GattEvent::Notification(SLEEP_SUMMARY, segment),
                start + Duration::minutes(1),
            );
        }
        assert_eq!(session.poll_reading(), None);
        let issue = session.poll_issue().expect("an issue").to_string();
        assert!(issue.contains("session 7"), "{issue}");
    }
}
