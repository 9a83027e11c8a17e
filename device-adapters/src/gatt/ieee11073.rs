//! IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) numbers, as the health profiles
//! carry them (GATT Specification Supplement, "medfloat16"/"medfloat32").
//!
//! ```text
//! SFLOAT:  15    12 11                    0      FLOAT: 31   24 23                 0
//!         [exponent][       mantissa       ]            [ exp  ][      mantissa      ]
//!          4-bit two's complement, 12-bit two's complement;  8-bit / 24-bit likewise
//! value = mantissa × 10^exponent
//! ```
//!
//! Special values (exponent 0, reserved mantissas) are kept distinct, never turned into
//! numbers: NaN (not a number), NRes (not at this resolution), +INF, −INF and the
//! reserved code. A NaN glucose reading is not a zero reading.

use serde::{Deserialize, Serialize};

/// A decoded SFLOAT or FLOAT: a finite value or one of the special codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Medfloat {
    /// `mantissa × 10^exponent`, exactly as sent.
    Value {
        /// Signed mantissa (12 or 24 bits).
        mantissa: i32,
        /// Signed exponent (4 or 8 bits).
        exponent: i8,
    },
    /// Not a number (`0x07FF` / `0x007FFFFF`).
    NaN,
    /// Not at this resolution (`0x0800` / `0x00800000`).
    NotAtThisResolution,
    /// Positive infinity (`0x07FE` / `0x007FFFFE`).
    PositiveInfinity,
    /// Negative infinity (`0x0802` / `0x00800002`).
    NegativeInfinity,
    /// Reserved for future use (`0x0801` / `0x00800001`).
    Reserved,
}

impl Medfloat {
    /// The number, or `None` for a special code.
    #[must_use]
    pub fn to_f64(self) -> Option<f64> {
        match self {
            // Dividing by 10^-e for negative exponents gives the correctly rounded
            // decimal (101 × 10^-1 is 10.1, not 10.100000000000001).
            Self::Value { mantissa, exponent } if exponent < 0 => {
                Some(f64::from(mantissa) / 10_f64.powi(-i32::from(exponent)))
            }
            Self::Value { mantissa, exponent } => {
                Some(f64::from(mantissa) * 10_f64.powi(i32::from(exponent)))
            }
            _ => None,
        }
    }
}

/// A 16-bit SFLOAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SFloat(pub Medfloat);

impl SFloat {
    /// Decodes the raw 16 bits.
    #[must_use]
    pub fn from_raw(raw: u16) -> Self {
        let mantissa = i32::from(raw & 0x0FFF);
        Self(match mantissa {
            0x07FF => Medfloat::NaN,
            0x0800 => Medfloat::NotAtThisResolution,
            0x07FE => Medfloat::PositiveInfinity,
            0x0802 => Medfloat::NegativeInfinity,
            0x0801 => Medfloat::Reserved,
            _ => Medfloat::Value {
                mantissa: if mantissa >= 0x0800 {
                    mantissa - 0x1000
                } else {
                    mantissa
                },
                exponent: ((raw >> 12) as i8) << 4 >> 4,
            },
        })
    }

    /// The raw 16 bits; specials encode with exponent 0. A value whose mantissa or
    /// exponent does not fit encodes as NRes. Mantissas ±2046…2047 and −2048 are the
    /// special codes, so finite values use −2045…2045 (the decoder, like Nordic's
    /// Android-BLE-Library, recognises specials by the mantissa alone).
    #[must_use]
    pub fn to_raw(self) -> u16 {
        match self.0 {
            Medfloat::NaN => 0x07FF,
            Medfloat::NotAtThisResolution => 0x0800,
            Medfloat::PositiveInfinity => 0x07FE,
            Medfloat::NegativeInfinity => 0x0802,
            Medfloat::Reserved => 0x0801,
            Medfloat::Value { mantissa, exponent } => {
                if !(-2045..=2045).contains(&mantissa) || !(-8..=7).contains(&exponent) {
                    return 0x0800;
                }
                ((exponent as u16 & 0x0F) << 12) | (mantissa as u16 & 0x0FFF)
            }
        }
    }

    /// The number, or `None` for a special code.
    #[must_use]
    pub fn to_f64(self) -> Option<f64> {
        self.0.to_f64()
    }

    /// The SFLOAT nearest to `value` with at most `decimals` decimals (the exponent is
    /// raised while the mantissa does not fit); non-finite values map to the specials.
    #[must_use]
    pub fn from_f64(value: f64, decimals: u8) -> Self {
        Self(encode_medfloat(value, decimals, 2045))
    }
}

/// A 32-bit FLOAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Float(pub Medfloat);

impl Float {
    /// Decodes the raw 32 bits.
    #[must_use]
    pub fn from_raw(raw: u32) -> Self {
        let mantissa = (raw & 0x00FF_FFFF) as i32;
        Self(match mantissa {
            0x007F_FFFF => Medfloat::NaN,
            0x0080_0000 => Medfloat::NotAtThisResolution,
            0x007F_FFFE => Medfloat::PositiveInfinity,
            0x0080_0002 => Medfloat::NegativeInfinity,
            0x0080_0001 => Medfloat::Reserved,
            _ => Medfloat::Value {
                mantissa: if mantissa >= 0x0080_0000 {
                    mantissa - 0x0100_0000
                } else {
                    mantissa
                },
                exponent: (raw >> 24) as i8,
            },
        })
    }

    /// The raw 32 bits (see [`SFloat::to_raw`]).
    #[must_use]
    pub fn to_raw(self) -> u32 {
        match self.0 {
            Medfloat::NaN => 0x007F_FFFF,
            Medfloat::NotAtThisResolution => 0x0080_0000,
            Medfloat::PositiveInfinity => 0x007F_FFFE,
            Medfloat::NegativeInfinity => 0x0080_0002,
            Medfloat::Reserved => 0x0080_0001,
            Medfloat::Value { mantissa, exponent } => {
                if !(-8_388_605..=8_388_605).contains(&mantissa) {
                    return 0x0080_0000;
                }
                (u32::from(exponent as u8) << 24) | (mantissa as u32 & 0x00FF_FFFF)
            }
        }
    }

    /// The number, or `None` for a special code.
    #[must_use]
    pub fn to_f64(self) -> Option<f64> {
        self.0.to_f64()
    }

    /// The FLOAT nearest to `value` with at most `decimals` decimals.
    #[must_use]
    pub fn from_f64(value: f64, decimals: u8) -> Self {
        Self(encode_medfloat(value, decimals, 8_388_605))
    }
}

fn encode_medfloat(value: f64, decimals: u8, max_mantissa: i64) -> Medfloat {
    if value.is_nan() {
        return Medfloat::NaN;
    }
    if value.is_infinite() {
        return if value > 0.0 {
            Medfloat::PositiveInfinity
        } else {
            Medfloat::NegativeInfinity
        };
    }
    let mut exponent = -i32::from(decimals.min(8));
    loop {
        let mantissa = (value / 10_f64.powi(exponent)).round();
        if mantissa.abs() <= max_mantissa as f64 {
            let mut mantissa = mantissa as i64;
            // Drop trailing zeros for the canonical, smallest-exponent-that-is-exact form.
            while mantissa != 0 && mantissa % 10 == 0 && exponent < 0 {
                mantissa /= 10;
                exponent += 1;
            }
            return Medfloat::Value {
                mantissa: mantissa as i32,
                exponent: exponent as i8,
            };
        }
        exponent += 1;
        if exponent > 7 {
            return Medfloat::NotAtThisResolution;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shared_vectors() {
        // gatt-vectors.md: 10.1 -> 65 F0; 100 × 10^-5 -> 64 B0; 12345.67 -> 87 D6 12 FE.
        assert_eq!(SFloat::from_raw(0xF065).to_f64(), Some(10.1));
        assert_eq!(SFloat::from_f64(10.1, 1).to_raw(), 0xF065);
        assert_eq!(
            SFloat::from_raw(0xB064).0,
            Medfloat::Value {
                mantissa: 100,
                exponent: -5
            }
        );
        assert_eq!(
            Float::from_raw(0xFE12_D687).0,
            Medfloat::Value {
                mantissa: 1_234_567,
                exponent: -2
            }
        );
        assert_eq!(Float::from_f64(12345.67, 2).to_raw(), 0xFE12_D687);
    }

    #[test]
    fn specials_stay_distinct() {
        let specials = [
            (0x07FF, Medfloat::NaN),
            (0x0800, Medfloat::NotAtThisResolution),
            (0x07FE, Medfloat::PositiveInfinity),
            (0x0802, Medfloat::NegativeInfinity),
            (0x0801, Medfloat::Reserved),
        ];
        for (raw, expected) in specials {
            assert_eq!(SFloat::from_raw(raw).0, expected);
            assert_eq!(SFloat(expected).to_raw(), raw);
            assert_eq!(SFloat::from_raw(raw).to_f64(), None);
        }
        assert_eq!(Float::from_raw(0x007F_FFFF).0, Medfloat::NaN);
        assert_eq!(Float::from_raw(0x0080_0002).0, Medfloat::NegativeInfinity);
        assert_eq!(SFloat::from_f64(f64::NAN, 0).0, Medfloat::NaN);
        assert_eq!(SFloat::from_f64(1e12, 0).0, Medfloat::NotAtThisResolution);
    }

    proptest! {
        #[test]
        fn sfloat_raw_round_trips(raw in any::<u16>()) {
            let decoded = SFloat::from_raw(raw);
            // Non-canonical forms of specials (exponent ≠ 0) normalise to exponent 0.
            prop_assert_eq!(SFloat::from_raw(decoded.to_raw()), decoded);
        }

        #[test]
        fn float_raw_round_trips(raw in any::<u32>()) {
            let decoded = Float::from_raw(raw);
            prop_assert_eq!(Float::from_raw(decoded.to_raw()), decoded);
        }

        #[test]
        fn glucose_values_encode_within_resolution(tenths in 0_i32..20_000) {
            // Exact up to 204.5 with one decimal (mantissa ≤ 2045); above, whole units.
            let value = f64::from(tenths) / 10.0;
            let decoded = SFloat::from_f64(value, 1).to_f64().unwrap();
            let resolution = if tenths <= 2045 { 1e-9 } else { 0.5 + 1e-9 };
            prop_assert!((decoded - value).abs() <= resolution, "{} -> {}", value, decoded);
        }
    }
}
