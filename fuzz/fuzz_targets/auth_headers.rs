//! `server_auth::AuthHeaders::parse`: the five per-request auth headers
//! (`wallet_type`, `signing_key`, `signature`, `challenge`, `context_id`, in
//! any case, `-` for `_`) out of a request's header pairs.
//!
//! Input: `name:value` lines (see `fuzz::header_pairs`); `dicts/headers.dict`
//! holds the names.
//!
//! Properties: no panic; parsed headers, written back in canonical form
//! (JSON wallet type, base58 signature and challenge, base58 context id),
//! parse to the same headers; no auth header at all parses to `None`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use server_auth::AuthHeaders;

/// Whether `name` is one of the five, as the parser matches names.
fn is_auth_header(name: &str) -> bool {
    let canonical = name.to_ascii_lowercase().replace('-', "_");
    [
        "wallet_type",
        "signing_key",
        "signature",
        "challenge",
        "context_id",
    ]
    .contains(&canonical.as_str())
}

fuzz_target!(|data: &[u8]| {
    let pairs = fuzz::header_pairs(data);
    let parsed = AuthHeaders::parse(pairs.iter().copied());
    if !pairs.iter().any(|(name, _)| is_auth_header(name)) {
        assert_eq!(parsed, Ok(None), "no auth header is not an error");
        return;
    }
    let Ok(Some(headers)) = parsed else {
        return;
    };

    let mut canonical: Vec<(String, Vec<u8>)> = vec![
        (
            "wallet_type".to_owned(),
            serde_json::to_vec(&headers.wallet_type).expect("encodes"),
        ),
        (
            "signing_key".to_owned(),
            headers.signing_key.clone().into_bytes(),
        ),
        (
            "signature".to_owned(),
            bs58::encode(headers.signature).into_string().into_bytes(),
        ),
        (
            "challenge".to_owned(),
            bs58::encode(&headers.challenge).into_string().into_bytes(),
        ),
    ];
    if let Some(context_id) = headers.context_id {
        canonical.push(("context_id".to_owned(), context_id.to_string().into_bytes()));
    }
    let again = AuthHeaders::parse(fuzz::borrow_pairs(&canonical).iter().copied());
    assert_eq!(
        again,
        Ok(Some(headers)),
        "canonical headers parse to the same headers"
    );
});
