//! Blood Pressure Measurement 0x2A35 and Intermediate Cuff Pressure 0x2A36 (BLS 1.1
//! §3.1–3.2; GSS §3.31). Both share one layout.
//!
//! ```text
//! flags  systolic  diastolic  MAP     [time stamp]  [pulse rate]  [user id]  [status]
//! u8     SFLOAT    SFLOAT     SFLOAT  DateTime      SFLOAT bpm    u8         u16
//! flags: bit0 unit (0 mmHg, 1 kPa), bit1 time stamp, bit2 pulse rate, bit3 user id,
//!        bit4 measurement status, bits 5-7 reserved
//! ```
//!
//! A year of 0 in the time stamp means "unknown year" (GSS Date Time), not year 0.

use serde::{Deserialize, Serialize};

use super::ieee11073::SFloat;
use super::{Characteristic, DateTime, DecodeError, Reader};

/// Unit of the pressures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PressureUnit {
    /// mmHg.
    MmHg,
    /// kPa.
    KPa,
}

/// One blood pressure (or intermediate cuff pressure) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BloodPressureMeasurement {
    /// Unit of the three pressures.
    pub unit: PressureUnit,
    /// Systolic (or current cuff pressure for 0x2A36).
    pub systolic: SFloat,
    /// Diastolic (NaN in intermediate cuff pressure).
    pub diastolic: SFloat,
    /// Mean arterial pressure (NaN in intermediate cuff pressure).
    pub mean_arterial: SFloat,
    /// Device wall-clock time stamp.
    pub time_stamp: Option<DateTime>,
    /// Pulse rate, beats per minute.
    pub pulse_bpm: Option<SFloat>,
    /// User index on a multi-user device (255 = unknown user).
    pub user_id: Option<u8>,
    /// Measurement status bits (body movement, cuff fit, irregular pulse, pulse range,
    /// position).
    pub status: Option<u16>,
}

/// Decodes a Blood Pressure Measurement (or, with `intermediate`, an Intermediate Cuff
/// Pressure).
///
/// # Errors
/// [`DecodeError`] for reserved flags, truncated fields, impossible time stamps or
/// trailing bytes.
pub fn decode(bytes: &[u8], intermediate: bool) -> Result<BloodPressureMeasurement, DecodeError> {
    let characteristic = if intermediate {
        Characteristic::IntermediateCuffPressure
    } else {
        Characteristic::BloodPressureMeasurement
    };
    let mut r = Reader::new(characteristic, bytes);
    let flags = r.u8("flags")?;
    if flags & 0b1110_0000 != 0 {
        return Err(r.reserved("flags", 0, u32::from(flags)));
    }
    let unit = if flags & 1 != 0 {
        PressureUnit::KPa
    } else {
        PressureUnit::MmHg
    };
    let systolic = r.sfloat("systolic")?;
    let diastolic = r.sfloat("diastolic")?;
    let mean_arterial = r.sfloat("mean arterial pressure")?;
    let time_stamp = if flags & 2 != 0 {
        Some(r.date_time("time stamp")?)
    } else {
        None
    };
    let pulse_bpm = if flags & 4 != 0 {
        Some(r.sfloat("pulse rate")?)
    } else {
        None
    };
    let user_id = if flags & 8 != 0 {
        Some(r.u8("user id")?)
    } else {
        None
    };
    let status = if flags & 16 != 0 {
        Some(r.u16("measurement status")?)
    } else {
        None
    };
    r.finish("value")?;
    Ok(BloodPressureMeasurement {
        unit,
        systolic,
        diastolic,
        mean_arterial,
        time_stamp,
        pulse_bpm,
        user_id,
        status,
    })
}

/// Encodes a Blood Pressure Measurement or Intermediate Cuff Pressure.
pub fn encode(value: &BloodPressureMeasurement, out: &mut Vec<u8>) {
    let mut flags = u8::from(value.unit == PressureUnit::KPa);
    for (present, bit) in [
        (value.time_stamp.is_some(), 2),
        (value.pulse_bpm.is_some(), 4),
        (value.user_id.is_some(), 8),
        (value.status.is_some(), 16),
    ] {
        if present {
            flags |= bit;
        }
    }
    out.push(flags);
    for pressure in [value.systolic, value.diastolic, value.mean_arterial] {
        out.extend_from_slice(&pressure.to_raw().to_le_bytes());
    }
    if let Some(t) = value.time_stamp {
        t.encode(out);
    }
    if let Some(p) = value.pulse_bpm {
        out.extend_from_slice(&p.to_raw().to_le_bytes());
    }
    out.extend(value.user_id);
    if let Some(s) = value.status {
        out.extend_from_slice(&s.to_le_bytes());
    }
}
