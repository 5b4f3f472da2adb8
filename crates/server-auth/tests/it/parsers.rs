//! No input to any header or body parser can panic.

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
        let _ = AuthHeaders::parse(headers.iter().copied());
        let target = server_auth::Target { method: "POST", path: "/jsonrpc" };
        let _ = authenticator().authenticate(headers.iter().copied(), target, at(0));
    }

    #[test]
    fn text_parsers_never_panic(text in "\\PC{0,140}") {
        let _ = ClientPublicKey::parse(&text);
        let _ = near::parse_public_key(&text);
        let _ = eth::parse_address(&text);
        let _ = eth::recover_address(b"message", &text);
        let _ = near::verify(&text, &text, &text, &[0; 32], &text, &text);
        let _ = authenticator().authenticate_token(&text, at(0));
        let _ = authenticator().refresh_tokens(&text, at(0));
    }

    #[test]
    fn login_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(request) = serde_json::from_slice::<AddPublicKeyRequest>(&bytes) {
            let _ = authenticator().add_client_key(&request, at(0));
        }
    }

    #[test]
    fn mutated_login_bodies_never_panic(index in 0usize..4, position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let name = ["near-no-context", "near-with-context", "eth-no-context", "eth-with-context"][index];
        let mut bytes = serde_json::to_vec(&crate::support::body(name)).expect("json");
        let at_index = position.index(bytes.len());
        bytes[at_index] = byte;
        if let Ok(request) = serde_json::from_slice::<AddPublicKeyRequest>(&bytes) {
            let _ = authenticator().add_client_key(&request, at(10));
        }
    }
}
