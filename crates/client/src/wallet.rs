//! Wallet login without a browser: a NEAR account key signing NEP-413
//! messages and a MetaMask-style account signing with `personal_sign`
//! (EIP-191), producing the login body `POST /admin-api/add-client-key`
//! verifies. For scripts, tests and tools that hold a wallet key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use server_auth::{eth, near};
use server_primitives::ContextId;
use server_primitives::auth::{
    AddPublicKeyRequest, EthSignatureMetadata, NearSignatureMetadata, NodeChallenge, Payload,
    SignatureMessage, SignatureMetadata, WalletMetadata, WalletSignedMessage, WalletType,
};

use crate::{Client, ClientKey, Error};

/// Something that signs a login: answers `challenge`, registering `client`.
pub trait Wallet {
    /// The login body.
    ///
    /// # Errors
    /// When the challenge is malformed.
    fn sign_login(
        &self,
        challenge: &NodeChallenge,
        client: &ClientKey,
    ) -> Result<AddPublicKeyRequest, Error>;
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

/// The NEP-413 recipient [`Wallet::sign_login`] names for a [`NearWallet`].
pub const DEFAULT_RECIPIENT: &str = "calimero-node";

/// A NEAR account key signing NEP-413 messages.
#[derive(Debug, Clone)]
pub struct NearWallet(SigningKey);

impl NearWallet {
    /// The wallet with this ed25519 seed.
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The wallet whose seed is 32 × `byte` (test fixtures).
    #[must_use]
    pub fn from_seed_byte(byte: u8) -> Self {
        Self::from_seed([byte; 32])
    }

    /// `ed25519:<base58>`.
    #[must_use]
    pub fn public_key(&self) -> String {
        near::encode_public_key(&self.0.verifying_key())
    }

    /// A login body answering `challenge`, registering `client`, signed for
    /// `recipient`.
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
        self.try_login(challenge, client, recipient)
            .expect("a challenge with a 32-byte base64 nonce")
    }

    fn try_login(
        &self,
        challenge: &NodeChallenge,
        client: &ClientKey,
        recipient: &str,
    ) -> Result<AddPublicKeyRequest, Error> {
        let message = message(challenge, client);
        let nonce: [u8; 32] = STANDARD
            .decode(&challenge.nonce)
            .ok()
            .and_then(|nonce| nonce.try_into().ok())
            .ok_or_else(|| {
                Error::Protocol("the challenge nonce is not base64 of 32 bytes".into())
            })?;
        let callback_url = "http://127.0.0.1/login";
        let digest = near::payload_digest(&message.message, &nonce, recipient, Some(callback_url));
        let signature = self.0.sign(&digest).to_bytes();
        Ok(AddPublicKeyRequest {
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
        })
    }
}

impl Wallet for NearWallet {
    fn sign_login(
        &self,
        challenge: &NodeChallenge,
        client: &ClientKey,
    ) -> Result<AddPublicKeyRequest, Error> {
        self.try_login(challenge, client, DEFAULT_RECIPIENT)
    }
}

/// An Ethereum account signing with `personal_sign`, as MetaMask does.
#[derive(Debug, Clone)]
pub struct EthWallet(k256::ecdsa::SigningKey);

impl EthWallet {
    /// The account with this private key.
    ///
    /// # Errors
    /// When it is not a valid secp256k1 key.
    pub fn from_secret(secret: [u8; 32]) -> Result<Self, Error> {
        k256::ecdsa::SigningKey::from_slice(&secret)
            .map(Self)
            .map_err(|_| Error::Local("not a valid secp256k1 private key".into()))
    }

    /// The account whose private key is 32 × `byte` (test fixtures).
    ///
    /// # Panics
    /// When that is not a valid secp256k1 key (it is for 0x01..=0x7f).
    #[must_use]
    pub fn from_seed_byte(byte: u8) -> Self {
        Self::from_secret([byte; 32]).expect("valid secp256k1 key")
    }

    /// `0x` + lower-case hex address.
    #[must_use]
    pub fn address(&self) -> String {
        eth::encode_address(&eth::address_of(self.0.verifying_key()))
    }

    /// A login body answering `challenge` and registering `client`.
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

impl Wallet for EthWallet {
    fn sign_login(
        &self,
        challenge: &NodeChallenge,
        client: &ClientKey,
    ) -> Result<AddPublicKeyRequest, Error> {
        Ok(self.login(challenge, client))
    }
}

impl Client {
    /// Logs `client` in with `wallet` (challenge, signature,
    /// `add-client-key`), for `context_id` or for the node (the node's first
    /// wallet becomes its root key), and returns a client signing with it.
    ///
    /// # Errors
    /// As every call; `401` when the node refuses the signature or the
    /// wallet is not a root key.
    pub async fn log_in(
        &self,
        wallet: &impl Wallet,
        client: ClientKey,
        context_id: Option<ContextId>,
    ) -> Result<Client, Error> {
        let challenge = self.request_challenge(context_id).await?;
        let login = wallet.sign_login(&challenge, &client)?;
        self.add_client_key(&login).await?;
        Ok(self.with_credentials(crate::Credentials::Key(client)))
    }
}
