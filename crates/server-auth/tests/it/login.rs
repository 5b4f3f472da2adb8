//! Wallet login: every vector verifies, every single-field mutation is refused,
//! challenges are single-use and short-lived, and only root wallets add keys.

use serde_json::{Value, json};
use server_auth::{AuthError, LoginOutcome};

use crate::support::{at, authenticator, body, case, login_names, parse};

#[test]
fn every_vector_logs_in_and_the_first_becomes_root() {
    for name in login_names() {
        let auth = authenticator();
        let outcome = auth.add_client_key(&parse(&body(&name)), at(10));
        assert_eq!(outcome, Ok(LoginOutcome::RootKeyCreated), "{name}");
        let did = auth.did().expect("did");
        assert_eq!(did.root_keys.len(), 1, "{name}");
        let case = case(&name);
        let wallet = case["walletPublicKey"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| case["address"].as_str().expect("address").to_lowercase());
        assert_eq!(did.root_keys[0].signing_key, wallet, "{name}");
        assert_eq!(did.client_keys.len(), 1, "{name}");
        assert_eq!(did.client_keys[0].signing_key, case["clientKey"], "{name}");
        assert_eq!(
            serde_json::to_value(did.client_keys[0].context_id).expect("json"),
            case["challenge"]["contextId"],
            "{name}"
        );
    }
}

/// Leaves that are not bound by any signature: the chain / network a wallet
/// reports is informational.
const UNSIGNED: &[&str] = &["/walletMetadata/wallet/chainId"];

fn leaves(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                leaves(child, format!("{path}/{key}"), out);
            }
        }
        _ => out.push(path),
    }
}

/// A different value of the same kind: one character changed in the middle,
/// (never only in case: addresses compare case-insensitively), a number moved by one, `null` replaced by a context id.
fn mutate(value: &Value) -> Value {
    match value {
        Value::String(text) if text.is_empty() => json!("x"),
        Value::String(text) => {
            let mut chars: Vec<char> = text.chars().collect();
            let middle = chars.len() / 2;
            chars[middle] = if chars[middle].eq_ignore_ascii_case(&'a') {
                'B'
            } else {
                'A'
            };
            Value::String(chars.into_iter().collect())
        }
        Value::Number(number) => json!(number.as_i64().expect("integer") + 1),
        Value::Null => json!("6TdJrdThvypeNm1Fp4a6YwAe4AjBreNbBHKNcLqf6BTY"),
        other => panic!("unexpected leaf {other}"),
    }
}

#[test]
fn every_single_field_mutation_is_refused_and_stores_nothing() {
    for name in login_names() {
        let original = body(&name);
        let mut paths = Vec::new();
        leaves(&original, String::new(), &mut paths);
        assert!(paths.len() >= 10, "{name}: {paths:?}");
        let mut verified = 0;
        for path in paths
            .iter()
            .filter(|path| !UNSIGNED.contains(&path.as_str()))
        {
            let mut mutated = original.clone();
            let leaf = mutated.pointer_mut(path).expect("path exists");
            *leaf = mutate(leaf);
            let auth = authenticator();
            let result = match serde_json::from_value(mutated) {
                Ok(request) => auth.add_client_key(&request, at(10)),
                Err(_) => continue, // refused while parsing: nothing to store
            };
            verified += 1;
            assert!(result.is_err(), "{name}: mutating {path} was accepted");
            let did = auth.did().expect("did");
            assert!(
                did.root_keys.is_empty() && did.client_keys.is_empty(),
                "{name} {path}"
            );
        }
        // Most mutations parse and must be refused by a signature or challenge check.
        assert!(
            verified >= 8,
            "{name}: only {verified} mutations reached verification"
        );
    }
}

#[test]
fn a_challenge_is_single_use() {
    let auth = authenticator();
    let request = parse(&body("near-no-context"));
    assert_eq!(
        auth.add_client_key(&request, at(10)),
        Ok(LoginOutcome::RootKeyCreated)
    );
    assert_eq!(
        auth.add_client_key(&request, at(11)),
        Err(AuthError::ChallengeReused)
    );
    assert_eq!(
        auth.add_root_key(&request, at(12)),
        Err(AuthError::ChallengeReused)
    );
}

#[test]
fn a_failed_login_does_not_use_up_the_challenge() {
    let auth = authenticator();
    assert!(
        auth.add_client_key(&parse(&body("near-no-context")), at(10))
            .is_ok()
    );
    // ETH wallet is not root: refused, and its challenge stays usable.
    let eth = parse(&body("eth-no-context"));
    assert_eq!(
        auth.add_client_key(&eth, at(10)),
        Err(AuthError::NotRootKey)
    );
    assert_eq!(
        auth.add_root_key(&eth, at(11)),
        Ok(LoginOutcome::RootKeyAdded)
    );
    assert_eq!(auth.did().expect("did").root_keys.len(), 2);
}

#[test]
fn expired_and_future_challenges_are_refused() {
    let request = parse(&body("eth-with-context"));
    assert_eq!(
        authenticator().add_client_key(&request, at(301)),
        Err(AuthError::ChallengeExpired)
    );
    assert!(authenticator().add_client_key(&request, at(300)).is_ok());
    assert_eq!(
        authenticator().add_client_key(&request, at(-6)),
        Err(AuthError::ChallengeFromFuture)
    );
}

#[test]
fn later_logins_must_come_from_a_root_wallet() {
    let auth = authenticator();
    assert!(
        auth.add_client_key(&parse(&body("eth-no-context")), at(10))
            .is_ok()
    );
    assert_eq!(
        auth.add_client_key(&parse(&body("near-with-context")), at(10)),
        Err(AuthError::NotRootKey)
    );
    // The same root wallet registers a second client key.
    assert_eq!(
        auth.add_client_key(&parse(&body("eth-with-context")), at(10)),
        Ok(LoginOutcome::ClientKeyAdded)
    );
    let did = auth.did().expect("did");
    assert_eq!((did.root_keys.len(), did.client_keys.len()), (1, 2));
}

#[test]
fn a_login_for_another_context_than_its_challenge_is_refused() {
    let mut body = body("near-with-context");
    body["contextId"] = Value::Null;
    assert_eq!(
        authenticator().add_client_key(&parse(&body), at(10)),
        Err(AuthError::ChallengeContextMismatch)
    );
}

/// secp256k1 group order.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn n_minus(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[i] = u8::try_from(digit).expect("byte");
    }
    out
}

fn with_signature(name: &str, signature: &[u8]) -> Value {
    let mut body = body(name);
    body["walletSignature"] = json!(format!("0x{}", hex::encode(signature)));
    body
}

#[test]
fn high_s_and_v_0_1_metamask_signatures_are_refused() {
    let name = "eth-no-context";
    let original =
        hex::decode(&case(name)["walletSignature"].as_str().expect("sig")[2..]).expect("hex");
    // The same signature in its high-s form (s' = n - s, v flipped) is
    // mathematically valid; only the low-s form is accepted.
    let mut high = original[..32].to_vec();
    high.extend(n_minus(&original[32..64]));
    high.push(if original[64] == 27 { 28 } else { 27 });
    let refused = authenticator().add_client_key(&parse(&with_signature(name, &high)), at(10));
    assert!(
        matches!(refused, Err(AuthError::InvalidLogin(ref why)) if why.contains("lower half")),
        "{refused:?}"
    );

    let mut raw_v = original.clone();
    raw_v[64] -= 27;
    let refused = authenticator().add_client_key(&parse(&with_signature(name, &raw_v)), at(10));
    assert!(
        matches!(refused, Err(AuthError::InvalidLogin(ref why)) if why.contains("27 or 28")),
        "{refused:?}"
    );

    assert!(
        authenticator()
            .add_client_key(&parse(&with_signature(name, &original)), at(10))
            .is_ok()
    );
}

#[test]
fn a_configured_near_recipient_must_match() {
    use std::sync::Arc;

    use server_auth::{AuthConfig, Authenticator, MemoryKeyStore};

    let node = authenticator().identity().clone();
    let config = |recipient: &str| AuthConfig {
        near_recipient: Some(recipient.to_owned()),
        ..AuthConfig::default()
    };
    let request = parse(&body("near-with-context"));
    let other = Authenticator::new(
        node.clone(),
        b"s",
        config("another-node"),
        Arc::new(MemoryKeyStore::new()),
    );
    assert_eq!(
        other.add_client_key(&request, at(10)),
        Err(AuthError::RecipientMismatch)
    );
    let this = Authenticator::new(
        node,
        b"s",
        config("calimero-node"),
        Arc::new(MemoryKeyStore::new()),
    );
    assert!(this.add_client_key(&request, at(10)).is_ok());
}
