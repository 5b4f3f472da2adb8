//! Wallets and client keys that sign like the real client libraries, with the
//! fixed seeds of `crates/server-auth/tests/vectors/wallets.json` (NEAR wallet
//! `0x02…`, client keys `0x03…`/`0x05…`, MetaMask key `0x04…`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use server_auth::{eth, near};
use server_primitives::PublicKey;
use server_primitives::auth::{
    AddPublicKeyRequest, EthSignatureMetadata, NearSignatureMetadata, NodeChallenge, Payload,
    RequestStamp, SignatureMessage, SignatureMetadata, WalletMetadata, WalletSignedMessage,
    WalletType,
};

/// A browser's client key (libp2p ed25519), which signs every request.
#[derive(Debug, Clone)]
pub struct ClientKey(SigningKey);

impl ClientKey {
    /// The client key whose seed is 32 × `byte`.
    #[must_use]
    pub fn from_seed_byte(byte: u8) -> Self {
        Self(SigningKey::from_bytes(&[byte; 32]))
    }

    /// The client key with this seed.
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// base58 of the libp2p protobuf public key (`4XTTM…`).
    #[must_use]
    pub fn public_key(&self) -> String {
        let mut bytes = vec![0x08, 0x01, 0x12, 0x20];
        bytes.extend_from_slice(self.0.verifying_key().as_bytes());
        bs58::encode(bytes).into_string()
    }

    /// The ed25519 key inside the client key: the identity a context-bound
    /// key calls as.
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
        self.auth_headers_at(node, method, path, now_ms() / 1000, context_id)
    }

    /// The five auth headers for `method path` on node `node`, signing a
    /// [`RequestStamp`] of `timestamp` (Unix s).
    ///
    /// # Panics
    /// Never: the stamp always serializes.
    #[must_use]
    pub fn auth_headers_at(
        &self,
        node: PublicKey,
        method: &str,
        path: &str,
        timestamp: u64,
        context_id: Option<&str>,
    ) -> Vec<(String, String)> {
        let stamp = serde_json::to_vec(&RequestStamp {
            node,
            method: method.to_owned(),
            path: path.to_owned(),
            timestamp,
            nonce: hex_nonce(),
        })
        .expect("a stamp serializes");
        let signature = self.0.sign(&stamp).to_bytes();
        let mut headers = vec![
            ("wallet_type".to_owned(), r#"{"type":"NEAR"}"#.to_owned()),
            ("signing_key".to_owned(), self.public_key()),
            (
                "signature".to_owned(),
                bs58::encode(signature).into_string(),
            ),
            ("challenge".to_owned(), bs58::encode(stamp).into_string()),
        ];
        if let Some(context_id) = context_id {
            headers.push(("context_id".to_owned(), context_id.to_owned()));
        }
        headers
    }
}

/// 16 random bytes in hex: a stamp's nonce.
fn hex_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("randomness");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn signed_text(challenge: &NodeChallenge, client: &ClientKey) -> String {
    serde_json::to_string(&WalletSignedMessage {
        node_signature: challenge.node_signature.clone(),
        public_key: client.public_key(),
    })
    .expect("serializes")
}

fn message(challenge: &NodeChallenge, client: &ClientKey) -> SignatureMessage {
    SignatureMessage {
        nonce: challenge.nonce.clone(),
        context_id: challenge.context_id,
        timestamp: challenge.timestamp,
        node_signature: challenge.node_signature.clone(),
        message: signed_text(challenge, client),
        public_key: client.public_key(),
    }
}

/// A NEAR wallet signing NEP-413 messages.
#[derive(Debug, Clone)]
pub struct NearWallet(SigningKey);

impl NearWallet {
    /// The wallet whose seed is 32 × `byte`.
    #[must_use]
    pub fn from_seed_byte(byte: u8) -> Self {
        Self(SigningKey::from_bytes(&[byte; 32]))
    }

    /// `ed25519:<base58>`.
    #[must_use]
    pub fn public_key(&self) -> String {
        near::encode_public_key(&self.0.verifying_key())
    }

    /// A login body answering `challenge` and registering `client`.
    ///
    /// # Panics
    /// When the challenge's nonce is not base64 of 32 bytes.
    #[must_use]
    pub fn login(
        &self,
        challenge: &NodeChallenge,
        client: &ClientKey,
        recipient: &str,
    ) -> AddPublicKeyRequest {
        let message = message(challenge, client);
        let nonce: [u8; 32] = STANDARD
            .decode(&challenge.nonce)
            .expect("base64 nonce")
            .try_into()
            .expect("32-byte nonce");
        let callback_url = "http://127.0.0.1/login";
        let digest = near::payload_digest(&message.message, &nonce, recipient, Some(callback_url));
        let signature = self.0.sign(&digest).to_bytes();
        AddPublicKeyRequest {
            wallet_signature: STANDARD.encode(signature),
            payload: Payload {
                message,
                metadata: SignatureMetadata::Near(NearSignatureMetadata {
                    recipient: recipient.to_owned(),
                    callback_url: callback_url.to_owned(),
                    nonce: challenge.nonce.clone(),
                }),
            },
            wallet_metadata: WalletMetadata {
                wallet: WalletType::Near { network_id: None },
                signing_key: self.public_key(),
            },
            context_id: challenge.context_id,
        }
    }
}

/// A MetaMask account signing with `personal_sign`.
#[derive(Debug, Clone)]
pub struct EthWallet(k256::ecdsa::SigningKey);

impl EthWallet {
    /// The account whose private key is 32 × `byte`.
    ///
    /// # Panics
    /// When that is not a valid secp256k1 key (it is for 0x01..=0x7f).
    #[must_use]
    pub fn from_seed_byte(byte: u8) -> Self {
        Self(k256::ecdsa::SigningKey::from_slice(&[byte; 32]).expect("valid secp256k1 key"))
    }

    /// `0x` + lower-case hex address.
    #[must_use]
    pub fn address(&self) -> String {
        eth::encode_address(&eth::address_of(self.0.verifying_key()))
    }

    /// A login body answering `challenge` and registering `client`.
    ///
    /// # Panics
    /// Never for valid keys.
    #[must_use]
    pub fn login(&self, challenge: &NodeChallenge, client: &ClientKey) -> AddPublicKeyRequest {
        let message = message(challenge, client);
        let digest = eth::personal_sign_digest(message.message.as_bytes());
        let (signature, recovery) = self.0.sign_prehash_recoverable(&digest);
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(27 + recovery.to_byte());
        AddPublicKeyRequest {
            wallet_signature: format!(
                "0x{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
            payload: Payload {
                message,
                metadata: SignatureMetadata::Eth(EthSignatureMetadata {}),
            },
            wallet_metadata: WalletMetadata {
                wallet: WalletType::Eth { chain_id: 1 },
                signing_key: self.address(),
            },
            context_id: challenge.context_id,
        }
    }
}

/// Milliseconds since the Unix epoch, as the authenticator takes them.
///
/// # Panics
/// When the clock is before 1970.
#[must_use]
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit in u64")
}

/// Logs client key `0x03…` in with NEAR wallet `0x02…` (the node's first
/// login, so it becomes the root key) and returns the client key.
///
/// # Panics
/// When the authenticator refuses the login.
#[must_use]
pub fn log_in(auth: &server_auth::Authenticator) -> ClientKey {
    let client = ClientKey::from_seed_byte(0x03);
    let challenge = auth.request_challenge(None, now_ms()).expect("a challenge");
    let login = NearWallet::from_seed_byte(0x02).login(&challenge, &client, "node");
    auth.add_client_key(&login, now_ms())
        .expect("the login is accepted");
    client
}
