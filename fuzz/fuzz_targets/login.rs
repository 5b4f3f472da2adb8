//! Wallet login: an `AddPublicKeyRequest` body (`POST /add-client-key`,
//! `POST /root-key`) checked by `Authenticator::check_login` (challenge,
//! signed text, client key, NEAR NEP-413 or MetaMask EIP-191 signature;
//! `login.rs`, `challenge.rs`, `near.rs`, `eth.rs`), then stored by
//! `add_client_key` on a fresh in-memory store.
//!
//! Input: byte 0 is a set of repairs, the rest the JSON body. Random bytes
//! never carry valid signatures, so each repair bit makes one part valid
//! again after the fuzzer changed the rest (the vectors' node, NEAR wallet
//! `0x02`, MetaMask key `0x04`, client key `0x03`):
//! - 0x20 nonce := a valid base64 32-byte nonce
//! - 0x40 client key := client key `0x03`
//! - 0x01 timestamp := now − 10 s
//! - 0x02 body context := the challenge's context
//! - 0x04 node signature := the node's signature over the challenge
//! - 0x08 signed text := `{"nodeSignature", "publicKey"}` of the message
//! - 0x10 wallet key and signature := the wallet's, over the signed text
//!
//! Properties: no panic; with every repair (and wallet metadata that fits
//! the wallet) the login is accepted; an accepted login creates the root key
//! on an empty store, stores the canonical wallet key and client key, and
//! its challenge cannot be used twice.

#![no_main]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer;
use fuzz::{NOW_MS, NOW_SECS};
use libfuzzer_sys::fuzz_target;
use server_auth::{AuthError, ClientPublicKey, LoginOutcome, MemoryKeyStore, eth, near};
use server_primitives::auth::{
    AddPublicKeyRequest, ChallengeContent, SignatureMetadata, WalletSignedMessage, WalletType,
};

const ALL_REPAIRS: u8 = 0x7f;

/// Applies the repairs of `flags` to `body`, in dependency order.
fn repair(flags: u8, body: &mut AddPublicKeyRequest) {
    let message = &mut body.payload.message;
    if flags & 0x20 != 0 {
        message.nonce = STANDARD.encode([0x10; 32]);
    }
    if flags & 0x40 != 0 {
        message.public_key = fuzz::client_key_text(&fuzz::ed25519_key(fuzz::UNBOUND_CLIENT_SEED));
    }
    if flags & 0x01 != 0 {
        message.timestamp = i64::try_from(NOW_SECS).expect("fits") - 10;
    }
    if flags & 0x02 != 0 {
        body.context_id = message.context_id;
    }
    if flags & 0x04 != 0 {
        let content = ChallengeContent {
            nonce: message.nonce.clone(),
            context_id: message.context_id,
            timestamp: message.timestamp,
        };
        let signature = fuzz::node_identity().sign(&serde_json::to_vec(&content).expect("encodes"));
        message.node_signature = STANDARD.encode(signature);
    }
    if flags & 0x08 != 0 {
        message.message = serde_json::to_string(&WalletSignedMessage {
            node_signature: message.node_signature.clone(),
            public_key: message.public_key.clone(),
        })
        .expect("encodes");
    }
    if flags & 0x10 != 0 {
        match body.wallet_metadata.wallet {
            WalletType::Near { .. } => {
                let wallet = fuzz::ed25519_key(fuzz::NEAR_WALLET_SEED);
                body.wallet_metadata.signing_key = near::encode_public_key(&wallet.verifying_key());
                let nonce: Option<[u8; 32]> = STANDARD
                    .decode(&message.nonce)
                    .ok()
                    .and_then(|bytes| bytes.try_into().ok());
                if let (SignatureMetadata::Near(metadata), Some(nonce)) =
                    (&mut body.payload.metadata, nonce)
                {
                    metadata.nonce = message.nonce.clone();
                    let digest = near::payload_digest(
                        &message.message,
                        &nonce,
                        &metadata.recipient,
                        Some(&metadata.callback_url),
                    );
                    body.wallet_signature = STANDARD.encode(wallet.sign(&digest).to_bytes());
                }
            }
            WalletType::Eth { .. } => {
                let wallet = k256::ecdsa::SigningKey::from_slice(&[fuzz::ETH_WALLET_SEED; 32])
                    .expect("a valid secp256k1 key");
                body.wallet_metadata.signing_key =
                    eth::encode_address(&eth::address_of(wallet.verifying_key()));
                let digest = eth::personal_sign_digest(message.message.as_bytes());
                let (signature, recovery) = wallet.sign_prehash_recoverable(&digest);
                let mut bytes = signature.to_bytes().to_vec();
                bytes.push(27 + recovery.to_byte());
                body.wallet_signature = format!("0x{}", hex::encode(bytes));
            }
        }
    }
}

/// The canonical text of the body's wallet key, as the node stores it.
fn canonical_wallet_key(body: &AddPublicKeyRequest) -> Option<String> {
    let key = &body.wallet_metadata.signing_key;
    match body.wallet_metadata.wallet {
        WalletType::Near { .. } => near::parse_public_key(key)
            .ok()
            .map(|key| near::encode_public_key(&key)),
        WalletType::Eth { .. } => eth::parse_address(key)
            .ok()
            .map(|address| eth::encode_address(&address)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, json)) = data.split_first() else {
        return;
    };
    let Ok(mut body) = serde_json::from_slice::<AddPublicKeyRequest>(json) else {
        return;
    };
    repair(flags, &mut body);

    let checker = fuzz::authenticator(fuzz::key_store_with_clients());
    let checked = checker.check_login(&body, NOW_MS);

    let fits = matches!(
        (&body.wallet_metadata.wallet, &body.payload.metadata),
        (WalletType::Near { .. }, SignatureMetadata::Near(_)) | (WalletType::Eth { .. }, _)
    );
    if flags & ALL_REPAIRS == ALL_REPAIRS && fits {
        assert_eq!(checked, Ok(()), "a fully repaired login was refused");
    }
    // `checker`'s store has client keys but no root key, so a valid login
    // passes `check_login` whatever its wallet.
    let Ok(()) = checked else {
        return;
    };

    let store = Arc::new(MemoryKeyStore::new());
    let auth = fuzz::authenticator(store.clone());
    assert_eq!(
        auth.add_client_key(&body, NOW_MS),
        Ok(LoginOutcome::RootKeyCreated),
        "a checked login is stored on an empty node"
    );
    assert_eq!(
        auth.add_client_key(&body, NOW_MS),
        Err(AuthError::ChallengeReused)
    );
    assert_eq!(
        auth.add_root_key(&body, NOW_MS),
        Err(AuthError::ChallengeReused)
    );

    let did = auth.did().expect("the stored keys decode");
    let wallet_key = canonical_wallet_key(&body).expect("an accepted wallet key parses");
    assert_eq!(did.root_keys.len(), 1);
    assert_eq!(did.root_keys[0].signing_key, wallet_key);
    assert_eq!(did.root_keys[0].wallet, body.wallet_metadata.wallet);
    let client_key = ClientPublicKey::parse(&body.payload.message.public_key)
        .expect("an accepted client key parses")
        .encode();
    assert_eq!(did.client_keys.len(), 1);
    assert_eq!(did.client_keys[0].signing_key, client_key);
    assert_eq!(did.client_keys[0].context_id, body.context_id);
    assert_eq!(did.client_keys[0].created_at, NOW_MS);
});
