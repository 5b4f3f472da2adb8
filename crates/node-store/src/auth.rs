//! Tables for the server's auth state: root keys, client keys, used
//! challenges and refresh tokens, each keyed by text, plus an expiry index
//! that prunes the two expiring tables in order of expiry.
//!
//! The rows are opaque bytes here; what they mean (and their schema version)
//! belongs to the auth crate that writes them.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::StoreError;

/// One of the auth tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthTable {
    /// Wallet key → root key.
    RootKeys,
    /// Client key → client key record.
    ClientKeys,
    /// Nonce of a used challenge → nothing (expires).
    UsedChallenges,
    /// Id of a live refresh token → nothing (expires).
    RefreshTokens,
}

const ROOT_KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("auth_root_keys");
const CLIENT_KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("auth_client_keys");
const USED_CHALLENGES: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("auth_used_challenges");
const REFRESH_TOKENS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("auth_refresh_tokens");
/// `expiry (u64 BE) ‖ table tag ‖ key → nothing`.
const EXPIRY: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("auth_expiry");

impl AuthTable {
    const ALL: [Self; 4] = [
        Self::RootKeys,
        Self::ClientKeys,
        Self::UsedChallenges,
        Self::RefreshTokens,
    ];

    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Self::RootKeys => ROOT_KEYS,
            Self::ClientKeys => CLIENT_KEYS,
            Self::UsedChallenges => USED_CHALLENGES,
            Self::RefreshTokens => REFRESH_TOKENS,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Self::RootKeys => 0,
            Self::ClientKeys => 1,
            Self::UsedChallenges => 2,
            Self::RefreshTokens => 3,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|table| table.tag() == tag)
    }
}

/// Creates the auth tables in a new database.
pub(crate) fn create(txn: &WriteTransaction) -> Result<(), StoreError> {
    for table in AuthTable::ALL {
        txn.open_table(table.definition())?;
    }
    txn.open_table(EXPIRY)?;
    Ok(())
}

/// Reads and writes of the auth tables inside one write transaction.
pub struct AuthTxn<'a> {
    pub(crate) txn: &'a WriteTransaction,
}

impl std::fmt::Debug for AuthTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthTxn").finish_non_exhaustive()
    }
}

impl AuthTxn<'_> {
    /// The row `key` of `table`.
    ///
    /// # Errors
    /// When the database fails.
    pub fn get(&mut self, table: AuthTable, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let opened = self.txn.open_table(table.definition())?;
        Ok(opened.get(key)?.map(|value| value.value().to_vec()))
    }

    /// Every row of `table`, in key order.
    ///
    /// # Errors
    /// When the database fails.
    pub fn list(&mut self, table: AuthTable) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        rows(&self.txn.open_table(table.definition())?)
    }

    /// Inserts or replaces a row; with `expires` (Unix s) it is indexed for
    /// [`AuthTxn::prune`].
    ///
    /// # Errors
    /// When the database fails.
    pub fn insert(
        &mut self,
        table: AuthTable,
        key: &str,
        value: &[u8],
        expires: Option<u64>,
    ) -> Result<(), StoreError> {
        self.txn
            .open_table(table.definition())?
            .insert(key, value)?;
        if let Some(expires) = expires {
            let mut index = expires.to_be_bytes().to_vec();
            index.push(table.tag());
            index.extend_from_slice(key.as_bytes());
            self.txn
                .open_table(EXPIRY)?
                .insert(index.as_slice(), [].as_slice())?;
        }
        Ok(())
    }

    /// Removes a row; whether it was there.
    ///
    /// # Errors
    /// When the database fails.
    pub fn remove(&mut self, table: AuthTable, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .txn
            .open_table(table.definition())?
            .remove(key)?
            .is_some())
    }

    /// Removes every row of `table`.
    ///
    /// # Errors
    /// When the database fails.
    pub fn clear(&mut self, table: AuthTable) -> Result<(), StoreError> {
        self.txn
            .open_table(table.definition())?
            .retain(|_, _| false)?;
        Ok(())
    }

    /// Removes a node-wide value and returns it (a one-time migration of
    /// state kept there before these tables existed).
    ///
    /// # Errors
    /// When the database fails.
    pub fn take_meta(&mut self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .txn
            .open_table(crate::tables::META)?
            .remove(name)?
            .map(|value| value.value().to_vec()))
    }

    /// Removes the indexed rows that expired before `now_secs`, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub fn prune(&mut self, now_secs: u64) -> Result<(), StoreError> {
        let end = now_secs.to_be_bytes();
        let mut index = self.txn.open_table(EXPIRY)?;
        let expired: Vec<Vec<u8>> = index
            .range(..end.as_slice())?
            .map(|row| row.map(|(key, _)| key.value().to_vec()))
            .collect::<Result<_, _>>()?;
        for entry in expired {
            index.remove(entry.as_slice())?;
            let (Some(table), Ok(key)) = (
                entry.get(8).copied().and_then(AuthTable::from_tag),
                std::str::from_utf8(entry.get(9..).unwrap_or_default()),
            ) else {
                continue;
            };
            self.txn.open_table(table.definition())?.remove(key)?;
        }
        Ok(())
    }
}

fn rows(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    table
        .iter()?
        .map(|row| {
            let (key, value) = row?;
            Ok((key.value().to_owned(), value.value().to_vec()))
        })
        .collect()
}

/// The row `key` of `table` in a read transaction.
pub(crate) fn get(
    txn: &ReadTransaction,
    table: AuthTable,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let opened = txn.open_table(table.definition())?;
    Ok(opened.get(key)?.map(|value| value.value().to_vec()))
}

/// Every row of `table` in a read transaction.
pub(crate) fn list(
    txn: &ReadTransaction,
    table: AuthTable,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    rows(&txn.open_table(table.definition())?)
}
