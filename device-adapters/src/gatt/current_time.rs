//! Current Time 0x2A2B (CTS 1.1 §3.1; GSS "Exact Time 256" + "Adjust Reason").
//!
//! ```text
//! Date Time  day of week  fractions256  adjust reason
//! 7 bytes    u8 (1=Mon…7, 0 unknown)  u8 (1/256 s)  u8 bits: 0 manual, 1 external
//!                                                    reference, 2 zone change, 3 DST change
//! ```

use serde::{Deserialize, Serialize};

use super::{Characteristic, DateTime, DecodeError, Reader};

/// The device's current time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CurrentTime {
    /// Wall-clock date and time.
    pub date_time: DateTime,
    /// Day of week, 1 = Monday … 7 = Sunday; 0 unknown.
    pub day_of_week: u8,
    /// Fractions of a second, 1/256 s.
    pub fractions_256: u8,
    /// Adjust reason bits (bits 4–7 reserved).
    pub adjust_reason: u8,
}

/// Decodes a Current Time value.
///
/// # Errors
/// [`DecodeError`] for truncated values, a day of week above 7, reserved adjust-reason
/// bits or trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<CurrentTime, DecodeError> {
    let mut r = Reader::new(Characteristic::CurrentTime, bytes);
    let date_time = r.date_time("date time")?;
    let day_of_week = r.u8("day of week")?;
    if day_of_week > 7 {
        return Err(r.reserved("day of week", 7, u32::from(day_of_week)));
    }
    let fractions_256 = r.u8("fractions256")?;
    let adjust_reason = r.u8("adjust reason")?;
    if adjust_reason & 0xF0 != 0 {
        return Err(r.reserved("adjust reason", 9, u32::from(adjust_reason)));
    }
    r.finish("value")?;
    Ok(CurrentTime {
        date_time,
        day_of_week,
        fractions_256,
        adjust_reason,
    })
}

/// Encodes a Current Time value.
pub fn encode(value: &CurrentTime, out: &mut Vec<u8>) {
    value.date_time.encode(out);
    out.extend([value.day_of_week, value.fractions_256, value.adjust_reason]);
}
