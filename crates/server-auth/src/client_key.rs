//! Client keys: ed25519 keys that browsers and apps generate in the libp2p
//! format and register by wallet login; they sign every protected request.

use std::fmt;

use ed25519_dalek::VerifyingKey;

use crate::AuthError;
use crate::identity::verify_strict;

/// libp2p protobuf header of an ed25519 public key: type Ed25519, 32 bytes.
const PROTOBUF_ED25519_PREFIX: [u8; 4] = [0x08, 0x01, 0x12, 0x20];

/// Longest base58 text of 36 bytes.
const MAX_TEXT_LEN: usize = 50;

/// A parsed client key: base58 of the libp2p protobuf encoding
/// (`08 01 12 20` ‖ 32-byte ed25519 key), 49 characters starting `4XTTM`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientPublicKey(VerifyingKey);

impl ClientPublicKey {
    /// Parses the base58 protobuf form.
    ///
    /// # Errors
    /// [`AuthError::InvalidLogin`] when it is not base58, not a protobuf
    /// ed25519 key, or not a valid curve point.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let invalid = |why: &str| AuthError::InvalidLogin(format!("client key: {why}"));
        if text.len() > MAX_TEXT_LEN {
            return Err(invalid("too long"));
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|_| invalid("not base58"))?;
        let raw = bytes
            .strip_prefix(&PROTOBUF_ED25519_PREFIX)
            .ok_or_else(|| invalid("not a libp2p protobuf ed25519 public key"))?;
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| invalid("not a libp2p protobuf ed25519 public key"))?;
        VerifyingKey::from_bytes(raw)
            .map(Self)
            .map_err(|_| invalid("not a valid ed25519 point"))
    }

    /// The client key of a raw ed25519 public key.
    ///
    /// # Errors
    /// [`AuthError::InvalidLogin`] when it is not a valid curve point.
    pub fn from_public_key(key: &node_primitives::PublicKey) -> Result<Self, AuthError> {
        VerifyingKey::from_bytes(&key.to_bytes())
            .map(Self)
            .map_err(|_| AuthError::InvalidLogin("client key: not a valid ed25519 point".into()))
    }

    /// The base58 protobuf form.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut bytes = PROTOBUF_ED25519_PREFIX.to_vec();
        bytes.extend_from_slice(self.0.as_bytes());
        bs58::encode(bytes).into_string()
    }

    /// The raw 32-byte key.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Whether `signature` signs `message` under this key (strict ed25519).
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        verify_strict(&self.0, message, signature)
    }
}

impl fmt::Debug for ClientPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientPublicKey({})", self.encode())
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    #[test]
    fn round_trips_and_looks_like_libp2p() {
        let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
        let mut bytes = PROTOBUF_ED25519_PREFIX.to_vec();
        bytes.extend_from_slice(key.as_bytes());
        let text = bs58::encode(bytes).into_string();
        assert!(text.starts_with("4XTTM") && text.len() == 49, "{text}");
        let parsed = ClientPublicKey::parse(&text).expect("parses");
        assert_eq!(parsed.encode(), text);
    }

    #[test]
    fn refuses_raw_keys_and_garbage() {
        let raw = bs58::encode([3u8; 32]).into_string();
        assert!(ClientPublicKey::parse(&raw).is_err());
        assert!(ClientPublicKey::parse("").is_err());
        assert!(ClientPublicKey::parse("0OIl").is_err());
        assert!(ClientPublicKey::parse(&"4".repeat(200)).is_err());
    }
}
