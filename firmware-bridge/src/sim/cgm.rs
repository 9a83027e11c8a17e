//! A simulated CGM (CGMS 1.0.1) behind a [`GattLink`]: a sensor session with warm-up and
//! end, one record every `interval_min` minutes from a synthetic glucose trace (meals,
//! nocturnal lows, noise; sensor signal-loss gaps leave no record at all), stored for
//! backfill; notifications while connected and subscribed; RACP "report stored records"
//! by time offset; and radio outages, during which the link drops and notifications
//! are lost over the air (the records stay stored).

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use device_adapters::gatt::cgm::{self, CgmMeasurement, CrcCheck, SessionStartTime};
use device_adapters::gatt::ieee11073::SFloat;
use device_adapters::gatt::racp::{self, RacpMessage, RecordFilter, ResponseCode};
use device_adapters::gatt::DateTime as GattDateTime;
use glucometrics::synthetic::SyntheticTrace;

use crate::link::{GattEvent, GattLink, GattRequest};
use crate::session::{CGM_MEASUREMENT, CGM_SESSION_START, RACP};

/// The simulated sensor's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedCgmConfig {
    /// Sensor session start (UTC).
    pub session_start: DateTime<Utc>,
    /// Offset of the sensor's clock from UTC, 15-minute units (Rome in winter: 4).
    pub time_zone_quarter_hours: i8,
    /// Minutes between records (1 or 5).
    pub interval_min: u16,
    /// Session length, days (sensor end).
    pub days: u32,
    /// Warm-up before the first record, minutes.
    pub warm_up_min: u16,
    /// Seed of the glucose trace and of sensor signal loss.
    pub seed: u64,
    /// Probability that a record is never measured (sensor signal loss).
    pub signal_loss_probability: f64,
    /// Intervals during which the radio link is down.
    pub radio_outages: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Default for SimulatedCgmConfig {
    fn default() -> Self {
        Self {
            session_start: DateTime::from_timestamp(1_735_689_600, 0).unwrap_or_default(),
            time_zone_quarter_hours: 4,
            interval_min: 5,
            days: 14,
            warm_up_min: 60,
            seed: 1,
            signal_loss_probability: 0.002,
            radio_outages: Vec::new(),
        }
    }
}

/// The simulated CGM.
#[derive(Debug)]
pub struct SimulatedCgm {
    config: SimulatedCgmConfig,
    /// Every record the sensor will measure, by time offset, with glucose in mg/dL.
    schedule: BTreeMap<u16, f64>,
    /// Records measured so far (time offset ≤ now).
    measured_up_to: Option<u16>,
    connected: bool,
    subscribed: HashSet<u16>,
    events: VecDeque<GattEvent>,
}

impl SimulatedCgm {
    /// A sensor with `config`.
    #[must_use]
    pub fn new(config: SimulatedCgmConfig) -> Self {
        let trace = SyntheticTrace {
            start: config.session_start,
            days: config.days,
            interval_s: u32::from(config.interval_min.max(1)) * 60,
            utc_offset_min: i32::from(config.time_zone_quarter_hours) * 15,
            seed: config.seed,
            gap_probability: config.signal_loss_probability,
            // The sensor's own measurement schedule sets the instants.
            jitter_s: 0,
        }
        .generate();
        let schedule = trace
            .iter()
            .filter_map(|r| {
                let offset = u16::try_from((r.time - config.session_start).num_minutes()).ok()?;
                (offset >= config.warm_up_min).then_some((offset, r.mg_dl))
            })
            .collect();
        Self {
            config,
            schedule,
            measured_up_to: None,
            connected: false,
            subscribed: HashSet::new(),
            events: VecDeque::new(),
        }
    }

    /// Every record the sensor has measured by `now`: (time offset, mg/dL).
    #[must_use]
    pub fn measured(&self, now: DateTime<Utc>) -> Vec<(u16, f64)> {
        let limit = self.offset_at(now);
        self.schedule
            .range(..=limit.unwrap_or(0))
            .filter(|_| limit.is_some())
            .map(|(&o, &g)| (o, g))
            .collect()
    }

    /// The session start time as the sensor reports it.
    #[must_use]
    pub fn session_start_time(&self) -> SessionStartTime {
        let local = (self.config.session_start
            + Duration::minutes(i64::from(self.config.time_zone_quarter_hours) * 15))
        .naive_utc();
        SessionStartTime {
            start: GattDateTime::from_naive(local),
            time_zone_quarter_hours: Some(self.config.time_zone_quarter_hours),
            dst_quarter_hours: Some(0),
            crc: CrcCheck::Mcrf4xx,
        }
    }

    fn offset_at(&self, now: DateTime<Utc>) -> Option<u16> {
        let minutes = (now - self.config.session_start).num_minutes();
        (minutes >= 0).then(|| u16::try_from(minutes).unwrap_or(u16::MAX))
    }

    fn radio_up(&self, now: DateTime<Utc>) -> bool {
        !self
            .config
            .radio_outages
            .iter()
            .any(|&(from, to)| now >= from && now < to)
    }

    /// The CGM Measurement record the sensor sends for `mg_dl` at `offset` minutes into
    /// its session (CRC-protected, no optional fields).
    #[must_use]
    pub fn record_bytes(offset: u16, mg_dl: f64) -> Vec<u8> {
        let record = CgmMeasurement {
            glucose_mg_dl: SFloat::from_f64(mg_dl, 0),
            time_offset_min: offset,
            status: None,
            cal_temp: None,
            warning: None,
            trend_mg_dl_per_min: None,
            quality_percent: None,
            crc: CrcCheck::Mcrf4xx,
        };
        let mut bytes = Vec::new();
        cgm::encode_record(&record, &mut bytes);
        bytes
    }

    /// Measures the records due by `now`, notifying them when connected and subscribed.
    fn advance(&mut self, now: DateTime<Utc>) {
        let Some(limit) = self.offset_at(now) else {
            return;
        };
        let from = self.measured_up_to.map_or(0, |m| m.saturating_add(1));
        if from > limit {
            return;
        }
        let notify = self.connected && self.subscribed.contains(&CGM_MEASUREMENT);
        if notify {
            for (&offset, &mg_dl) in self.schedule.range(from..=limit) {
                self.events.push_back(GattEvent::Notification(
                    CGM_MEASUREMENT,
                    Self::record_bytes(offset, mg_dl),
                ));
            }
        }
        self.measured_up_to = Some(limit);
    }

    fn backfill(&mut self, filter: RecordFilter) {
        let upto = self.measured_up_to;
        let stored: Vec<(u16, f64)> = match (filter, upto) {
            (_, None) => Vec::new(),
            (RecordFilter::All, Some(up)) => {
                self.schedule.range(..=up).map(|(&o, &g)| (o, g)).collect()
            }
            (RecordFilter::SequenceAtLeast(from), Some(up)) if from <= up => self
                .schedule
                .range(from..=up)
                .map(|(&o, &g)| (o, g))
                .collect(),
            (RecordFilter::Last, Some(up)) => self
                .schedule
                .range(..=up)
                .next_back()
                .map(|(&o, &g)| (o, g))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        let code = if stored.is_empty() {
            ResponseCode::NoRecordsFound
        } else {
            ResponseCode::Success
        };
        for (offset, mg_dl) in stored {
            self.events.push_back(GattEvent::Notification(
                CGM_MEASUREMENT,
                Self::record_bytes(offset, mg_dl),
            ));
        }
        let mut bytes = Vec::new();
        racp::encode(
            &RacpMessage::Response {
                request_op_code: 1,
                code,
            },
            &mut bytes,
        );
        self.events.push_back(GattEvent::Notification(RACP, bytes));
    }
}

impl GattLink for SimulatedCgm {
    fn submit(&mut self, request: GattRequest, now: DateTime<Utc>) {
        self.advance(now);
        match request {
            GattRequest::Connect => {
                if self.radio_up(now) {
                    self.connected = true;
                    self.events.push_back(GattEvent::Connected);
                } else {
                    self.events.push_back(GattEvent::Disconnected);
                }
            }
            _ if !self.connected => {}
            GattRequest::Read(CGM_SESSION_START) => {
                let mut bytes = Vec::new();
                cgm::encode_session_start_time(&self.session_start_time(), &mut bytes);
                self.events
                    .push_back(GattEvent::ReadResult(CGM_SESSION_START, bytes));
            }
            GattRequest::Read(other) => self
                .events
                .push_back(GattEvent::ReadResult(other, Vec::new())),
            GattRequest::Subscribe(characteristic) => {
                self.subscribed.insert(characteristic);
            }
            GattRequest::Write(RACP, bytes) => match racp::decode(&bytes) {
                Ok(RacpMessage::ReportStoredRecords(filter)) => self.backfill(filter),
                _ => {
                    let mut out = Vec::new();
                    racp::encode(
                        &RacpMessage::Response {
                            request_op_code: bytes.first().copied().unwrap_or(0),
                            code: ResponseCode::OpCodeNotSupported,
                        },
                        &mut out,
                    );
                    self.events.push_back(GattEvent::Notification(RACP, out));
                }
            },
            // A CGM's times are session start + offset: it has no clock to set.
            GattRequest::Write(..) | GattRequest::WriteIfPresent(..) => {}
        }
    }

    fn poll_event(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
        if self.connected && !self.radio_up(now) {
            // The link drops: what was in flight is lost over the air.
            self.connected = false;
            self.subscribed.clear();
            self.events.clear();
            self.advance(now);
            return Some(GattEvent::Disconnected);
        }
        self.advance(now);
        self.events.pop_front()
    }
}
