//! CRC-16 for the CGM Service's end-to-end CRC (CGMS 1.0.1 §3.9 "E2E-CRC").
//!
//! The specification's CRC is CRC-16/MCRF4XX: polynomial 0x1021, initial value 0xFFFF,
//! input and output reflected, no final XOR, appended little-endian. (The CGMS PDF's
//! example prints 0x2F01 byte-swapped as 0x012F.) Some devices in the field compute
//! CRC-16/CCITT-FALSE (same polynomial and initial value, not reflected) instead, so the
//! decoder also tries it and reports which check passed.

/// CRC-16/MCRF4XX of `bytes`.
#[must_use]
pub fn crc16_mcrf4xx(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in bytes {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// CRC-16/CCITT-FALSE of `bytes`.
#[must_use]
pub fn crc16_ccitt_false(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc16_mcrf4xx(b"123456789"), 0x6F91);
        assert_eq!(crc16_mcrf4xx(b"A"), 0x5C0A);
        assert_eq!(crc16_mcrf4xx(&[0x3E, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 0x2F01);
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    }
}
