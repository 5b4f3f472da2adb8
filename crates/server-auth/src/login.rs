//! Wallet login: check a login body against the challenge, the signed text and
//! the wallet signature, before anything is stored.

use server_primitives::auth::{
    AddPublicKeyRequest, SignatureMetadata, WalletSignedMessage, WalletType,
};

use crate::challenge::{self, FreshChallenge};
use crate::{AuthConfig, AuthError, ClientPublicKey, NodeIdentity, eth, near};

/// What a successful login did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The node had no root key: the wallet became the root key and the client
    /// key was registered.
    RootKeyCreated,
    /// The client key was registered (or already was).
    ClientKeyAdded,
    /// The wallet was added as a root key (or already was one).
    RootKeyAdded,
}

/// A login whose every signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedLogin {
    /// The wallet, in canonical form (`ed25519:…` or lower-case `0x…`).
    pub wallet_key: String,
    /// The wallet kind.
    pub wallet: WalletType,
    /// The client key to register, canonical base58.
    pub client_key: String,
    /// The challenge it answered.
    pub challenge: FreshChallenge,
}

/// Verifies a login body at `now_secs`. Stores nothing.
pub(crate) fn verify(
    identity: &NodeIdentity,
    config: &AuthConfig,
    body: &AddPublicKeyRequest,
    now_secs: i64,
) -> Result<VerifiedLogin, AuthError> {
    let message = &body.payload.message;
    if body.context_id != message.context_id {
        return Err(AuthError::ChallengeContextMismatch);
    }
    let challenge = challenge::check(
        identity,
        message,
        now_secs,
        config.challenge_ttl_secs(),
        config.max_clock_skew_secs,
    )?;

    let signed: WalletSignedMessage =
        serde_json::from_str(&message.message).map_err(|_| AuthError::MessageMismatch)?;
    if signed.node_signature != message.node_signature || signed.public_key != message.public_key {
        return Err(AuthError::MessageMismatch);
    }
    let client_key = ClientPublicKey::parse(&message.public_key)?.encode();

    let metadata = &body.wallet_metadata;
    let wallet_key = match (&metadata.wallet, &body.payload.metadata) {
        (WalletType::Near { .. }, SignatureMetadata::Near(near_metadata)) => {
            if near_metadata.nonce != message.nonce {
                return Err(AuthError::InvalidLogin(
                    "metadata.nonce must be the challenge nonce".into(),
                ));
            }
            if let Some(expected) = &config.near_recipient
                && *expected != near_metadata.recipient
            {
                return Err(AuthError::RecipientMismatch);
            }
            let key = near::verify(
                &metadata.signing_key,
                &body.wallet_signature,
                &message.message,
                &challenge.nonce,
                &near_metadata.recipient,
                &near_metadata.callback_url,
            )?;
            near::encode_public_key(&key)
        }
        (WalletType::Near { .. }, SignatureMetadata::Eth(_)) => {
            return Err(AuthError::InvalidLogin(
                "NEAR metadata needs recipient, callbackUrl and nonce".into(),
            ));
        }
        (WalletType::Eth { .. }, _) => {
            let address = eth::verify(
                &metadata.signing_key,
                &body.wallet_signature,
                &message.message,
            )?;
            eth::encode_address(&address)
        }
    };
    Ok(VerifiedLogin {
        wallet_key,
        wallet: metadata.wallet.clone(),
        client_key,
        challenge,
    })
}
