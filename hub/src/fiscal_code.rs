//! The Italian codice fiscale of a person: 16 characters, the last a check character
//! computed from the first 15 (D.M. 12 marzo 1974 and D.P.R. 605/1973, art. 1; the
//! algorithm as published by the Agenzia delle Entrate). The FSE identifies patients by
//! it, so the hub checks it when it is set rather than when a submission is refused.
//! Omocodia (digits replaced by the letters L M N P Q R S T U V) is accepted: the check
//! character is computed on the characters as written.

/// Why a codice fiscale was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiscalCodeError {
    /// Not 16 characters.
    #[error("a codice fiscale has 16 characters, this has {0}")]
    Length(usize),
    /// A character out of place (position 1-based).
    #[error("character {position} of the codice fiscale is not valid there")]
    Character {
        /// Position, 1-based.
        position: usize,
    },
    /// The check character does not match.
    #[error("the check character of the codice fiscale is {found}, it should be {expected}")]
    Check {
        /// What the code says.
        found: char,
        /// What the first 15 characters give.
        expected: char,
    },
}

/// Values of characters in odd positions (1st, 3rd, …), digits and letters alike
/// (`0`/`A` = 1, `1`/`B` = 0, …).
const ODD: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Letters that stand for digits under omocodia (L = 0 … V = 9).
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";

/// `Ok` with the code upper-cased if `code` is a well-formed codice fiscale with the
/// right check character.
///
/// # Errors
/// [`FiscalCodeError`] saying what is wrong.
pub fn validate(code: &str) -> Result<String, FiscalCodeError> {
    let upper = code.trim().to_ascii_uppercase();
    let bytes = upper.as_bytes();
    if bytes.len() != 16 || !upper.is_ascii() {
        return Err(FiscalCodeError::Length(upper.chars().count()));
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match i {
            // Surname, name, month letter, municipality letter, check character.
            0..=5 | 8 | 11 | 15 => b.is_ascii_uppercase(),
            // Digits, or their omocodia letters.
            _ => b.is_ascii_digit() || OMOCODIA.contains(&b),
        };
        if !ok {
            return Err(FiscalCodeError::Character { position: i + 1 });
        }
    }
    let sum: u32 = bytes[..15]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let index = if b.is_ascii_digit() {
                b - b'0'
            } else {
                b - b'A'
            };
            u32::from(if i % 2 == 0 {
                ODD[usize::from(index)]
            } else {
                index
            })
        })
        .sum();
    let expected = char::from(b'A' + u8::try_from(sum % 26).unwrap_or(0));
    let found = char::from(bytes[15]);
    if found != expected {
        return Err(FiscalCodeError::Check { found, expected });
    }
    Ok(upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_codes_and_omocodia() {
        // The Agenzia delle Entrate's own examples of a code and its omocodic form.
        assert_eq!(validate("RSSMRA85T10A562S").unwrap(), "RSSMRA85T10A562S");
        assert_eq!(validate(" rssmra85t10a562s ").unwrap(), "RSSMRA85T10A562S");
        assert!(validate("RSSMRA85T10A56NH").is_ok());
    }

    #[test]
    fn refuses_with_the_reason() {
        assert_eq!(
            validate("RSSMRA85T10A562").unwrap_err(),
            FiscalCodeError::Length(15)
        );
        assert_eq!(
            validate("RSSMRA85T10A562T").unwrap_err(),
            FiscalCodeError::Check {
                found: 'T',
                expected: 'S'
            }
        );
        assert_eq!(
            validate("RSSMRA8XT10A562S").unwrap_err(),
            FiscalCodeError::Character { position: 8 }
        );
        assert!(validate("RSSMRA85T10A562é").is_err());
    }
}
