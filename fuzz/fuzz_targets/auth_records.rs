//! Stored auth rows (`server-auth/src/records.rs`: one schema-version byte,
//! then the record's JSON) as the authenticator reads them back, and the
//! legacy auth state a node migrates (`server-admin`'s
//! `migrate_legacy_state`: `{root_keys, client_keys}` JSON → `import_keys`).
//!
//! `records::decode` is crate-private, so rows go in through the public
//! `KeyStore`/`KeyWrite` of a fresh `MemoryKeyStore` and come out through
//! `Authenticator::did`, `client_keys_of` and `authenticate_headers`.
//!
//! Input: byte 0 picks the mode, the rest is the row or the legacy JSON:
//! - mode 0: a root-key row; mode 1: a client-key row; mode 2: legacy state.
//!
//! Properties: no panic; a row is read back exactly when it is version 1
//! followed by the record's JSON, and then as that record; a corrupt
//! client-key row is a store error, never an authentication; migrated keys
//! come back one per key text, the last one given for each.

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use fuzz::NOW_MS;
use libfuzzer_sys::fuzz_target;
use server_auth::{
    AuthError, AuthHeaders, ClientKeyRecord, ClientPublicKey, KeyStore, KeyWrite, MemoryKeyStore,
    Table, Target,
};
use server_primitives::auth::{ClientKey, RootKey, WalletType};

/// The key the fuzzed row is stored under.
const ROW_KEY: &str = "4XTTMH7K9Ye2Tp5YbJqdbkhzvHsdWs9VTBDaBZdPRC5ehLMNg";

/// The legacy auth state, as `migrate_legacy_state` declares it.
#[derive(serde::Deserialize)]
struct Legacy {
    #[serde(default)]
    root_keys: Vec<RootKey>,
    #[serde(default)]
    client_keys: Vec<ClientKey>,
}

fn decodes_as<T: serde::de::DeserializeOwned>(row: &[u8]) -> Option<T> {
    match row.split_first() {
        Some((&1, json)) => serde_json::from_slice(json).ok(),
        _ => None,
    }
}

fn put(store: &MemoryKeyStore, table: Table, row: &[u8]) {
    store
        .write(&mut |tables: &mut dyn KeyWrite| tables.insert(table, ROW_KEY, row, None))
        .expect("in-memory write");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let store = Arc::new(MemoryKeyStore::new());
    let auth = fuzz::authenticator(store.clone());
    match mode % 3 {
        0 => {
            put(&store, Table::RootKeys, rest);
            let expected: Option<RootKey> = decodes_as(rest);
            match auth.did() {
                Ok(did) => {
                    assert_eq!(Some(did.root_keys), expected.map(|key| vec![key]));
                    assert!(did.client_keys.is_empty());
                }
                Err(err) => {
                    assert!(
                        expected.is_none(),
                        "a valid root-key row was refused: {err}"
                    );
                    assert!(matches!(err, AuthError::Store(_)));
                }
            }
        }
        1 => {
            put(&store, Table::ClientKeys, rest);
            let expected: Option<ClientKeyRecord> = decodes_as(rest);
            match auth.did() {
                Ok(did) => {
                    let expected = expected.as_ref().expect("a corrupt row was read");
                    assert_eq!(did.client_keys, vec![expected.key.clone()]);
                }
                Err(err) => {
                    assert!(
                        expected.is_none(),
                        "a valid client-key row was refused: {err}"
                    );
                    assert!(matches!(err, AuthError::Store(_)));
                }
            }
            if let Some(record) = &expected {
                // A valid record round-trips through its own row.
                let mut row = vec![1];
                row.extend(serde_json::to_vec(record).expect("encodes"));
                assert_eq!(decodes_as::<ClientKeyRecord>(&row).as_ref(), Some(record));
                if let Some(context_id) = record.key.context_id {
                    assert_eq!(
                        auth.client_keys_of(&context_id).map(|keys| keys.len()),
                        Ok(1)
                    );
                }
            }
            // Reading the row to authenticate with it.
            let headers = AuthHeaders {
                wallet_type: WalletType::Near { network_id: None },
                signing_key: ROW_KEY.to_owned(),
                signature: [0; 64],
                challenge: b"{}".to_vec(),
                context_id: None,
            };
            let target = Target {
                method: "POST",
                path: "/jsonrpc",
                from_loopback: true,
            };
            let result = auth.authenticate_headers(&headers, target, NOW_MS);
            assert!(result.is_err(), "a zero signature was accepted");
            if expected.is_none() {
                assert!(matches!(result, Err(AuthError::Store(_))), "{result:?}");
            }
        }
        _ => {
            let Ok(legacy) = serde_json::from_slice::<Legacy>(rest) else {
                return;
            };
            store
                .write(&mut |tables: &mut dyn KeyWrite| {
                    server_auth::import_keys(tables, &legacy.root_keys, &legacy.client_keys, NOW_MS)
                })
                .expect("importing into memory works");
            // As the migration does next for context-bound keys.
            for key in &legacy.client_keys {
                let _ = ClientPublicKey::parse(&key.signing_key);
            }
            // One key per text, the last one given (each insert replaces).
            let mut roots: BTreeMap<&str, &RootKey> = BTreeMap::new();
            for key in &legacy.root_keys {
                roots.insert(&key.signing_key, key);
            }
            let mut clients: BTreeMap<&str, &ClientKey> = BTreeMap::new();
            for key in &legacy.client_keys {
                clients.insert(&key.signing_key, key);
            }
            let did = auth.did().expect("imported keys read back");
            assert_eq!(
                did.root_keys.iter().collect::<Vec<_>>(),
                roots.into_values().collect::<Vec<_>>()
            );
            assert_eq!(
                did.client_keys.iter().collect::<Vec<_>>(),
                clients.into_values().collect::<Vec<_>>()
            );
        }
    }
});
