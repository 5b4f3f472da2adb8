//! Ethereum wallet signatures: MetaMask `personal_sign` (EIP-191).
//!
//! The wallet signs Keccak-256 of `"\x19Ethereum Signed Message:\n" ‖ len ‖ message`
//! with secp256k1; the signature is `r ‖ s ‖ v` with v ∈ {27, 28}. Only low-s
//! signatures are accepted, so a signature has exactly one valid form.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

use crate::AuthError;

/// A 20-byte Ethereum address.
pub type Address = [u8; 20];

/// Parses `0x` + 40 hex digits (any case).
///
/// # Errors
/// [`AuthError::InvalidLogin`] otherwise.
pub fn parse_address(text: &str) -> Result<Address, AuthError> {
    let invalid = || AuthError::InvalidLogin("ETH address must be 0x and 40 hex digits".into());
    let digits = text.strip_prefix("0x").ok_or_else(invalid)?;
    let mut address = [0u8; 20];
    hex::decode_to_slice(digits, &mut address).map_err(|_| invalid())?;
    Ok(address)
}

/// The canonical text of an address: `0x` + lower-case hex.
#[must_use]
pub fn encode_address(address: &Address) -> String {
    format!("0x{}", hex::encode(address))
}

/// The EIP-191 digest of a personal message.
#[must_use]
pub fn personal_sign_digest(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n");
    hasher.update(message.len().to_string().as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// The address that signed `message`, from a `0x`-optional 65-byte hex signature.
///
/// # Errors
/// [`AuthError::InvalidLogin`] for a malformed signature (length, v not 27/28,
/// r or s out of range, high s); [`AuthError::InvalidWalletSignature`] when no
/// key can be recovered.
pub fn recover_address(message: &[u8], signature_hex: &str) -> Result<Address, AuthError> {
    let invalid = |why: &str| AuthError::InvalidLogin(format!("ETH signature: {why}"));
    let digits = signature_hex.strip_prefix("0x").unwrap_or(signature_hex);
    let mut bytes = [0u8; 65];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| invalid("must be 65 bytes of hex"))?;
    let recovery = match bytes[64] {
        27 => 0,
        28 => 1,
        _ => return Err(invalid("v must be 27 or 28")),
    };
    let signature =
        Signature::from_slice(&bytes[..64]).map_err(|_| invalid("r or s out of range"))?;
    if signature.normalize_s() != signature {
        return Err(invalid("s must be in the lower half of the curve order"));
    }
    let recovery_id = RecoveryId::from_byte(recovery).ok_or_else(|| invalid("bad v"))?;
    let key =
        VerifyingKey::recover_from_prehash(&personal_sign_digest(message), &signature, recovery_id)
            .map_err(|_| AuthError::InvalidWalletSignature)?;
    Ok(address_of(&key))
}

/// The address of a secp256k1 public key.
#[must_use]
pub fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_sec1_point(false);
    let hash: [u8; 32] = Keccak256::digest(&point.as_bytes()[1..]).into();
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    address
}

/// Verifies that `address` signed `message`.
///
/// # Errors
/// As [`recover_address`], and [`AuthError::InvalidWalletSignature`] when
/// another address signed.
pub fn verify(address: &str, signature_hex: &str, message: &str) -> Result<Address, AuthError> {
    let expected = parse_address(address)?;
    let signer = recover_address(message.as_bytes(), signature_hex)?;
    if signer == expected {
        Ok(signer)
    } else {
        Err(AuthError::InvalidWalletSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_any_case() {
        let lower = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
        let mixed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(parse_address(lower), parse_address(mixed));
        assert_eq!(encode_address(&parse_address(mixed).expect("valid")), lower);
        assert!(parse_address("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").is_err());
        assert!(parse_address("0x5aae").is_err());
    }

    #[test]
    fn malformed_signatures_are_refused_without_panic() {
        for sig in [
            "",
            "0x",
            "0xzz",
            &"00".repeat(65),
            &format!("0x{}1b", "ff".repeat(64)),
        ] {
            assert!(recover_address(b"m", sig).is_err(), "{sig}");
        }
    }
}
