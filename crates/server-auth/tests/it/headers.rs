//! Per-request auth with the five headers: only registered keys, only valid
//! signatures, only their own context.

use server_auth::{AuthError, Principal};

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

fn pairs(headers: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect()
}

#[test]
fn unregistered_client_keys_are_refused() {
    let auth = authenticator();
    let headers = header_case("headers-request-body");
    assert_eq!(
        auth.authenticate(pairs(&headers), at(10)),
        Err(AuthError::Unauthorized("client key not registered"))
    );
}

#[test]
fn a_registered_key_authenticates_with_underscores_or_hyphens() {
    let auth = authenticator();
    auth.add_client_key(&parse(&body("near-no-context")), at(10))
        .expect("login");
    let headers = header_case("headers-request-body");
    let principal = auth
        .authenticate(pairs(&headers), at(10))
        .expect("authenticated");
    assert!(matches!(
        principal,
        Principal::ClientKey {
            context_id: None,
            ..
        }
    ));

    let hyphenated: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.replace('_', "-").to_uppercase(), value.clone()))
        .collect();
    assert_eq!(auth.authenticate(pairs(&hyphenated), at(10)), Ok(principal));
}

#[test]
fn a_changed_signature_or_challenge_is_refused() {
    let auth = authenticator();
    auth.add_client_key(&parse(&body("near-no-context")), at(10))
        .expect("login");
    for field in ["signature", "challenge"] {
        let mut headers = header_case("headers-request-body");
        let value = &mut headers
            .iter_mut()
            .find(|(name, _)| name == field)
            .expect("header")
            .1;
        let middle = value.len() / 2;
        value[middle] = if value[middle] == b'A' { b'B' } else { b'A' };
        assert!(
            auth.authenticate(pairs(&headers), at(10)).is_err(),
            "{field}"
        );
    }
    let mut missing = header_case("headers-request-body");
    missing.retain(|(name, _)| name != "signature");
    assert!(auth.authenticate(pairs(&missing), at(10)).is_err());
}

#[test]
fn a_context_bound_key_is_refused_for_another_context() {
    let auth = authenticator();
    // near-with-context registers client key 0x05 bound to the vectors' context.
    auth.add_client_key(&parse(&body("near-with-context")), at(10))
        .expect("login");
    let headers = header_case("headers-with-context");
    let principal = auth
        .authenticate(pairs(&headers), at(10))
        .expect("own context");
    let own: node_primitives::ContextId = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi"
        .parse()
        .expect("id");
    let other: node_primitives::ContextId = "6TdJrdThvypeNm1Fp4a6YwAe4AjBreNbBHKNcLqf6BTY"
        .parse()
        .expect("id");
    assert!(principal.may_access(&own));
    assert!(!principal.may_access(&other));

    let mut elsewhere = headers.clone();
    for (name, value) in &mut elsewhere {
        if name == "context_id" {
            *value = other.to_string().into_bytes();
        }
    }
    assert_eq!(
        auth.authenticate(pairs(&elsewhere), at(10)),
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
    auth.delete_keys().expect("deleted");
    let headers = header_case("headers-request-body");
    assert!(auth.authenticate(pairs(&headers), at(10)).is_err());
    let did = auth.did().expect("did");
    assert!(did.root_keys.is_empty() && did.client_keys.is_empty());
    assert_eq!(
        auth.add_client_key(&parse(&body("eth-no-context")), at(10)),
        Ok(server_auth::LoginOutcome::RootKeyCreated)
    );
}
