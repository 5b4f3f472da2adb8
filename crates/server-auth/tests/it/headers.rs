//! Per-request auth with the five headers: only registered keys, only valid
//! signatures, only their own context.

use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signer, SigningKey};
use node_primitives::PublicKey;
use server_auth::{Action, AuthError, Principal, Target};
use server_primitives::auth::RequestStamp;

use crate::support::{at, authenticator, body, parse, vectors};

fn header_case(name: &str) -> Vec<(String, Vec<u8>)> {
    let vectors = vectors();
    let case = vectors["headers"]
        .as_array()
        .expect("array")
        .iter()
        .find(|case| case["name"] == name)
        .expect("vector")
        .clone();
    case["headers"]
        .as_object()
        .expect("object")
        .iter()
        .map(|(name, value)| {
            (
                name.clone(),
                value.as_str().expect("text").as_bytes().to_vec(),
            )
        })
        .collect()
}

/// Makes every stamp's nonce differ.
static NONCES: AtomicU64 = AtomicU64::new(0);

/// The vectors' node, client keys `0x03` (unbound) and `0x05` (bound).
fn node() -> PublicKey {
    authenticator().identity().public_key()
}

const RPC: Target<'static> = Target {
    method: "POST",
    path: "/jsonrpc",
    from_loopback: false,
};

/// Headers of client key `seed` for a stamp of `node`, `target` and `at` (s
/// after the vectors' time), with the header names the SDK uses.
fn signed(
    seed: u8,
    node: PublicKey,
    target: Target<'_>,
    at_secs: i64,
    context: Option<&str>,
) -> Vec<(String, Vec<u8>)> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let mut public = vec![0x08, 0x01, 0x12, 0x20];
    public.extend_from_slice(key.verifying_key().as_bytes());
    let stamp = serde_json::to_vec(&RequestStamp {
        node,
        method: target.method.to_owned(),
        path: target.path.to_owned(),
        timestamp: at(at_secs) / 1000,
        nonce: NONCES.fetch_add(1, Ordering::Relaxed).to_string(),
    })
    .expect("serializes");
    let mut headers = vec![
        ("wallet_type".to_owned(), br#"{"type":"NEAR"}"#.to_vec()),
        (
            "signing_key".to_owned(),
            bs58::encode(public).into_string().into_bytes(),
        ),
        (
            "signature".to_owned(),
            bs58::encode(key.sign(&stamp).to_bytes())
                .into_string()
                .into_bytes(),
        ),
        (
            "challenge".to_owned(),
            bs58::encode(stamp).into_string().into_bytes(),
        ),
    ];
    if let Some(context) = context {
        headers.push(("context_id".to_owned(), context.as_bytes().to_vec()));
    }
    headers
}

fn pairs(headers: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect()
}

const OWN: &str = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi";

#[test]
fn unregistered_client_keys_are_refused() {
    let auth = authenticator();
    let headers = signed(0x03, node(), RPC, 10, None);
    assert_eq!(
        auth.authenticate(pairs(&headers), RPC, at(10)),
        Err(AuthError::Unauthorized("client key not registered"))
    );
}

#[test]
fn a_registered_key_authenticates_with_underscores_or_hyphens() {
    let auth = authenticator();
    auth.add_client_key(&parse(&body("near-no-context")), at(10))
        .expect("login");
    let headers = signed(0x03, node(), RPC, 10, None);
    let principal = auth
        .authenticate(pairs(&headers), RPC, at(10))
        .expect("authenticated");
    assert!(matches!(
        principal,
        Principal::ClientKey {
            context_id: None,
            ..
        }
    ));

    let hyphenated: Vec<(String, Vec<u8>)> = signed(0x03, node(), RPC, 10, None)
        .iter()
        .map(|(name, value)| (name.replace('_', "-").to_uppercase(), value.clone()))
        .collect();
    assert_eq!(
        auth.authenticate(pairs(&hyphenated), RPC, at(10)),
        Ok(principal)
    );
}

#[test]
fn a_header_set_works_on_one_node_for_one_request_for_minutes_only() {
    let auth = authenticator();
    auth.add_client_key(&parse(&body("near-no-context")), at(10))
        .expect("login");
    let headers = signed(0x03, node(), RPC, 10, None);
    let late = signed(0x03, node(), RPC, 10, None);
    assert!(auth.authenticate(pairs(&headers), RPC, at(10)).is_ok());
    // Used once: replayed at once, or minutes later, it is refused.
    assert_eq!(
        auth.authenticate(pairs(&headers), RPC, at(11)),
        Err(AuthError::Unauthorized("the header set was already used"))
    );
    assert!(auth.authenticate(pairs(&late), RPC, at(250)).is_ok());
    // Replayed ten minutes later.
    let unused = signed(0x03, node(), RPC, 10, None);
    assert_eq!(
        auth.authenticate(pairs(&unused), RPC, at(610)),
        Err(AuthError::Unauthorized("the stamp has expired"))
    );
    assert_eq!(
        auth.authenticate(pairs(&headers), RPC, at(610)),
        Err(AuthError::Unauthorized("the stamp has expired"))
    );
    // On another route.
    let admin = Target {
        method: "DELETE",
        path: "/admin-api/identity/keys",
        from_loopback: false,
    };
    assert_eq!(
        auth.authenticate(pairs(&headers), admin, at(10)),
        Err(AuthError::Unauthorized("the stamp names another request"))
    );
    // Signed for another node.
    let elsewhere = signed(0x03, PublicKey::from_bytes([9; 32]), RPC, 10, None);
    assert_eq!(
        auth.authenticate(pairs(&elsewhere), RPC, at(10)),
        Err(AuthError::Unauthorized("the stamp names another node"))
    );
    // Stamped far in the future, to outlive the window.
    let future = signed(0x03, node(), RPC, 600, None);
    assert!(auth.authenticate(pairs(&future), RPC, at(10)).is_err());
    // The seed SDK's signature of a SHA-256 digest names no request at all.
    let digest = header_case("headers-request-body");
    assert_eq!(
        auth.authenticate(pairs(&digest), RPC, at(10)),
        Err(AuthError::Unauthorized(
            "the challenge header is not a signed request stamp"
        ))
    );
}

#[test]
fn a_changed_signature_or_challenge_is_refused() {
    let auth = authenticator();
    auth.add_client_key(&parse(&body("near-no-context")), at(10))
        .expect("login");
    for field in ["signature", "challenge"] {
        let mut headers = signed(0x03, node(), RPC, 10, None);
        let value = &mut headers
            .iter_mut()
            .find(|(name, _)| name == field)
            .expect("header")
            .1;
        let middle = value.len() / 2;
        value[middle] = if value[middle] == b'A' { b'B' } else { b'A' };
        assert!(
            auth.authenticate(pairs(&headers), RPC, at(10)).is_err(),
            "{field}"
        );
    }
    let mut missing = signed(0x03, node(), RPC, 10, None);
    missing.retain(|(name, _)| name != "signature");
    assert!(auth.authenticate(pairs(&missing), RPC, at(10)).is_err());
}

#[test]
fn a_context_bound_key_is_refused_for_another_context() {
    let auth = authenticator();
    // near-with-context registers client key 0x05 bound to the vectors' context.
    auth.add_client_key(&parse(&body("near-with-context")), at(10))
        .expect("login");
    let headers = signed(0x05, node(), RPC, 10, Some(OWN));
    let principal = auth
        .authenticate(pairs(&headers), RPC, at(10))
        .expect("own context");
    let own: node_primitives::ContextId = OWN.parse().expect("id");
    let other: node_primitives::ContextId = "6TdJrdThvypeNm1Fp4a6YwAe4AjBreNbBHKNcLqf6BTY"
        .parse()
        .expect("id");
    assert_eq!(principal.authorize(Action::UseContext(own)), Ok(()));
    assert!(principal.authorize(Action::UseContext(other)).is_err());
    assert!(principal.authorize(Action::Administer).is_err());

    let mut elsewhere = headers.clone();
    for (name, value) in &mut elsewhere {
        if name == "context_id" {
            *value = other.to_string().into_bytes();
        }
    }
    assert_eq!(
        auth.authenticate(pairs(&elsewhere), RPC, at(10)),
        Err(AuthError::Unauthorized(
            "client key is bound to another context"
        ))
    );
}

#[test]
fn deleting_keys_returns_the_node_to_first_login() {
    let auth = authenticator();
    auth.add_client_key(&parse(&body("near-no-context")), at(10))
        .expect("login");
    let headers = signed(0x03, node(), RPC, 10, None);
    assert!(auth.authenticate(pairs(&headers), RPC, at(10)).is_ok());
    auth.delete_keys().expect("deleted");
    assert!(auth.authenticate(pairs(&headers), RPC, at(10)).is_err());
    let did = auth.did().expect("did");
    assert!(did.root_keys.is_empty() && did.client_keys.is_empty());
    assert_eq!(
        auth.add_client_key(&parse(&body("eth-no-context")), at(10)),
        Ok(server_auth::LoginOutcome::RootKeyCreated)
    );
}

/// The operator key of [`Authenticator::with_operator`]: client key `seed`.
fn operator(seed: u8) -> server_auth::ClientPublicKey {
    let key = SigningKey::from_bytes(&[seed; 32]);
    server_auth::ClientPublicKey::from_public_key(&PublicKey::from_bytes(
        key.verifying_key().to_bytes(),
    ))
    .expect("a valid key")
}

#[test]
fn the_operator_key_administers_over_loopback_only() {
    let auth = authenticator().with_operator(operator(0x07));
    let local = Target {
        from_loopback: true,
        ..RPC
    };
    // From elsewhere: refused, even with a valid signature.
    let headers = signed(0x07, node(), RPC, 10, None);
    assert_eq!(
        auth.authenticate(pairs(&headers), RPC, at(10)),
        Err(AuthError::Unauthorized(
            "the operator key is accepted over loopback connections only"
        ))
    );
    // Over loopback: the administrator, with no key registered in the store.
    let headers = signed(0x07, node(), local, 10, None);
    let principal = auth
        .authenticate(pairs(&headers), local, at(10))
        .expect("the operator");
    assert_eq!(principal.authorize(Action::Administer), Ok(()));
    assert_eq!(auth.revalidate(&principal, at(11)), Ok(()));
    // Once only, and only signed by the operator key itself.
    assert!(auth.authenticate(pairs(&headers), local, at(10)).is_err());
    let mut forged = signed(0x08, node(), local, 10, None);
    forged[1] = headers[1].clone();
    assert_eq!(
        auth.authenticate(pairs(&forged), local, at(10)),
        Err(AuthError::Unauthorized("signature does not verify"))
    );
    // Not listed among the client keys.
    assert!(auth.did().expect("did").client_keys.is_empty());
    // An authenticator without it (the node's next run) refuses it.
    let next_run = authenticator().with_operator(operator(0x09));
    assert_eq!(
        next_run.revalidate(&principal, at(12)),
        Err(AuthError::Unauthorized(
            "the key the credentials were issued under is gone"
        ))
    );
    let headers = signed(0x07, node(), local, 12, None);
    assert_eq!(
        next_run.authenticate(pairs(&headers), local, at(12)),
        Err(AuthError::Unauthorized("client key not registered"))
    );
}

#[test]
fn tokens_minted_by_the_operator_die_with_its_key() {
    let auth = authenticator().with_operator(operator(0x07));
    let context = OWN.parse().expect("context id");
    let executor = PublicKey::from_bytes([4; 32]);
    let minted_by = operator(0x07).encode();
    let pair = auth
        .issue_tokens(&minted_by, context, executor, at(0))
        .expect("tokens");
    let principal = auth
        .authenticate_token(&pair.access_token, at(1))
        .expect("the token holds while the key does");
    assert_eq!(
        principal.authorize(Action::UseContext(context)),
        Ok(()),
        "bound to its context"
    );
    assert!(auth.refresh_tokens(&pair.refresh_token, at(2)).is_ok());
    let next_run = authenticator().with_operator(operator(0x09));
    assert!(
        next_run
            .authenticate_token(&pair.access_token, at(3))
            .is_err()
    );
}

#[test]
fn only_loopback_peers_are_loopback() {
    let peer = |text: &str| Some(text.parse().expect("a socket address"));
    assert!(Target::is_loopback(peer("127.0.0.1:5")));
    assert!(Target::is_loopback(peer("127.9.0.1:5")));
    assert!(Target::is_loopback(peer("[::1]:5")));
    assert!(Target::is_loopback(peer("[::ffff:127.0.0.1]:5")));
    assert!(!Target::is_loopback(peer("10.0.0.1:5")));
    assert!(!Target::is_loopback(peer("[::ffff:10.0.0.1]:5")));
    assert!(!Target::is_loopback(None));
}
