//! Glucose concentration units: mg/dL (the engine's internal unit) and mmol/L.

use serde::{Deserialize, Serialize};

/// mg/dL per mmol/L for D-glucose: its molar mass, 180.156 g/mol, divided by 10
/// (1 mmol/L = 180.156 mg/L = 18.0156 mg/dL). Source: IUPAC standard atomic weights
/// for C6H12O6; the same factor is used by the NIST/IFCC conversion tables. Clinical
/// software often rounds it to 18; the difference is 0.09 %.
pub const MG_DL_PER_MMOL_L: f64 = 18.0156;

/// A glucose concentration unit accepted at the engine's edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GlucoseUnit {
    /// Milligrams per decilitre (UCUM `mg/dL`), the unit the engine computes in.
    #[default]
    MgDl,
    /// Millimoles per litre (UCUM `mmol/L`).
    MmolL,
}

impl GlucoseUnit {
    /// Converts a value in this unit to mg/dL.
    #[must_use]
    pub fn to_mg_dl(self, value: f64) -> f64 {
        match self {
            Self::MgDl => value,
            Self::MmolL => value * MG_DL_PER_MMOL_L,
        }
    }

    /// Converts a value in mg/dL to this unit.
    #[must_use]
    pub fn from_mg_dl(self, mg_dl: f64) -> f64 {
        match self {
            Self::MgDl => mg_dl,
            Self::MmolL => mg_dl / MG_DL_PER_MMOL_L,
        }
    }

    /// The UCUM code of the unit.
    #[must_use]
    pub fn ucum(self) -> &'static str {
        match self {
            Self::MgDl => "mg/dL",
            Self::MmolL => "mmol/L",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        let mmol = GlucoseUnit::MmolL.from_mg_dl(180.156);
        assert!((mmol - 10.0).abs() < 1e-12);
        assert!((GlucoseUnit::MmolL.to_mg_dl(3.9) - 70.26084).abs() < 1e-9);
        assert!((GlucoseUnit::MgDl.to_mg_dl(123.0) - 123.0).abs() < f64::EPSILON);
        assert_eq!(GlucoseUnit::MmolL.ucum(), "mmol/L");
    }
}
