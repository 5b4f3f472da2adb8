//! The node's own ed25519 identity: it signs the challenges it issues.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use node_primitives::PublicKey;

use crate::AuthError;

/// The node's ed25519 key pair. Created once at init and kept in the node's home.
#[derive(Clone)]
pub struct NodeIdentity {
    signing: SigningKey,
}

impl NodeIdentity {
    /// A fresh identity from the OS's random source.
    ///
    /// # Errors
    /// When the OS has no randomness to give.
    pub fn generate() -> Result<Self, AuthError> {
        Ok(Self::from_seed(random_bytes()?))
    }

    /// The identity whose secret is `seed` (what [`NodeIdentity::seed`] returns).
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte secret to persist.
    #[must_use]
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message`.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Whether `signature` is this node's signature of `message`.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        verify_strict(&self.signing.verifying_key(), message, signature)
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Strict ed25519 verification (rejects small-order keys and malleable signatures).
pub(crate) fn verify_strict(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

/// `N` bytes from the OS CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|err| AuthError::Internal(format!("randomness: {err}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_survives_a_seed_round_trip() {
        let identity = NodeIdentity::generate().expect("randomness");
        let again = NodeIdentity::from_seed(identity.seed());
        assert_eq!(identity.public_key(), again.public_key());
        let signature = identity.sign(b"hello");
        assert!(again.verify(b"hello", &signature));
        assert!(!again.verify(b"hellO", &signature));
        assert!(!format!("{identity:?}").contains(&hex::encode(identity.seed())));
    }
}
