//! CGM Service (CGMS 1.0.1): CGM Measurement 0x2AA7, Session Start Time 0x2AAA and
//! Session Run Time 0x2AAB.
//!
//! CGM Measurement record (CGMS §3.2), several per notification, each starting with its
//! own size:
//!
//! ```text
//! size  flags  glucose  time offset  [status][cal/temp][warning]  [trend]  [quality]  [E2E-CRC]
//! u8    u8     SFLOAT   u16 minutes  u8 each, if flagged           SFLOAT   SFLOAT     u16
//!                mg/dL  since session start                        mg/dL/min  %
//! flags: bit0 trend present, bit1 quality present, bits 2-4 reserved,
//!        bit5 warning octet, bit6 cal/temp octet, bit7 status octet present
//! ```
//!
//! Annunciation octets are on the wire in the fixed order status, cal/temp, warning
//! (CGMS §3.2.1.3), whatever order the flag bits are listed in; open-source parsers
//! disagree, the specification's field order decides. The CRC is present exactly when
//! `size` = field length + 2 (CGMS §3.9; see [`super::crc`]). A record with a bad CRC is
//! reported as an error and decoding goes on with the next record.

use serde::{Deserialize, Serialize};

use super::crc::{self, crc16_ccitt_false, crc16_mcrf4xx};
use super::ieee11073::SFloat;
use super::{Characteristic, DateTime, DecodeError, Reader};

pub use super::crc::CrcCheck;

/// One CGM Measurement record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CgmMeasurement {
    /// Glucose concentration, mg/dL (may be a special value).
    pub glucose_mg_dl: SFloat,
    /// Minutes since the session start.
    pub time_offset_min: u16,
    /// Sensor status annunciation, status octet.
    pub status: Option<u8>,
    /// Sensor status annunciation, calibration/temperature octet.
    pub cal_temp: Option<u8>,
    /// Sensor status annunciation, warning octet.
    pub warning: Option<u8>,
    /// Trend, mg/dL per minute.
    pub trend_mg_dl_per_min: Option<SFloat>,
    /// Quality, %.
    pub quality_percent: Option<SFloat>,
    /// The CRC the record carried (for encoding: `Absent` or `Mcrf4xx`).
    pub crc: CrcCheck,
}

const CGM: Characteristic = Characteristic::CgmMeasurement;
const FLAG_TREND: u8 = 1 << 0;
const FLAG_QUALITY: u8 = 1 << 1;
const FLAGS_RESERVED: u8 = 0b0001_1100;
const FLAG_WARNING: u8 = 1 << 5;
const FLAG_CAL_TEMP: u8 = 1 << 6;
const FLAG_STATUS: u8 = 1 << 7;

/// Decodes every record of a CGM Measurement notification. Each record is decoded on
/// its own: a bad one does not hide the others. A size of 0 or one that runs past the
/// end stops decoding (the rest cannot be framed) after reporting it.
#[must_use]
pub fn decode_notification(bytes: &[u8]) -> Vec<Result<CgmMeasurement, DecodeError>> {
    records(bytes).collect()
}

/// The records of a notification, decoded one by one without allocating (the
/// gateway's hot path); [`decode_notification`] collects them.
#[must_use]
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records { bytes, offset: 0 }
}

/// Iterator over the records of a CGM Measurement notification (see [`records`]).
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Iterator for Records<'_> {
    type Item = Result<CgmMeasurement, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset;
        let size = usize::from(*self.bytes.get(offset)?);
        if size < 6 {
            self.offset = self.bytes.len();
            return Some(Err(DecodeError::BadLength {
                characteristic: CGM,
                field: "size",
                offset,
                declared: size,
                actual: 6,
            }));
        }
        if offset + size > self.bytes.len() {
            self.offset = self.bytes.len();
            return Some(Err(DecodeError::Truncated {
                characteristic: CGM,
                field: "record",
                offset,
                need: size,
                got: self.bytes.len() - offset,
            }));
        }
        self.offset += size;
        Some(decode_record(&self.bytes[offset..offset + size], offset))
    }
}

/// Decodes one record that starts at byte `base` of its notification.
///
/// # Errors
/// [`DecodeError`] for reserved flags, a size that matches neither the fields nor the
/// fields plus a CRC, or a CRC that matches neither CRC variant.
pub fn decode_record(record: &[u8], base: usize) -> Result<CgmMeasurement, DecodeError> {
    let mut r = Reader::with_base(CGM, record, base);
    let size = usize::from(r.u8("size")?);
    let flags_at = r.offset();
    let flags = r.u8("flags")?;
    if flags & FLAGS_RESERVED != 0 {
        return Err(r.reserved("flags", flags_at, u32::from(flags)));
    }
    let glucose_mg_dl = r.sfloat("glucose")?;
    let time_offset_min = r.u16("time offset")?;
    let status = if flags & FLAG_STATUS != 0 {
        Some(r.u8("status octet")?)
    } else {
        None
    };
    let cal_temp = if flags & FLAG_CAL_TEMP != 0 {
        Some(r.u8("cal/temp octet")?)
    } else {
        None
    };
    let warning = if flags & FLAG_WARNING != 0 {
        Some(r.u8("warning octet")?)
    } else {
        None
    };
    let trend_mg_dl_per_min = if flags & FLAG_TREND != 0 {
        Some(r.sfloat("trend")?)
    } else {
        None
    };
    let quality_percent = if flags & FLAG_QUALITY != 0 {
        Some(r.sfloat("quality")?)
    } else {
        None
    };
    let fields = r.local_offset();
    let crc = if size == fields {
        CrcCheck::Absent
    } else if size == fields + 2 {
        let crc_at = r.offset();
        let found = r.u16("E2E-CRC")?;
        crc::verify(CGM, &record[..fields], found, crc_at)?
    } else {
        return Err(DecodeError::BadLength {
            characteristic: CGM,
            field: "size",
            offset: base,
            declared: size,
            actual: fields,
        });
    };
    Ok(CgmMeasurement {
        glucose_mg_dl,
        time_offset_min,
        status,
        cal_temp,
        warning,
        trend_mg_dl_per_min,
        quality_percent,
        crc,
    })
}

/// Appends one record; a CRC (MCRF4XX) is added unless `crc` is `Absent`.
pub fn encode_record(measurement: &CgmMeasurement, out: &mut Vec<u8>) {
    let start = out.len();
    let mut flags = 0;
    for (present, bit) in [
        (measurement.trend_mg_dl_per_min.is_some(), FLAG_TREND),
        (measurement.quality_percent.is_some(), FLAG_QUALITY),
        (measurement.warning.is_some(), FLAG_WARNING),
        (measurement.cal_temp.is_some(), FLAG_CAL_TEMP),
        (measurement.status.is_some(), FLAG_STATUS),
    ] {
        if present {
            flags |= bit;
        }
    }
    out.extend_from_slice(&[0, flags]);
    out.extend_from_slice(&measurement.glucose_mg_dl.to_raw().to_le_bytes());
    out.extend_from_slice(&measurement.time_offset_min.to_le_bytes());
    out.extend(measurement.status);
    out.extend(measurement.cal_temp);
    out.extend(measurement.warning);
    for value in [measurement.trend_mg_dl_per_min, measurement.quality_percent]
        .into_iter()
        .flatten()
    {
        out.extend_from_slice(&value.to_raw().to_le_bytes());
    }
    let with_crc = measurement.crc != CrcCheck::Absent;
    let size = out.len() - start + if with_crc { 2 } else { 0 };
    out[start] = size as u8;
    if with_crc {
        let crc = match measurement.crc {
            CrcCheck::CcittFalse => crc16_ccitt_false(&out[start..]),
            _ => crc16_mcrf4xx(&out[start..]),
        };
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

/// CGM Session Start Time (CGMS §3.5): local date-time, time zone and DST offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionStartTime {
    /// Session start, local wall-clock time.
    pub start: DateTime,
    /// Offset of standard time from UTC in 15-minute steps (−48…56); `None` = unknown
    /// (−128 on the wire). A parser that reads it as minutes is wrong.
    pub time_zone_quarter_hours: Option<i8>,
    /// Daylight saving in 15-minute steps (0, 2, 4, 8); `None` = unknown (255).
    pub dst_quarter_hours: Option<u8>,
    /// Whether a (valid MCRF4XX or CCITT-FALSE) CRC was present.
    pub crc: CrcCheck,
}

impl SessionStartTime {
    /// Offset of the session's local time from UTC, minutes, when both parts are known.
    #[must_use]
    pub fn utc_offset_min(&self) -> Option<i32> {
        Some(15 * (i32::from(self.time_zone_quarter_hours?) + i32::from(self.dst_quarter_hours?)))
    }

    /// The UTC instant of a reading `time_offset_min` minutes into the session (CGMS
    /// §3.2.1.2), when the start and its zone are known.
    #[must_use]
    pub fn reading_instant(&self, time_offset_min: u16) -> Option<chrono::DateTime<chrono::Utc>> {
        let local = self.start.to_naive()?;
        let utc = local - chrono::Duration::minutes(i64::from(self.utc_offset_min()?));
        Some(utc.and_utc() + chrono::Duration::minutes(i64::from(time_offset_min)))
    }
}

/// Decodes a Session Start Time value.
///
/// # Errors
/// [`DecodeError`] for truncated values, reserved zone or DST codes, or a bad CRC.
pub fn decode_session_start_time(bytes: &[u8]) -> Result<SessionStartTime, DecodeError> {
    let characteristic = Characteristic::CgmSessionStartTime;
    let mut r = Reader::new(characteristic, bytes);
    let start = r.date_time("session start")?;
    let zone_at = r.offset();
    let zone = r.u8("time zone")? as i8;
    let time_zone_quarter_hours = match zone {
        -128 => None,
        -48..=56 => Some(zone),
        _ => return Err(r.reserved("time zone", zone_at, u32::from(zone as u8))),
    };
    let dst_at = r.offset();
    let dst = r.u8("DST offset")?;
    let dst_quarter_hours = match dst {
        255 => None,
        0 | 2 | 4 | 8 => Some(dst),
        _ => return Err(r.reserved("DST offset", dst_at, u32::from(dst))),
    };
    let crc = optional_crc(&mut r, bytes, characteristic)?;
    Ok(SessionStartTime {
        start,
        time_zone_quarter_hours,
        dst_quarter_hours,
        crc,
    })
}

/// Encodes a Session Start Time (with an MCRF4XX CRC unless `crc` is `Absent`).
pub fn encode_session_start_time(value: &SessionStartTime, out: &mut Vec<u8>) {
    let start = out.len();
    value.start.encode(out);
    out.push(value.time_zone_quarter_hours.map_or(0x80, |z| z as u8));
    out.push(value.dst_quarter_hours.unwrap_or(255));
    crc::append(value.crc, start, out);
}

/// Decodes a Session Run Time (CGMS §3.6): expected run time, hours.
///
/// # Errors
/// [`DecodeError`] for truncated values or a bad CRC.
pub fn decode_session_run_time(bytes: &[u8]) -> Result<(u16, CrcCheck), DecodeError> {
    let characteristic = Characteristic::CgmSessionRunTime;
    let mut r = Reader::new(characteristic, bytes);
    let hours = r.u16("run time")?;
    Ok((hours, optional_crc(&mut r, bytes, characteristic)?))
}

/// Encodes a Session Run Time in hours.
pub fn encode_session_run_time(hours: u16, crc: CrcCheck, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&hours.to_le_bytes());
    crc::append(crc, start, out);
}

fn optional_crc(
    r: &mut Reader<'_>,
    bytes: &[u8],
    characteristic: Characteristic,
) -> Result<CrcCheck, DecodeError> {
    if r.remaining() == 0 {
        return Ok(CrcCheck::Absent);
    }
    let covered_len = r.local_offset();
    let at = r.offset();
    let found = r.u16("E2E-CRC")?;
    r.finish("value")?;
    crc::verify(characteristic, &bytes[..covered_len], found, at)
}
