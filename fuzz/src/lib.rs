//! Helpers shared by the fuzz targets in `fuzz_targets/`: a byte reader
//! for structured inputs, header-line splitting, serde round trips, JSON
//! comparison that allows for float precision, and the fixed keys, secret and
//! clock of the auth targets (the seeds of `crates/server-auth/tests/vectors`).
//!
//! Nothing here touches the network or the disk.

use std::fmt::Debug;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use node_primitives::ContextId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use server_auth::{
    AuthConfig, Authenticator, ClientKeyRecord, KeyStore, MemoryKeyStore, NodeIdentity, Table,
};
use server_primitives::auth::{ClientKey, WalletType};
use sha2::Sha256;

/// The known-answer vectors' timestamp, Unix seconds.
pub const VECTOR_SECS: u64 = 1_721_300_000;
/// "Now" of every auth target: ten seconds after the vectors' challenges.
pub const NOW_SECS: u64 = VECTOR_SECS + 10;
/// [`NOW_SECS`] in milliseconds, as the authenticator takes it.
pub const NOW_MS: u64 = NOW_SECS * 1000;
/// The vectors' node seed (`node.seed` of `wallets.json`).
pub const NODE_SEED: [u8; 32] = [0x01; 32];
/// The JWT secret of every auth target.
pub const JWT_SECRET: &[u8] = b"fuzz jwt secret of enough length";
/// Seed of the registered client key that is bound to no context.
pub const UNBOUND_CLIENT_SEED: u8 = 0x03;
/// Seed of the registered client key that is bound to [`bound_context`].
pub const BOUND_CLIENT_SEED: u8 = 0x05;
/// Seed of the NEAR wallet of the vectors.
pub const NEAR_WALLET_SEED: u8 = 0x02;
/// Seed of the MetaMask key of the vectors.
pub const ETH_WALLET_SEED: u8 = 0x04;

/// The context the vectors bind client key `0x05` to.
///
/// # Panics
/// Never: the text is a valid id.
#[must_use]
pub fn bound_context() -> ContextId {
    "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi"
        .parse()
        .expect("a valid context id")
}

/// Reads fixed-size pieces off the front of a fuzz input; every read is
/// total (zeros once the input runs out), so targets never reject an input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        let data: &'a [u8] = self.data;
        match data.split_first() {
            Some((&byte, rest)) => {
                self.data = rest;
                byte
            }
            None => 0,
        }
    }

    /// The next byte as a bool (lowest bit).
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// The next two bytes as a little-endian i16, widened.
    pub fn i16(&mut self) -> i64 {
        i64::from(i16::from_le_bytes([self.u8(), self.u8()]))
    }

    /// The next eight bytes as a little-endian u64.
    pub fn u64(&mut self) -> u64 {
        let mut word = [0u8; 8];
        for byte in &mut word {
            *byte = self.u8();
        }
        u64::from_le_bytes(word)
    }

    /// The next 32 bytes (zero-padded).
    pub fn array32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for byte in &mut out {
            *byte = self.u8();
        }
        out
    }

    /// Up to `n` next bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let data: &'a [u8] = self.data;
        let (head, tail) = data.split_at(n.min(data.len()));
        self.data = tail;
        head
    }

    /// A length-prefixed (one byte) piece.
    pub fn piece(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.bytes(n)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Splits `data` into header pairs: one `name:value` per `\n`-separated
/// line. A line without `:` or whose name is not UTF-8 is skipped; values
/// are raw bytes (they cannot hold `\n`, as real header values cannot).
#[must_use]
pub fn header_pairs(data: &[u8]) -> Vec<(&str, &[u8])> {
    data.split(|&byte| byte == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&byte| byte == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            Some((name, &line[colon + 1..]))
        })
        .collect()
}

/// Borrows owned header pairs the way `authenticate` takes them.
#[must_use]
pub fn borrow_pairs(headers: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect()
}

/// Decodes `bytes` as JSON of `T`; when that works, checks that encoding
/// and decoding again gives the same value. Returns the first decoding.
///
/// # Panics
/// When the round trip changes the value, or a decoded value does not encode.
pub fn roundtrip<T>(bytes: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let first: T = serde_json::from_slice(bytes).ok()?;
    let encoded = serde_json::to_vec(&first).expect("a decoded value encodes");
    let second: T = serde_json::from_slice(&encoded).unwrap_or_else(|err| {
        panic!(
            "{} does not decode its own encoding {:?}: {err}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(
        first,
        second,
        "round trip of {}",
        std::any::type_name::<T>()
    );
    Some(first)
}

/// Whether two JSON values are the same, floats compared to within a few
/// ULPs: serde_json without its `float_roundtrip` feature may parse a float
/// one ULP off, so a float can move slightly through encode → decode.
#[must_use]
pub fn json_equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => {
                    x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
                }
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equivalent(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_equivalent(x, y)))
        }
        _ => a == b,
    }
}

/// The ed25519 key whose seed is 32 × `byte` (client keys, the NEAR wallet).
#[must_use]
pub fn ed25519_key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

/// A client key's registered text: base58 of the libp2p protobuf public key.
#[must_use]
pub fn client_key_text(key: &SigningKey) -> String {
    let mut bytes = vec![0x08, 0x01, 0x12, 0x20];
    bytes.extend_from_slice(key.verifying_key().as_bytes());
    bs58::encode(bytes).into_string()
}

/// The node identity of every auth target.
#[must_use]
pub fn node_identity() -> NodeIdentity {
    NodeIdentity::from_seed(NODE_SEED)
}

/// A fresh in-memory key store holding the two client keys: `0x03` bound
/// to no context (the administrator) and `0x05` bound to [`bound_context`].
///
/// # Panics
/// When the in-memory store refuses the import (it cannot) or the OS has
/// no randomness.
#[must_use]
pub fn key_store_with_clients() -> Arc<MemoryKeyStore> {
    let store = Arc::new(MemoryKeyStore::new());
    let clients = [
        (UNBOUND_CLIENT_SEED, None),
        (BOUND_CLIENT_SEED, Some(bound_context())),
    ]
    .map(|(seed, context_id)| ClientKey {
        wallet: WalletType::Near { network_id: None },
        signing_key: client_key_text(&ed25519_key(seed)),
        created_at: NOW_MS,
        context_id,
    });
    store
        .write(&mut |tables| server_auth::import_keys(tables, &[], &clients, NOW_MS))
        .expect("importing into memory works");
    store
}

/// An authenticator of the vectors' node over `store`, with a fresh replay
/// memory (build one per input so that runs are deterministic).
#[must_use]
pub fn authenticator(store: Arc<MemoryKeyStore>) -> Authenticator {
    Authenticator::new(node_identity(), JWT_SECRET, AuthConfig::default(), store)
}

/// The registration id a client key was stored with, read back from its
/// row (one schema-version byte, then the record's JSON).
#[must_use]
pub fn registration_of(store: &MemoryKeyStore, signing_key: &str) -> Option<String> {
    let row = store.get(Table::ClientKeys, signing_key).ok()??;
    let (_, json) = row.split_first()?;
    let record: ClientKeyRecord = serde_json::from_slice(json).ok()?;
    Some(record.registration)
}

/// An HS256 JWT over exactly these header and claims bytes, signed with
/// `secret` the way `jsonwebtoken` checks it: base64url (no padding) of
/// each part, HMAC-SHA-256 over `header.claims`.
///
/// # Panics
/// Never: HMAC takes keys of any length.
#[must_use]
pub fn hs256_token(secret: &[u8], header: &[u8], claims: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    let signature = mac.finalize().into_bytes();
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The JOSE header `jsonwebtoken` writes for HS256.
pub const HS256_HEADER: &[u8] = br#"{"typ":"JWT","alg":"HS256"}"#;
