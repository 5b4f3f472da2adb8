//! No input to any header or body parser can panic, and none that carries
//! no valid signature is accepted.

use proptest::prelude::*;
use server_auth::{AuthHeaders, ClientPublicKey, eth, near};
use server_primitives::auth::AddPublicKeyRequest;

use crate::support::{at, authenticator};

const HEADER_NAMES: &[&str] = &[
    "wallet_type",
    "signing_key",
    "signature",
    "challenge",
    "context_id",
    "signing-key",
    "authorization",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn header_parsing_never_panics(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..7)) {
        let headers: Vec<(&str, &[u8])> = HEADER_NAMES
            .iter()
            .zip(values.iter())
            .map(|(name, value)| (*name, value.as_slice()))
            .collect();
        let parsed = AuthHeaders::parse(headers.iter().copied());
        if headers.is_empty() {
            prop_assert!(matches!(parsed, Ok(None)), "{parsed:?}");
        }
        let target = server_auth::Target { method: "POST", path: "/jsonrpc", from_loopback: false };
        let answer = authenticator().authenticate(headers.iter().copied(), target, at(0));
        prop_assert!(answer.is_err(), "random headers were accepted: {answer:?}");
    }

    #[test]
    fn text_parsers_never_panic(text in "\\PC{0,140}") {
        if let Ok(key) = ClientPublicKey::parse(&text) {
            // Base58 has one text per key.
            prop_assert_eq!(key.encode(), text.clone());
        }
        let _ = near::parse_public_key(&text);
        let _ = eth::parse_address(&text);
        let _ = eth::recover_address(b"message", &text);
        prop_assert!(near::verify(&text, &text, &text, &[0; 32], &text, &text).is_err());
        prop_assert!(authenticator().authenticate_token(&text, at(0)).is_err());
        prop_assert!(authenticator().refresh_tokens(&text, at(0)).is_err());
    }

    #[test]
    fn login_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(request) = serde_json::from_slice::<AddPublicKeyRequest>(&bytes) {
            prop_assert!(authenticator().add_client_key(&request, at(0)).is_err());
        }
    }

    #[test]
    fn mutated_login_bodies_never_panic(index in 0usize..4, position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let name = ["near-no-context", "near-with-context", "eth-no-context", "eth-with-context"][index];
        let original: AddPublicKeyRequest =
            serde_json::from_value(crate::support::body(name)).expect("a login body");
        let mut bytes = serde_json::to_vec(&crate::support::body(name)).expect("json");
        let at_index = position.index(bytes.len());
        bytes[at_index] = byte;
        if let Ok(request) = serde_json::from_slice::<AddPublicKeyRequest>(&bytes) {
            let answer = authenticator().add_client_key(&request, at(10));
            // Whatever the wallet signed, or signed with, cannot change and
            // still log in (the context id is checked against the challenge).
            // The chain or network named beside the key is not signed by
            // either wallet, and does not matter to who logs in; nor does
            // the letter case of hex (an address, a signature).
            let signed_the_same = request
                .wallet_signature
                .eq_ignore_ascii_case(&original.wallet_signature)
                && request.payload == original.payload
                && request
                    .wallet_metadata
                    .signing_key
                    .eq_ignore_ascii_case(&original.wallet_metadata.signing_key)
                && std::mem::discriminant(&request.wallet_metadata.wallet)
                    == std::mem::discriminant(&original.wallet_metadata.wallet)
                && request.context_id == original.context_id;
            if !signed_the_same {
                prop_assert!(answer.is_err(), "a changed login was accepted: {request:?}");
            }
        }
    }
}
