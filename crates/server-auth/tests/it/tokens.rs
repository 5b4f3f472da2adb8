//! JWT access and refresh tokens: expiry, tampering, type, rotation.

use node_primitives::{ContextId, PublicKey};
use server_auth::{Action, AuthError, Authenticator, Principal, Target};
use server_primitives::auth::JwtTokenResponse;

use crate::support::{at, authenticator, body, parse};

/// An authenticator with client key `0x03` registered (by the vectors' NEAR
/// login), and that key.
fn logged_in() -> (Authenticator, String) {
    let auth = authenticator();
    let login = parse(&body("near-no-context"));
    auth.add_client_key(&login, at(0)).expect("login");
    (auth, login.payload.message.public_key)
}

/// [`logged_in`], with a token pair minted under its key for [`ids`] at 0.
fn minted() -> (Authenticator, String, JwtTokenResponse) {
    let (auth, key) = logged_in();
    let (ctx, executor) = ids();
    let pair = auth
        .issue_tokens(&key, ctx, executor, at(0))
        .expect("issued");
    (auth, key, pair)
}

const RPC: Target<'static> = Target {
    method: "POST",
    path: "/jsonrpc",
    from_loopback: false,
};

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

fn authenticate(auth: &Authenticator, token: &str, now: u64) -> Result<Principal, AuthError> {
    let headers = bearer(token);
    auth.authenticate(
        headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
        RPC,
        now,
    )
}

#[test]
fn an_access_token_authenticates_until_it_expires() {
    let (auth, key, pair) = minted();
    let (ctx, executor) = ids();
    let principal = authenticate(&auth, &pair.access_token, at(3_599)).expect("valid");
    assert!(
        matches!(
            &principal,
            Principal::Token { context_id, executor_public_key, lease }
                if *context_id == ctx && *executor_public_key == executor && lease.key() == key
        ),
        "{principal:?}"
    );
    assert_eq!(auth.revalidate(&principal, at(3_599)), Ok(()));
    assert_eq!(
        auth.revalidate(&principal, at(3_600)),
        Err(AuthError::TokenExpired)
    );
    assert_eq!(principal.authorize(Action::UseContext(ctx)), Ok(()));
    assert!(
        principal
            .authorize(Action::UseContext(ContextId::from_bytes([9; 32])))
            .is_err()
    );
    assert_eq!(
        authenticate(&auth, &pair.access_token, at(3_600)),
        Err(AuthError::TokenExpired)
    );
}

#[test]
fn refresh_tokens_and_tampered_tokens_do_not_authenticate() {
    let (auth, key, pair) = minted();
    let (ctx, executor) = ids();
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
    let other = Authenticator::new(
        auth.identity().clone(),
        b"another node's secret",
        server_auth::AuthConfig::default(),
        std::sync::Arc::new(server_auth::MemoryKeyStore::new()),
    );
    other
        .add_client_key(&parse(&body("near-no-context")), at(0))
        .expect("login");
    let foreign = other
        .issue_tokens(&key, ctx, executor, at(0))
        .expect("issued");
    assert!(authenticate(&auth, &foreign.access_token, at(1)).is_err());
    let malformed = [("authorization".to_owned(), b"Basic abc".to_vec())];
    assert!(
        auth.authenticate(
            malformed.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
            RPC,
            at(1)
        )
        .is_err()
    );
}

#[test]
fn refresh_rotates_and_an_old_refresh_token_is_refused() {
    let (auth, _, first) = minted();
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
    let (auth, _, pair) = minted();
    let thirty_days = 30 * 24 * 60 * 60;
    assert_eq!(
        auth.refresh_tokens(&pair.refresh_token, at(thirty_days)),
        Err(AuthError::InvalidRefreshToken("token expired"))
    );
}

#[test]
fn tokens_die_with_the_keys_they_were_minted_under() {
    let (auth, _, pair) = minted();
    assert!(authenticate(&auth, &pair.access_token, at(1)).is_ok());
    auth.delete_keys().expect("deleted");
    assert_eq!(
        authenticate(&auth, &pair.access_token, at(2)),
        Err(AuthError::Unauthorized(
            "the key the credentials were issued under is gone"
        ))
    );
    assert!(auth.refresh_tokens(&pair.refresh_token, at(2)).is_err());
}

#[test]
fn deleting_one_client_key_revokes_its_tokens_only() {
    let (auth, key, pair) = minted();
    let (ctx, executor) = ids();
    assert_eq!(
        auth.delete_client_key("4XTTMunknown"),
        Err(AuthError::UnknownKey("4XTTMunknown".into()))
    );
    assert!(authenticate(&auth, &pair.access_token, at(1)).is_ok());
    auth.delete_client_key(&key).expect("deleted");
    assert!(authenticate(&auth, &pair.access_token, at(1)).is_err());
    assert_eq!(
        auth.refresh_tokens(&pair.refresh_token, at(1)),
        Err(AuthError::InvalidRefreshToken(
            "the key the token was minted under is gone"
        ))
    );
    assert_eq!(auth.did().map(|did| did.root_keys.len()), Ok(1));
    assert_eq!(
        auth.issue_tokens(&key, ctx, executor, at(2)),
        Err(AuthError::UnknownKey(key.clone()))
    );
}

#[test]
fn deleting_keys_revokes_refresh_tokens() {
    let (auth, _, pair) = minted();
    auth.delete_keys().expect("deleted");
    assert!(auth.refresh_tokens(&pair.refresh_token, at(1)).is_err());
}
