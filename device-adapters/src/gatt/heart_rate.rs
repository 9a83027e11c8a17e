//! Heart Rate Measurement 0x2A37 (HRS 1.0 §3.1; GSS §3.113).
//!
//! ```text
//! flags  heart rate      [energy expended]  [RR-interval]...
//! u8     u8 | u16 bpm    u16 kJ             u16 each, 1/1024 s, to the end
//! flags: bit0 rate is u16, bit1 contact detected, bit2 contact supported,
//!        bit3 energy present, bit4 RR present, bits 5-7 reserved
//! ```

use serde::{Deserialize, Serialize};

use super::{Characteristic, DecodeError, Reader};

/// Sensor contact as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorContact {
    /// The sensor does not report contact.
    NotSupported,
    /// Supported, not in contact (a reading to treat with suspicion).
    NotDetected,
    /// Supported and in contact.
    Detected,
}

/// One Heart Rate Measurement.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeartRateMeasurement {
    /// Heart rate, beats per minute.
    pub bpm: u16,
    /// Whether the rate was sent as 16 bits (kept so that encoding round-trips).
    pub wide: bool,
    /// Skin contact.
    pub contact: SensorContact,
    /// Energy expended since the last reset, kJ.
    pub energy_kj: Option<u16>,
    /// RR intervals, 1/1024 s each.
    pub rr_intervals_1024ths: Vec<u16>,
}

/// Decodes a Heart Rate Measurement.
///
/// # Errors
/// [`DecodeError`] for reserved flags, truncated fields or an odd number of RR bytes.
pub fn decode(bytes: &[u8]) -> Result<HeartRateMeasurement, DecodeError> {
    let mut r = Reader::new(Characteristic::HeartRateMeasurement, bytes);
    let flags = r.u8("flags")?;
    if flags & 0b1110_0000 != 0 {
        return Err(r.reserved("flags", 0, u32::from(flags)));
    }
    let wide = flags & 1 != 0;
    let bpm = if wide {
        r.u16("heart rate")?
    } else {
        u16::from(r.u8("heart rate")?)
    };
    let contact = match (flags >> 1) & 0b11 {
        0b10 => SensorContact::NotDetected,
        0b11 => SensorContact::Detected,
        _ => SensorContact::NotSupported,
    };
    let energy_kj = if flags & 8 != 0 {
        Some(r.u16("energy expended")?)
    } else {
        None
    };
    let mut rr_intervals_1024ths = Vec::new();
    if flags & 16 != 0 {
        while r.remaining() > 0 {
            rr_intervals_1024ths.push(r.u16("RR-interval")?);
        }
    }
    r.finish("value")?;
    Ok(HeartRateMeasurement {
        bpm,
        wide,
        contact,
        energy_kj,
        rr_intervals_1024ths,
    })
}

/// Encodes a Heart Rate Measurement (16-bit rate when `wide` or above 255 bpm; the RR
/// flag is set when intervals are present).
pub fn encode(value: &HeartRateMeasurement, out: &mut Vec<u8>) {
    let wide = value.wide || value.bpm > 255;
    let mut flags = u8::from(wide);
    flags |= match value.contact {
        SensorContact::NotSupported => 0,
        SensorContact::NotDetected => 0b100,
        SensorContact::Detected => 0b110,
    };
    if value.energy_kj.is_some() {
        flags |= 8;
    }
    if !value.rr_intervals_1024ths.is_empty() {
        flags |= 16;
    }
    out.push(flags);
    if wide {
        out.extend_from_slice(&value.bpm.to_le_bytes());
    } else {
        out.push(value.bpm as u8);
    }
    if let Some(energy) = value.energy_kj {
        out.extend_from_slice(&energy.to_le_bytes());
    }
    for rr in &value.rr_intervals_1024ths {
        out.extend_from_slice(&rr.to_le_bytes());
    }
}
