//! `server_auth::Authenticator::authenticate`: a request's headers → a
//! principal, by the five auth headers of a registered client key (a signed
//! `RequestStamp`) or by `Authorization: Bearer`.
//!
//! The authenticator has the vectors' node key, an in-memory key store with
//! two registered client keys (`0x03` unbound, `0x05` bound to a context),
//! and a fixed clock. A fresh authenticator (same store) is built per input,
//! so that the replay memory does not make runs depend on earlier inputs.
//!
//! Input: byte 0 picks the mode, byte 1 the request target, then
//! - mode 0: raw `name:value` header lines;
//! - mode 1: raw stamp bytes, signed by a registered key (so the stamp
//!   parser and checks are reached);
//! - mode 2: a stamp built from a few fuzzed choices, signed;
//! - mode 3: a raw `Authorization` value, plus raw header lines.
//!
//! Properties: no panic; an accepted signed request carries a stamp that is
//! for this node, this request, now, with a 1..=128-byte nonce, and yields
//! the signing key's principal; an accepted header set is refused when
//! replayed; in mode 2, a stamp valid by construction is accepted and any
//! other is refused.

#![no_main]

use std::sync::{Arc, LazyLock};

use ed25519_dalek::{Signer, SigningKey};
use fuzz::{NOW_MS, NOW_SECS, Reader, borrow_pairs, ed25519_key};
use libfuzzer_sys::fuzz_target;
use node_primitives::{ContextId, PublicKey};
use server_auth::{AuthError, MemoryKeyStore, Principal, Target};
use server_primitives::auth::RequestStamp;

/// A registered client key.
struct Client {
    key: SigningKey,
    text: String,
    context_id: Option<ContextId>,
}

struct Fixture {
    store: Arc<MemoryKeyStore>,
    node: PublicKey,
    clients: [Client; 2],
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let client = |seed: u8, context_id: Option<ContextId>| {
        let key = ed25519_key(seed);
        Client {
            text: fuzz::client_key_text(&key),
            key,
            context_id,
        }
    };
    Fixture {
        store: fuzz::key_store_with_clients(),
        node: fuzz::node_identity().public_key(),
        clients: [
            client(fuzz::UNBOUND_CLIENT_SEED, None),
            client(fuzz::BOUND_CLIENT_SEED, Some(fuzz::bound_context())),
        ],
    }
});

const TARGETS: [Target<'static>; 4] = [
    Target {
        method: "POST",
        path: "/jsonrpc",
        from_loopback: false,
    },
    Target {
        method: "GET",
        path: "/ws",
        from_loopback: true,
    },
    Target {
        method: "DELETE",
        path: "/admin-api/identity/keys",
        from_loopback: false,
    },
    Target {
        method: "GET",
        path: "/admin-api/contexts",
        from_loopback: true,
    },
];

/// The five headers of `client` signing `stamp`, with an optional context.
fn signed_headers(
    client: &Client,
    stamp: &[u8],
    context: Option<String>,
) -> Vec<(String, Vec<u8>)> {
    let signature = client.key.sign(stamp).to_bytes();
    let mut headers = vec![
        ("wallet_type".to_owned(), br#"{"type":"NEAR"}"#.to_vec()),
        ("signing_key".to_owned(), client.text.clone().into_bytes()),
        (
            "signature".to_owned(),
            bs58::encode(signature).into_string().into_bytes(),
        ),
        (
            "challenge".to_owned(),
            bs58::encode(stamp).into_string().into_bytes(),
        ),
    ];
    if let Some(context) = context {
        headers.push(("context_id".to_owned(), context.into_bytes()));
    }
    headers
}

/// Which `context_id` header to send: none, the bound context, another one.
fn context_header(choice: u8) -> Option<ContextId> {
    match choice % 3 {
        0 => None,
        1 => Some(fuzz::bound_context()),
        _ => Some(ContextId::from_bytes([0xee; 32])),
    }
}

/// What must hold of a signed header set the authenticator accepted.
fn check_accepted(
    result: &Result<Principal, AuthError>,
    client: &Client,
    stamp: &[u8],
    asked: Option<ContextId>,
    target: Target<'_>,
    node: PublicKey,
) {
    let Ok(principal) = result else { return };
    let stamp: RequestStamp =
        serde_json::from_slice(stamp).expect("an accepted challenge is a request stamp");
    assert_eq!(stamp.node, node, "accepted for another node");
    assert!(
        stamp.method.eq_ignore_ascii_case(target.method),
        "another method"
    );
    assert_eq!(stamp.path, target.path, "another path");
    assert!(stamp.timestamp <= NOW_SECS + 30, "a stamp from the future");
    assert!(
        stamp.timestamp.saturating_add(240) >= NOW_SECS,
        "an expired stamp"
    );
    assert!((1..=128).contains(&stamp.nonce.len()), "nonce length");
    if let (Some(bound), Some(asked)) = (client.context_id, asked) {
        assert_eq!(bound, asked, "a bound key used for another context");
    }
    match principal {
        Principal::ClientKey {
            signing_key,
            executor,
            context_id,
            lease,
        } => {
            assert_eq!(*signing_key, client.text);
            assert_eq!(
                *executor,
                PublicKey::from_bytes(client.key.verifying_key().to_bytes())
            );
            assert_eq!(*context_id, client.context_id);
            assert_eq!(lease.key(), client.text);
        }
        Principal::Token { .. } => panic!("signed headers gave a token principal"),
    }
}

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let auth = fuzz::authenticator(fixture.store.clone());
    let mut input = Reader::new(data);
    let mode = input.u8() % 4;
    let target = TARGETS[usize::from(input.u8()) % TARGETS.len()];

    match mode {
        0 => {
            let pairs = fuzz::header_pairs(input.rest());
            let _ = auth.authenticate(pairs.iter().copied(), target, NOW_MS);
        }
        1 | 2 => {
            let client = &fixture.clients[usize::from(input.u8() & 1)];
            let asked = context_header(input.u8());
            let (stamp, valid) = if mode == 1 {
                (input.rest().to_vec(), None)
            } else {
                let ours = input.u8() % 8 != 0;
                let same_path = input.u8() % 8 != 0;
                // Flip the case of the method's letters by the bits of a byte.
                let case_bits = input.u8();
                let method: String = target
                    .method
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if case_bits >> (i % 8) & 1 == 1 {
                            c.to_ascii_lowercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                let offset = input.i16();
                let nonce_len = usize::from(input.u8()) % 140;
                let nonce: String = (0..nonce_len)
                    .map(|i| char::from(b'a' + (i % 26) as u8))
                    .collect();
                let stamp = RequestStamp {
                    node: if ours {
                        fixture.node
                    } else {
                        PublicKey::from_bytes([9; 32])
                    },
                    method,
                    path: if same_path {
                        target.path.to_owned()
                    } else {
                        format!("{}/", target.path)
                    },
                    timestamp: NOW_SECS.saturating_add_signed(offset),
                    nonce,
                };
                let context_ok = match (client.context_id, asked) {
                    (Some(bound), Some(asked)) => bound == asked,
                    _ => true,
                };
                let valid = ours
                    && same_path
                    && (-240..=30).contains(&offset)
                    && (1..=128).contains(&nonce_len)
                    && context_ok;
                (serde_json::to_vec(&stamp).expect("encodes"), Some(valid))
            };
            let headers = signed_headers(client, &stamp, asked.map(|id| id.to_string()));
            let pairs = borrow_pairs(&headers);
            let result = auth.authenticate(pairs.iter().copied(), target, NOW_MS);
            check_accepted(&result, client, &stamp, asked, target, fixture.node);
            if let Some(valid) = valid {
                assert_eq!(
                    result.is_ok(),
                    valid,
                    "stamp {:?} for {target:?}: {result:?}",
                    String::from_utf8_lossy(&stamp)
                );
            }
            if result.is_ok() {
                let replay = auth.authenticate(pairs.iter().copied(), target, NOW_MS);
                assert!(
                    matches!(replay, Err(AuthError::Unauthorized(_))),
                    "a replayed header set was accepted: {replay:?}"
                );
            }
        }
        _ => {
            let mut headers = vec![("authorization".to_owned(), input.piece().to_vec())];
            headers.extend(
                fuzz::header_pairs(input.rest())
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value.to_vec())),
            );
            let pairs = borrow_pairs(&headers);
            let result = auth.authenticate(pairs.iter().copied(), target, NOW_MS);
            // A bearer header decides alone; nothing here can forge a token.
            assert!(result.is_err(), "an unsigned bearer token was accepted");
        }
    }
});
