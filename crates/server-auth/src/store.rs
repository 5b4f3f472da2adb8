//! Where auth state lives: the [`KeyStore`] trait over four small tables.
//!
//! Root keys, client keys, used challenges and live refresh tokens are kept in
//! tables of their own, keyed by text, so that authenticating a request is
//! one indexed read (its client key) and never decodes the whole state. Rows
//! of the two expiring tables carry their expiry and are pruned by it. Every
//! change is one atomic write ([`KeyStore::write`]), which makes "verify,
//! then consume the challenge and compare-and-set the root key" one step.
//!
//! The stores keep bytes; what a row means is [`crate::records`]' business.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Mutex, PoisonError};

use crate::AuthError;

/// The tables of auth state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Wallet key → root key record.
    RootKeys,
    /// Client key (base58) → client key record.
    ClientKeys,
    /// Challenge nonce → nothing; expires with the challenge.
    UsedChallenges,
    /// Refresh token id → nothing; expires with the token.
    RefreshTokens,
}

impl Table {
    /// Every table.
    pub const ALL: [Self; 4] = [
        Self::RootKeys,
        Self::ClientKeys,
        Self::UsedChallenges,
        Self::RefreshTokens,
    ];
}

/// Reads and writes inside one atomic [`KeyStore::write`].
pub trait KeyWrite {
    /// The row `key` of `table`.
    ///
    /// # Errors
    /// When the store fails.
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, AuthError>;

    /// Every row of `table`, in key order.
    ///
    /// # Errors
    /// When the store fails.
    fn list(&mut self, table: Table) -> Result<Vec<(String, Vec<u8>)>, AuthError>;

    /// Inserts or replaces a row; with `expires` (Unix s) the row is removed by
    /// the first [`KeyWrite::prune`] at or after that time.
    ///
    /// # Errors
    /// When the store fails.
    fn insert(
        &mut self,
        table: Table,
        key: &str,
        value: &[u8],
        expires: Option<u64>,
    ) -> Result<(), AuthError>;

    /// Removes a row; whether it was there.
    ///
    /// # Errors
    /// When the store fails.
    fn remove(&mut self, table: Table, key: &str) -> Result<bool, AuthError>;

    /// Removes every row of `table`.
    ///
    /// # Errors
    /// When the store fails.
    fn clear(&mut self, table: Table) -> Result<(), AuthError>;

    /// Removes the rows that expired before `now_secs`.
    ///
    /// # Errors
    /// When the store fails.
    fn prune(&mut self, now_secs: u64) -> Result<(), AuthError>;
}

/// Persistence of auth state.
pub trait KeyStore: Send + Sync + Debug {
    /// The row `key` of `table`, from a consistent snapshot.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, AuthError>;

    /// Every row of `table`, in key order.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, AuthError>;

    /// Runs `change` in one transaction, atomic with respect to every other
    /// `write`. When `change` fails, nothing is saved.
    ///
    /// # Errors
    /// `change`'s error, or the store's.
    fn write(
        &self,
        change: &mut dyn FnMut(&mut dyn KeyWrite) -> Result<(), AuthError>,
    ) -> Result<(), AuthError>;
}

/// The tables in memory: rows, and `(expiry, table, key)` for pruning.
#[derive(Debug, Clone, Default)]
struct Tables {
    rows: BTreeMap<(Table, String), Vec<u8>>,
    expiry: BTreeMap<(u64, Table, String), ()>,
}

impl KeyWrite for Tables {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, AuthError> {
        Ok(self.rows.get(&(table, key.to_owned())).cloned())
    }

    fn list(&mut self, table: Table) -> Result<Vec<(String, Vec<u8>)>, AuthError> {
        Ok(self
            .rows
            .range((table, String::new())..)
            .take_while(|((row_table, _), _)| *row_table == table)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }

    fn insert(
        &mut self,
        table: Table,
        key: &str,
        value: &[u8],
        expires: Option<u64>,
    ) -> Result<(), AuthError> {
        self.rows.insert((table, key.to_owned()), value.to_vec());
        if let Some(expires) = expires {
            self.expiry.insert((expires, table, key.to_owned()), ());
        }
        Ok(())
    }

    fn remove(&mut self, table: Table, key: &str) -> Result<bool, AuthError> {
        Ok(self.rows.remove(&(table, key.to_owned())).is_some())
    }

    fn clear(&mut self, table: Table) -> Result<(), AuthError> {
        self.rows.retain(|(row_table, _), _| *row_table != table);
        Ok(())
    }

    fn prune(&mut self, now_secs: u64) -> Result<(), AuthError> {
        while let Some(entry) = self.expiry.first_entry() {
            let (expires, table, key) = entry.key().clone();
            if expires >= now_secs {
                break;
            }
            entry.remove();
            self.rows.remove(&(table, key));
        }
        Ok(())
    }
}

/// A [`KeyStore`] in memory (tests, and nodes that keep no keys on disk).
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    tables: Mutex<Tables>,
}

impl MemoryKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many rows `table` holds (pruning is observable in tests).
    #[must_use]
    pub fn len(&self, table: Table) -> usize {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .rows
            .keys()
            .filter(|(row_table, _)| *row_table == table)
            .count()
    }

    /// Whether every table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        Table::ALL.iter().all(|table| self.len(*table) == 0)
    }
}

impl KeyStore for MemoryKeyStore {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, AuthError> {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(table, key)
    }

    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, AuthError> {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .list(table)
    }

    fn write(
        &self,
        change: &mut dyn FnMut(&mut dyn KeyWrite) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let mut guard = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = guard.clone();
        change(&mut next)?;
        *guard = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_rows_are_pruned_and_others_kept() {
        let store = MemoryKeyStore::new();
        store
            .write(&mut |tables| {
                tables.insert(Table::UsedChallenges, "old", b"", Some(10))?;
                tables.insert(Table::UsedChallenges, "new", b"", Some(30))?;
                tables.insert(Table::ClientKeys, "key", b"k", None)
            })
            .expect("written");
        store.write(&mut |tables| tables.prune(20)).expect("pruned");
        assert_eq!(store.get(Table::UsedChallenges, "old"), Ok(None));
        assert_eq!(
            store.get(Table::UsedChallenges, "new"),
            Ok(Some(Vec::new()))
        );
        assert_eq!(store.list(Table::ClientKeys).map(|rows| rows.len()), Ok(1));
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let store = MemoryKeyStore::new();
        let result = store.write(&mut |tables| {
            tables.insert(Table::RootKeys, "a", b"1", None)?;
            Err(AuthError::NotRootKey)
        });
        assert_eq!(result, Err(AuthError::NotRootKey));
        assert!(store.is_empty());
    }
}
