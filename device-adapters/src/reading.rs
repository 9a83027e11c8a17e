//! The one normalised reading model every adapter produces: what was measured (with
//! UCUM units), when (resolved UTC instant, local offset, and the device's own time
//! fields as received), by which device, under which record identity (for
//! de-duplication), with which status flags, and from which source.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// A number with its UCUM unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The value.
    pub value: f64,
    /// UCUM unit code (`mg/dL`, `mm[Hg]`, `/min`, `kg`, `kcal`, `m`, `min`, `{steps}`).
    pub unit: String,
}

impl Quantity {
    /// A quantity of `value` in UCUM `unit`.
    #[must_use]
    pub fn new(value: f64, unit: &str) -> Self {
        Self {
            value,
            unit: unit.to_owned(),
        }
    }
}

/// Sleep stage of a span within a sleep session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SleepStage {
    /// Awake in bed.
    Awake,
    /// Light (N1/N2) sleep.
    Light,
    /// Deep (N3) sleep.
    Deep,
    /// REM sleep.
    Rem,
    /// Asleep, stage not reported.
    Asleep,
}

/// What was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measurement {
    /// Interstitial glucose from a CGM (mg/dL).
    CgmGlucose {
        /// Glucose, `mg/dL`.
        glucose: Quantity,
        /// Trend, `mg/dL/min`, when reported.
        trend: Option<Quantity>,
    },
    /// Capillary (meter) glucose (mg/dL).
    MeterGlucose {
        /// Glucose, `mg/dL`.
        glucose: Quantity,
    },
    /// Heart rate and RR intervals.
    HeartRate {
        /// Rate, `/min`.
        rate: Quantity,
        /// RR intervals, seconds.
        rr_intervals_s: Vec<f64>,
    },
    /// Blood pressure.
    BloodPressure {
        /// Systolic, `mm[Hg]`.
        systolic: Quantity,
        /// Diastolic, `mm[Hg]`.
        diastolic: Option<Quantity>,
        /// Mean arterial pressure, `mm[Hg]`.
        mean_arterial: Option<Quantity>,
        /// Pulse, `/min`.
        pulse: Option<Quantity>,
    },
    /// Body weight and BMI.
    BodyWeight {
        /// Weight, `kg`.
        weight: Quantity,
        /// Body-mass index, `kg/m2`.
        bmi: Option<Quantity>,
    },
    /// Steps over a period ending at the reading's time.
    Steps {
        /// Count, `{steps}`.
        count: Quantity,
        /// Length of the period, minutes.
        period_min: f64,
    },
    /// Energy expended over a period.
    Calories {
        /// Energy, `kcal`.
        energy: Quantity,
        /// Length of the period, minutes.
        period_min: f64,
    },
    /// Distance over a period.
    Distance {
        /// Distance, `m`.
        distance: Quantity,
        /// Length of the period, minutes.
        period_min: f64,
    },
    /// A sleep span ending at the reading's time.
    Sleep {
        /// Duration, `min`.
        duration: Quantity,
        /// Stage, when reported.
        stage: Option<SleepStage>,
    },
}

impl Measurement {
    /// The measurement's kind: its serde tag (`cgm_glucose`, `steps`, …), the name the
    /// store indexes and the API filters by.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CgmGlucose { .. } => "cgm_glucose",
            Self::MeterGlucose { .. } => "meter_glucose",
            Self::HeartRate { .. } => "heart_rate",
            Self::BloodPressure { .. } => "blood_pressure",
            Self::BodyWeight { .. } => "body_weight",
            Self::Steps { .. } => "steps",
            Self::Calories { .. } => "calories",
            Self::Distance { .. } => "distance",
            Self::Sleep { .. } => "sleep",
        }
    }

    /// Glucose in mg/dL without a trend: CGM (interstitial) when `from_cgm`, else meter
    /// (capillary).
    #[must_use]
    pub fn glucose(mg_dl: f64, from_cgm: bool) -> Self {
        let glucose = Quantity::new(mg_dl, "mg/dL");
        if from_cgm {
            Self::CgmGlucose {
                glucose,
                trend: None,
            }
        } else {
            Self::MeterGlucose { glucose }
        }
    }
}

/// The device's own time fields, exactly as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum DeviceTime {
    /// A wall-clock time without a zone (meter base time + offset, export timestamp).
    Local {
        /// The wall-clock time.
        local: NaiveDateTime,
    },
    /// A CGM session start plus a time offset.
    SessionOffset {
        /// Session start, wall-clock.
        session_start: NaiveDateTime,
        /// The session's offset from UTC, minutes, when the device said it.
        session_utc_offset_min: Option<i32>,
        /// Minutes since the session start.
        offset_min: u32,
    },
    /// Seconds since a session's start, the start anchored on the collector's clock
    /// (PAMS relative timestamps: the band's time base, not its wall clock).
    Relative {
        /// The session's start, UTC, as the collector anchored it.
        anchor: DateTime<Utc>,
        /// Seconds since the session's start.
        offset_s: u32,
    },
    /// An instant with its zone or offset (ISO 8601 with offset, epoch milliseconds).
    Absolute {
        /// The instant.
        instant: DateTime<Utc>,
        /// The offset written with it, minutes, if any.
        utc_offset_min: Option<i32>,
    },
}

/// Who measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceIdentity {
    /// Bluetooth address or other transport address.
    pub address: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Model or product name.
    pub model: Option<String>,
}

/// The device's own identity for the record, the key for de-duplication (together with
/// the device identity), never the arrival time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum RecordId {
    /// A meter's sequence number.
    Sequence {
        /// Sequence number.
        number: u32,
    },
    /// A CGM session start and time offset.
    Session {
        /// Session start as sent (ISO 8601 wall-clock).
        session_start: String,
        /// Minutes since start.
        offset_min: u32,
    },
    /// A record a device numbers within a session (PAMS summaries), and which of the
    /// record's quantities the reading is: one summary gives several readings.
    SessionRecord {
        /// The device's session.
        session_id: u16,
        /// The record's sequence number.
        sequence_number: u32,
        /// Which quantity (`steps`, `distance`, `sleep`, `awake`).
        quantity: String,
    },
    /// An identifier given by the exporting system (Nightscout `_id`, Dexcom index).
    External {
        /// The identifier.
        id: String,
    },
    /// A record known by its type and the device's own wall-clock timestamp (exports
    /// without record numbers, e.g. LibreView: type 0 historic, 1 scan, 2 strip).
    DeviceLocal {
        /// The exporter's record type.
        record_type: u8,
        /// The device timestamp as written.
        local: NaiveDateTime,
    },
    /// No device identity: the source instant (UTC) and the value stand in.
    Instant {
        /// The instant, RFC 3339.
        at: String,
    },
}

/// Status and annunciation flags carried with a reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadingFlag {
    /// The true value is below the device's measurement range; the value is the bound.
    BelowMeasurementRange,
    /// The true value is above the device's measurement range; the value is the bound.
    AboveMeasurementRange,
    /// The device reported a sensor malfunction or fault.
    SensorMalfunction,
    /// Device battery low.
    BatteryLow,
    /// Calibration required or recommended.
    CalibrationRequired,
    /// Sensor temperature out of range.
    TemperatureOutOfRange,
    /// A scan (on-demand reading) rather than a periodic one (Libre).
    Scan,
    /// Any other device status, by its raw description.
    Other(String),
}

/// Where a reading came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum ReadingSource {
    /// A Bluetooth characteristic (16-bit UUID).
    Ble {
        /// Characteristic UUID.
        characteristic: u16,
    },
    /// An MQTT message.
    Mqtt {
        /// Topic.
        topic: String,
    },
    /// An export file.
    Import {
        /// Importer (`libreview`, `dexcom_clarity`, `nightscout`, `generic_csv`, …).
        importer: std::borrow::Cow<'static, str>,
        /// File name, if known.
        file: Option<String>,
        /// Line (CSV) or entry index (JSON), 1-based.
        line: usize,
    },
}

/// One normalised reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// What was measured.
    pub measurement: Measurement,
    /// When (UTC).
    pub time: DateTime<Utc>,
    /// Offset of the local time the reading was taken in from UTC, minutes, if known.
    pub local_offset_min: Option<i32>,
    /// The device's time fields as received.
    pub device_time: DeviceTime,
    /// Who measured.
    pub device: DeviceIdentity,
    /// The device's own record identity.
    pub record: RecordId,
    /// Status flags.
    pub flags: Vec<ReadingFlag>,
    /// Where it came from.
    pub source: ReadingSource,
}

impl Reading {
    /// A reading stamped with an absolute instant (`time`, UTC; `local_offset_min`, the
    /// stamp's offset from UTC in minutes when known): the resolved time and the device
    /// time are that instant. Imports with ISO timestamps and BLE values stamped on
    /// receipt are such readings. No flags; set them with struct update syntax.
    #[must_use]
    pub fn stamped(
        measurement: Measurement,
        time: DateTime<Utc>,
        local_offset_min: Option<i32>,
        device: DeviceIdentity,
        record: RecordId,
        source: ReadingSource,
    ) -> Self {
        Self {
            measurement,
            time,
            local_offset_min,
            device_time: DeviceTime::Absolute {
                instant: time,
                utc_offset_min: local_offset_min,
            },
            device,
            record,
            flags: Vec::new(),
            source,
        }
    }

    /// Glucose in mg/dL for glucose readings, for the metrics engine.
    #[must_use]
    pub fn glucose_mg_dl(&self) -> Option<f64> {
        match &self.measurement {
            Measurement::CgmGlucose { glucose, .. } | Measurement::MeterGlucose { glucose } => {
                Some(glucose.value)
            }
            _ => None,
        }
    }

    /// The de-duplication key: device identity and the device's record identity.
    #[must_use]
    pub fn dedup_key(&self) -> (DeviceIdentity, RecordId) {
        (self.device.clone(), self.record.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_is_the_serde_tag_of_every_measurement() {
        let q = |v: f64, u: &str| Quantity::new(v, u);
        let all = [
            Measurement::glucose(100.0, true),
            Measurement::glucose(100.0, false),
            Measurement::HeartRate {
                rate: q(60.0, "/min"),
                rr_intervals_s: vec![],
            },
            Measurement::BloodPressure {
                systolic: q(120.0, "mm[Hg]"),
                diastolic: None,
                mean_arterial: None,
                pulse: None,
            },
            Measurement::BodyWeight {
                weight: q(70.0, "kg"),
                bmi: None,
            },
            Measurement::Steps {
                count: q(1.0, "{steps}"),
                period_min: 1.0,
            },
            Measurement::Calories {
                energy: q(1.0, "kcal"),
                period_min: 1.0,
            },
            Measurement::Distance {
                distance: q(1.0, "m"),
                period_min: 1.0,
            },
            Measurement::Sleep {
                duration: q(1.0, "min"),
                stage: None,
            },
        ];
        for m in all {
            let tag = serde_json::to_value(&m).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(m.kind(), tag);
        }
    }
}
