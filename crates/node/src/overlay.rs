//! The runtime's view of a context's state: a read snapshot plus the call's
//! own writes, and the node's blob store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use node_primitives::{BlobId, ContextId, Hash};
use node_runtime::{BlobStore, Storage};
use node_store::{ContextRecord, Snapshot, Store};

/// The writes of one call: `Some(value)` sets, `None` removes.
pub(crate) type Writes = Arc<Mutex<BTreeMap<Vec<u8>, Option<Vec<u8>>>>>;

/// A context's call that ran and whose commit is queued but not yet
/// durable: the context's next calls run over its state.
#[derive(Debug)]
pub(crate) struct PendingCommit {
    /// Its sequence number.
    pub seq: u64,
    /// The context's record after it.
    pub record: ContextRecord,
    /// Its state writes.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The blobs it wrote.
    pub blobs: BTreeMap<BlobId, Vec<u8>>,
    /// Whether it committed, once that is known.
    pub committed: Mutex<Option<bool>>,
    /// Signalled when `committed` is known.
    pub decided: Condvar,
}

impl PendingCommit {
    /// Records whether it committed.
    pub fn decide(&self, committed: bool) {
        *self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(committed);
        self.decided.notify_all();
    }

    /// Waits until it is known whether it committed.
    pub fn committed(&self) -> bool {
        let mut committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(committed) = *committed {
                return committed;
            }
            committed = self
                .decided
                .wait(committed)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Snapshot reads, under the context's pending commits (oldest first),
/// under the call's own writes.
pub(crate) struct Overlay {
    pub snapshot: Arc<Snapshot>,
    pub context: ContextId,
    pub pending: Arc<[Arc<PendingCommit>]>,
    pub writes: Writes,
}

impl Overlay {
    fn current(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = writes.get(key) {
            return Ok(value.clone());
        }
        drop(writes);
        if let Some(value) = self
            .pending
            .iter()
            .rev()
            .find_map(|pending| pending.writes.get(key))
        {
            return Ok(value.clone());
        }
        self.snapshot
            .state(&self.context, key)
            .map_err(|err| err.to_string())
    }

    fn put(&self, key: &[u8], value: Option<Vec<u8>>) {
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_vec(), value);
    }
}

impl Storage for Overlay {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.current(key)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let previous = self.current(key)?;
        self.put(key, Some(value.to_vec()));
        Ok(previous)
    }

    fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let previous = self.current(key)?;
        if previous.is_some() {
            self.put(key, None);
        }
        Ok(previous)
    }
}

/// The node's blobs as one call sees them, content-addressed by SHA-256:
/// the blobs the call wrote, kept aside until the call commits (a failed
/// call or a query leaves none behind), over the stored ones. The stored
/// blobs it found are remembered too: a committed call references what it
/// read, so the blob outlives the context that wrote it.
pub(crate) struct CallBlobs {
    pub store: Arc<Store>,
    pub pending: Arc<[Arc<PendingCommit>]>,
    pub written: Mutex<BTreeMap<BlobId, Vec<u8>>>,
    pub read: Mutex<BTreeSet<BlobId>>,
}

impl CallBlobs {
    pub fn new(store: Arc<Store>, pending: Arc<[Arc<PendingCommit>]>) -> Self {
        Self {
            store,
            pending,
            written: Mutex::default(),
            read: Mutex::default(),
        }
    }

    /// The blobs the call wrote (with their bytes) and read (without).
    pub fn take(&self) -> Vec<(BlobId, Option<Vec<u8>>)> {
        let written =
            std::mem::take(&mut *self.written.lock().unwrap_or_else(PoisonError::into_inner));
        let read = std::mem::take(&mut *self.read.lock().unwrap_or_else(PoisonError::into_inner));
        let mut blobs: Vec<(BlobId, Option<Vec<u8>>)> = read
            .into_iter()
            .filter(|id| !written.contains_key(id))
            .map(|id| (id, None))
            .collect();
        blobs.extend(written.into_iter().map(|(id, bytes)| (id, Some(bytes))));
        blobs
    }
}

impl BlobStore for CallBlobs {
    fn put(&self, data: &[u8]) -> Result<[u8; 32], String> {
        let id = BlobId::from_bytes(Hash::digest(data).to_bytes());
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, data.to_vec());
        Ok(id.to_bytes())
    }

    fn get(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
        let id = BlobId::from_bytes(*id);
        if let Some(bytes) = self
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return Ok(Some(bytes.clone()));
        }
        let queued = self
            .pending
            .iter()
            .rev()
            .find_map(|pending| pending.blobs.get(&id).cloned());
        let found = match queued {
            Some(bytes) => Some(bytes),
            None => self
                .store
                .snapshot()
                .and_then(|snapshot| snapshot.blob(&id))
                .map_err(|err| err.to_string())?,
        };
        if found.is_some() {
            self.read
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id);
        }
        Ok(found)
    }
}
