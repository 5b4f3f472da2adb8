//! The public wallet-signature parsers and checks of server-auth:
//! `near::{parse_public_key, verify, payload_digest, encode_public_key}` and
//! `eth::{parse_address, recover_address, verify, encode_address}`.
//!
//! Input: byte 0 picks the function, the rest are its arguments.
//!
//! Properties: no panic; a parsed NEAR key prints as `ed25519:` + the text
//! it came from; a parsed address prints as the lower-cased text; an
//! address recovered from a signature verifies that signature; an honest
//! NEP-413 signature over fuzzed fields verifies (also with no callback URL
//! when the URL is empty) and a signature over other fields does not.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer;
use fuzz::Reader;
use libfuzzer_sys::fuzz_target;
use server_auth::{AuthError, eth, near};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    match input.u8() % 5 {
        0 => {
            let key_text = text(input.rest());
            if let Ok(key) = near::parse_public_key(&key_text) {
                let expected = if key_text.starts_with("ed25519:") {
                    key_text.clone()
                } else {
                    format!("ed25519:{key_text}")
                };
                assert_eq!(near::encode_public_key(&key), expected);
            }
        }
        1 => {
            let address_text = text(input.rest());
            if let Ok(address) = eth::parse_address(&address_text) {
                assert_eq!(
                    eth::encode_address(&address),
                    address_text.to_ascii_lowercase()
                );
            }
        }
        2 => {
            let message = input.piece().to_vec();
            let signature = text(input.rest());
            match eth::recover_address(&message, &signature) {
                Ok(address) => {
                    if let Ok(message) = std::str::from_utf8(&message) {
                        assert_eq!(
                            eth::verify(&eth::encode_address(&address), &signature, message),
                            Ok(address),
                            "a recovered address verifies its own signature"
                        );
                    }
                }
                Err(err) => assert!(matches!(
                    err,
                    AuthError::InvalidLogin(_) | AuthError::InvalidWalletSignature
                )),
            }
        }
        3 => {
            let key = text(input.piece());
            let signature = text(input.piece());
            let message = text(input.piece());
            let nonce = input.array32();
            let recipient = text(input.piece());
            let callback = text(input.rest());
            let _ = near::verify(&key, &signature, &message, &nonce, &recipient, &callback);
        }
        _ => {
            let wallet = fuzz::ed25519_key(fuzz::NEAR_WALLET_SEED);
            let key = near::encode_public_key(&wallet.verifying_key());
            let message = text(input.piece());
            let nonce = input.array32();
            let recipient = text(input.piece());
            let callback = text(input.piece());
            let signed_callback = input.bool();
            let callback_arg =
                (signed_callback || !callback.is_empty()).then_some(callback.as_str());
            let digest = near::payload_digest(&message, &nonce, &recipient, callback_arg);
            let signature = STANDARD.encode(wallet.sign(&digest).to_bytes());
            assert!(
                near::verify(&key, &signature, &message, &nonce, &recipient, &callback).is_ok(),
                "an honest NEP-413 signature is refused"
            );
            let other = format!("{message}.");
            assert_eq!(
                near::verify(&key, &signature, &other, &nonce, &recipient, &callback),
                Err(AuthError::InvalidWalletSignature),
                "a signature verifies another message"
            );
        }
    }
});
