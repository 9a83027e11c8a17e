//! The collector side of a CGM (CGMS 1.0.1), as a state machine with time as an
//! argument: connect, read the session start time, subscribe, backfill through the
//! Record Access Control Point from the persisted cursor, then stream; on a dropped
//! link, reconnect with exponential backoff and backfill again. A gap in the radio link
//! is never a gap in the data.
//!
//! ```text
//!  Disconnected --timeout--> Connecting --Connected--> ReadingStart --start time-->
//!  Backfilling --RACP response--> Streaming;  any state --Disconnected--> Disconnected
//! ```
//!
//! The cursor is the highest time offset (minutes since session start) below which every
//! record has been received; it only advances when a backfill completes or, while
//! streaming, with each in-order live record, so persisting it never skips a record.
//! Records seen twice in one sensor session (a live record and its backfilled copy) are
//! dropped here; across restarts the hub de-duplicates on the record identity.

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use device_adapters::convert::{self, ConversionError};
use device_adapters::gatt::cgm::{self, SessionStartTime};
use device_adapters::gatt::pams::{self, Reassembler};
use device_adapters::gatt::racp::{self, RacpMessage, RecordFilter, ResponseCode};
use device_adapters::gatt::DecodeError;
use device_adapters::reading::{DeviceIdentity, Reading};

use crate::link::{GattEvent, GattLink, GattRequest};

/// CGM Measurement.
pub const CGM_MEASUREMENT: u16 = 0x2AA7;
/// CGM Session Start Time.
pub const CGM_SESSION_START: u16 = 0x2AAA;
/// Record Access Control Point.
pub const RACP: u16 = 0x2A52;

/// Reconnection policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Who the device is (goes into every reading).
    pub device: DeviceIdentity,
    /// First reconnection delay, seconds.
    pub backoff_initial_s: i64,
    /// Longest reconnection delay, seconds.
    pub backoff_max_s: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            device: DeviceIdentity::default(),
            backoff_initial_s: 2,
            backoff_max_s: 300,
        }
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting to (re)connect at the given instant.
    Disconnected {
        /// When to try again.
        retry_at: DateTime<Utc>,
    },
    /// A connection was requested.
    Connecting,
    /// Connected; the session start time was requested.
    ReadingStart,
    /// Stored records were requested and are arriving.
    Backfilling,
    /// Live records are arriving.
    Streaming,
}

/// Something the session could not use, kept for the gateway's report (no health
/// values in it).
#[derive(Debug, Clone, PartialEq)]
pub enum SessionIssue {
    /// Bytes that did not decode.
    Decode(DecodeError),
    /// A record that is not a patient reading (special value, out of range).
    Conversion(ConversionError),
    /// The device answered the backfill request with an error.
    Racp(ResponseCode),
}

/// For logs: what went wrong, without the health value itself (an out-of-range value
/// shows the range, not the value).
impl std::fmt::Display for SessionIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Decode(error) => write!(f, "undecodable value: {error}"),
            Self::Conversion(ConversionError::OutOfRange {
                characteristic,
                field,
                unit,
                min,
                max,
                ..
            }) => write!(
                f,
                "not a reading: {characteristic:?} {field} outside {min}–{max} {unit}"
            ),
            Self::Conversion(error) => write!(f, "not a reading: {error}"),
            Self::Racp(code) => write!(f, "backfill refused by the device: {code:?}"),
        }
    }
}

/// Counters for the gateway's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Connections established.
    pub connections: u64,
    /// Backfills completed.
    pub backfills: u64,
    /// Readings produced.
    pub readings: u64,
    /// Records dropped as already seen in this sensor session.
    pub duplicates: u64,
}

/// What every device session offers its host: a timeout to honour, requests to perform,
/// events to take. [`GattSession::exchange`] is the one loop every host runs (the demo,
/// the gateway, the tests) for any kind of device.
pub trait GattSession {
    /// When the session next wants [`Self::handle_timeout`] called.
    fn poll_timeout(&self) -> Option<DateTime<Utc>>;

    /// Time has reached `now`.
    fn handle_timeout(&mut self, now: DateTime<Utc>);

    /// The next GATT operation to perform.
    fn poll_request(&mut self) -> Option<GattRequest>;

    /// Handles an event from the link at `now`.
    fn handle(&mut self, event: GattEvent, now: DateTime<Utc>);

    /// The next reading produced.
    fn poll_reading(&mut self) -> Option<Reading>;

    /// Drives the session against `link` up to `now`: fires a due timeout, then trades
    /// requests and events until the link has nothing more by `now`; readings are then
    /// taken from the session.
    fn exchange(&mut self, link: &mut impl GattLink, now: DateTime<Utc>)
    where
        Self: Sized,
    {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.handle_timeout(now);
        }
        loop {
            while let Some(request) = self.poll_request() {
                link.submit(request, now);
            }
            let Some(event) = link.poll_event(now) else {
                break;
            };
            self.handle(event, now);
        }
    }
}

/// Reconnection with exponential backoff, shared by the sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reconnect {
    initial_s: i64,
    max_s: i64,
    next_s: i64,
}

impl Reconnect {
    fn new(config: &SessionConfig) -> Self {
        Self {
            initial_s: config.backoff_initial_s,
            max_s: config.backoff_max_s,
            next_s: config.backoff_initial_s,
        }
    }

    /// Connected: the next drop waits the initial delay again.
    fn connected(&mut self) {
        self.next_s = self.initial_s;
    }

    /// Dropped at `now`: when to try again (and double the delay after that).
    fn dropped(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let retry_at = now + Duration::seconds(self.next_s);
        self.next_s = (self.next_s * 2).min(self.max_s);
        retry_at
    }
}

/// What every session keeps — where it is, its reconnection, its queues, its counters —
/// and the lifecycle they share: wait, connect, drop, wait again.
#[derive(Debug)]
struct Core {
    state: SessionState,
    reconnect: Reconnect,
    requests: VecDeque<GattRequest>,
    readings: VecDeque<Reading>,
    issues: VecDeque<SessionIssue>,
    stats: SessionStats,
}

impl Core {
    /// Waiting to connect at `now`.
    fn new(config: &SessionConfig, now: DateTime<Utc>) -> Self {
        Self {
            state: SessionState::Disconnected { retry_at: now },
            reconnect: Reconnect::new(config),
            requests: VecDeque::new(),
            readings: VecDeque::new(),
            issues: VecDeque::new(),
            stats: SessionStats::default(),
        }
    }

    fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        match self.state {
            SessionState::Disconnected { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    fn handle_timeout(&mut self, now: DateTime<Utc>) {
        if let SessionState::Disconnected { retry_at } = self.state {
            if now >= retry_at {
                self.state = SessionState::Connecting;
                self.requests.push_back(GattRequest::Connect);
            }
        }
    }

    /// The link is up: count it and reset the backoff (the caller sets the state).
    fn connected(&mut self) {
        self.stats.connections += 1;
        self.reconnect.connected();
    }

    /// The link dropped at `now`: forget pending requests, wait out the backoff.
    fn dropped(&mut self, now: DateTime<Utc>) {
        self.requests.clear();
        self.state = SessionState::Disconnected {
            retry_at: self.reconnect.dropped(now),
        };
    }
}

/// What a session that backfills through the Record Access Control Point keeps: the
/// cursor (the highest record key below which every record has been received — a CGM's
/// time offset, a meter's sequence number) and the keys seen since it, so a live record
/// and its backfilled copy make one reading. Shared by the CGM and glucose-meter
/// sessions.
#[derive(Debug, Clone, Default)]
struct Backfill {
    cursor: Option<u16>,
    seen: BTreeSet<u16>,
}

impl Backfill {
    fn new(cursor: Option<u16>) -> Self {
        Self {
            cursor,
            seen: BTreeSet::new(),
        }
    }

    /// A new record source (another sensor): keys start again.
    fn reset(&mut self) {
        self.cursor = None;
        self.seen.clear();
    }

    /// The RACP request for what was not received: records with a key above the cursor
    /// (RACP filter type 1, the sequence number — a CGM's time offset, CGMS §4.11.1).
    fn request(&self) -> GattRequest {
        let filter = match self.cursor {
            Some(key) if key < u16::MAX => RecordFilter::SequenceAtLeast(key + 1),
            Some(_) => RecordFilter::Last,
            None => RecordFilter::All,
        };
        let mut bytes = Vec::new();
        racp::encode(&RacpMessage::ReportStoredRecords(filter), &mut bytes);
        GattRequest::Write(RACP, bytes)
    }

    /// Whether the record with `key` is new; while `streaming` (live records come in
    /// order once the backfill is complete) it also advances the cursor.
    fn accept(&mut self, key: u16, streaming: bool) -> bool {
        if self.cursor.is_some_and(|c| key <= c) || !self.seen.insert(key) {
            return false;
        }
        if streaming {
            self.cursor = Some(self.cursor.map_or(key, |c| c.max(key)));
        }
        true
    }

    /// The device's answer to the RACP request, in `core`'s `Backfilling` state: on
    /// success (or nothing stored) every record up to the highest seen is received;
    /// either way the session streams on.
    fn answer(&mut self, core: &mut Core, bytes: &[u8]) {
        match racp::decode(bytes) {
            Ok(RacpMessage::Response {
                request_op_code: 1,
                code,
            }) if core.state == SessionState::Backfilling => {
                if matches!(code, ResponseCode::Success | ResponseCode::NoRecordsFound) {
                    core.stats.backfills += 1;
                    if let Some(&highest) = self.seen.iter().next_back() {
                        self.cursor = Some(self.cursor.map_or(highest, |c| c.max(highest)));
                    }
                } else {
                    core.issues.push_back(SessionIssue::Racp(code));
                }
                core.state = SessionState::Streaming;
            }
            Ok(_) => {}
            Err(error) => core.issues.push_back(SessionIssue::Decode(error)),
        }
    }
}

/// One CGM's session.
#[derive(Debug)]
pub struct CgmSession {
    config: SessionConfig,
    core: Core,
    backfill: Backfill,
    session_start: Option<SessionStartTime>,
}

impl CgmSession {
    /// A session that will connect at `now`, resuming after `cursor` (the persisted
    /// highest time offset fully received, if any) for the sensor session started at
    /// `session_start` (if known from before).
    #[must_use]
    pub fn new(
        config: SessionConfig,
        session_start: Option<SessionStartTime>,
        cursor: Option<u16>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            core: Core::new(&config, now),
            config,
            backfill: Backfill::new(cursor),
            session_start,
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> SessionState {
        self.core.state
    }

    /// The cursor to persist: every record with a time offset ≤ it has been received.
    #[must_use]
    pub fn cursor(&self) -> Option<u16> {
        self.backfill.cursor
    }

    /// The sensor session the cursor belongs to.
    #[must_use]
    pub fn session_start(&self) -> Option<SessionStartTime> {
        self.session_start
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> SessionStats {
        self.core.stats
    }

    /// The next issue to report.
    pub fn poll_issue(&mut self) -> Option<SessionIssue> {
        self.core.issues.pop_front()
    }

    fn start_backfill(&mut self, start: SessionStartTime) {
        if self
            .session_start
            .is_some_and(|known| known.start != start.start)
        {
            // A new sensor: its time offsets start again from zero.
            self.backfill.reset();
        }
        self.session_start = Some(start);
        self.core.state = SessionState::Backfilling;
        self.core
            .requests
            .push_back(GattRequest::Subscribe(CGM_MEASUREMENT));
        self.core.requests.push_back(GattRequest::Subscribe(RACP));
        self.core.requests.push_back(self.backfill.request());
    }

    fn records(&mut self, bytes: &[u8]) {
        let Some(start) = self.session_start else {
            return;
        };
        for record in cgm::records(bytes) {
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    self.core.issues.push_back(SessionIssue::Decode(error));
                    continue;
                }
            };
            let streaming = self.core.state == SessionState::Streaming;
            if !self.backfill.accept(record.time_offset_min, streaming) {
                self.core.stats.duplicates += 1;
                continue;
            }
            match convert::cgm_measurement(&record, &start, &self.config.device) {
                Ok(reading) => {
                    self.core.stats.readings += 1;
                    self.core.readings.push_back(reading);
                }
                Err(error) => self.core.issues.push_back(SessionIssue::Conversion(error)),
            }
        }
    }
}

impl GattSession for CgmSession {
    fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.core.poll_timeout()
    }

    fn handle_timeout(&mut self, now: DateTime<Utc>) {
        self.core.handle_timeout(now);
    }

    fn poll_request(&mut self) -> Option<GattRequest> {
        self.core.requests.pop_front()
    }

    fn poll_reading(&mut self) -> Option<Reading> {
        self.core.readings.pop_front()
    }

    fn handle(&mut self, event: GattEvent, now: DateTime<Utc>) {
        match event {
            GattEvent::Connected => {
                self.core.connected();
                self.core.state = SessionState::ReadingStart;
                self.core
                    .requests
                    .push_back(GattRequest::Read(CGM_SESSION_START));
            }
            GattEvent::Disconnected => self.core.dropped(now),
            GattEvent::ReadResult(CGM_SESSION_START, bytes)
                if self.core.state == SessionState::ReadingStart =>
            {
                match cgm::decode_session_start_time(&bytes) {
                    Ok(start) => self.start_backfill(start),
                    Err(error) => self.core.issues.push_back(SessionIssue::Decode(error)),
                }
            }
            GattEvent::Notification(CGM_MEASUREMENT, bytes) => self.records(&bytes),
            GattEvent::Notification(RACP, bytes) => self.backfill.answer(&mut self.core, &bytes),
            GattEvent::ReadResult(..) | GattEvent::Notification(..) => {}
        }
    }
}

/// Heart Rate Measurement (HRS 1.0).
pub const HEART_RATE_MEASUREMENT: u16 = 0x2A37;
/// Blood Pressure Measurement (BLS 1.1).
pub const BLOOD_PRESSURE_MEASUREMENT: u16 = 0x2A35;
/// Weight Measurement (WSS 1.0).
pub const WEIGHT_MEASUREMENT: u16 = 0x2A9D;
/// Glucose Measurement (GLS 1.0).
pub const GLUCOSE_MEASUREMENT: u16 = 0x2A18;
/// Current Time (CTS 1.1), written to set a device's clock.
pub const CURRENT_TIME: u16 = 0x2A2B;
/// Step Counter Activity Summary Data (PAMS 1.0).
pub const STEP_COUNTER_SUMMARY: u16 = pams::STEP_COUNTER_SUMMARY_UUID;
/// Sleep Activity Summary Data (PAMS 1.0).
pub const SLEEP_SUMMARY: u16 = pams::SLEEP_SUMMARY_UUID;
/// Activity Current Session (PAMS 1.0).
pub const ACTIVITY_CURRENT_SESSION: u16 = pams::CURRENT_SESSION_UUID;

/// What a [`MeasurementSession`] listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasurementKind {
    /// A heart-rate strap (HRS 1.0): notifications, no time in the value (timed at
    /// arrival), nothing stored on the strap.
    HeartRate,
    /// A blood-pressure cuff (BLS 1.1): indications of measurements carrying the cuff's
    /// wall-clock time stamp, read in `zone`; cuffs keep what they measured while
    /// disconnected and indicate it after the next connection.
    BloodPressure {
        /// The zone of the cuff's clock.
        zone: chrono_tz::Tz,
    },
    /// A weight scale (WSS 1.0): indications of measurements carrying the scale's
    /// wall-clock time stamp, read in `zone`; kept while disconnected, like a cuff's.
    Weight {
        /// The zone of the scale's clock.
        zone: chrono_tz::Tz,
    },
    /// A glucose meter (GLS 1.0): it stores every measurement with its sequence number
    /// and the wall-clock time of its clock in `zone`, and sends stored records on a
    /// RACP request (`report stored records` with sequence number ≥ the cursor + 1) —
    /// the session asks after each connection — and new ones as they are measured while
    /// connected.
    GlucoseMeter {
        /// The zone of the meter's clock.
        zone: chrono_tz::Tz,
    },
    /// A step/sleep band (PAMS 1.0): the session reads Activity Current Session on
    /// connecting — the band's session and where its time base is now, which anchors
    /// the session's start on the collector's clock — then subscribes to the step and
    /// sleep summaries, whose values arrive in segments and are reassembled here. A band
    /// keeps its summaries while disconnected and sends them after the next connection.
    ActivityMonitor,
}

impl MeasurementKind {
    /// The characteristics the session subscribes to, the device's main one first.
    #[must_use]
    pub fn characteristics(self) -> &'static [u16] {
        match self {
            Self::HeartRate => &[HEART_RATE_MEASUREMENT],
            Self::BloodPressure { .. } => &[BLOOD_PRESSURE_MEASUREMENT],
            Self::Weight { .. } => &[WEIGHT_MEASUREMENT],
            Self::GlucoseMeter { .. } => &[GLUCOSE_MEASUREMENT],
            Self::ActivityMonitor => &[STEP_COUNTER_SUMMARY, SLEEP_SUMMARY],
        }
    }

    /// The device's main characteristic (the first of [`Self::characteristics`]).
    #[must_use]
    pub fn characteristic(self) -> u16 {
        self.characteristics()[0]
    }

    /// The zone of the device's wall clock, for devices that stamp their measurements
    /// with one (cuff, scale, meter).
    #[must_use]
    pub fn clock_zone(self) -> Option<chrono_tz::Tz> {
        match self {
            Self::BloodPressure { zone } | Self::Weight { zone } | Self::GlucoseMeter { zone } => {
                Some(zone)
            }
            Self::HeartRate | Self::ActivityMonitor => None,
        }
    }

    /// Whether the device keeps numbered records and serves them through the RACP.
    #[must_use]
    pub fn backfills(self) -> bool {
        matches!(self, Self::GlucoseMeter { .. })
    }

    /// The readings of one whole value of `characteristic` received at `now`; a band's
    /// summaries are timed from `anchor` (its session and that session's start).
    fn readings(
        self,
        characteristic: u16,
        bytes: &[u8],
        now: DateTime<Utc>,
        device: &DeviceIdentity,
        anchor: Option<(u16, DateTime<Utc>)>,
    ) -> Result<Vec<Reading>, SessionIssue> {
        use device_adapters::gatt::{blood_pressure, heart_rate};
        let one = match self {
            Self::ActivityMonitor => {
                return pams_readings(characteristic, bytes, device, anchor);
            }
            Self::HeartRate => heart_rate::decode(bytes)
                .map(|m| convert::heart_rate(&m, now, device))
                .map_err(SessionIssue::Decode),
            Self::BloodPressure { zone } => {
                let measurement =
                    blood_pressure::decode(bytes, false).map_err(SessionIssue::Decode)?;
                convert::blood_pressure(&measurement, zone, now, device)
                    .map_err(SessionIssue::Conversion)
            }
            Self::Weight { zone } => {
                let measurement =
                    device_adapters::gatt::weight::decode(bytes).map_err(SessionIssue::Decode)?;
                convert::body_weight(&measurement, zone, now, device)
                    .map_err(SessionIssue::Conversion)
            }
            Self::GlucoseMeter { zone } => {
                let measurement =
                    device_adapters::gatt::glucose::decode(bytes).map_err(SessionIssue::Decode)?;
                convert::glucose_measurement(&measurement, zone, device, None)
                    .map_err(SessionIssue::Conversion)
            }
        };
        one.map(|reading| vec![reading])
    }

    /// The record key of a value, for kinds that [`Self::backfills`]: a meter's sequence
    /// number.
    fn record_key(self, bytes: &[u8]) -> Result<Option<u16>, SessionIssue> {
        match self {
            Self::GlucoseMeter { .. } => device_adapters::gatt::glucose::decode(bytes)
                .map(|m| Some(m.sequence_number))
                .map_err(SessionIssue::Decode),
            _ => Ok(None),
        }
    }
}

/// A Current Time value (CTS 1.1 §3.1) for `now` on a wall clock in `zone`: the date
/// and time, day of week, fractions of a second, adjust reason "external reference
/// time update" (bit 1).
fn current_time(now: DateTime<Utc>, zone: chrono_tz::Tz) -> Vec<u8> {
    use chrono::{Datelike, Timelike};
    use device_adapters::gatt::current_time::{self, CurrentTime};
    let local = now.with_timezone(&zone);
    let mut bytes = Vec::new();
    current_time::encode(
        &CurrentTime {
            date_time: device_adapters::gatt::DateTime::from_naive(local.naive_local()),
            day_of_week: local.weekday().number_from_monday() as u8,
            fractions_256: (local.nanosecond() / 3_906_250).min(255) as u8,
            adjust_reason: 0b10,
        },
        &mut bytes,
    );
    bytes
}

/// The readings of a band's whole summary value of `characteristic`, timed from
/// `anchor` (the band's current session and its start); a summary of another session
/// cannot be timed and is refused with the reason.
fn pams_readings(
    characteristic: u16,
    bytes: &[u8],
    device: &DeviceIdentity,
    anchor: Option<(u16, DateTime<Utc>)>,
) -> Result<Vec<Reading>, SessionIssue> {
    use device_adapters::gatt::Characteristic;
    let start_of = |session_id: u16, characteristic| match anchor {
        Some((anchored, start)) if anchored == session_id => Ok(start),
        _ => Err(SessionIssue::Conversion(ConversionError::NoTime {
            characteristic,
            reason: format!(
                "a summary of session {session_id}; the band's current session is {}",
                anchor.map_or_else(|| "not known".to_owned(), |(id, _)| id.to_string())
            ),
        })),
    };
    let readings = if characteristic == SLEEP_SUMMARY {
        let summary = pams::decode_sleep_summary(bytes).map_err(SessionIssue::Decode)?;
        let start = start_of(
            summary.record.session_id,
            Characteristic::SleepActivitySummary,
        )?;
        convert::sleep_summary(&summary, start, device)
    } else {
        let summary = pams::decode_step_counter_summary(bytes).map_err(SessionIssue::Decode)?;
        let start = start_of(
            summary.record.session_id,
            Characteristic::StepCounterActivitySummary,
        )?;
        convert::step_counter_summary(&summary, start, device)
    };
    readings.map_err(SessionIssue::Conversion)
}

/// A session with a device that sends one measurement characteristic (heart-rate strap,
/// blood-pressure cuff, scale, glucose meter): connect, subscribe, turn each value into a
/// reading, reconnect with the same backoff as the CGM's. Straps, cuffs and scales have
/// no RACP: a strap's measurements during an outage are lost; a cuff or scale sends what
/// it kept when it is next connected. A glucose meter is asked through the RACP, after
/// every connection, for the records above the cursor (its sequence numbers), as the
/// CGM is; the cursor is this session's to persist ([`Self::cursor`]).
#[derive(Debug)]
pub struct MeasurementSession {
    kind: MeasurementKind,
    config: SessionConfig,
    core: Core,
    backfill: Backfill,
    /// A band's current session and its start on this collector's clock.
    anchor: Option<(u16, DateTime<Utc>)>,
    /// A band's summaries being reassembled, one per characteristic.
    segments: Vec<(u16, Reassembler)>,
}

impl MeasurementSession {
    /// A session with a device of `kind` that will connect at `now`.
    #[must_use]
    pub fn new(kind: MeasurementKind, config: SessionConfig, now: DateTime<Utc>) -> Self {
        use device_adapters::gatt::Characteristic;
        let segments = if kind == MeasurementKind::ActivityMonitor {
            vec![
                (
                    STEP_COUNTER_SUMMARY,
                    Reassembler::new(Characteristic::StepCounterActivitySummary),
                ),
                (
                    SLEEP_SUMMARY,
                    Reassembler::new(Characteristic::SleepActivitySummary),
                ),
            ]
        } else {
            Vec::new()
        };
        Self {
            kind,
            core: Core::new(&config, now),
            config,
            backfill: Backfill::default(),
            anchor: None,
            segments,
        }
    }

    /// Resumes a backfilling device's session after `cursor` (the persisted highest
    /// sequence number fully received).
    #[must_use]
    pub fn with_cursor(mut self, cursor: Option<u16>) -> Self {
        self.backfill = Backfill::new(cursor);
        self
    }

    /// The cursor to persist (backfilling devices): every record with a sequence number
    /// ≤ it has been received.
    #[must_use]
    pub fn cursor(&self) -> Option<u16> {
        self.backfill.cursor
    }

    /// A notification of `characteristic`: a band's segment is reassembled first (a
    /// segment out of sequence is an issue), then every whole value becomes readings.
    fn notification(&mut self, characteristic: u16, bytes: &[u8], now: DateTime<Utc>) {
        let Some((_, reassembler)) = self
            .segments
            .iter_mut()
            .find(|(uuid, _)| *uuid == characteristic)
        else {
            return self.value(characteristic, bytes, now);
        };
        let pushed = reassembler.push(bytes);
        if let Some(fault) = pushed.fault {
            self.core.issues.push_back(SessionIssue::Decode(fault));
        }
        if let Some(value) = pushed.value {
            self.value(characteristic, &value, now);
        }
    }

    fn value(&mut self, characteristic: u16, bytes: &[u8], now: DateTime<Utc>) {
        if self.kind.backfills() {
            match self.kind.record_key(bytes) {
                Ok(Some(key)) => {
                    let streaming = self.core.state == SessionState::Streaming;
                    if !self.backfill.accept(key, streaming) {
                        self.core.stats.duplicates += 1;
                        return;
                    }
                }
                Ok(None) => {}
                Err(issue) => {
                    self.core.issues.push_back(issue);
                    return;
                }
            }
        }
        match self
            .kind
            .readings(characteristic, bytes, now, &self.config.device, self.anchor)
        {
            Ok(readings) => {
                self.core.stats.readings += readings.len() as u64;
                self.core.readings.extend(readings);
            }
            Err(issue) => self.core.issues.push_back(issue),
        }
    }

    /// The current state (`Connecting`, `Backfilling` for a meter, `Streaming` or
    /// `Disconnected`).
    #[must_use]
    pub fn state(&self) -> SessionState {
        self.core.state
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> SessionStats {
        self.core.stats
    }

    /// The next issue to report.
    pub fn poll_issue(&mut self) -> Option<SessionIssue> {
        self.core.issues.pop_front()
    }
}

impl GattSession for MeasurementSession {
    fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.core.poll_timeout()
    }

    fn handle_timeout(&mut self, now: DateTime<Utc>) {
        self.core.handle_timeout(now);
    }

    fn poll_request(&mut self) -> Option<GattRequest> {
        self.core.requests.pop_front()
    }

    fn poll_reading(&mut self) -> Option<Reading> {
        self.core.readings.pop_front()
    }

    fn handle(&mut self, event: GattEvent, now: DateTime<Utc>) {
        match event {
            GattEvent::Connected if self.kind == MeasurementKind::ActivityMonitor => {
                self.core.connected();
                self.core.state = SessionState::ReadingStart;
                self.core
                    .requests
                    .push_back(GattRequest::Read(ACTIVITY_CURRENT_SESSION));
            }
            GattEvent::ReadResult(ACTIVITY_CURRENT_SESSION, bytes)
                if self.kind == MeasurementKind::ActivityMonitor =>
            {
                match pams::decode_current_session(&bytes) {
                    Ok(current) => {
                        let start =
                            now - Duration::seconds(i64::from(current.relative_timestamp_s));
                        self.anchor = Some((current.session_id, start));
                        for &uuid in self.kind.characteristics() {
                            self.core.requests.push_back(GattRequest::Subscribe(uuid));
                        }
                        self.core.state = SessionState::Streaming;
                    }
                    Err(error) => self.core.issues.push_back(SessionIssue::Decode(error)),
                }
            }
            GattEvent::Connected => {
                self.core.connected();
                if let Some(zone) = self.kind.clock_zone() {
                    // Set the device's clock where it lets us (CTS): its stamps are what
                    // its measurements are timed by.
                    self.core.requests.push_back(GattRequest::WriteIfPresent(
                        CURRENT_TIME,
                        current_time(now, zone),
                    ));
                }
                self.core
                    .requests
                    .push_back(GattRequest::Subscribe(self.kind.characteristic()));
                if self.kind.backfills() {
                    self.core.state = SessionState::Backfilling;
                    self.core.requests.push_back(GattRequest::Subscribe(RACP));
                    self.core.requests.push_back(self.backfill.request());
                } else {
                    self.core.state = SessionState::Streaming;
                }
            }
            GattEvent::Disconnected => {
                for (_, reassembler) in &mut self.segments {
                    reassembler.reset();
                }
                self.core.dropped(now);
            }
            GattEvent::Notification(uuid, bytes) if self.kind.characteristics().contains(&uuid) => {
                self.notification(uuid, &bytes, now);
            }
            GattEvent::Notification(RACP, bytes) if self.kind.backfills() => {
                self.backfill.answer(&mut self.core, &bytes);
            }
            GattEvent::ReadResult(..) | GattEvent::Notification(..) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use device_adapters::gatt::cgm::CrcCheck;
    use device_adapters::gatt::DateTime as GattDateTime;

    fn start(day: u8) -> SessionStartTime {
        SessionStartTime {
            start: GattDateTime {
                year: 2025,
                month: 1,
                day,
                hours: 8,
                minutes: 0,
                seconds: 0,
            },
            time_zone_quarter_hours: Some(4),
            dst_quarter_hours: Some(0),
            crc: CrcCheck::Absent,
        }
    }

    fn connect_with(
        session: &mut CgmSession,
        sensor: SessionStartTime,
        now: DateTime<Utc>,
    ) -> Vec<GattRequest> {
        session.handle_timeout(now);
        assert_eq!(session.poll_request(), Some(GattRequest::Connect));
        session.handle(GattEvent::Connected, now);
        assert_eq!(
            session.poll_request(),
            Some(GattRequest::Read(CGM_SESSION_START))
        );
        let mut bytes = Vec::new();
        cgm::encode_session_start_time(&sensor, &mut bytes);
        session.handle(GattEvent::ReadResult(CGM_SESSION_START, bytes), now);
        std::iter::from_fn(|| session.poll_request()).collect()
    }

    #[test]
    fn resumes_after_the_cursor_and_restarts_for_a_new_sensor() {
        let now = DateTime::from_timestamp(1_736_000_000, 0).unwrap();
        let mut session =
            CgmSession::new(SessionConfig::default(), Some(start(1)), Some(1435), now);
        let requests = connect_with(&mut session, start(1), now);
        let mut expected = Vec::new();
        racp::encode(
            &RacpMessage::ReportStoredRecords(RecordFilter::SequenceAtLeast(1436)),
            &mut expected,
        );
        assert_eq!(requests.last(), Some(&GattRequest::Write(RACP, expected)));

        // The link drops; backoff doubles from 2 s.
        session.handle(GattEvent::Disconnected, now);
        assert_eq!(session.poll_timeout(), Some(now + Duration::seconds(2)));
        session.handle(GattEvent::Disconnected, now);
        assert_eq!(session.poll_timeout(), Some(now + Duration::seconds(4)));

        // A new sensor (another session start): offsets start again, backfill everything.
        let later = now + Duration::seconds(4);
        let requests = connect_with(&mut session, start(15), later);
        let mut all = Vec::new();
        racp::encode(
            &RacpMessage::ReportStoredRecords(RecordFilter::All),
            &mut all,
        );
        assert_eq!(requests.last(), Some(&GattRequest::Write(RACP, all)));
        assert_eq!(session.cursor(), None);
    }
}
