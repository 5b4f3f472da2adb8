//! 32-byte identifiers with a base58 text form.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::ParseIdError;

/// Byte length of every identifier in this crate.
pub const ID_LEN: usize = 32;

/// Longest base58 text of 32 bytes; anything longer cannot be an id.
const MAX_TEXT_LEN: usize = 44;

/// The base58 alphabet (Bitcoin's, as `bs58` uses by default).
const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// The value of each ASCII byte as a base58 digit; `NOT_A_DIGIT` if none.
const DIGITS: [u8; 128] = {
    let mut digits = [NOT_A_DIGIT; 128];
    let mut at = 0;
    while at < ALPHABET.len() {
        digits[ALPHABET[at] as usize] = at as u8;
        at += 1;
    }
    digits
};
const NOT_A_DIGIT: u8 = 0xff;

/// The id a base58 text names, refused as `bs58::decode` into a 32-byte
/// buffer would refuse it: the first character outside the alphabet, too
/// many bytes as soon as the value passes 32 bytes, else too few.
fn decode(text: &str) -> Result<[u8; ID_LEN], ParseIdError> {
    if text.is_empty() {
        return Err(ParseIdError::Empty);
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(ParseIdError::TooLong);
    }
    // The value as eight big-endian 32-bit limbs, times 58 plus each digit.
    let mut limbs = [0u32; ID_LEN / 4];
    for (index, byte) in text.bytes().enumerate() {
        let digit = DIGITS
            .get(usize::from(byte))
            .copied()
            .unwrap_or(NOT_A_DIGIT);
        if digit == NOT_A_DIGIT {
            return Err(ParseIdError::InvalidCharacter {
                character: text[index..].chars().next().unwrap_or('\u{fffd}'),
                index,
            });
        }
        let mut carry = u64::from(digit);
        for limb in limbs.iter_mut().rev() {
            let value = u64::from(*limb) * 58 + carry;
            *limb = value as u32;
            carry = value >> 32;
        }
        if carry != 0 {
            return Err(ParseIdError::TooLong);
        }
    }
    let mut bytes = [0u8; ID_LEN];
    for (chunk, limb) in bytes.chunks_exact_mut(4).zip(limbs) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    // Each leading '1' stands for a zero byte before the value's own bytes.
    let ones = text.bytes().take_while(|byte| *byte == ALPHABET[0]).count();
    let value_len = ID_LEN - bytes.iter().take_while(|byte| **byte == 0).count();
    match ones + value_len {
        ID_LEN => Ok(bytes),
        actual if actual > ID_LEN => Err(ParseIdError::TooLong),
        actual => Err(ParseIdError::TooShort { actual }),
    }
}

/// 58⁵, the largest power of 58 below 2³²: the id is divided by it limb by
/// limb, so each step is a 64-bit division by a constant.
const FIVE_DIGITS: u64 = 58 * 58 * 58 * 58 * 58;

/// The base58 text of an id, in a buffer of its own: what `bs58::encode`
/// gives, without its digit-by-digit passes over every byte or a heap
/// allocation (ids are written into every record and answer).
struct Text {
    bytes: [u8; MAX_TEXT_LEN],
    start: usize,
}

impl Text {
    fn new(id: &[u8; ID_LEN]) -> Self {
        // The id as eight big-endian 32-bit limbs.
        let mut limbs = [0u32; ID_LEN / 4];
        for (limb, chunk) in limbs.iter_mut().zip(id.chunks_exact(4)) {
            *limb = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        // Nine divisions by 58⁵ give 45 digits, least significant first:
        // 58⁴⁵ > 2²⁵⁶, so nothing is left after them.
        let mut digits = [0u8; 45];
        for group in digits.chunks_exact_mut(5) {
            let mut rest = 0u64;
            for limb in &mut limbs {
                let value = (rest << 32) | u64::from(*limb);
                *limb = u32::try_from(value / FIVE_DIGITS).expect("below 2^32: rest < 58^5");
                rest = value % FIVE_DIGITS;
            }
            for digit in group {
                *digit = u8::try_from(rest % 58).expect("below 58");
                rest /= 58;
            }
        }
        let significant = digits
            .iter()
            .rposition(|digit| *digit != 0)
            .map_or(0, |at| at + 1);
        // Each leading zero byte is written as the zero digit, '1'.
        let zeros = id.iter().take_while(|byte| **byte == 0).count();
        let len = zeros + significant;
        let mut bytes = [ALPHABET[0]; MAX_TEXT_LEN];
        let start = MAX_TEXT_LEN - len;
        for (out, digit) in bytes[start + zeros..]
            .iter_mut()
            .zip(digits[..significant].iter().rev())
        {
            *out = ALPHABET[usize::from(*digit)];
        }
        Self { bytes, start }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.start..]).expect("the alphabet is ASCII")
    }
}

/// Defines a 32-byte identifier newtype with base58 `Display`/`FromStr`/serde.
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; ID_LEN]);

        impl $name {
            /// Wraps raw bytes.
            #[must_use]
            pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }

            /// The raw bytes, by value.
            #[must_use]
            pub const fn to_bytes(self) -> [u8; ID_LEN] {
                self.0
            }
        }

        impl From<[u8; ID_LEN]> for $name {
            fn from(bytes: [u8; ID_LEN]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Text::new(&self.0).as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                decode(text).map(Self)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some("^[1-9A-HJ-NP-Za-km-z]{32,44}$"))
                    .description(Some(concat!(stringify!($name), ": base58 of 32 bytes")))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(Text::new(&self.0).as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct IdVisitor;

                impl Visitor<'_> for IdVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a base58 ", stringify!($name), " of 32 bytes"))
                    }

                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        text.parse().map_err(|err| {
                            E::custom(format_args!(
                                concat!("invalid ", stringify!($name), " {:?}: {}"),
                                text, err
                            ))
                        })
                    }
                }

                deserializer.deserialize_str(IdVisitor)
            }
        }
    };
}

define_id!(
    /// A SHA-256 digest or any other 32-byte value named by its hash.
    Hash
);
define_id!(
    /// Names a context: a running instance of an application with its own state.
    ContextId
);
define_id!(
    /// Names an installed application (content-addressed).
    ApplicationId
);
define_id!(
    /// Names a blob in the node's content-addressed blob store.
    BlobId
);
define_id!(
    /// A raw 32-byte ed25519 public key: a context member or an executor.
    PublicKey
);

impl Hash {
    /// The all-zero hash: the root of a context that has not been initialised.
    pub const ZERO: Self = Self([0; ID_LEN]);

    /// SHA-256 of `data`.
    #[must_use]
    pub fn digest(data: impl AsRef<[u8]>) -> Self {
        Self(Sha256::digest(data.as_ref()).into())
    }

    /// Whether this is [`Hash::ZERO`].
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; ID_LEN]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_hash_is_thirty_two_ones() {
        assert_eq!(Hash::ZERO.to_string(), "1".repeat(32));
        assert_eq!("1".repeat(32).parse::<Hash>(), Ok(Hash::ZERO));
    }

    #[test]
    fn round_trips_through_text_and_json() {
        let id = ContextId::from_bytes([7; ID_LEN]);
        let text = id.to_string();
        assert_eq!(text.parse::<ContextId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<ContextId>(&json).expect("parse"), id);
    }

    #[test]
    fn rejects_wrong_length_and_alphabet() {
        assert_eq!("".parse::<Hash>(), Err(ParseIdError::Empty));
        assert_eq!(
            "abc".parse::<Hash>(),
            Err(ParseIdError::TooShort { actual: 3 })
        );
        assert_eq!("z".repeat(44).parse::<Hash>(), Err(ParseIdError::TooLong));
        assert_eq!("z".repeat(45).parse::<Hash>(), Err(ParseIdError::TooLong));
        assert_eq!(
            "0OIl".parse::<Hash>(),
            Err(ParseIdError::InvalidCharacter {
                character: '0',
                index: 0
            })
        );
        assert!(matches!(
            "11é1".parse::<Hash>(),
            Err(ParseIdError::InvalidCharacter { index: 2, .. })
        ));
    }

    #[test]
    fn serde_error_names_the_type_and_the_reason() {
        let err = serde_json::from_str::<ApplicationId>("\"abc\"").expect_err("short id");
        let message = err.to_string();
        assert!(message.contains("ApplicationId"), "{message}");
        assert!(message.contains("expected 32 bytes"), "{message}");
        assert!(serde_json::from_str::<ApplicationId>("42").is_err());
    }

    #[test]
    fn text_is_what_bs58_writes() {
        let mut cases = vec![[0u8; ID_LEN], [0xff; ID_LEN], [7; ID_LEN]];
        // Leading zero bytes (written as '1's) of every count, before both
        // small and large values; then a pseudo-random sweep.
        for zeros in 0..ID_LEN {
            for tail in [1u8, 0x3a, 0xff] {
                let mut id = [tail; ID_LEN];
                id[..zeros].fill(0);
                cases.push(id);
                let mut one = [0u8; ID_LEN];
                one[zeros] = tail;
                cases.push(one);
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            let mut id = [0u8; ID_LEN];
            for byte in &mut id {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state.to_le_bytes()[0];
            }
            cases.push(id);
        }
        for id in cases {
            let text = Hash::from_bytes(id).to_string();
            assert_eq!(text, bs58::encode(id).into_string(), "{id:?}");
            assert_eq!(text.parse::<Hash>(), Ok(Hash::from_bytes(id)));
        }
    }

    #[test]
    fn text_is_read_as_bs58_reads_it() {
        let bs58 = |text: &str| {
            let mut bytes = [0u8; ID_LEN];
            match bs58::decode(text).onto(&mut bytes) {
                Ok(ID_LEN) => Ok(bytes),
                Ok(actual) => Err(ParseIdError::TooShort { actual }),
                Err(bs58::decode::Error::BufferTooSmall) => Err(ParseIdError::TooLong),
                Err(bs58::decode::Error::InvalidCharacter { character, index }) => {
                    Err(ParseIdError::InvalidCharacter { character, index })
                }
                Err(bs58::decode::Error::NonAsciiCharacter { index }) => {
                    Err(ParseIdError::InvalidCharacter {
                        character: text[index..].chars().next().expect("a character"),
                        index,
                    })
                }
                Err(other) => panic!("{other}"),
            }
        };
        let mut texts: Vec<String> = vec!["1".repeat(33), "1".repeat(31), "z".repeat(43)];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 44).expect("small") + 1;
            let ones = usize::try_from(next() % 4).expect("small").min(len);
            let mut text = "1".repeat(ones);
            while text.len() < len {
                let pick = next();
                // Now and then a byte outside the alphabet.
                if pick % 97 == 0 {
                    text.push(
                        ['0', 'O', 'I', 'l', '+', 'é'][usize::try_from(pick % 6).expect("small")],
                    );
                } else {
                    text.push(char::from(
                        ALPHABET[usize::try_from(pick % 58).expect("small")],
                    ));
                }
            }
            texts.push(text);
        }
        for text in texts {
            if text.len() <= MAX_TEXT_LEN {
                assert_eq!(decode(&text), bs58(&text), "{text}");
            }
        }
    }

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            Hash::digest(b"abc").to_string(),
            bs58::encode([
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
                0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
                0xf2, 0x00, 0x15, 0xad
            ])
            .into_string()
        );
    }
}
