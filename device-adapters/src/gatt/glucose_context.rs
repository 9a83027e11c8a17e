//! Glucose Measurement Context 0x2A34 and Glucose Feature 0x2A51 (GLS 1.0.1; GSS
//! §3.105 and §3.104).
//!
//! ```text
//! Context: flags u8 | sequence u16 | [extended flags u8] | [carbohydrate id u8, carbs SFLOAT kg]
//!          | [meal u8] | [tester (low nibble) / health (high nibble) u8]
//!          | [exercise duration u16 s, intensity u8 %] | [medication id u8, medication SFLOAT]
//!          | [HbA1c SFLOAT %]
//! flags: bit0 carbohydrate, bit1 meal, bit2 tester-health, bit3 exercise, bit4 medication,
//!        bit5 medication unit (0 kg, 1 litre), bit6 HbA1c, bit7 extended flags
//! Feature: u16 feature bits (bit 10: multiple bond; others: low battery, malfunction,
//!          sample size, strip insertion, strip type, high-low, temperature, read
//!          interrupt, general fault, time fault detection supported)
//! ```
//!
//! A context is linked to its measurement by the sequence number. Codes are kept as the
//! device sent them (carbohydrate 1 breakfast … 7 supper; meal 1 preprandial,
//! 2 postprandial, 3 fasting, 4 casual, 5 bedtime); undefined codes are reserved values.

use serde::{Deserialize, Serialize};

use super::ieee11073::SFloat;
use super::{Characteristic, DecodeError, Reader};

/// Glucose Measurement Context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlucoseContext {
    /// Sequence number of the measurement this context belongs to.
    pub sequence_number: u16,
    /// Extended flags (reserved for future use, kept).
    pub extended_flags: Option<u8>,
    /// Carbohydrate id (1–7) and amount, kg.
    pub carbohydrate: Option<(u8, SFloat)>,
    /// Meal code (1–5).
    pub meal: Option<u8>,
    /// Tester (1 self, 2 professional, 3 lab, 15 n/a) and health (1–5, 15 n/a) codes.
    pub tester_health: Option<(u8, u8)>,
    /// Exercise duration, seconds (65535 = overrun), and intensity, %.
    pub exercise: Option<(u16, u8)>,
    /// Medication id (1–5), amount, and whether the amount is in litres (else kg).
    pub medication: Option<(u8, SFloat, bool)>,
    /// HbA1c, %.
    pub hba1c_percent: Option<SFloat>,
}

/// Decodes a Glucose Measurement Context.
///
/// # Errors
/// [`DecodeError`] for truncated fields, undefined codes or trailing bytes.
pub fn decode_context(bytes: &[u8]) -> Result<GlucoseContext, DecodeError> {
    let mut r = Reader::new(Characteristic::GlucoseMeasurementContext, bytes);
    let flags = r.u8("flags")?;
    let sequence_number = r.u16("sequence number")?;
    let extended_flags = if flags & 0x80 != 0 {
        Some(r.u8("extended flags")?)
    } else {
        None
    };
    let code = |r: &mut Reader<'_>, field: &'static str, valid: &[u8]| -> Result<u8, DecodeError> {
        let at = r.offset();
        let value = r.u8(field)?;
        if valid.contains(&value) {
            Ok(value)
        } else {
            Err(r.reserved(field, at, u32::from(value)))
        }
    };
    let carbohydrate = if flags & 1 != 0 {
        Some((
            code(&mut r, "carbohydrate id", &[1, 2, 3, 4, 5, 6, 7])?,
            r.sfloat("carbohydrate")?,
        ))
    } else {
        None
    };
    let meal = if flags & 2 != 0 {
        Some(code(&mut r, "meal", &[1, 2, 3, 4, 5])?)
    } else {
        None
    };
    let tester_health = if flags & 4 != 0 {
        let at = r.offset();
        let both = r.u8("tester-health")?;
        let (tester, health) = (both & 0x0F, both >> 4);
        if ![1, 2, 3, 15].contains(&tester) || ![1, 2, 3, 4, 5, 15].contains(&health) {
            return Err(r.reserved("tester-health", at, u32::from(both)));
        }
        Some((tester, health))
    } else {
        None
    };
    let exercise = if flags & 8 != 0 {
        let duration = r.u16("exercise duration")?;
        let at = r.offset();
        let intensity = r.u8("exercise intensity")?;
        if intensity > 100 {
            return Err(r.reserved("exercise intensity", at, u32::from(intensity)));
        }
        Some((duration, intensity))
    } else {
        None
    };
    let medication = if flags & 0x10 != 0 {
        Some((
            code(&mut r, "medication id", &[1, 2, 3, 4, 5])?,
            r.sfloat("medication")?,
            flags & 0x20 != 0,
        ))
    } else {
        None
    };
    let hba1c_percent = if flags & 0x40 != 0 {
        Some(r.sfloat("HbA1c")?)
    } else {
        None
    };
    r.finish("value")?;
    Ok(GlucoseContext {
        sequence_number,
        extended_flags,
        carbohydrate,
        meal,
        tester_health,
        exercise,
        medication,
        hba1c_percent,
    })
}

/// Encodes a Glucose Measurement Context.
pub fn encode_context(value: &GlucoseContext, out: &mut Vec<u8>) {
    let mut flags = 0u8;
    for (present, bit) in [
        (value.carbohydrate.is_some(), 1),
        (value.meal.is_some(), 2),
        (value.tester_health.is_some(), 4),
        (value.exercise.is_some(), 8),
        (value.medication.is_some(), 0x10),
        (value.medication.is_some_and(|m| m.2), 0x20),
        (value.hba1c_percent.is_some(), 0x40),
        (value.extended_flags.is_some(), 0x80),
    ] {
        if present {
            flags |= bit;
        }
    }
    out.push(flags);
    out.extend_from_slice(&value.sequence_number.to_le_bytes());
    out.extend(value.extended_flags);
    if let Some((id, amount)) = value.carbohydrate {
        out.push(id);
        out.extend_from_slice(&amount.to_raw().to_le_bytes());
    }
    out.extend(value.meal);
    if let Some((tester, health)) = value.tester_health {
        out.push((health << 4) | tester);
    }
    if let Some((duration, intensity)) = value.exercise {
        out.extend_from_slice(&duration.to_le_bytes());
        out.push(intensity);
    }
    if let Some((id, amount, _)) = value.medication {
        out.push(id);
        out.extend_from_slice(&amount.to_raw().to_le_bytes());
    }
    if let Some(hba1c) = value.hba1c_percent {
        out.extend_from_slice(&hba1c.to_raw().to_le_bytes());
    }
}

/// Decodes Glucose Feature: the 16 feature bits.
///
/// # Errors
/// [`DecodeError`] unless the value is exactly two bytes.
pub fn decode_feature(bytes: &[u8]) -> Result<u16, DecodeError> {
    let mut r = Reader::new(Characteristic::GlucoseFeature, bytes);
    let features = r.u16("features")?;
    r.finish("value")?;
    Ok(features)
}
