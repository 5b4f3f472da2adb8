//! The table layout. Keys are raw bytes; composite keys concatenate fixed-size
//! parts (ids are 32 bytes, sequence numbers and heights big-endian u64) so
//! that a context's rows are one contiguous, ordered range.

use std::ops::Bound;

use redb::TableDefinition;

/// `blob id → bytes`.
pub(crate) const BLOBS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("blobs");
/// `application id → ApplicationRecord (JSON)`.
pub(crate) const APPLICATIONS: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("applications");
/// `blob id ‖ engine fingerprint (u64 BE) → serialized compiled module`.
pub(crate) const COMPILED: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("compiled");
/// `context id → ContextRecord` (a binary row, `context_row.rs`; rows stored
/// as JSON by earlier versions are still read).
pub(crate) const CONTEXTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("contexts");
/// `context id ‖ key → value`.
pub(crate) const STATE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("state");
/// `context id ‖ seq (u64 BE) → EventRecord (JSON)`.
pub(crate) const EVENTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("events");
/// `context id ‖ author (member key) ‖ height (u64 BE) → replication
/// artifact`: each member's deltas in the order that member made them.
pub(crate) const DELTAS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("author_deltas");
/// The deltas of earlier versions, `context id ‖ height → artifact`, which
/// named no author (and so cannot be replicated); deleted at open.
pub(crate) const LEGACY_DELTAS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("deltas");
/// `context id ‖ blob id → ()`: the blobs a context's calls wrote.
pub(crate) const CONTEXT_BLOBS: TableDefinition<'_, &[u8], ()> =
    TableDefinition::new("context_blobs");
/// `blob id ‖ context id → ()`: the same references, by blob.
pub(crate) const BLOB_CONTEXTS: TableDefinition<'_, &[u8], ()> =
    TableDefinition::new("blob_contexts");
/// `context id ‖ member key → secret`: the member keys this node holds.
pub(crate) const MEMBER_SECRETS: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("member_secrets");
/// `context id → values digest ‖ the transaction it follows` (32 + 32
/// bytes, `values.rs`).
pub(crate) const VALUES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("values_digests");
/// `name → bytes`: node-wide values (identity, secrets, auth state).
pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// `prefix ‖ suffix`.
pub(crate) fn join(prefix: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + suffix.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(suffix);
    key
}

/// The key range of every row of one context: `[id, id + 1)`, or `[id, ∞)`
/// for the all-`0xFF` id.
pub(crate) fn context_range(id: &[u8; 32]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let mut end = id.to_vec();
    let end = loop {
        match end.pop() {
            None => break Bound::Unbounded,
            Some(u8::MAX) => {}
            Some(byte) => {
                end.push(byte + 1);
                break Bound::Excluded(end);
            }
        }
    };
    (Bound::Included(id.to_vec()), end)
}

/// Borrows a range of owned keys as a range of key slices.
pub(crate) fn as_slices(range: &(Bound<Vec<u8>>, Bound<Vec<u8>>)) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        range.0.as_ref().map(Vec::as_slice),
        range.1.as_ref().map(Vec::as_slice),
    )
}
