//! Request bodies of the admin API (`/admin-api`, decoded by axum's `Json`
//! extractor, i.e. `serde_json::from_slice`) and the other JSON the auth
//! layer reads from clients: the `wallet_type` header, the signed request
//! stamp, the wallet-signed login text and JWT claims.
//!
//! The first byte picks the type; the rest is the JSON.
//!
//! Properties: no panic; every decoded value encodes and decodes to the
//! same value (these types hold no floats, so equality is exact).

#![no_main]

use fuzz::roundtrip;
use libfuzzer_sys::fuzz_target;
use server_primitives::{admin, auth};

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 12 {
        0 => {
            let _ = roundtrip::<admin::InstallApplicationRequest>(json);
        }
        1 => {
            let _ = roundtrip::<admin::InstallDevApplicationRequest>(json);
        }
        2 => {
            let _ = roundtrip::<admin::CreateContextRequest>(json);
        }
        3 => {
            let _ = roundtrip::<auth::RequestChallengeRequest>(json);
        }
        4 => {
            if let Some(body) = roundtrip::<auth::AddPublicKeyRequest>(json) {
                // Which signature metadata an untagged body lands on must
                // survive the round trip too (checked by equality above);
                // touch the nested text the login reads next.
                let _ = serde_json::from_str::<auth::WalletSignedMessage>(
                    &body.payload.message.message,
                );
            }
        }
        5 => {
            let _ = roundtrip::<auth::GenerateJwtTokenRequest>(json);
        }
        6 => {
            let _ = roundtrip::<auth::RefreshJwtTokenRequest>(json);
        }
        7 => {
            let _ = roundtrip::<auth::WalletType>(json);
        }
        8 => {
            let _ = roundtrip::<auth::RequestStamp>(json);
        }
        9 => {
            let _ = roundtrip::<auth::WalletSignedMessage>(json);
        }
        10 => {
            let _ = roundtrip::<auth::JwtClaims>(json);
        }
        _ => {
            let _ = roundtrip::<auth::NodeChallenge>(json);
        }
    }
});
