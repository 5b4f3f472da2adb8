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

fn decode(text: &str) -> Result<[u8; ID_LEN], ParseIdError> {
    if text.is_empty() {
        return Err(ParseIdError::Empty);
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(ParseIdError::TooLong);
    }
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
                character: text[index..].chars().next().unwrap_or('\u{fffd}'),
                index,
            })
        }
        // The decoder's error enum is non-exhaustive; anything else it may add is
        // still "not base58".
        Err(_) => Err(ParseIdError::InvalidCharacter {
            character: '\u{fffd}',
            index: 0,
        }),
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
                f.write_str(&bs58::encode(&self.0).into_string())
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
                serializer.collect_str(self)
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
