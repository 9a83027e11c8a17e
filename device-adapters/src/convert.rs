//! From decoded Bluetooth values to normalised [`Reading`]s. This is where a decoded
//! value becomes a patient reading or is refused with a typed reason: control solution,
//! a special value (NaN, NRes, ±INF), or glucose outside what a device can measure.
//! Annunciation bits become reading flags (GSS "Sensor Status Annunciation";
//! CGMS §3.2.1.3).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::gatt::blood_pressure::{BloodPressureMeasurement, PressureUnit};
use crate::gatt::cgm::{CgmMeasurement, SessionStartTime};
use crate::gatt::glucose::{GlucoseMeasurement, SampleLocation, SampleType};
use crate::gatt::heart_rate::{HeartRateMeasurement, SensorContact};
use crate::gatt::ieee11073::{Medfloat, SFloat};
use crate::gatt::pams::{self, SleepSummary, StepCounterSummary, Summary};
use crate::gatt::Characteristic;
use crate::local_time::{self, LocalTimeError};
use crate::reading::{
    DeviceIdentity, DeviceTime, Measurement, Quantity, Reading, ReadingFlag, ReadingSource,
    RecordId, SleepStage,
};

/// Glucose a meter can report, mg/dL (the widest range of current meters, 10–600);
/// anything outside is refused, not clamped.
pub const METER_GLUCOSE_RANGE_MG_DL: (f64, f64) = (10.0, 600.0);

/// Glucose a CGM can report, mg/dL (Dexcom 39/40–400, Libre 40–500, Medtronic 40–400);
/// anything outside is refused, not clamped.
pub const CGM_GLUCOSE_RANGE_MG_DL: (f64, f64) = (39.0, 500.0);

/// Why a decoded value is not a patient reading.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConversionError {
    /// A control-solution test (sample type or location), not a patient sample.
    #[error(
        "{characteristic:?}: control solution measurement (record {record}), not a patient reading"
    )]
    ControlSolution {
        /// Characteristic.
        characteristic: Characteristic,
        /// Record number.
        record: u32,
    },
    /// The field holds a special value instead of a number.
    #[error("{characteristic:?}: {field} is {value:?}, not a number")]
    SpecialValue {
        /// Characteristic.
        characteristic: Characteristic,
        /// Field.
        field: &'static str,
        /// The special code.
        value: Medfloat,
    },
    /// The value is outside what a device can measure.
    #[error("{characteristic:?}: {field} {value} {unit} is outside {min}–{max}")]
    OutOfRange {
        /// Characteristic.
        characteristic: Characteristic,
        /// Field.
        field: &'static str,
        /// Value.
        value: f64,
        /// Unit.
        unit: &'static str,
        /// Lowest accepted.
        min: f64,
        /// Highest accepted.
        max: f64,
    },
    /// The measurement has no usable time.
    #[error("{characteristic:?}: no usable time ({reason})")]
    NoTime {
        /// Characteristic.
        characteristic: Characteristic,
        /// Why.
        reason: String,
    },
    /// The device's local time falls in a DST gap.
    #[error(transparent)]
    LocalTime(#[from] LocalTimeError),
    /// A field holds its "value not known" code (all ones).
    #[error("{characteristic:?}: {field} is \"value not known\"")]
    NotKnown {
        /// Characteristic.
        characteristic: Characteristic,
        /// Field.
        field: &'static str,
    },
    /// The value carries none of the quantities a reading is made of.
    #[error("{characteristic:?}: no {wanted} in the value")]
    NoValue {
        /// Characteristic.
        characteristic: Characteristic,
        /// What was looked for.
        wanted: &'static str,
    },
    /// The device reported that the measurement did not succeed.
    #[error("{characteristic:?}: the device reported the measurement unsuccessful")]
    Unsuccessful {
        /// Characteristic.
        characteristic: Characteristic,
    },
}

fn number(
    characteristic: Characteristic,
    field: &'static str,
    value: SFloat,
) -> Result<f64, ConversionError> {
    value.to_f64().ok_or(ConversionError::SpecialValue {
        characteristic,
        field,
        value: value.0,
    })
}

fn glucose_in_range(
    characteristic: Characteristic,
    mg_dl: f64,
    (min, max): (f64, f64),
) -> Result<f64, ConversionError> {
    if (min..=max).contains(&mg_dl) {
        Ok(mg_dl)
    } else {
        Err(ConversionError::OutOfRange {
            characteristic,
            field: "glucose",
            value: mg_dl,
            unit: "mg/dL",
            min,
            max,
        })
    }
}

/// Flags from the Glucose Measurement's sensor status annunciation (GSS bits 0–11).
#[must_use]
pub fn glucose_status_flags(status: u16) -> Vec<ReadingFlag> {
    let names = [
        (0, ReadingFlag::BatteryLow),
        (1, ReadingFlag::SensorMalfunction),
        (2, ReadingFlag::Other("sample size insufficient".into())),
        (3, ReadingFlag::Other("strip insertion error".into())),
        (4, ReadingFlag::Other("strip type incorrect".into())),
        (5, ReadingFlag::AboveMeasurementRange),
        (6, ReadingFlag::BelowMeasurementRange),
        (7, ReadingFlag::TemperatureOutOfRange),
        (8, ReadingFlag::TemperatureOutOfRange),
        (9, ReadingFlag::Other("strip pulled too soon".into())),
        (10, ReadingFlag::SensorMalfunction),
        (11, ReadingFlag::Other("time fault".into())),
    ];
    let mut flags: Vec<ReadingFlag> = Vec::new();
    for (bit, flag) in names {
        if status & (1 << bit) != 0 && !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    flags
}

/// Flags from the three CGM annunciation octets (CGMS §3.2.1.3).
#[must_use]
pub fn cgm_status_flags(
    status: Option<u8>,
    cal_temp: Option<u8>,
    warning: Option<u8>,
) -> Vec<ReadingFlag> {
    let mut flags = Vec::new();
    let mut add = |flag: ReadingFlag| {
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    };
    let status = status.unwrap_or(0);
    if status & 0x01 != 0 {
        add(ReadingFlag::Other("session stopped".into()));
    }
    if status & 0x02 != 0 {
        add(ReadingFlag::BatteryLow);
    }
    if status & (0x04 | 0x08 | 0x20) != 0 {
        add(ReadingFlag::SensorMalfunction);
    }
    let cal_temp = cal_temp.unwrap_or(0);
    if cal_temp & (0x04 | 0x08) != 0 {
        add(ReadingFlag::CalibrationRequired);
    }
    if cal_temp & (0x10 | 0x20) != 0 {
        add(ReadingFlag::TemperatureOutOfRange);
    }
    let warning = warning.unwrap_or(0);
    if warning & 0x40 != 0 {
        add(ReadingFlag::BelowMeasurementRange);
    }
    if warning & 0x80 != 0 {
        add(ReadingFlag::AboveMeasurementRange);
    }
    flags
}

/// A meter's Glucose Measurement as a reading. The meter's wall clock (base time +
/// offset) is resolved in `zone`.
///
/// # Errors
/// [`ConversionError`] for control solution, a missing or special concentration, glucose
/// outside [`METER_GLUCOSE_RANGE_MG_DL`], an unknown date or a DST-gap time.
pub fn glucose_measurement(
    m: &GlucoseMeasurement,
    zone: Tz,
    device: &DeviceIdentity,
    previous: Option<DateTime<Utc>>,
) -> Result<Reading, ConversionError> {
    let characteristic = Characteristic::GlucoseMeasurement;
    let concentration = m.concentration.ok_or_else(|| ConversionError::NoTime {
        characteristic,
        reason: "no concentration in the record".into(),
    })?;
    if concentration.sample_type == SampleType::ControlSolution
        || concentration.location == SampleLocation::ControlSolution
    {
        return Err(ConversionError::ControlSolution {
            characteristic,
            record: u32::from(m.sequence_number),
        });
    }
    number(characteristic, "concentration", concentration.value)?;
    let mg_dl = glucose_in_range(
        characteristic,
        m.mg_dl().unwrap_or(f64::NAN),
        METER_GLUCOSE_RANGE_MG_DL,
    )?;
    let local = m.local_time().ok_or_else(|| ConversionError::NoTime {
        characteristic,
        reason: "unknown date".into(),
    })?;
    let (time, _) = local_time::resolve(local, zone, previous)?;
    Ok(Reading {
        measurement: Measurement::MeterGlucose {
            glucose: Quantity::new(mg_dl, "mg/dL"),
        },
        time,
        local_offset_min: Some(crate::import::libreview::zone_offset_min(time, zone)),
        device_time: DeviceTime::Local { local },
        device: device.clone(),
        record: RecordId::Sequence {
            number: u32::from(m.sequence_number),
        },
        flags: m.status.map(glucose_status_flags).unwrap_or_default(),
        source: ReadingSource::Ble {
            characteristic: characteristic.uuid16(),
        },
    })
}

/// A CGM Measurement record as a reading, timed from the session start (with its own
/// zone) plus the record's offset.
///
/// # Errors
/// [`ConversionError`] for a special glucose value, glucose outside
/// [`CGM_GLUCOSE_RANGE_MG_DL`], or a session start without a known date or zone.
pub fn cgm_measurement(
    m: &CgmMeasurement,
    session: &SessionStartTime,
    device: &DeviceIdentity,
) -> Result<Reading, ConversionError> {
    let characteristic = Characteristic::CgmMeasurement;
    let mg_dl = glucose_in_range(
        characteristic,
        number(characteristic, "glucose", m.glucose_mg_dl)?,
        CGM_GLUCOSE_RANGE_MG_DL,
    )?;
    let time =
        session
            .reading_instant(m.time_offset_min)
            .ok_or_else(|| ConversionError::NoTime {
                characteristic,
                reason: "session start date or time zone unknown".into(),
            })?;
    let session_start = session.start.to_naive().unwrap_or_default();
    Ok(Reading {
        measurement: Measurement::CgmGlucose {
            glucose: Quantity::new(mg_dl, "mg/dL"),
            trend: m
                .trend_mg_dl_per_min
                .and_then(SFloat::to_f64)
                .map(|t| Quantity::new(t, "mg/dL/min")),
        },
        time,
        local_offset_min: session.utc_offset_min(),
        device_time: DeviceTime::SessionOffset {
            session_start,
            session_utc_offset_min: session.utc_offset_min(),
            offset_min: u32::from(m.time_offset_min),
        },
        device: device.clone(),
        record: RecordId::Session {
            session_start: session_start.format("%Y-%m-%dT%H:%M:%S").to_string(),
            offset_min: u32::from(m.time_offset_min),
        },
        flags: cgm_status_flags(m.status, m.cal_temp, m.warning),
        source: ReadingSource::Ble {
            characteristic: characteristic.uuid16(),
        },
    })
}

/// A Heart Rate Measurement received at `received` (the characteristic carries no time).
#[must_use]
pub fn heart_rate(
    m: &HeartRateMeasurement,
    received: DateTime<Utc>,
    device: &DeviceIdentity,
) -> Reading {
    let mut flags = Vec::new();
    if m.contact == SensorContact::NotDetected {
        flags.push(ReadingFlag::Other("no skin contact".into()));
    }
    Reading {
        flags,
        ..Reading::stamped(
            Measurement::HeartRate {
                rate: Quantity::new(f64::from(m.bpm), "/min"),
                rr_intervals_s: m
                    .rr_intervals_1024ths
                    .iter()
                    .map(|&rr| f64::from(rr) / 1024.0)
                    .collect(),
            },
            received,
            None,
            device.clone(),
            RecordId::Instant {
                at: received.to_rfc3339(),
            },
            ReadingSource::Ble {
                characteristic: Characteristic::HeartRateMeasurement.uuid16(),
            },
        )
    }
}

/// A Blood Pressure Measurement: timed by its time stamp (wall clock in `zone`) when it
/// has a full date, else by `received`. kPa is converted to mm[Hg] (1 kPa = 7.50062 mmHg).
///
/// # Errors
/// [`ConversionError`] for a special systolic value or a DST-gap time stamp.
pub fn blood_pressure(
    m: &BloodPressureMeasurement,
    zone: Tz,
    received: DateTime<Utc>,
    device: &DeviceIdentity,
) -> Result<Reading, ConversionError> {
    let characteristic = Characteristic::BloodPressureMeasurement;
    let scale = if m.unit == PressureUnit::KPa {
        7.500_62
    } else {
        1.0
    };
    let pressure = |v: SFloat| v.to_f64().map(|p| Quantity::new(p * scale, "mm[Hg]"));
    let systolic = number(characteristic, "systolic", m.systolic)? * scale;
    device_stamped(
        Measurement::BloodPressure {
            systolic: Quantity::new(systolic, "mm[Hg]"),
            diastolic: pressure(m.diastolic),
            mean_arterial: pressure(m.mean_arterial),
            pulse: m
                .pulse_bpm
                .and_then(SFloat::to_f64)
                .map(|p| Quantity::new(p, "/min")),
        },
        characteristic,
        m.time_stamp,
        zone,
        received,
        device,
    )
}

/// The reading of a measurement with an optional wall-clock time stamp (cuffs, scales):
/// timed by the stamp read in `zone` (DST resolved) when it has a full date, else by the
/// instant it was `received`; its record identity is that instant.
fn device_stamped(
    measurement: Measurement,
    characteristic: Characteristic,
    time_stamp: Option<crate::gatt::DateTime>,
    zone: Tz,
    received: DateTime<Utc>,
    device: &DeviceIdentity,
) -> Result<Reading, ConversionError> {
    let (time, device_time) = match time_stamp.and_then(|t| t.to_naive()) {
        Some(local) => (
            local_time::resolve(local, zone, None)?.0,
            DeviceTime::Local { local },
        ),
        None => (
            received,
            DeviceTime::Absolute {
                instant: received,
                utc_offset_min: None,
            },
        ),
    };
    Ok(Reading {
        measurement,
        time,
        local_offset_min: None,
        device_time,
        device: device.clone(),
        record: RecordId::Instant {
            at: time.to_rfc3339(),
        },
        flags: Vec::new(),
        source: ReadingSource::Ble {
            characteristic: characteristic.uuid16(),
        },
    })
}

/// A Weight Measurement (WSS 1.0): timed like a blood pressure (its time stamp in
/// `zone`, else `received`); weight in kg (imperial converted, 1 lb = 0.45359237 kg),
/// BMI when sent.
///
/// # Errors
/// [`ConversionError::Unsuccessful`] when the scale reported the measurement
/// unsuccessful (0xFFFF); a DST-gap time stamp.
pub fn body_weight(
    m: &crate::gatt::weight::WeightMeasurement,
    zone: Tz,
    received: DateTime<Utc>,
    device: &DeviceIdentity,
) -> Result<Reading, ConversionError> {
    let characteristic = Characteristic::WeightMeasurement;
    let kg = m
        .kg()
        .ok_or(ConversionError::Unsuccessful { characteristic })?;
    device_stamped(
        Measurement::BodyWeight {
            weight: Quantity::new(kg, "kg"),
            bmi: m.bmi().map(|bmi| Quantity::new(bmi, "kg/m2")),
        },
        characteristic,
        m.time_stamp,
        zone,
        received,
        device,
    )
}

/// A PAMS summary field's value, `None` when absent; its "not known" code refused.
fn summary_field<const N: usize>(
    summary: &Summary<N>,
    characteristic: Characteristic,
    specs: &[pams::FieldSpec; N],
    index: usize,
) -> Result<Option<u32>, ConversionError> {
    match summary.fields[index] {
        Some(v) if v == pams::not_known(specs[index].width) => Err(ConversionError::NotKnown {
            characteristic,
            field: specs[index].name,
        }),
        other => Ok(other),
    }
}

/// The readings of one PAMS summary: each `(quantity, measurement)` timed at the
/// session's start (`session_start`, UTC, anchored by the collector from the Activity
/// Current Session) plus the summary's relative timestamp, identified by session,
/// sequence number and quantity.
fn summary_readings<const N: usize>(
    summary: &Summary<N>,
    characteristic: Characteristic,
    session_start: DateTime<Utc>,
    device: &DeviceIdentity,
    measurements: Vec<(&'static str, Measurement)>,
    wanted: &'static str,
) -> Result<Vec<Reading>, ConversionError> {
    if measurements.is_empty() {
        return Err(ConversionError::NoValue {
            characteristic,
            wanted,
        });
    }
    let record = summary.record;
    let time = session_start + chrono::Duration::seconds(i64::from(record.relative_timestamp_s));
    Ok(measurements
        .into_iter()
        .map(|(quantity, measurement)| Reading {
            measurement,
            time,
            local_offset_min: None,
            device_time: DeviceTime::Relative {
                anchor: session_start,
                offset_s: record.relative_timestamp_s,
            },
            device: device.clone(),
            record: RecordId::SessionRecord {
                session_id: record.session_id,
                sequence_number: record.sequence_number,
                quantity: quantity.to_owned(),
            },
            flags: Vec::new(),
            source: ReadingSource::Ble {
                characteristic: characteristic.uuid16(),
            },
        })
        .collect())
}

/// A Step Counter Activity Summary (PAMS 1.0) as readings: the steps (normal walking,
/// intensity and floor steps added: PAMS counts the three classes apart) and the
/// distance (m), each over the summary's worn duration, else over the time since the
/// session's start; timed at `session_start` (UTC) + the relative timestamp.
///
/// # Errors
/// [`ConversionError::NotKnown`] for a field holding "value not known";
/// [`ConversionError::NoValue`] for a summary with neither steps nor distance.
pub fn step_counter_summary(
    summary: &StepCounterSummary,
    session_start: DateTime<Utc>,
    device: &DeviceIdentity,
) -> Result<Vec<Reading>, ConversionError> {
    let characteristic = Characteristic::StepCounterActivitySummary;
    let field = |index| summary_field(summary, characteristic, &pams::STEP_FIELDS, index);
    let span_s =
        field(StepCounterSummary::WORN_DURATION_S)?.unwrap_or(summary.record.relative_timestamp_s);
    let period_min = f64::from(span_s) / 60.0;
    let mut steps = None;
    for index in [
        StepCounterSummary::NORMAL_WALKING_STEPS,
        StepCounterSummary::INTENSITY_STEPS,
        StepCounterSummary::FLOOR_STEPS,
    ] {
        if let Some(count) = field(index)? {
            steps = Some(steps.unwrap_or(0.0) + f64::from(count));
        }
    }
    let mut measurements = Vec::new();
    if let Some(count) = steps {
        let count = Quantity::new(count, "{steps}");
        measurements.push(("steps", Measurement::Steps { count, period_min }));
    }
    if let Some(m) = field(StepCounterSummary::DISTANCE_M)? {
        let distance = Quantity::new(f64::from(m), "m");
        measurements.push((
            "distance",
            Measurement::Distance {
                distance,
                period_min,
            },
        ));
    }
    summary_readings(
        summary,
        characteristic,
        session_start,
        device,
        measurements,
        "steps or distance",
    )
}

/// A Sleep Activity Summary (PAMS 1.0) as readings: the total sleep time as a sleep span
/// (stage not reported) and the total wake time as an awake span, minutes, ending at
/// `session_start` (UTC) + the relative timestamp.
///
/// # Errors
/// [`ConversionError::NotKnown`] for a field holding "value not known";
/// [`ConversionError::NoValue`] for a summary with neither sleep nor wake time.
pub fn sleep_summary(
    summary: &SleepSummary,
    session_start: DateTime<Utc>,
    device: &DeviceIdentity,
) -> Result<Vec<Reading>, ConversionError> {
    let characteristic = Characteristic::SleepActivitySummary;
    let field = |index| summary_field(summary, characteristic, &pams::SLEEP_FIELDS, index);
    let mut measurements = Vec::new();
    for (index, quantity, stage) in [
        (
            SleepSummary::TOTAL_SLEEP_TIME_S,
            "sleep",
            SleepStage::Asleep,
        ),
        (SleepSummary::TOTAL_WAKE_TIME_S, "awake", SleepStage::Awake),
    ] {
        if let Some(s) = field(index)? {
            let duration = Quantity::new(f64::from(s) / 60.0, "min");
            let stage = Some(stage);
            measurements.push((quantity, Measurement::Sleep { duration, stage }));
        }
    }
    summary_readings(
        summary,
        characteristic,
        session_start,
        device,
        measurements,
        "sleep or wake time",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatt::{cgm, glucose, parse_hex};

    fn device() -> DeviceIdentity {
        DeviceIdentity {
            address: Some("C0:FF:EE:00:00:01".into()),
            serial: Some("SN1".into()),
            model: None,
        }
    }

    #[test]
    fn meter_reading_from_the_shared_vector_and_refusals() {
        // The shared vector's 30 kg/L is a test value, 3,000,000 mg/dL: refused.
        let m = glucose::decode(
            &parse_hex("1B 01 00 E3 07 02 1B 0B 0A 1E FB FF 1E 00 12 05 01").unwrap(),
        )
        .unwrap();
        assert!(matches!(
            glucose_measurement(&m, chrono_tz::Europe::Rome, &device(), None),
            Err(ConversionError::OutOfRange { .. })
        ));
        // The same record at 0.00105 kg/L = 105 mg/dL becomes a reading.
        let mut plausible = m;
        plausible.concentration.as_mut().unwrap().value = SFloat::from_raw(0xB069);
        let reading =
            glucose_measurement(&plausible, chrono_tz::Europe::Rome, &device(), None).unwrap();
        assert!((reading.glucose_mg_dl().unwrap() - 105.0).abs() < 1e-9);
        assert_eq!(reading.time.to_rfc3339(), "2019-02-27T10:05:30+00:00");
        assert_eq!(reading.record, RecordId::Sequence { number: 1 });
        assert!(
            reading.flags.contains(&ReadingFlag::BatteryLow),
            "status 0x0105 bit 0"
        );
        // Control solution, zero and 10,000 mg/dL are refused with a reason.
        let mut control = plausible;
        control.concentration.as_mut().unwrap().sample_type = SampleType::ControlSolution;
        assert!(matches!(
            glucose_measurement(&control, chrono_tz::UTC, &device(), None),
            Err(ConversionError::ControlSolution { record: 1, .. })
        ));
        for raw in [0x0000_u16, 0xD000 | 0x064] {
            let mut odd = plausible;
            odd.concentration.as_mut().unwrap().value = SFloat::from_raw(raw);
            assert!(
                matches!(
                    glucose_measurement(&odd, chrono_tz::UTC, &device(), None),
                    Err(ConversionError::OutOfRange { .. })
                ),
                "{raw:#x}"
            );
        }
        let mut nan = plausible;
        nan.concentration.as_mut().unwrap().value = SFloat::from_raw(0x07FF);
        assert!(matches!(
            glucose_measurement(&nan, chrono_tz::UTC, &device(), None),
            Err(ConversionError::SpecialValue { .. })
        ));
    }

    #[test]
    fn cgm_reading_timed_from_the_session() {
        let session =
            cgm::decode_session_start_time(&parse_hex("E2 07 04 18 0D 08 18 08 04 E0 C2").unwrap())
                .unwrap();
        let records = cgm::decode_notification(&parse_hex("06 00 0C 10 06 00").unwrap());
        let reading = cgm_measurement(records[0].as_ref().unwrap(), &session, &device()).unwrap();
        assert_eq!(reading.glucose_mg_dl(), Some(120.0));
        assert_eq!(reading.time.to_rfc3339(), "2018-04-24T10:14:24+00:00");
        assert_eq!(
            reading.record,
            RecordId::Session {
                session_start: "2018-04-24T13:08:24".into(),
                offset_min: 6
            }
        );
        // 12.34 mg/dL (the spec's test value) is below any CGM's range: refused.
        let low = cgm::decode_notification(
            &parse_hex("0F E3 D2 E4 05 00 02 14 FF 02 F0 E5 F3 8E 3F").unwrap(),
        );
        assert!(matches!(
            cgm_measurement(low[0].as_ref().unwrap(), &session, &device()),
            Err(ConversionError::OutOfRange { .. })
        ));
        assert_eq!(
            cgm_status_flags(Some(0x02), Some(0x14), Some(0xFF)).len(),
            5
        );
    }

    #[test]
    fn a_weight_is_timed_by_its_stamp_converted_to_kg_and_refused_when_unsuccessful() {
        use crate::gatt::weight::WeightMeasurement;
        let zone = chrono_tz::Europe::Rome;
        let received = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let stamp = crate::gatt::DateTime::from_naive(
            chrono::NaiveDate::from_ymd_opt(2026, 7, 1)
                .unwrap()
                .and_hms_opt(7, 0, 0)
                .unwrap(),
        );
        let metric = WeightMeasurement {
            imperial: false,
            weight_raw: Some(14_840),
            time_stamp: Some(stamp),
            user_id: Some(1),
            bmi_height_raw: Some((242, 1750)),
        };
        let reading = body_weight(&metric, zone, received, &DeviceIdentity::default()).unwrap();
        // 07:00 in Rome in July (UTC+2) is 05:00 UTC.
        assert_eq!(reading.time.to_rfc3339(), "2026-07-01T05:00:00+00:00");
        let Measurement::BodyWeight { weight, bmi } = &reading.measurement else {
            panic!("not a weight");
        };
        assert!((weight.value - 74.2).abs() < 1e-9);
        assert!((bmi.as_ref().unwrap().value - 24.2).abs() < 1e-9);
        // 163.6 lb without a stamp: timed at reception.
        let imperial = WeightMeasurement {
            imperial: true,
            weight_raw: Some(16_360),
            time_stamp: None,
            user_id: None,
            bmi_height_raw: None,
        };
        let reading = body_weight(&imperial, zone, received, &DeviceIdentity::default()).unwrap();
        assert_eq!(reading.time, received);
        let Measurement::BodyWeight { weight, .. } = &reading.measurement else {
            panic!("not a weight");
        };
        assert!((weight.value - 163.6 * 0.453_592_37).abs() < 1e-9);
        let failed = WeightMeasurement {
            weight_raw: None,
            ..imperial
        };
        assert!(matches!(
            body_weight(&failed, zone, received, &DeviceIdentity::default()),
            Err(ConversionError::Unsuccessful { .. })
        ));
    }

    #[test]
    fn pams_summaries_become_step_distance_and_sleep_readings_timed_from_the_anchor() {
        let anchor = DateTime::parse_from_rfc3339("2026-03-10T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let record = pams::RecordHeader {
            session_id: 4,
            sub_session_id: 9,
            relative_timestamp_s: 3 * 3600,
            sequence_number: 12,
        };
        let steps = StepCounterSummary {
            record,
            fields: [Some(900), Some(100), Some(40), Some(760), Some(900)],
        };
        let readings = step_counter_summary(&steps, anchor, &device()).unwrap();
        assert_eq!(readings.len(), 2);
        assert_eq!(readings[0].time.to_rfc3339(), "2026-03-10T09:00:00+00:00");
        assert_eq!(
            readings[0].measurement,
            Measurement::Steps {
                count: Quantity::new(1040.0, "{steps}"),
                period_min: 15.0
            }
        );
        assert_eq!(
            readings[1].record,
            RecordId::SessionRecord {
                session_id: 4,
                sequence_number: 12,
                quantity: "distance".into()
            }
        );
        assert_ne!(readings[0].dedup_key(), readings[1].dedup_key());
        assert_eq!(
            readings[1].device_time,
            DeviceTime::Relative {
                anchor,
                offset_s: 10_800
            }
        );
        // Without a worn duration the span is the session so far.
        let no_worn = StepCounterSummary {
            fields: [Some(5), None, None, None, None],
            ..steps.clone()
        };
        let reading = &step_counter_summary(&no_worn, anchor, &device()).unwrap()[0];
        assert!(
            matches!(reading.measurement, Measurement::Steps { period_min, .. } if (period_min - 180.0).abs() < 1e-9)
        );
        // "Not known" and empty summaries are refused with their reason.
        let unknown = StepCounterSummary {
            fields: [Some(0xFF_FFFF), None, None, None, None],
            ..steps.clone()
        };
        assert!(matches!(
            step_counter_summary(&unknown, anchor, &device()),
            Err(ConversionError::NotKnown {
                field: "normal walking steps",
                ..
            })
        ));
        let empty = StepCounterSummary {
            fields: [None; 5],
            ..steps
        };
        assert!(matches!(
            step_counter_summary(&empty, anchor, &device()),
            Err(ConversionError::NoValue { .. })
        ));

        let mut fields = [None; 20];
        fields[SleepSummary::TOTAL_SLEEP_TIME_S] = Some(7 * 3600);
        fields[SleepSummary::TOTAL_WAKE_TIME_S] = Some(1800);
        fields[SleepSummary::SLEEP_EFFICIENCY_PERCENT] = Some(93);
        let night = SleepSummary { record, fields };
        let readings = sleep_summary(&night, anchor, &device()).unwrap();
        assert_eq!(
            readings
                .iter()
                .map(|r| r.measurement.clone())
                .collect::<Vec<_>>(),
            vec![
                Measurement::Sleep {
                    duration: Quantity::new(420.0, "min"),
                    stage: Some(SleepStage::Asleep)
                },
                Measurement::Sleep {
                    duration: Quantity::new(30.0, "min"),
                    stage: Some(SleepStage::Awake)
                },
            ]
        );
    }
}
