//! JWTs (`server-auth/src/jwt.rs`, HS256 with the node's secret), through
//! the public `Authenticator::authenticate_token` and `refresh_tokens`.
//!
//! Random text never carries a valid HMAC, so besides raw tokens the target
//! signs fuzzed bytes with the authenticator's own secret: that reaches the
//! claims decoding and every check after the signature.
//!
//! Per input: a fresh in-memory store with the two client keys and one live
//! refresh-token id (`fuzz-jti`), and an authenticator with a fixed clock.
//!
//! Input: byte 0 picks the mode, then
//! - mode 0: raw token text;
//! - mode 1: claims bytes, signed under the standard HS256 header;
//! - mode 2: header bytes `\0` claims bytes, signed;
//! - mode 3: claims built from fuzzed choices, signed.
//!
//! Properties: no panic; an accepted access token names a registered key
//! and its registration, has not expired and is an access token; in mode 3
//! acceptance is exactly predicted (access and refresh), an expired access
//! token gives `TokenExpired`, a refresh rotates (the old token is refused
//! afterwards, the new access token is accepted).

#![no_main]

use std::sync::Arc;

use fuzz::{HS256_HEADER, JWT_SECRET, NOW_MS, NOW_SECS, Reader, hs256_token};
use libfuzzer_sys::fuzz_target;
use node_primitives::{ContextId, PublicKey};
use server_auth::{AuthError, KeyStore, KeyWrite, MemoryKeyStore, Principal, Table};
use server_primitives::auth::{JwtClaims, TokenType};

/// The refresh-token id the store holds as live.
const LIVE_JTI: &str = "fuzz-jti";

struct Setup {
    store: Arc<MemoryKeyStore>,
    keys: [String; 2],
    registrations: [String; 2],
}

fn setup() -> Setup {
    let store = fuzz::key_store_with_clients();
    store
        .write(&mut |tables: &mut dyn KeyWrite| {
            tables.insert(Table::RefreshTokens, LIVE_JTI, &[], Some(u64::MAX))
        })
        .expect("in-memory write");
    let keys = [fuzz::UNBOUND_CLIENT_SEED, fuzz::BOUND_CLIENT_SEED]
        .map(|seed| fuzz::client_key_text(&fuzz::ed25519_key(seed)));
    let registrations = keys
        .clone()
        .map(|key| fuzz::registration_of(&store, &key).expect("the key is registered"));
    Setup {
        store,
        keys,
        registrations,
    }
}

/// What an accepted access token must be.
fn check_access(claims_json: &[u8], principal: &Principal, setup: &Setup) {
    let claims: JwtClaims =
        serde_json::from_slice(claims_json).expect("accepted claims decode as JwtClaims");
    assert_eq!(claims.token_type, TokenType::Access);
    assert!(NOW_SECS < claims.exp, "an expired token was accepted");
    let key = claims
        .sub
        .as_deref()
        .expect("an accepted token names its key");
    let index = setup
        .keys
        .iter()
        .position(|known| known == key)
        .expect("an accepted token names a registered key");
    assert_eq!(
        claims.reg.as_deref(),
        Some(setup.registrations[index].as_str())
    );
    match principal {
        Principal::Token {
            context_id,
            executor_public_key,
            lease,
        } => {
            assert_eq!(*context_id, claims.context_id);
            assert_eq!(*executor_public_key, claims.executor_public_key);
            assert_eq!(lease.key(), key);
        }
        Principal::ClientKey { .. } => panic!("a token gave a client-key principal"),
    }
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let auth = fuzz::authenticator(setup.store.clone());
    let mut input = Reader::new(data);
    match input.u8() % 4 {
        0 => {
            let text = String::from_utf8_lossy(input.rest());
            assert!(auth.authenticate_token(&text, NOW_MS).is_err());
            assert!(auth.refresh_tokens(&text, NOW_MS).is_err());
        }
        1 => {
            let claims = input.rest();
            let token = hs256_token(JWT_SECRET, HS256_HEADER, claims);
            if let Ok(principal) = auth.authenticate_token(&token, NOW_MS) {
                check_access(claims, &principal, &setup);
            }
            let _ = auth.refresh_tokens(&token, NOW_MS);
        }
        2 => {
            let rest = input.rest();
            let (header, claims) = match rest.iter().position(|&byte| byte == 0) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            let token = hs256_token(JWT_SECRET, header, claims);
            if let Ok(principal) = auth.authenticate_token(&token, NOW_MS) {
                check_access(claims, &principal, &setup);
            }
            let _ = auth.refresh_tokens(&token, NOW_MS);
        }
        _ => {
            let token_type = if input.bool() {
                TokenType::Access
            } else {
                TokenType::Refresh
            };
            let offset = input.i16();
            let exp = NOW_SECS.saturating_add_signed(offset);
            let sub_choice = input.u8() % 4;
            let sub = match sub_choice {
                0 => None,
                1 | 2 => Some(setup.keys[usize::from(sub_choice - 1)].clone()),
                _ => Some("4XTTMnotregistered".to_owned()),
            };
            let reg_choice = input.u8() % 3;
            let reg = match (reg_choice, sub_choice) {
                (0, _) => None,
                (1, 1 | 2) => Some(setup.registrations[usize::from(sub_choice - 1)].clone()),
                _ => Some("00".to_owned()),
            };
            let jti = match input.u8() % 3 {
                0 => None,
                1 => Some(LIVE_JTI.to_owned()),
                _ => Some("spent".to_owned()),
            };
            let iat = input.bool().then(|| NOW_SECS - 5);
            let claims = JwtClaims {
                context_id: ContextId::from_bytes(input.array32()),
                executor_public_key: PublicKey::from_bytes(input.array32()),
                exp,
                token_type,
                iat,
                jti: jti.clone(),
                sub: sub.clone(),
                reg: reg.clone(),
            };
            let claims_json = serde_json::to_vec(&claims).expect("encodes");
            let token = hs256_token(JWT_SECRET, HS256_HEADER, &claims_json);
            let known_key = matches!(sub_choice, 1 | 2) && reg_choice == 1;
            let alive = NOW_SECS < exp;

            let access = auth.authenticate_token(&token, NOW_MS);
            if let Ok(principal) = &access {
                check_access(&claims_json, principal, &setup);
            }
            assert_eq!(
                access.is_ok(),
                token_type == TokenType::Access && alive && known_key,
                "access {claims:?}: {access:?}"
            );
            if token_type == TokenType::Access && !alive {
                assert_eq!(access, Err(AuthError::TokenExpired));
            }

            let refreshed = auth.refresh_tokens(&token, NOW_MS);
            assert_eq!(
                refreshed.is_ok(),
                token_type == TokenType::Refresh
                    && alive
                    && known_key
                    && jti.as_deref() == Some(LIVE_JTI),
                "refresh {claims:?}: {refreshed:?}"
            );
            if let Ok(pair) = refreshed {
                assert!(
                    auth.refresh_tokens(&token, NOW_MS).is_err(),
                    "a refresh token was used twice"
                );
                let principal = auth
                    .authenticate_token(&pair.access_token, NOW_MS)
                    .expect("a fresh access token is accepted");
                assert_eq!(
                    principal.lease().key(),
                    sub.as_deref().expect("checked above")
                );
                assert!(
                    setup
                        .store
                        .get(Table::RefreshTokens, LIVE_JTI)
                        .ok()
                        .flatten()
                        .is_none(),
                    "the rotated refresh token is gone"
                );
            }
        }
    }
});
