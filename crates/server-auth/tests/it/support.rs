//! Loading the vectors and building authenticators for them.

use std::sync::Arc;

use serde_json::Value;
use server_auth::{AuthConfig, Authenticator, MemoryKeyStore, NodeIdentity};
use server_primitives::auth::AddPublicKeyRequest;

/// The vectors file, parsed.
pub fn vectors() -> Value {
    serde_json::from_str(include_str!("../vectors/wallets.json")).expect("vectors are JSON")
}

/// The vectors' challenge timestamp, in milliseconds, plus `offset_secs`.
pub fn at(offset_secs: i64) -> u64 {
    let base = vectors()["timestamp"].as_i64().expect("timestamp");
    u64::try_from((base + offset_secs) * 1000).expect("positive")
}

/// A fresh authenticator with the vectors' node key and an empty key store.
pub fn authenticator() -> Authenticator {
    let seed: [u8; 32] = hex::decode(vectors()["node"]["seed"].as_str().expect("seed"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    Authenticator::new(
        NodeIdentity::from_seed(seed),
        b"test jwt secret of enough length",
        AuthConfig::default(),
        Arc::new(MemoryKeyStore::new()),
    )
}

/// The login body of vector `name`.
pub fn body(name: &str) -> Value {
    case(name)["body"].clone()
}

/// Vector `name` of any wallet.
pub fn case(name: &str) -> Value {
    let vectors = vectors();
    ["near", "eth"]
        .iter()
        .flat_map(|wallet| vectors[*wallet].as_array().expect("array").clone())
        .find(|case| case["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// Parses a login body.
pub fn parse(body: &Value) -> AddPublicKeyRequest {
    serde_json::from_value(body.clone()).expect("login body parses")
}

/// Every login vector's name.
pub fn login_names() -> Vec<String> {
    let vectors = vectors();
    ["near", "eth"]
        .iter()
        .flat_map(|wallet| vectors[*wallet].as_array().expect("array").clone())
        .map(|case| case["name"].as_str().expect("name").to_owned())
        .collect()
}
