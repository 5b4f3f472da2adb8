//! NEAR wallet signatures: NEP-413 `signMessage`.
//!
//! The wallet signs SHA-256 of the borsh encoding of
//! `(tag = 2^31 + 413 as u32, message, nonce [32], recipient, callbackUrl: Option)`
//! with its ed25519 account key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::AuthError;
use crate::identity::verify_strict;

/// The NEP-413 tag: 2^31 + 413.
pub const NEP413_TAG: u32 = (1 << 31) + 413;

/// Parses a NEAR public key, `ed25519:<base58>` or bare base58.
///
/// # Errors
/// [`AuthError::InvalidLogin`] when it is not a 32-byte ed25519 key.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, AuthError> {
    let invalid =
        || AuthError::InvalidLogin("NEAR key must be ed25519:<base58 of 32 bytes>".into());
    let bare = text.strip_prefix("ed25519:").unwrap_or(text);
    if bare.len() > 44 {
        return Err(invalid());
    }
    let mut bytes = [0u8; 32];
    match bs58::decode(bare).onto(&mut bytes) {
        Ok(32) => VerifyingKey::from_bytes(&bytes).map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

/// The canonical text of a NEAR key: `ed25519:<base58>`.
#[must_use]
pub fn encode_public_key(key: &VerifyingKey) -> String {
    format!("ed25519:{}", bs58::encode(key.as_bytes()).into_string())
}

/// SHA-256 of the NEP-413 borsh payload: what the wallet's key signs.
#[must_use]
pub fn payload_digest(
    message: &str,
    nonce: &[u8; 32],
    recipient: &str,
    callback_url: Option<&str>,
) -> [u8; 32] {
    let payload = (NEP413_TAG, message, *nonce, recipient, callback_url);
    let bytes = borsh::to_vec(&payload).expect("borsh encoding into a Vec cannot fail");
    Sha256::digest(bytes).into()
}

/// Verifies a NEP-413 signature (standard base64 of 64 bytes) by `public_key`.
/// An empty `callback_url` also verifies when the wallet signed none.
///
/// # Errors
/// [`AuthError::InvalidLogin`] for a malformed key or signature,
/// [`AuthError::InvalidWalletSignature`] when it does not verify.
pub fn verify(
    public_key: &str,
    signature_b64: &str,
    message: &str,
    nonce: &[u8; 32],
    recipient: &str,
    callback_url: &str,
) -> Result<VerifyingKey, AuthError> {
    let key = parse_public_key(public_key)?;
    let signature = decode_signature(signature_b64)?;
    let signed_with = |callback: Option<&str>| {
        verify_strict(
            &key,
            &payload_digest(message, nonce, recipient, callback),
            &signature,
        )
    };
    if signed_with(Some(callback_url)) || (callback_url.is_empty() && signed_with(None)) {
        Ok(key)
    } else {
        Err(AuthError::InvalidWalletSignature)
    }
}

fn decode_signature(text: &str) -> Result<[u8; 64], AuthError> {
    let invalid = || AuthError::InvalidLogin("NEAR signature must be base64 of 64 bytes".into());
    if text.len() > 100 {
        return Err(invalid());
    }
    STANDARD
        .decode(text)
        .map_err(|_| invalid())?
        .try_into()
        .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_bytes_match_the_standard() {
        assert_eq!(NEP413_TAG.to_le_bytes(), [0x9d, 0x01, 0x00, 0x80]);
    }

    #[test]
    fn key_prefix_is_optional() {
        let with = "ed25519:9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu";
        let key = parse_public_key(with).expect("prefixed");
        assert_eq!(parse_public_key(&with[8..]).expect("bare"), key);
        assert_eq!(encode_public_key(&key), with);
        assert!(parse_public_key("ed25519:").is_err());
        assert!(parse_public_key("secp256k1:abc").is_err());
    }
}
