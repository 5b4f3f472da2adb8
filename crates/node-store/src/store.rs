//! The store: open, read snapshots, atomic commits.

use std::path::Path;

use node_primitives::{ApplicationId, BlobId, ContextId};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use std::ops::Bound;

use crate::tables::{
    APPLICATIONS, BLOBS, COMPILED, CONTEXTS, DELTAS, EVENTS, META, STATE, as_slices, context_range,
    join,
};
use crate::{
    ApplicationRecord, AuthTable, AuthTxn, ContextCommit, ContextRecord, EventRecord, StoreError,
};

/// A change of a node-wide value: from the current bytes (if any) to the new ones.
pub type MetaChange<'a, E> = dyn FnMut(Option<&[u8]>) -> Result<Vec<u8>, E> + 'a;

/// The node's database.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

fn encode(record: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(record).expect("records always serialize")
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        what,
        reason: err.to_string(),
    })
}

impl Store {
    /// Opens (or creates) the database file at `path` and its tables.
    ///
    /// # Errors
    /// When the file cannot be opened or is not a database.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        for table in [
            BLOBS,
            APPLICATIONS,
            COMPILED,
            CONTEXTS,
            STATE,
            EVENTS,
            DELTAS,
        ] {
            txn.open_table(table)?;
        }
        txn.open_table(META)?;
        crate::auth::create(&txn)?;
        txn.commit()?;
        Ok(Self { db })
    }

    /// A consistent read-only view; never waits for writers.
    ///
    /// # Errors
    /// When the database fails.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            txn: self.db.begin_read()?,
        })
    }

    fn write(
        &self,
        apply: impl FnOnce(&WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        apply(&txn)?;
        txn.commit()?;
        Ok(())
    }

    /// Stores blob bytes under `id` (content-addressed: same id, same bytes).
    ///
    /// # Errors
    /// When the database fails.
    pub fn put_blob(&self, id: &BlobId, bytes: &[u8]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(BLOBS)?
                .insert(id.as_bytes().as_slice(), bytes)?;
            Ok(())
        })
    }

    /// Stores an application record and its compiled module, atomically.
    ///
    /// # Errors
    /// When the database fails.
    pub fn put_application(
        &self,
        record: &ApplicationRecord,
        fingerprint: u64,
        compiled: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(APPLICATIONS)?
                .insert(record.id.as_bytes().as_slice(), encode(record).as_slice())?;
            txn.open_table(COMPILED)?.insert(
                join(record.blob.as_bytes(), &fingerprint.to_be_bytes()).as_slice(),
                compiled,
            )?;
            Ok(())
        })
    }

    /// Stores a compiled module for `blob` under an engine fingerprint.
    ///
    /// # Errors
    /// When the database fails.
    pub fn put_compiled(
        &self,
        blob: &BlobId,
        fingerprint: u64,
        compiled: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(COMPILED)?.insert(
                join(blob.as_bytes(), &fingerprint.to_be_bytes()).as_slice(),
                compiled,
            )?;
            Ok(())
        })
    }

    /// Removes an application record (its blob and compiled module stay
    /// cached). Whether contexts still use it is the caller's check.
    ///
    /// # Errors
    /// When the database fails.
    pub fn delete_application(&self, id: &ApplicationId) -> Result<bool, StoreError> {
        let mut removed = false;
        self.write(|txn| {
            removed = txn
                .open_table(APPLICATIONS)?
                .remove(id.as_bytes().as_slice())?
                .is_some();
            Ok(())
        })?;
        Ok(removed)
    }

    /// Creates or replaces a context record.
    ///
    /// # Errors
    /// When the database fails.
    pub fn put_context(&self, record: &ContextRecord) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(CONTEXTS)?
                .insert(record.id.as_bytes().as_slice(), encode(record).as_slice())?;
            Ok(())
        })
    }

    /// Deletes a context with its state, events and deltas.
    ///
    /// # Errors
    /// When the database fails.
    pub fn delete_context(&self, id: &ContextId) -> Result<bool, StoreError> {
        let mut existed = false;
        self.write(|txn| {
            existed = txn
                .open_table(CONTEXTS)?
                .remove(id.as_bytes().as_slice())?
                .is_some();
            let range = context_range(id.as_bytes());
            for table in [STATE, EVENTS, DELTAS] {
                txn.open_table(table)?
                    .retain_in::<&[u8], _>(as_slices(&range), |_, _| false)?;
            }
            Ok(())
        })?;
        Ok(existed)
    }

    /// Applies every commit in one durable transaction: all or none.
    ///
    /// # Errors
    /// When the database fails; then nothing was written.
    pub fn commit(&self, commits: &[ContextCommit]) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut contexts = txn.open_table(CONTEXTS)?;
            let mut state = txn.open_table(STATE)?;
            let mut events = txn.open_table(EVENTS)?;
            let mut deltas = txn.open_table(DELTAS)?;
            for commit in commits {
                let id = commit.context.id.as_bytes();
                for (key, value) in &commit.writes {
                    let full = join(id, key);
                    match value {
                        Some(value) => state.insert(full.as_slice(), value.as_slice())?,
                        None => state.remove(full.as_slice())?,
                    };
                }
                if let Some(event) = &commit.event {
                    events.insert(
                        join(id, &event.seq.to_be_bytes()).as_slice(),
                        encode(event).as_slice(),
                    )?;
                    let oldest_kept = event
                        .seq
                        .saturating_sub(commit.keep_events.saturating_sub(1));
                    let start = join(id, &0u64.to_be_bytes());
                    let end = join(id, &oldest_kept.to_be_bytes());
                    events.retain_in(start.as_slice()..end.as_slice(), |_, _| false)?;
                }
                if let Some(delta) = &commit.delta {
                    deltas.insert(
                        join(id, &commit.context.delta_height.to_be_bytes()).as_slice(),
                        delta.as_slice(),
                    )?;
                }
                contexts.insert(id.as_slice(), encode(&commit.context).as_slice())?;
            }
            Ok(())
        })
    }

    /// Replaces a node-wide value by `change(current)`, atomically with respect
    /// to every other write. When `change` fails, nothing is written.
    ///
    /// # Errors
    /// `change`'s error, or the database's (converted by `From`).
    pub fn update_meta<E: From<StoreError>>(
        &self,
        name: &str,
        change: &mut MetaChange<'_, E>,
    ) -> Result<(), E> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        {
            let mut table = txn.open_table(META).map_err(StoreError::from)?;
            let current = table
                .get(name)
                .map_err(StoreError::from)?
                .map(|value| value.value().to_vec());
            let next = change(current.as_deref())?;
            table
                .insert(name, next.as_slice())
                .map_err(StoreError::from)?;
        }
        txn.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// Runs `change` over the auth tables in one durable transaction;
    /// nothing is written when it fails.
    ///
    /// # Errors
    /// `change`'s error, or the database's (converted by `From`).
    pub fn auth_write<E: From<StoreError>>(
        &self,
        change: &mut dyn FnMut(&mut AuthTxn<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        change(&mut AuthTxn { txn: &txn })?;
        txn.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// Stores a node-wide value.
    ///
    /// # Errors
    /// When the database fails.
    pub fn put_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(META)?.insert(name, value)?;
            Ok(())
        })
    }
}

/// A consistent read-only view of the store.
#[derive(Debug)]
pub struct Snapshot {
    txn: ReadTransaction,
}

impl Snapshot {
    /// Blob bytes.
    ///
    /// # Errors
    /// When the database fails.
    pub fn blob(&self, id: &BlobId) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(BLOBS)?;
        Ok(table
            .get(id.as_bytes().as_slice())?
            .map(|value| value.value().to_vec()))
    }

    /// An application record.
    ///
    /// # Errors
    /// When the database fails or the record is corrupt.
    pub fn application(&self, id: &ApplicationId) -> Result<Option<ApplicationRecord>, StoreError> {
        let table = self.txn.open_table(APPLICATIONS)?;
        table
            .get(id.as_bytes().as_slice())?
            .map(|value| decode("application", value.value()))
            .transpose()
    }

    /// Every application, in id order.
    ///
    /// # Errors
    /// When the database fails or a record is corrupt.
    pub fn applications(&self) -> Result<Vec<ApplicationRecord>, StoreError> {
        let table = self.txn.open_table(APPLICATIONS)?;
        table
            .iter()?
            .map(|entry| decode("application", entry?.1.value()))
            .collect()
    }

    /// The compiled module of `blob` for an engine fingerprint.
    ///
    /// # Errors
    /// When the database fails.
    pub fn compiled(&self, blob: &BlobId, fingerprint: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(COMPILED)?;
        let key = join(blob.as_bytes(), &fingerprint.to_be_bytes());
        Ok(table
            .get(key.as_slice())?
            .map(|value| value.value().to_vec()))
    }

    /// A context record.
    ///
    /// # Errors
    /// When the database fails or the record is corrupt.
    pub fn context(&self, id: &ContextId) -> Result<Option<ContextRecord>, StoreError> {
        let table = self.txn.open_table(CONTEXTS)?;
        table
            .get(id.as_bytes().as_slice())?
            .map(|value| decode("context", value.value()))
            .transpose()
    }

    /// Every context, in id order.
    ///
    /// # Errors
    /// When the database fails or a record is corrupt.
    pub fn contexts(&self) -> Result<Vec<ContextRecord>, StoreError> {
        let table = self.txn.open_table(CONTEXTS)?;
        table
            .iter()?
            .map(|entry| decode("context", entry?.1.value()))
            .collect()
    }

    /// A state value of a context.
    ///
    /// # Errors
    /// When the database fails.
    pub fn state(&self, context: &ContextId, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(STATE)?;
        let full = join(context.as_bytes(), key);
        Ok(table
            .get(full.as_slice())?
            .map(|value| value.value().to_vec()))
    }

    /// `(keys, bytes of keys and values)` of a context's state.
    ///
    /// # Errors
    /// When the database fails.
    pub fn state_size(&self, context: &ContextId) -> Result<(u64, u64), StoreError> {
        let table = self.txn.open_table(STATE)?;
        let range = context_range(context.as_bytes());
        let mut keys = 0;
        let mut bytes = 0;
        for entry in table.range::<&[u8]>(as_slices(&range))? {
            let (key, value) = entry?;
            keys += 1;
            bytes += (key.value().len() - 32 + value.value().len()) as u64;
        }
        Ok((keys, bytes))
    }

    /// Event records of a context with `seq > after`, in order, at most `limit`.
    ///
    /// # Errors
    /// When the database fails or a record is corrupt.
    pub fn events_after(
        &self,
        context: &ContextId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let table = self.txn.open_table(EVENTS)?;
        if after == u64::MAX {
            return Ok(Vec::new());
        }
        let start = join(context.as_bytes(), &after.saturating_add(1).to_be_bytes());
        let end = join(context.as_bytes(), &u64::MAX.to_be_bytes());
        table
            .range::<&[u8]>((
                Bound::Included(start.as_slice()),
                Bound::Included(end.as_slice()),
            ))?
            .take(limit)
            .map(|entry| decode("event", entry?.1.value()))
            .collect()
    }

    /// The replication artifact of a context at `height`.
    ///
    /// # Errors
    /// When the database fails.
    pub fn delta(&self, context: &ContextId, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(DELTAS)?;
        let key = join(context.as_bytes(), &height.to_be_bytes());
        Ok(table
            .get(key.as_slice())?
            .map(|value| value.value().to_vec()))
    }

    /// A node-wide value.
    ///
    /// # Errors
    /// When the database fails.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(META)?;
        Ok(table.get(name)?.map(|value| value.value().to_vec()))
    }

    /// The row `key` of an auth table.
    ///
    /// # Errors
    /// When the database fails.
    pub fn auth_get(&self, table: AuthTable, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        crate::auth::get(&self.txn, table, key)
    }

    /// Every row of an auth table, in key order.
    ///
    /// # Errors
    /// When the database fails.
    pub fn auth_list(&self, table: AuthTable) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        crate::auth::list(&self.txn, table)
    }

    /// Number of blobs stored.
    ///
    /// # Errors
    /// When the database fails.
    pub fn blob_count(&self) -> Result<u64, StoreError> {
        Ok(self.txn.open_table(BLOBS)?.len()?)
    }
}
