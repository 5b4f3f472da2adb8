//! The store: open, read snapshots, atomic commits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use node_primitives::{ApplicationId, BlobId, ContextId, Hash, PublicKey};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use std::ops::Bound;

use crate::flush::Flush;
use crate::tables::{
    APPLICATIONS, BLOB_CONTEXTS, BLOBS, COMPILED, CONTEXT_BLOBS, CONTEXTS, DELTAS, EVENTS,
    LEGACY_DELTAS, MEMBER_SECRETS, META, STATE, VALUES, as_slices, context_range, join,
};
use crate::values;
use crate::{
    ApplicationRecord, AuthTable, AuthTxn, ContextCommit, ContextRecord, Delta, EventRecord,
    Retention, StoreError,
};

/// A change of a node-wide value: from the current bytes (if any) to the new ones.
pub type MetaChange<'a, E> = dyn FnMut(Option<&[u8]>) -> Result<Vec<u8>, E> + 'a;

/// The node's database.
#[derive(Debug)]
pub struct Store {
    db: Database,
    /// Auth writes wait here for a durable commit they share.
    flush: Flush,
    /// Context records decoded before, shared by every snapshot.
    decoded: Arc<DecodedContexts>,
}

/// How many decoded context records [`DecodedContexts`] keeps; when full it
/// starts over.
const DECODED_KEPT: usize = 1024;

/// Context records decoded before, each with the bytes it was decoded
/// from. A read that finds the same bytes takes the record without decoding
/// them again (every call reads its context's record); decoding is a
/// function of the bytes alone, so what it takes is never stale.
#[derive(Debug, Default)]
struct DecodedContexts(std::sync::Mutex<Decoded>);

/// Per context, the bytes last decoded and their record.
type Decoded = HashMap<ContextId, (Box<[u8]>, ContextRecord)>;

impl DecodedContexts {
    fn decode(&self, id: &ContextId, bytes: &[u8]) -> Result<ContextRecord, StoreError> {
        if let Some((_, record)) = self.lock().get(id).filter(|(seen, _)| **seen == *bytes) {
            return Ok(record.clone());
        }
        let record = decode_context(bytes)?;
        self.remember(*id, bytes.into(), record.clone());
        Ok(record)
    }

    /// Keeps `record` as what `bytes`, the row of context `id`, decode to.
    fn remember(&self, id: ContextId, bytes: Box<[u8]>, record: ContextRecord) {
        let mut decoded = self.lock();
        if decoded.len() >= DECODED_KEPT {
            decoded.clear();
        }
        decoded.insert(id, (bytes, record));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Decoded> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn encode(record: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(record).expect("records always serialize")
}

/// A context record's row, in either format (`context_row`).
fn decode_context(row: &[u8]) -> Result<ContextRecord, StoreError> {
    ContextRecord::from_row(row).map_err(|reason| StoreError::Corrupt {
        what: "context",
        reason,
    })
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
            MEMBER_SECRETS,
        ] {
            txn.open_table(table)?;
        }
        txn.open_table(CONTEXT_BLOBS)?;
        txn.open_table(BLOB_CONTEXTS)?;
        txn.open_table(META)?;
        txn.delete_table(LEGACY_DELTAS)?;
        sum_values(&txn)?;
        crate::auth::create(&txn)?;
        move_member_secrets(&txn)?;
        count_event_bytes(&txn)?;
        txn.commit()?;
        Ok(Self {
            db,
            flush: Flush::default(),
            decoded: Arc::default(),
        })
    }

    /// A consistent read-only view; never waits for writers.
    ///
    /// # Errors
    /// When the database fails.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            txn: self.db.begin_read()?,
            state: std::sync::OnceLock::new(),
            decoded: self.decoded.clone(),
        })
    }

    fn write(
        &self,
        apply: impl FnOnce(&WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        // Also makes durable the auth writes committed before it: every one
        // counted by now, read once this transaction holds the write lock,
        // so that it covers those that waited for that lock too.
        let covered = self.flush.covered_from_now();
        apply(&txn)?;
        txn.commit()?;
        self.flush.durable(covered);
        Ok(())
    }

    /// Stores an application record, its wasm bytes (as its blob) and its
    /// compiled module, atomically.
    ///
    /// # Errors
    /// When the database fails.
    pub fn put_application(
        &self,
        record: &ApplicationRecord,
        wasm: &[u8],
        fingerprint: u64,
        compiled: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(BLOBS)?
                .insert(record.blob.as_bytes().as_slice(), wasm)?;
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

    /// Removes an application record, and its blob and compiled modules
    /// unless a context's call wrote the same bytes. Refused, in the same
    /// transaction, while a context runs the application, so it cannot race
    /// a context being created.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming how many contexts use it, or the
    /// database's error.
    pub fn delete_application(&self, id: &ApplicationId) -> Result<bool, StoreError> {
        let mut removed = false;
        self.write(|txn| {
            let users = txn
                .open_table(CONTEXTS)?
                .iter()?
                .map(|entry| decode_context(entry?.1.value()))
                .filter(|record| !matches!(record, Ok(record) if record.application_id != *id))
                .collect::<Result<Vec<_>, _>>()?
                .len();
            if users > 0 {
                return Err(StoreError::Conflict(format!(
                    "application {id} is used by {users} context(s); delete them first"
                )));
            }
            let record = txn
                .open_table(APPLICATIONS)?
                .remove(id.as_bytes().as_slice())?
                .map(|value| decode::<ApplicationRecord>("application", value.value()))
                .transpose()?;
            if let Some(record) = record {
                removed = true;
                collect_blob(txn, &record.blob, &application_blobs(txn)?)?;
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// Creates a context with the commit of its `init`, if its application
    /// is still installed, checked in the same transaction.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the application is gone, or the
    /// database's error; then nothing was written.
    pub fn create_context(&self, commit: &ContextCommit) -> Result<(), StoreError> {
        self.write(|txn| {
            let application = commit.context.application_id;
            if txn
                .open_table(APPLICATIONS)?
                .get(application.as_bytes().as_slice())?
                .is_none()
            {
                return Err(StoreError::Conflict(format!(
                    "application {application} was uninstalled"
                )));
            }
            apply(txn, &self.decoded, std::slice::from_ref(commit))?
                .into_iter()
                .collect()
        })
    }

    /// Creates or replaces a context record.
    ///
    /// # Errors
    /// When the database fails.
    pub fn put_context(&self, record: &ContextRecord) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(CONTEXTS)?
                .insert(record.id.as_bytes().as_slice(), record.to_row().as_slice())?;
            Ok(())
        })
    }

    /// Deletes a context with its state, events, deltas and member secrets,
    /// and the blobs only it referenced.
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
            for table in [STATE, EVENTS, DELTAS, MEMBER_SECRETS] {
                txn.open_table(table)?
                    .retain_in::<&[u8], _>(as_slices(&range), |_, _| false)?;
            }
            txn.open_table(VALUES)?.remove(id.as_bytes().as_slice())?;
            let blobs = {
                let table = txn.open_table(CONTEXT_BLOBS)?;
                table
                    .range::<&[u8]>(as_slices(&range))?
                    .map(|entry| {
                        id_at(entry?.0.value(), 32, "blob reference").map(BlobId::from_bytes)
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?
            };
            txn.open_table(CONTEXT_BLOBS)?
                .retain_in::<&[u8], _>(as_slices(&range), |_, ()| false)?;
            let mut blob_contexts = txn.open_table(BLOB_CONTEXTS)?;
            for blob in &blobs {
                blob_contexts.remove(join(blob.as_bytes(), id.as_bytes()).as_slice())?;
            }
            drop(blob_contexts);
            let installed = application_blobs(txn)?;
            for blob in &blobs {
                collect_blob(txn, blob, &installed)?;
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
        self.write(|txn| apply(txn, &self.decoded, commits)?.into_iter().collect())
    }

    /// Commits what of `commits` applies, in order, in one durable
    /// transaction: a commit whose [`ContextCommit::prior_seq`] does not
    /// match the stored record (its predecessor did not commit, or the
    /// context was deleted) is refused alone with [`StoreError::Conflict`],
    /// the others still commit.
    ///
    /// # Errors
    /// When the database fails: then nothing is written.
    pub fn commit_each(
        &self,
        commits: &[ContextCommit],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut results = Vec::new();
        self.write(|txn| {
            results = apply(txn, &self.decoded, commits)?;
            Ok(())
        })?;
        Ok(results)
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

    /// Runs `change` over the auth tables in one transaction, and returns
    /// once it is durable; nothing is written when `change` fails.
    /// Concurrent auth writes (logins) share one fsync, with each other and
    /// with the store's other durable commits: each commits without one,
    /// then waits for a durable commit that began after it (`flush.rs`).
    /// Until then it is visible to readers, and lost if the process dies:
    /// the caller has no answer yet. When that durable commit fails, the
    /// caller gets the error although the change stays visible, and a later
    /// durable commit may still persist it.
    ///
    /// # Errors
    /// `change`'s error, or the database's (converted by `From`).
    pub fn auth_write<E: From<StoreError>>(
        &self,
        change: &mut dyn FnMut(&mut AuthTxn<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut txn = self.db.begin_write().map_err(StoreError::from)?;
        txn.set_durability(Durability::None)
            .map_err(StoreError::from)?;
        change(&mut AuthTxn { txn: &txn })?;
        txn.commit().map_err(StoreError::from)?;
        self.flush.wait(|| self.write(|_| Ok(())))?;
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

/// The 32-byte id at `at` in a composite key.
fn id_at(key: &[u8], at: usize, what: &'static str) -> Result<[u8; 32], StoreError> {
    key.get(at..at + 32)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(StoreError::Corrupt {
            what,
            reason: format!("key of {} bytes", key.len()),
        })
}

/// The first and last keys of the rows `prefix ‖ n (u64 BE)` with
/// `n > after`; none past `u64::MAX`.
fn numbered_after(prefix: &[u8], after: u64) -> Option<(Vec<u8>, Vec<u8>)> {
    let first = after.checked_add(1)?;
    Some((
        join(prefix, &first.to_be_bytes()),
        join(prefix, &u64::MAX.to_be_bytes()),
    ))
}

fn decode_delta(author: PublicKey, height: u64, row: &[u8]) -> Result<Delta, StoreError> {
    Delta::decode(author, height, row).ok_or(StoreError::Corrupt {
        what: "delta",
        reason: format!("a row of {} bytes", row.len()),
    })
}

/// The big-endian u64 at `at` in a composite key.
fn u64_at(key: &[u8], at: usize, what: &'static str) -> Result<u64, StoreError> {
    key.get(at..at + 8)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(StoreError::Corrupt {
            what,
            reason: format!("key of {} bytes", key.len()),
        })
}

/// Writes `commits` in `txn`: state, event records, deltas, blobs and
/// member secrets, then each context's record, pruning history to its
/// retention.
/// Writes `commits` in order; each commit's own result (a refused commit
/// writes nothing).
fn apply(
    txn: &WriteTransaction,
    decoded: &DecodedContexts,
    commits: &[ContextCommit],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut contexts = txn.open_table(CONTEXTS)?;
    let mut state = txn.open_table(STATE)?;
    let mut events = txn.open_table(EVENTS)?;
    let mut deltas = txn.open_table(DELTAS)?;
    let mut blobs = txn.open_table(BLOBS)?;
    let mut context_blobs = txn.open_table(CONTEXT_BLOBS)?;
    let mut blob_contexts = txn.open_table(BLOB_CONTEXTS)?;
    let mut secrets = txn.open_table(MEMBER_SECRETS)?;
    let mut sums = txn.open_table(VALUES)?;
    let mut results = Vec::with_capacity(commits.len());
    for commit in commits {
        let id = commit.context.id.as_bytes();
        let mut context = match commit.prior_seq {
            None => commit.context.clone(),
            Some(prior) => {
                let stored = contexts
                    .get(id.as_slice())?
                    .map(|bytes| decoded.decode(&commit.context.id, bytes.value()))
                    .transpose()?;
                match stored {
                    None => {
                        results.push(Err(StoreError::Conflict(format!(
                            "context {} was deleted",
                            commit.context.id
                        ))));
                        continue;
                    }
                    Some(stored) if stored.last_seq != prior => {
                        results.push(Err(StoreError::Conflict(format!(
                            "context {} is at sequence number {}, not {prior}: the call before this one did not commit",
                            commit.context.id, stored.last_seq
                        ))));
                        continue;
                    }
                    Some(mut stored) => {
                        stored.root_hash = commit.context.root_hash;
                        stored.last_transaction_hash = commit.context.last_transaction_hash;
                        stored.last_seq = commit.context.last_seq;
                        stored.last_time_ns = commit.context.last_time_ns;
                        stored.heads.clone_from(&commit.context.heads);
                        stored
                    }
                }
            }
        };
        {
            let mut sum = values::stored(sums.get(id.as_slice())?.as_ref().map(|row| row.value()))?;
            for (key, value) in &commit.writes {
                let full = join(id, key);
                let old = match value {
                    Some(value) => state.insert(full.as_slice(), value.as_slice())?,
                    None => state.remove(full.as_slice())?,
                };
                if let Some(old) = old {
                    values::account(&mut sum, key, old.value(), true);
                }
                if let Some(value) = value {
                    values::account(&mut sum, key, value, false);
                }
            }
            // With the transaction it is the sum after, which the record
            // names too: a store that a version without sums wrote to (or
            // an older record put back) no longer matches, and is summed
            // again at open.
            let row = values::row(&sum, context.last_transaction_hash.as_bytes());
            sums.insert(id.as_slice(), row.as_slice())?;
        }
        if let Some(event) = &commit.event {
            let record = encode(event);
            events.insert(
                join(id, &event.seq.to_be_bytes()).as_slice(),
                record.as_slice(),
            )?;
            context.event_bytes = context.event_bytes.saturating_add(record.len() as u64);
            prune_events(&mut events, &mut context, event.seq, commit.retention)?;
        }
        if let Some(delta) = &commit.delta {
            let author = join(id, delta.author.as_bytes());
            deltas.insert(
                join(&author, &delta.height.to_be_bytes()).as_slice(),
                delta.encode().as_slice(),
            )?;
            let oldest_kept = delta
                .height
                .saturating_sub(commit.retention.deltas.saturating_sub(1));
            let start = join(&author, &0u64.to_be_bytes());
            let end = join(&author, &oldest_kept.to_be_bytes());
            deltas.retain_in(start.as_slice()..end.as_slice(), |_, _| false)?;
        }
        for (blob, bytes) in &commit.blobs {
            if let Some(bytes) = bytes {
                blobs.insert(blob.as_bytes().as_slice(), bytes.as_slice())?;
            }
            context_blobs.insert(join(id, blob.as_bytes()).as_slice(), ())?;
            blob_contexts.insert(join(blob.as_bytes(), id).as_slice(), ())?;
        }
        for (member, secret) in &commit.member_secrets {
            secrets.insert(join(id, member.as_bytes()).as_slice(), secret.as_slice())?;
        }
        // The next call's snapshot, and the next commit here, read these
        // bytes: they take the record without decoding it.
        let bytes = context.to_row();
        contexts.insert(id.as_slice(), bytes.as_slice())?;
        // Encoding a record is reversed exactly by decoding it
        // (`context_row::tests::a_row_decodes_to_the_record_it_was_encoded_from`).
        decoded.remember(commit.context.id, bytes.into(), context);
        results.push(Ok(()));
    }
    Ok(results)
}

/// Drops a context's oldest event records past `retention`'s count or bytes;
/// the newest (`newest`) always stays.
fn prune_events(
    events: &mut redb::Table<'_, &[u8], &[u8]>,
    context: &mut ContextRecord,
    newest: u64,
    retention: Retention,
) -> Result<(), StoreError> {
    let range = context_range(context.id.as_bytes());
    loop {
        let oldest = events
            .range::<&[u8]>(as_slices(&range))?
            .next()
            .transpose()?
            .map(|(key, value)| (key.value().to_vec(), value.value().len() as u64));
        let Some((key, bytes)) = oldest else {
            return Ok(());
        };
        let seq = u64_at(&key, 32, "event")?;
        let count = newest.saturating_sub(seq) + 1;
        let over_bytes = context.event_bytes > retention.event_bytes && seq < newest;
        if count <= retention.events.max(1) && !over_bytes {
            return Ok(());
        }
        events.remove(key.as_slice())?;
        context.event_bytes = context.event_bytes.saturating_sub(bytes);
    }
}

/// The blobs of the installed applications.
fn application_blobs(
    txn: &WriteTransaction,
) -> Result<std::collections::BTreeSet<BlobId>, StoreError> {
    txn.open_table(APPLICATIONS)?
        .iter()?
        .map(|entry| {
            let record: ApplicationRecord = decode("application", entry?.1.value())?;
            Ok(record.blob)
        })
        .collect()
}

/// Removes a blob (and any module compiled from it) that no context and no
/// application (`installed`) references any more.
fn collect_blob(
    txn: &WriteTransaction,
    blob: &BlobId,
    installed: &std::collections::BTreeSet<BlobId>,
) -> Result<(), StoreError> {
    let prefix = context_range(blob.as_bytes());
    if txn
        .open_table(BLOB_CONTEXTS)?
        .range::<&[u8]>(as_slices(&prefix))?
        .next()
        .is_some()
    {
        return Ok(());
    }
    if installed.contains(blob) {
        return Ok(());
    }
    txn.open_table(BLOBS)?.remove(blob.as_bytes().as_slice())?;
    txn.open_table(COMPILED)?
        .retain_in::<&[u8], _>(as_slices(&prefix), |_, _| false)?;
    Ok(())
}

/// Sets the event-log size of contexts stored before it was kept (they read
/// as 0 while they have records), so retention by bytes holds for them too.
fn count_event_bytes(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut contexts = txn.open_table(CONTEXTS)?;
    let events = txn.open_table(EVENTS)?;
    let uncounted: Vec<ContextRecord> = contexts
        .iter()?
        .map(|entry| decode_context(entry?.1.value()))
        .filter(|record| !matches!(record, Ok(record) if record.event_bytes > 0 || record.last_seq == 0))
        .collect::<Result<_, _>>()?;
    for mut record in uncounted {
        let range = context_range(record.id.as_bytes());
        let mut bytes = 0u64;
        for entry in events.range::<&[u8]>(as_slices(&range))? {
            bytes += entry?.1.value().len() as u64;
        }
        if bytes > 0 {
            record.event_bytes = bytes;
            contexts.insert(record.id.as_bytes().as_slice(), record.to_row().as_slice())?;
        }
    }
    Ok(())
}

/// Computes the values digest of each context that has none, or one that
/// does not follow its last transaction (an earlier version wrote to it);
/// later commits keep it.
fn sum_values(txn: &WriteTransaction) -> Result<(), StoreError> {
    let contexts = txn.open_table(CONTEXTS)?;
    let state = txn.open_table(STATE)?;
    let mut sums = txn.open_table(VALUES)?;
    let records: Vec<ContextRecord> = contexts
        .iter()?
        .map(|entry| decode_context(entry?.1.value()))
        .collect::<Result<_, _>>()?;
    for record in records {
        let id = record.id.as_bytes();
        let transaction = record.last_transaction_hash.as_bytes();
        if let Some(row) = sums.get(id.as_slice())?
            && values::covers(row.value(), transaction)
        {
            continue;
        }
        let mut sum = [0; 32];
        for entry in state.range::<&[u8]>(as_slices(&context_range(id)))? {
            let (key, value) = entry?;
            values::account(&mut sum, &key.value()[32..], value.value(), false);
        }
        sums.insert(id.as_slice(), values::row(&sum, transaction).as_slice())?;
    }
    Ok(())
}

/// Moves member secrets kept as node-wide values (`member-secret/{context}/{member}`)
/// by earlier versions into their table; those of deleted contexts are dropped.
fn move_member_secrets(txn: &WriteTransaction) -> Result<(), StoreError> {
    const PREFIX: &str = "member-secret/";
    let mut meta = txn.open_table(META)?;
    let old: Vec<(String, Vec<u8>)> = meta
        .range(PREFIX..)?
        .map(|entry| entry.map(|(key, value)| (key.value().to_owned(), value.value().to_vec())))
        .take_while(|entry| {
            entry
                .as_ref()
                .map_or(true, |(key, _)| key.starts_with(PREFIX))
        })
        .collect::<Result<_, _>>()?;
    let contexts = txn.open_table(CONTEXTS)?;
    let mut secrets = txn.open_table(MEMBER_SECRETS)?;
    for (name, secret) in old {
        meta.remove(name.as_str())?;
        let mut parts = name[PREFIX.len()..].split('/');
        let (Some(context), Some(member), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(context), Ok(member)) = (context.parse::<ContextId>(), member.parse::<PublicKey>())
        else {
            continue;
        };
        if secret.len() == 32 && contexts.get(context.as_bytes().as_slice())?.is_some() {
            secrets.insert(
                join(context.as_bytes(), member.as_bytes()).as_slice(),
                secret.as_slice(),
            )?;
        }
    }
    Ok(())
}

/// A consistent read-only view of the store.
#[derive(Debug)]
pub struct Snapshot {
    txn: ReadTransaction,
    /// The state table, opened by the first state read (a call reads
    /// many keys).
    state: std::sync::OnceLock<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
    decoded: Arc<DecodedContexts>,
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
            .map(|value| self.decoded.decode(id, value.value()))
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
            .map(|entry| decode_context(entry?.1.value()))
            .collect()
    }

    /// A state value of a context.
    ///
    /// # Errors
    /// When the database fails.
    pub fn state(&self, context: &ContextId, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let table = match self.state.get() {
            Some(table) => table,
            None => {
                let opened = self.txn.open_table(STATE)?;
                self.state.get_or_init(|| opened)
            }
        };
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

    /// A context's values digest (`values.rs`): one row, kept by every
    /// commit. Two copies with the same digest hold the same records, but
    /// for calimero-storage's index, whatever their roots say.
    ///
    /// # Errors
    /// When the database fails.
    pub fn values_digest(&self, context: &ContextId) -> Result<Hash, StoreError> {
        let table = self.txn.open_table(VALUES)?;
        let sum = table.get(context.as_bytes().as_slice())?;
        Ok(Hash::from_bytes(values::stored(
            sum.as_ref().map(|row| row.value()),
        )?))
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
        let Some((start, end)) = numbered_after(context.as_bytes(), after) else {
            return Ok(Vec::new());
        };
        table
            .range::<&[u8]>((
                Bound::Included(start.as_slice()),
                Bound::Included(end.as_slice()),
            ))?
            .take(limit)
            .map(|entry| decode("event", entry?.1.value()))
            .collect()
    }

    /// The delta `author` made at `height` in a context.
    ///
    /// # Errors
    /// When the database fails.
    pub fn delta(
        &self,
        context: &ContextId,
        author: &PublicKey,
        height: u64,
    ) -> Result<Option<Delta>, StoreError> {
        let table = self.txn.open_table(DELTAS)?;
        let key = join(
            &join(context.as_bytes(), author.as_bytes()),
            &height.to_be_bytes(),
        );
        table
            .get(key.as_slice())?
            .map(|value| decode_delta(*author, height, value.value()))
            .transpose()
    }

    /// `author`'s stored deltas in a context after height `after`, in
    /// height order: at most `limit` of them, and no more stored bytes than
    /// `budget` (the first is returned whatever its size). Reading stops at
    /// the first row past the budget.
    ///
    /// # Errors
    /// When the database fails.
    pub fn deltas_after(
        &self,
        context: &ContextId,
        author: &PublicKey,
        after: u64,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<Delta>, StoreError> {
        let table = self.txn.open_table(DELTAS)?;
        let prefix = join(context.as_bytes(), author.as_bytes());
        let Some((start, end)) = numbered_after(&prefix, after) else {
            return Ok(Vec::new());
        };
        let mut deltas = Vec::new();
        let mut bytes = 0;
        for entry in table
            .range::<&[u8]>((
                Bound::Included(start.as_slice()),
                Bound::Included(end.as_slice()),
            ))?
            .take(limit)
        {
            let (key, value) = entry?;
            bytes += value.value().len();
            if !deltas.is_empty() && bytes > budget {
                break;
            }
            deltas.push(decode_delta(
                *author,
                u64_at(key.value(), 64, "delta")?,
                value.value(),
            )?);
        }
        Ok(deltas)
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

    /// The secret key of `member` of a context, if this node holds it.
    ///
    /// # Errors
    /// When the database fails.
    pub fn member_secret(
        &self,
        context: &ContextId,
        member: &PublicKey,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(MEMBER_SECRETS)?;
        let key = join(context.as_bytes(), member.as_bytes());
        Ok(table
            .get(key.as_slice())?
            .map(|value| value.value().to_vec()))
    }

    /// Number of blobs stored.
    ///
    /// # Errors
    /// When the database fails.
    pub fn blob_count(&self) -> Result<u64, StoreError> {
        Ok(self.txn.open_table(BLOBS)?.len()?)
    }
}

#[cfg(test)]
mod tests {
    use node_primitives::{ContextId, Hash};

    use super::*;

    /// A context record after `transaction` commits.
    fn record(id: ContextId, transaction: u8) -> ContextRecord {
        ContextRecord {
            id,
            application_id: ApplicationId::from_bytes([9; 32]),
            root_hash: Hash::ZERO,
            last_transaction_hash: Hash::from_bytes([transaction; 32]),
            last_seq: u64::from(transaction),
            last_time_ns: 0,
            created_at: 1,
            members: vec![],
            joined_at: std::collections::BTreeMap::new(),
            event_bytes: 0,
            heads: std::collections::BTreeMap::new(),
            remote: std::collections::BTreeSet::new(),
            sharing: None,
        }
    }

    /// Every snapshot reads the record it holds, whatever another snapshot
    /// decoded (and [`DecodedContexts`] kept) before or after.
    #[test]
    fn a_snapshot_reads_its_own_context_record_whatever_was_decoded_before() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("node.redb")).expect("open");
        let id = ContextId::from_bytes([1; 32]);
        let put = |bytes: Vec<u8>| {
            store
                .write(|txn| {
                    txn.open_table(CONTEXTS)?
                        .insert(id.as_bytes().as_slice(), bytes.as_slice())?;
                    Ok(())
                })
                .expect("written");
        };
        let seq =
            |snapshot: &Snapshot| snapshot.context(&id).expect("read").expect("held").last_seq;
        put(encode(&record(id, 1)));
        let old = store.snapshot().expect("snapshot");
        assert_eq!(seq(&old), 1);
        // The old rows were JSON, the new ones binary: both read.
        put(record(id, 2).to_row());
        let new = store.snapshot().expect("snapshot");
        assert_eq!(seq(&new), 2);
        assert_eq!(seq(&old), 1);
        assert_eq!(seq(&new), 2);
        put(b"{not a record".to_vec());
        let corrupt = store.snapshot().expect("snapshot");
        assert!(matches!(
            corrupt.context(&id),
            Err(StoreError::Corrupt {
                what: "context",
                ..
            })
        ));
        assert_eq!(seq(&new), 2);
    }

    /// A store written by a version that did not keep values digests (or
    /// kept them before a downgrade) is summed again at open.
    #[test]
    fn a_values_digest_that_does_not_follow_the_record_is_summed_again_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.redb");
        let id = ContextId::from_bytes([1; 32]);
        let record = |transaction: u8| record(id, transaction);
        let digest = |store: &Store| {
            store
                .snapshot()
                .expect("snapshot")
                .values_digest(&id)
                .expect("digest")
        };
        // A commit that only writes state.
        let writing = |context: ContextRecord, writes: &[(&[u8], &[u8])]| ContextCommit {
            context,
            prior_seq: None,
            writes: writes
                .iter()
                .map(|(key, value)| (key.to_vec(), Some(value.to_vec())))
                .collect(),
            event: None,
            retention: Retention::default(),
            delta: None,
            blobs: Vec::new(),
            member_secrets: Vec::new(),
        };
        let store = Store::open(&path).expect("open");
        store
            .commit(&[writing(record(1), &[(b"k", b"v")])])
            .expect("commit");
        let one = digest(&store);
        // What a version without sums does: state and record change, the
        // sum does not.
        store
            .write(|txn| {
                txn.open_table(STATE)?
                    .insert(join(id.as_bytes(), b"k2").as_slice(), b"v2".as_slice())?;
                txn.open_table(CONTEXTS)?
                    .insert(id.as_bytes().as_slice(), encode(&record(2)).as_slice())?;
                Ok(())
            })
            .expect("written");
        assert_eq!(digest(&store), one, "stale until the next open");
        drop(store);
        let store = Store::open(&path).expect("reopen");
        let two = digest(&store);
        assert_ne!(two, one);
        // The same records, summed by commits, give the same digest.
        store
            .commit(&[writing(
                ContextRecord {
                    id: ContextId::from_bytes([2; 32]),
                    ..record(3)
                },
                &[(b"k", b"v"), (b"k2", b"v2")],
            )])
            .expect("commit");
        let other = store
            .snapshot()
            .expect("snapshot")
            .values_digest(&ContextId::from_bytes([2; 32]))
            .expect("digest");
        assert_eq!(two, other);
    }
}
