//! Weight Measurement 0x2A9D (WSS 1.0 §3.2; GSS §3.250).
//!
//! ```text
//! flags  weight   [time stamp]  [user id]  [BMI   height]
//! u8     u16      DateTime      u8         u16    u16
//! flags: bit0 imperial (lb, in) instead of SI (kg, m), bit1 time stamp, bit2 user id,
//!        bit3 BMI and height, bits 4-7 reserved
//! weight: 0.005 kg or 0.01 lb per unit; 0xFFFF = measurement unsuccessful
//! BMI 0.1 kg/m²; height 0.001 m or 0.1 in
//! ```
//!
//! Some parsers read a separate height flag; the specification has one bit (3) for BMI
//! and height together, which decides here.

use serde::{Deserialize, Serialize};

use super::{Characteristic, DateTime, DecodeError, Reader};

/// A Weight Measurement in the wire's raw units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WeightMeasurement {
    /// Imperial units (lb, in) instead of SI (kg, m).
    pub imperial: bool,
    /// Raw weight (0.005 kg or 0.01 lb per unit); `None` when the scale reported
    /// "measurement unsuccessful" (0xFFFF).
    pub weight_raw: Option<u16>,
    /// Device wall-clock time stamp.
    pub time_stamp: Option<DateTime>,
    /// User index.
    pub user_id: Option<u8>,
    /// Raw BMI (0.1 kg/m²) and height (0.001 m or 0.1 in).
    pub bmi_height_raw: Option<(u16, u16)>,
}

impl WeightMeasurement {
    /// Weight, kg.
    #[must_use]
    pub fn kg(&self) -> Option<f64> {
        let raw = f64::from(self.weight_raw?);
        Some(if self.imperial {
            raw * 0.01 * 0.453_592_37
        } else {
            raw * 0.005
        })
    }

    /// BMI, kg/m².
    #[must_use]
    pub fn bmi(&self) -> Option<f64> {
        Some(f64::from(self.bmi_height_raw?.0) * 0.1)
    }

    /// Height, m.
    #[must_use]
    pub fn height_m(&self) -> Option<f64> {
        let raw = f64::from(self.bmi_height_raw?.1);
        Some(if self.imperial {
            raw * 0.1 * 0.0254
        } else {
            raw * 0.001
        })
    }
}

/// Decodes a Weight Measurement.
///
/// # Errors
/// [`DecodeError`] for reserved flags, truncated fields or trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<WeightMeasurement, DecodeError> {
    let mut r = Reader::new(Characteristic::WeightMeasurement, bytes);
    let flags = r.u8("flags")?;
    if flags & 0xF0 != 0 {
        return Err(r.reserved("flags", 0, u32::from(flags)));
    }
    let weight = r.u16("weight")?;
    let time_stamp = if flags & 2 != 0 {
        Some(r.date_time("time stamp")?)
    } else {
        None
    };
    let user_id = if flags & 4 != 0 {
        Some(r.u8("user id")?)
    } else {
        None
    };
    let bmi_height_raw = if flags & 8 != 0 {
        Some((r.u16("BMI")?, r.u16("height")?))
    } else {
        None
    };
    r.finish("value")?;
    Ok(WeightMeasurement {
        imperial: flags & 1 != 0,
        weight_raw: (weight != 0xFFFF).then_some(weight),
        time_stamp,
        user_id,
        bmi_height_raw,
    })
}

/// Encodes a Weight Measurement.
pub fn encode(value: &WeightMeasurement, out: &mut Vec<u8>) {
    let mut flags = u8::from(value.imperial);
    for (present, bit) in [
        (value.time_stamp.is_some(), 2),
        (value.user_id.is_some(), 4),
        (value.bmi_height_raw.is_some(), 8),
    ] {
        if present {
            flags |= bit;
        }
    }
    out.push(flags);
    out.extend_from_slice(&value.weight_raw.unwrap_or(0xFFFF).to_le_bytes());
    if let Some(t) = value.time_stamp {
        t.encode(out);
    }
    out.extend(value.user_id);
    if let Some((bmi, height)) = value.bmi_height_raw {
        out.extend_from_slice(&bmi.to_le_bytes());
        out.extend_from_slice(&height.to_le_bytes());
    }
}
