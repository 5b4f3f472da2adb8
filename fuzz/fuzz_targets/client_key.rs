//! `server_auth::ClientPublicKey::parse`: base58 of a libp2p protobuf
//! ed25519 public key (the `signing_key` header and the login's client key).
//!
//! Input: byte 0 says how long the key text is; then the text, then a
//! 64-byte signature and the signed message for `verify`.
//!
//! Properties: no panic; a parsed key encodes as exactly the text it came
//! from (base58 is a bijection) and parses again to the same key; a
//! signature by the vectors' client key `0x03` over the message verifies
//! under the parsed key exactly when the parsed key is that key.

#![no_main]

use ed25519_dalek::Signer;
use fuzz::Reader;
use libfuzzer_sys::fuzz_target;
use server_auth::ClientPublicKey;

fuzz_target!(|data: &[u8]| {
    let mut input = Reader::new(data);
    let key_text = String::from_utf8_lossy(input.piece()).into_owned();
    let mut signature = [0u8; 64];
    let given = input.bytes(64);
    signature[..given.len()].copy_from_slice(given);
    let message = input.rest();

    let Ok(key) = ClientPublicKey::parse(&key_text) else {
        return;
    };
    let _ = format!("{key:?}");
    let encoded = key.encode();
    assert_eq!(
        encoded, key_text,
        "a client key encodes as the text it came from"
    );
    assert_eq!(ClientPublicKey::parse(&encoded).as_ref(), Ok(&key));
    let _ = key.verify(message, &signature);

    let known = fuzz::ed25519_key(fuzz::UNBOUND_CLIENT_SEED);
    let honest = known.sign(message).to_bytes();
    let is_known = key.to_bytes() == known.verifying_key().to_bytes();
    assert_eq!(key.verify(message, &honest), is_known);
});
