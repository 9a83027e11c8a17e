//! Glucose Measurement 0x2A18 (GLS 1.0.1 §3.106 of the GATT Specification Supplement).
//!
//! ```text
//! flags  sequence  base time   [time offset]  [concentration  type|location]  [status]
//! u8     u16       DateTime    sint16 min     SFLOAT          u8 (nibbles)    u16
//! flags: bit0 time offset, bit1 concentration + type/location, bit2 unit (0 kg/L,
//!        1 mol/L), bit3 sensor status annunciation, bit4 context follows, bits 5-7
//!        reserved
//! ```
//!
//! The concentration keeps the wire unit; [`GlucoseMeasurement::mg_dl`] converts
//! (1 kg/L = 100 000 mg/dL; 1 mol/L = 1000 mmol/L × 18.0156 mg/dL per mmol/L). The
//! decoder reports a control-solution measurement faithfully; turning it into a patient
//! reading is refused later, in the reading model.

use serde::{Deserialize, Serialize};

use super::ieee11073::SFloat;
use super::{Characteristic, DateTime, DecodeError, Reader};

const GLUCOSE: Characteristic = Characteristic::GlucoseMeasurement;

/// Unit of the concentration field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcentrationUnit {
    /// kg/L.
    KgPerL,
    /// mol/L.
    MolPerL,
}

/// Sample type (GSS "Type" nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleType {
    /// 1.
    CapillaryWholeBlood,
    /// 2.
    CapillaryPlasma,
    /// 3.
    VenousWholeBlood,
    /// 4.
    VenousPlasma,
    /// 5.
    ArterialWholeBlood,
    /// 6.
    ArterialPlasma,
    /// 7.
    UndeterminedWholeBlood,
    /// 8.
    UndeterminedPlasma,
    /// 9: interstitial fluid.
    InterstitialFluid,
    /// 10: control solution, not a patient sample.
    ControlSolution,
}

/// Sample location (GSS "Sample Location" nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleLocation {
    /// 1.
    Finger,
    /// 2: alternate site test.
    AlternateSite,
    /// 3.
    Earlobe,
    /// 4.
    ControlSolution,
    /// 5: subcutaneous tissue (later GSS revisions).
    Subcutaneous,
    /// 15: location not available.
    NotAvailable,
}

/// A concentration with its type and location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Concentration {
    /// Value in `unit`.
    pub value: SFloat,
    /// Wire unit.
    pub unit: ConcentrationUnit,
    /// Sample type.
    pub sample_type: SampleType,
    /// Sample location.
    pub location: SampleLocation,
}

/// One Glucose Measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlucoseMeasurement {
    /// The meter's record number (for RACP and de-duplication).
    pub sequence_number: u16,
    /// Base time, the meter's local wall clock.
    pub base_time: DateTime,
    /// Offset to add to the base time, minutes.
    pub time_offset_min: Option<i16>,
    /// Concentration, when present.
    pub concentration: Option<Concentration>,
    /// Sensor status annunciation bits (GSS "Sensor Status Annunciation").
    pub status: Option<u16>,
    /// A Glucose Measurement Context notification follows.
    pub context_follows: bool,
}

impl GlucoseMeasurement {
    /// The concentration in mg/dL, when present and a number.
    #[must_use]
    pub fn mg_dl(&self) -> Option<f64> {
        let concentration = self.concentration?;
        let value = concentration.value.to_f64()?;
        Some(match concentration.unit {
            ConcentrationUnit::KgPerL => value * 100_000.0,
            ConcentrationUnit::MolPerL => value * 1000.0 * glucometrics::MG_DL_PER_MMOL_L,
        })
    }

    /// The meter's wall-clock time of the measurement (base time + offset).
    #[must_use]
    pub fn local_time(&self) -> Option<chrono::NaiveDateTime> {
        Some(
            self.base_time.to_naive()?
                + chrono::Duration::minutes(i64::from(self.time_offset_min.unwrap_or(0))),
        )
    }
}

fn sample_type(code: u8) -> Option<SampleType> {
    use SampleType::*;
    Some(match code {
        1 => CapillaryWholeBlood,
        2 => CapillaryPlasma,
        3 => VenousWholeBlood,
        4 => VenousPlasma,
        5 => ArterialWholeBlood,
        6 => ArterialPlasma,
        7 => UndeterminedWholeBlood,
        8 => UndeterminedPlasma,
        9 => InterstitialFluid,
        10 => ControlSolution,
        _ => return None,
    })
}

fn location(code: u8) -> Option<SampleLocation> {
    use SampleLocation::*;
    Some(match code {
        1 => Finger,
        2 => AlternateSite,
        3 => Earlobe,
        4 => ControlSolution,
        5 => Subcutaneous,
        15 => NotAvailable,
        _ => return None,
    })
}

/// Decodes a Glucose Measurement.
///
/// # Errors
/// [`DecodeError`] for truncated values, reserved flags, type or location codes,
/// impossible date-time fields, or trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<GlucoseMeasurement, DecodeError> {
    let mut r = Reader::new(GLUCOSE, bytes);
    let flags = r.u8("flags")?;
    if flags & 0b1110_0000 != 0 {
        return Err(r.reserved("flags", 0, u32::from(flags)));
    }
    let sequence_number = r.u16("sequence number")?;
    let base_time = r.date_time("base time")?;
    let time_offset_min = if flags & 1 != 0 {
        Some(r.i16("time offset")?)
    } else {
        None
    };
    let concentration = if flags & 2 != 0 {
        let value = r.sfloat("concentration")?;
        let at = r.offset();
        let code = r.u8("type-sample location")?;
        let sample_type = sample_type(code & 0x0F)
            .ok_or_else(|| r.reserved("sample type", at, u32::from(code & 0x0F)))?;
        let location = location(code >> 4)
            .ok_or_else(|| r.reserved("sample location", at, u32::from(code >> 4)))?;
        let unit = if flags & 4 != 0 {
            ConcentrationUnit::MolPerL
        } else {
            ConcentrationUnit::KgPerL
        };
        Some(Concentration {
            value,
            unit,
            sample_type,
            location,
        })
    } else {
        None
    };
    let status = if flags & 8 != 0 {
        Some(r.u16("sensor status annunciation")?)
    } else {
        None
    };
    r.finish("value")?;
    Ok(GlucoseMeasurement {
        sequence_number,
        base_time,
        time_offset_min,
        concentration,
        status,
        context_follows: flags & 16 != 0,
    })
}

/// Encodes a Glucose Measurement.
pub fn encode(value: &GlucoseMeasurement, out: &mut Vec<u8>) {
    let mut flags = 0;
    if value.time_offset_min.is_some() {
        flags |= 1;
    }
    if let Some(c) = value.concentration {
        flags |= 2;
        if c.unit == ConcentrationUnit::MolPerL {
            flags |= 4;
        }
    }
    if value.status.is_some() {
        flags |= 8;
    }
    if value.context_follows {
        flags |= 16;
    }
    out.push(flags);
    out.extend_from_slice(&value.sequence_number.to_le_bytes());
    value.base_time.encode(out);
    if let Some(offset) = value.time_offset_min {
        out.extend_from_slice(&offset.to_le_bytes());
    }
    if let Some(c) = value.concentration {
        out.extend_from_slice(&c.value.to_raw().to_le_bytes());
        let type_code = c.sample_type as u8 + 1;
        let location_code = match c.location {
            SampleLocation::NotAvailable => 15,
            other => other as u8 + 1,
        };
        out.push((location_code << 4) | type_code);
    }
    if let Some(status) = value.status {
        out.extend_from_slice(&status.to_le_bytes());
    }
}
