//! node-primitives ids: base58 `FromStr` and the serde string form, for all
//! five id types (they share one decoder, so they must agree).
//!
//! Properties: no panic; a parsed id prints back as exactly the input text
//! (base58 is a bijection, so there is one text per id); the five types
//! accept and refuse the same texts with the same error; JSON decoding of a
//! string agrees with `FromStr` of its content and round-trips.

#![no_main]

use std::fmt::Debug;
use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use node_primitives::{ApplicationId, BlobId, ContextId, Hash, ID_LEN, ParseIdError, PublicKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Parses `text` as `T`; checks the text round trip and the error's display.
fn parse<T>(text: &str, to_bytes: fn(&T) -> [u8; ID_LEN]) -> Result<[u8; ID_LEN], ParseIdError>
where
    T: FromStr<Err = ParseIdError> + ToString + Debug,
{
    match text.parse::<T>() {
        Ok(id) => {
            assert_eq!(
                id.to_string(),
                text,
                "an id prints as the text it parsed from"
            );
            let _ = format!("{id:?}");
            Ok(to_bytes(&id))
        }
        Err(err) => {
            let _ = err.to_string();
            match &err {
                ParseIdError::Empty => assert!(text.is_empty()),
                ParseIdError::TooShort { actual } => assert!(*actual < ID_LEN),
                ParseIdError::TooLong | ParseIdError::InvalidCharacter { .. } => {}
            }
            if text.is_empty() {
                assert_eq!(err, ParseIdError::Empty);
            } else if text.len() > 44 {
                assert_eq!(err, ParseIdError::TooLong);
            }
            Err(err)
        }
    }
}

/// JSON of `T`: agrees with `FromStr` on a JSON string, and round-trips.
fn json<T>(bytes: &[u8])
where
    T: FromStr<Err = ParseIdError> + Serialize + DeserializeOwned + PartialEq + Debug,
{
    let decoded = fuzz::roundtrip::<T>(bytes);
    if let Ok(serde_json::Value::String(text)) = serde_json::from_slice::<serde_json::Value>(bytes)
    {
        assert_eq!(
            decoded.is_some(),
            text.parse::<T>().is_ok(),
            "JSON and FromStr of {text:?} disagree"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let results = [
        parse::<Hash>(&text, |id| id.to_bytes()),
        parse::<ContextId>(&text, |id| id.to_bytes()),
        parse::<ApplicationId>(&text, |id| id.to_bytes()),
        parse::<BlobId>(&text, |id| id.to_bytes()),
        parse::<PublicKey>(&text, |id| id.to_bytes()),
    ];
    assert!(
        results.iter().all(|result| *result == results[0]),
        "the id types disagree on {text:?}: {results:?}"
    );
    if let Ok(bytes) = results[0] {
        assert_eq!(Hash::from_bytes(bytes).to_string(), text);
    }

    json::<Hash>(data);
    json::<ContextId>(data);
    json::<PublicKey>(data);
});
