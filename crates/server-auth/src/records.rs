//! The rows of the key tables: versioned, typed records.
//!
//! Each row is one schema-version byte followed by the record's JSON. A row of
//! an unknown version is an error, never guessed at.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use server_primitives::auth::{ClientKey, RootKey};

use crate::AuthError;

/// The schema version of the rows written now.
const VERSION: u8 = 1;

/// A registered client key as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKeyRecord {
    /// The key as the wire shows it.
    pub key: ClientKey,
    /// This registration's id: tokens minted under the key name it, so a key
    /// deleted and registered again does not bring its old tokens back.
    pub registration: String,
}

/// Encodes a record as a row.
pub(crate) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, AuthError> {
    let mut row = vec![VERSION];
    serde_json::to_writer(&mut row, record)
        .map_err(|err| AuthError::Internal(format!("encoding a key record: {err}")))?;
    Ok(row)
}

/// Decodes a row.
pub(crate) fn decode<T: DeserializeOwned>(row: &[u8]) -> Result<T, AuthError> {
    match row.split_first() {
        Some((&VERSION, json)) => serde_json::from_slice(json)
            .map_err(|err| AuthError::Store(format!("corrupt key record: {err}"))),
        Some((version, _)) => Err(AuthError::Store(format!(
            "key record of unknown schema version {version}"
        ))),
        None => Err(AuthError::Store("empty key record".into())),
    }
}

/// Decodes every row of a listing.
pub(crate) fn decode_all<T: DeserializeOwned>(
    rows: Vec<(String, Vec<u8>)>,
) -> Result<Vec<T>, AuthError> {
    rows.iter().map(|(_, row)| decode(row)).collect()
}

/// A root key's row.
pub(crate) fn root_row(key: &RootKey) -> Result<Vec<u8>, AuthError> {
    encode(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_unknown_versions_are_refused() {
        let key = RootKey {
            signing_key: "ed25519:abc".into(),
            wallet: server_primitives::auth::WalletType::Eth { chain_id: 1 },
            created_at: 7,
        };
        let row = root_row(&key).expect("encoded");
        assert_eq!(row[0], VERSION);
        assert_eq!(decode::<RootKey>(&row), Ok(key));
        let mut future = row.clone();
        future[0] = 2;
        assert!(decode::<RootKey>(&future).is_err());
        assert!(decode::<RootKey>(&[]).is_err());
        assert!(decode::<RootKey>(&row[..row.len() - 1]).is_err());
    }
}
