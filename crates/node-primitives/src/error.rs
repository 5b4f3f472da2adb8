//! The one error of this crate: an identifier that does not parse.

/// Why a base58 identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// The text holds a character outside the base58 (Bitcoin) alphabet.
    #[error("invalid base58 character {character:?} at index {index}")]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its byte index in the input.
        index: usize,
    },
    /// The text is base58 but decodes to fewer than 32 bytes.
    #[error("expected 32 bytes, decoded {actual}")]
    TooShort {
        /// How many bytes the text decoded to.
        actual: usize,
    },
    /// The text decodes to more than 32 bytes.
    #[error("expected 32 bytes, decoded more")]
    TooLong,
    /// The input is empty.
    #[error("empty identifier")]
    Empty,
}
