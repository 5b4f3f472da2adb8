//! JWT access and refresh tokens: expiry, tampering, type, rotation.

use node_primitives::{ContextId, PublicKey};
use server_auth::{AuthError, Principal};

use crate::support::{at, authenticator};

fn ids() -> (ContextId, PublicKey) {
    (
        ContextId::from_bytes([7; 32]),
        PublicKey::from_bytes([8; 32]),
    )
}

fn bearer(token: &str) -> Vec<(String, Vec<u8>)> {
    vec![(
        "Authorization".to_owned(),
        format!("Bearer {token}").into_bytes(),
    )]
}

fn authenticate(
    auth: &server_auth::Authenticator,
    token: &str,
    now: u64,
) -> Result<Principal, AuthError> {
    let headers = bearer(token);
    auth.authenticate(headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())), now)
}

#[test]
fn an_access_token_authenticates_until_it_expires() {
    let auth = authenticator();
    let (ctx, executor) = ids();
    let pair = auth.issue_tokens(ctx, executor, at(0)).expect("issued");
    let principal = authenticate(&auth, &pair.access_token, at(3_599)).expect("valid");
    assert_eq!(
        principal,
        Principal::Token {
            context_id: ctx,
            executor_public_key: executor
        }
    );
    assert!(principal.may_access(&ctx));
    assert!(!principal.may_access(&ContextId::from_bytes([9; 32])));
    assert_eq!(
        authenticate(&auth, &pair.access_token, at(3_600)),
        Err(AuthError::TokenExpired)
    );
}

#[test]
fn refresh_tokens_and_tampered_tokens_do_not_authenticate() {
    let auth = authenticator();
    let (ctx, executor) = ids();
    let pair = auth.issue_tokens(ctx, executor, at(0)).expect("issued");
    assert_eq!(
        authenticate(&auth, &pair.refresh_token, at(1)),
        Err(AuthError::Unauthorized("wrong token type"))
    );
    let mut tampered = pair.access_token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    assert!(authenticate(&auth, &tampered, at(1)).is_err());
    // A token of another node (another secret) is refused.
    let other = server_auth::Authenticator::new(
        auth.identity().clone(),
        b"another node's secret",
        server_auth::AuthConfig::default(),
        std::sync::Arc::new(server_auth::MemoryKeyStore::new()),
    );
    let foreign = other.issue_tokens(ctx, executor, at(0)).expect("issued");
    assert!(authenticate(&auth, &foreign.access_token, at(1)).is_err());
    let malformed = [("authorization".to_owned(), b"Basic abc".to_vec())];
    assert!(
        auth.authenticate(
            malformed.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
            at(1)
        )
        .is_err()
    );
}

#[test]
fn refresh_rotates_and_an_old_refresh_token_is_refused() {
    let auth = authenticator();
    let (ctx, executor) = ids();
    let first = auth.issue_tokens(ctx, executor, at(0)).expect("issued");
    let second = auth
        .refresh_tokens(&first.refresh_token, at(10))
        .expect("rotated");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        auth.refresh_tokens(&first.refresh_token, at(11)),
        Err(AuthError::InvalidRefreshToken(
            "token already used or revoked"
        ))
    );
    assert!(authenticate(&auth, &second.access_token, at(12)).is_ok());
    assert!(auth.refresh_tokens(&second.refresh_token, at(13)).is_ok());
    assert_eq!(
        auth.refresh_tokens(&second.access_token, at(14)),
        Err(AuthError::InvalidRefreshToken("wrong token type"))
    );
}

#[test]
fn an_expired_refresh_token_is_refused() {
    let auth = authenticator();
    let (ctx, executor) = ids();
    let pair = auth.issue_tokens(ctx, executor, at(0)).expect("issued");
    let thirty_days = 30 * 24 * 60 * 60;
    assert_eq!(
        auth.refresh_tokens(&pair.refresh_token, at(thirty_days)),
        Err(AuthError::InvalidRefreshToken("token expired"))
    );
}

#[test]
fn deleting_keys_revokes_refresh_tokens() {
    let auth = authenticator();
    let (ctx, executor) = ids();
    let pair = auth.issue_tokens(ctx, executor, at(0)).expect("issued");
    auth.delete_keys().expect("deleted");
    assert!(auth.refresh_tokens(&pair.refresh_token, at(1)).is_err());
}
