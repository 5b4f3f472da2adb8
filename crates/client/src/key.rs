//! Client keys: the ed25519 keys (libp2p protobuf form) that sign every
//! request a wallet login registered them for.

use ed25519_dalek::{Signer, SigningKey};
use server_primitives::PublicKey;
use server_primitives::auth::{RequestStamp, header};

/// libp2p protobuf header of an ed25519 public key.
const PROTOBUF_ED25519_PREFIX: [u8; 4] = [0x08, 0x01, 0x12, 0x20];

/// A client key: signs the five auth headers of each request.
#[derive(Clone)]
pub struct ClientKey(SigningKey);

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKey({})", self.public_key())
    }
}

impl ClientKey {
    /// A new random key.
    ///
    /// # Errors
    /// When the system has no randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self::from_seed(seed))
    }

    /// The key with this seed (its secret).
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The key whose seed is 32 × `byte` (test fixtures).
    #[must_use]
    pub fn from_seed_byte(byte: u8) -> Self {
        Self::from_seed([byte; 32])
    }

    /// The seed (the secret: keep it to yourself).
    #[must_use]
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// base58 of the libp2p protobuf public key (`4XTTM…`): what the node
    /// registers and lists.
    #[must_use]
    pub fn public_key(&self) -> String {
        let mut bytes = PROTOBUF_ED25519_PREFIX.to_vec();
        bytes.extend_from_slice(self.0.verifying_key().as_bytes());
        bs58::encode(bytes).into_string()
    }

    /// The ed25519 key inside: the identity a context-bound key calls as.
    #[must_use]
    pub fn executor(&self) -> PublicKey {
        PublicKey::from_bytes(self.0.verifying_key().to_bytes())
    }

    /// The five auth headers for `method path` on node `node`, stamped now.
    #[must_use]
    pub fn auth_headers(
        &self,
        node: PublicKey,
        method: &str,
        path: &str,
        context_id: Option<&str>,
    ) -> Vec<(String, String)> {
        self.auth_headers_at(node, method, path, unix_secs(), context_id)
    }

    /// The five auth headers for `method path` on node `node`, signing a
    /// [`RequestStamp`] of `timestamp` (Unix s) with a fresh nonce.
    ///
    /// # Panics
    /// When the system has no randomness for the nonce.
    #[must_use]
    pub fn auth_headers_at(
        &self,
        node: PublicKey,
        method: &str,
        path: &str,
        timestamp: u64,
        context_id: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("the system has randomness");
        let stamp = serde_json::to_vec(&RequestStamp {
            node,
            method: method.to_owned(),
            path: path.to_owned(),
            timestamp,
            nonce: nonce.iter().map(|byte| format!("{byte:02x}")).collect(),
        })
        .expect("a stamp serializes");
        let signature = self.0.sign(&stamp).to_bytes();
        let mut headers = vec![
            (
                header::WALLET_TYPE.to_owned(),
                r#"{"type":"NEAR"}"#.to_owned(),
            ),
            (header::SIGNING_KEY.to_owned(), self.public_key()),
            (
                header::SIGNATURE.to_owned(),
                bs58::encode(signature).into_string(),
            ),
            (
                header::CHALLENGE.to_owned(),
                bs58::encode(stamp).into_string(),
            ),
        ];
        if let Some(context_id) = context_id {
            headers.push((header::CONTEXT_ID.to_owned(), context_id.to_owned()));
        }
        headers
    }
}

/// Seconds since the Unix epoch (0 for a clock before 1970).
pub(crate) fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
