//! Device Information Service strings (DIS 1.1 §3): Manufacturer Name 0x2A29, Model
//! Number 0x2A24, Serial Number 0x2A25, Hardware 0x2A27, Firmware 0x2A26 and Software
//! 0x2A28 Revision. UTF-8 strings; some devices pad them with NULs, which are removed.

use super::{Characteristic, DecodeError};

/// The longest string accepted, bytes (an ATT value is at most 512).
pub const MAX_LENGTH: usize = 512;

/// Decodes a DIS string.
///
/// # Errors
/// [`DecodeError::Reserved`] naming the first byte that is not valid UTF-8, or
/// [`DecodeError::BadLength`] above [`MAX_LENGTH`].
pub fn decode_string(bytes: &[u8]) -> Result<String, DecodeError> {
    let characteristic = Characteristic::DeviceInformationString;
    if bytes.len() > MAX_LENGTH {
        return Err(DecodeError::BadLength {
            characteristic,
            field: "string",
            offset: 0,
            declared: bytes.len(),
            actual: MAX_LENGTH,
        });
    }
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    match std::str::from_utf8(&bytes[..end]) {
        Ok(text) => Ok(text.to_owned()),
        Err(error) => Err(DecodeError::Reserved {
            characteristic,
            field: "UTF-8 string",
            offset: error.valid_up_to(),
            value: u32::from(bytes[error.valid_up_to()]),
        }),
    }
}

/// Encodes a DIS string.
pub fn encode_string(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(text.as_bytes());
}
