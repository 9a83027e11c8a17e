//! Bluetooth SIG health-profile codecs, sans-IO: `decode(&[u8]) -> Result<T, DecodeError>`
//! and `encode(&T, &mut Vec<u8>)`, with no BLE or MQTT library in scope.
//!
//! Byte layouts follow the Bluetooth SIG specifications (GLS 1.0.1, CGMS 1.0.1, HRS 1.0,
//! BLS 1.1, WSS 1.0, PAMS 1.0, CTS 1.1 and the GATT Specification Supplement); each module draws its
//! layout and cites the section. Decoders never panic: every length is checked before
//! it is used, and every error names the characteristic, the field and the byte offset.

pub mod blood_pressure;
pub mod cgm;
pub mod cgm_control;
pub mod crc;
pub mod current_time;
pub mod device_information;
pub mod glucose;
pub mod glucose_context;
pub mod heart_rate;
pub mod ieee11073;
pub mod pams;
pub mod racp;
pub mod weight;

/// A characteristic, by its 16-bit Bluetooth SIG UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Characteristic {
    /// Glucose Measurement, 0x2A18.
    GlucoseMeasurement,
    /// Record Access Control Point, 0x2A52.
    RecordAccessControlPoint,
    /// CGM Measurement, 0x2AA7.
    CgmMeasurement,
    /// CGM Session Start Time, 0x2AAA.
    CgmSessionStartTime,
    /// CGM Session Run Time, 0x2AAB.
    CgmSessionRunTime,
    /// Heart Rate Measurement, 0x2A37.
    HeartRateMeasurement,
    /// Blood Pressure Measurement, 0x2A35.
    BloodPressureMeasurement,
    /// Intermediate Cuff Pressure, 0x2A36.
    IntermediateCuffPressure,
    /// Current Time, 0x2A2B.
    CurrentTime,
    /// CGM Feature, 0x2AA8.
    CgmFeature,
    /// CGM Status, 0x2AA9.
    CgmStatus,
    /// CGM Specific Ops Control Point, 0x2AAC.
    CgmSpecificOpsControlPoint,
    /// Weight Measurement, 0x2A9D.
    WeightMeasurement,
    /// Glucose Measurement Context, 0x2A34.
    GlucoseMeasurementContext,
    /// Glucose Feature, 0x2A51.
    GlucoseFeature,
    /// A Device Information string (0x2A24–0x2A29; reported as Model Number 0x2A24).
    DeviceInformationString,
    /// Step Counter Activity Summary Data (PAMS), 0x2B40.
    StepCounterActivitySummary,
    /// Sleep Activity Summary Data (PAMS), 0x2B42.
    SleepActivitySummary,
    /// Activity Current Session (PAMS), 0x2B44.
    ActivityCurrentSession,
}

impl Characteristic {
    /// The 16-bit UUID.
    #[must_use]
    pub fn uuid16(self) -> u16 {
        match self {
            Self::GlucoseMeasurement => 0x2A18,
            Self::RecordAccessControlPoint => 0x2A52,
            Self::CgmMeasurement => 0x2AA7,
            Self::CgmSessionStartTime => 0x2AAA,
            Self::CgmSessionRunTime => 0x2AAB,
            Self::HeartRateMeasurement => 0x2A37,
            Self::BloodPressureMeasurement => 0x2A35,
            Self::IntermediateCuffPressure => 0x2A36,
            Self::CurrentTime => 0x2A2B,
            Self::CgmFeature => 0x2AA8,
            Self::CgmStatus => 0x2AA9,
            Self::CgmSpecificOpsControlPoint => 0x2AAC,
            Self::WeightMeasurement => 0x2A9D,
            Self::GlucoseMeasurementContext => 0x2A34,
            Self::GlucoseFeature => 0x2A51,
            Self::DeviceInformationString => 0x2A24,
            Self::StepCounterActivitySummary => pams::STEP_COUNTER_SUMMARY_UUID,
            Self::SleepActivitySummary => pams::SLEEP_SUMMARY_UUID,
            Self::ActivityCurrentSession => pams::CURRENT_SESSION_UUID,
        }
    }
}

/// Why bytes could not be decoded. Every variant says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value ends before a field it announces.
    #[error("{characteristic:?}: {field} at byte {offset} needs {need} bytes, {got} left")]
    Truncated {
        /// Characteristic being decoded.
        characteristic: Characteristic,
        /// Field that did not fit.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes remaining.
        got: usize,
    },
    /// The end-to-end CRC does not match.
    #[error("{characteristic:?}: CRC at byte {offset} is {found:#06x}, expected {expected:#06x}")]
    BadCrc {
        /// Characteristic being decoded.
        characteristic: Characteristic,
        /// Byte offset of the CRC field.
        offset: usize,
        /// CRC-16/MCRF4XX over the record (the specification's).
        expected: u16,
        /// CRC found in the record.
        found: u16,
    },
    /// A field holds a value the specification reserves or does not define.
    #[error("{characteristic:?}: {field} at byte {offset} has reserved value {value:#x}")]
    Reserved {
        /// Characteristic being decoded.
        characteristic: Characteristic,
        /// Field with the value.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// The value.
        value: u32,
    },
    /// A length field disagrees with the fields it covers.
    #[error(
        "{characteristic:?}: {field} at byte {offset} says {declared}, the fields need {actual}"
    )]
    BadLength {
        /// Characteristic being decoded.
        characteristic: Characteristic,
        /// Length field.
        field: &'static str,
        /// Byte offset of the length field.
        offset: usize,
        /// Length declared.
        declared: usize,
        /// Length the flags imply.
        actual: usize,
    },
}

/// A bounds-checked little-endian reader over one characteristic value.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    /// Offset of `bytes` within the whole value (for records inside a notification).
    base: usize,
    characteristic: Characteristic,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(characteristic: Characteristic, bytes: &'a [u8]) -> Self {
        Self::with_base(characteristic, bytes, 0)
    }

    pub(crate) fn with_base(characteristic: Characteristic, bytes: &'a [u8], base: usize) -> Self {
        Self {
            bytes,
            offset: 0,
            base,
            characteristic,
        }
    }

    /// Offset of the next byte within the whole value.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.offset
    }

    /// Offset of the next byte within this reader's bytes.
    pub(crate) fn local_offset(&self) -> usize {
        self.offset
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    pub(crate) fn take(
        &mut self,
        field: &'static str,
        need: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let got = self.remaining();
        if got < need {
            return Err(DecodeError::Truncated {
                characteristic: self.characteristic,
                field,
                offset: self.base + self.offset,
                need,
                got,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + need];
        self.offset += need;
        Ok(slice)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(field, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        let b = self.take(field, 2)?;
        Ok(i16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn sfloat(&mut self, field: &'static str) -> Result<ieee11073::SFloat, DecodeError> {
        Ok(ieee11073::SFloat::from_raw(self.u16(field)?))
    }

    pub(crate) fn reserved(&self, field: &'static str, offset: usize, value: u32) -> DecodeError {
        DecodeError::Reserved {
            characteristic: self.characteristic,
            field,
            offset,
            value,
        }
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self, field: &'static str) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::BadLength {
                characteristic: self.characteristic,
                field,
                offset: self.offset(),
                declared: self.bytes.len(),
                actual: self.offset,
            })
        }
    }

    /// A Date Time (GSS §3.70): year uint16 (0 = unknown), month, day, hours, minutes,
    /// seconds; fields out of range are reserved values.
    pub(crate) fn date_time(&mut self, field: &'static str) -> Result<DateTime, DecodeError> {
        let at = self.offset();
        let bytes = self.take(field, 7)?;
        let value = DateTime {
            year: u16::from_le_bytes([bytes[0], bytes[1]]),
            month: bytes[2],
            day: bytes[3],
            hours: bytes[4],
            minutes: bytes[5],
            seconds: bytes[6],
        };
        let limits = [
            (value.month, 12, 2),
            (value.day, 31, 3),
            (value.hours, 23, 4),
            (value.minutes, 59, 5),
            (value.seconds, 59, 6),
        ];
        for (part, max, position) in limits {
            if part > max {
                return Err(self.reserved(field, at + position, u32::from(part)));
            }
        }
        if (1..1582).contains(&value.year) || value.year > 9999 {
            return Err(self.reserved(field, at, u32::from(value.year)));
        }
        Ok(value)
    }
}

/// The GATT Date Time (GSS §3.70), as the device sent it: a local wall-clock time whose
/// zone the device may or may not say elsewhere. Zero means "unknown" for year, month
/// and day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DateTime {
    /// Year, 1582–9999; 0 when unknown.
    pub year: u16,
    /// Month 1–12; 0 when unknown.
    pub month: u8,
    /// Day 1–31; 0 when unknown.
    pub day: u8,
    /// Hours 0–23.
    pub hours: u8,
    /// Minutes 0–59.
    pub minutes: u8,
    /// Seconds 0–59.
    pub seconds: u8,
}

impl DateTime {
    /// The wall-clock time, or `None` when the date is unknown or impossible
    /// (30 February).
    #[must_use]
    pub fn to_naive(self) -> Option<chrono::NaiveDateTime> {
        if self.year == 0 || self.month == 0 || self.day == 0 {
            return None;
        }
        chrono::NaiveDate::from_ymd_opt(
            i32::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )?
        .and_hms_opt(
            u32::from(self.hours),
            u32::from(self.minutes),
            u32::from(self.seconds),
        )
    }

    /// From a wall-clock time (years outside 1582–9999 are not representable and give
    /// an unknown year).
    #[must_use]
    pub fn from_naive(time: chrono::NaiveDateTime) -> Self {
        use chrono::{Datelike, Timelike};
        let year = u16::try_from(time.year())
            .ok()
            .filter(|y| (1582..=9999).contains(y))
            .unwrap_or(0);
        Self {
            year,
            month: time.month() as u8,
            day: time.day() as u8,
            hours: time.hour() as u8,
            minutes: time.minute() as u8,
            seconds: time.second() as u8,
        }
    }

    /// Appends the 7-byte encoding.
    pub fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.year.to_le_bytes());
        out.extend_from_slice(&[self.month, self.day, self.hours, self.minutes, self.seconds]);
    }
}

/// Parses a hex string such as `"1B 01 00"` (spaces optional) into bytes; for tests
/// and tools.
///
/// # Errors
/// A message naming the first character pair that is not hex.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in `{text}`"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("`{}` is not hex", &digits[i..i + 2]))
        })
        .collect()
}
