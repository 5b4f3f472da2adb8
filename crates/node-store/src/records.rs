//! The records the store keeps, and a commit of one context's call.

use std::collections::{BTreeMap, BTreeSet};

use node_primitives::{ApplicationId, BlobId, ContextId, Hash, PublicKey};
use serde::{Deserialize, Serialize};

/// An installed application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationRecord {
    /// Its id.
    pub id: ApplicationId,
    /// The blob holding its wasm bytes.
    pub blob: BlobId,
    /// Size of the wasm bytes.
    pub size: u64,
    /// Where the bytes came from.
    pub source: String,
    /// Opaque bytes given at install.
    pub metadata: Vec<u8>,
    /// When it was installed, Unix milliseconds.
    pub installed_at: u64,
}

/// A context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRecord {
    /// Its id.
    pub id: ContextId,
    /// The application it runs.
    pub application_id: ApplicationId,
    /// The state root the application committed last (zero: uninitialised).
    pub root_hash: Hash,
    /// Hash of the last committed transaction.
    pub last_transaction_hash: Hash,
    /// Sequence number of the last event record (0: none yet).
    pub last_seq: u64,
    /// The last `time_now` value the context saw, nanoseconds.
    pub last_time_ns: u64,
    /// When it was created, Unix milliseconds.
    pub created_at: u64,
    /// Public keys of the context's members, first the creator.
    #[serde(default)]
    pub members: Vec<PublicKey>,
    /// When each member joined, Unix milliseconds (contexts stored before
    /// this was kept have none: their members joined at `created_at`).
    #[serde(default)]
    pub joined_at: BTreeMap<PublicKey, u64>,
    /// Bytes of the context's stored event records.
    #[serde(default)]
    pub event_bytes: u64,
    /// The height of each member's last replication delta: a member's
    /// deltas are numbered 1, 2, … in the order it made them.
    #[serde(default)]
    pub heads: BTreeMap<PublicKey, u64>,
    /// Members whose calls run on other nodes (their deltas arrive from
    /// there): this node never writes as them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub remote: BTreeSet<PublicKey>,
    /// What makes the context shareable with other nodes, and with whom it
    /// is shared (`None`: a context made before contexts could be shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharing: Option<Sharing>,
}

/// A context's proofs of who may write it, as the replication layer encodes
/// them (opaque here), and the peers it is shared with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharing {
    /// The creator's certificate, signed by the context's own key.
    pub genesis: String,
    /// Signed invitations: each admits one member, signed by a member.
    #[serde(default)]
    pub invitations: Vec<String>,
    /// Addresses of peers that share it (dialled after a restart).
    #[serde(default)]
    pub peers: Vec<String>,
}

impl ContextRecord {
    /// When `member` joined, Unix milliseconds.
    #[must_use]
    pub fn joined_at(&self, member: &PublicKey) -> u64 {
        self.joined_at
            .get(member)
            .copied()
            .unwrap_or(self.created_at)
    }
}

/// What a committed call published, stored per context under its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Per-context sequence number, from 1.
    pub seq: u64,
    /// The transaction that produced it.
    pub transaction_hash: Hash,
    /// The state root after it.
    pub root_hash: Hash,
    /// Events the application emitted: `(kind, data)`.
    pub events: Vec<(String, Vec<u8>)>,
}

/// One replication delta: the artifact a member's call committed, with the
/// member and the call's place among that member's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The member whose call made it.
    pub author: PublicKey,
    /// Its place among the author's deltas, from 1.
    pub height: u64,
    /// The application's artifact (opaque to the node).
    pub artifact: Vec<u8>,
    /// The events the author's call emitted (kind, data), so that every
    /// node's subscribers see them.
    pub events: Vec<(String, Vec<u8>)>,
    /// Who vouches for it and how, as the replication layer encodes it
    /// (empty: made here, signed when served).
    pub proof: Vec<u8>,
}

/// Set in a stored row's length word when a proof follows the artifact.
const PROOF_FLAG: u64 = 1 << 63;

impl Delta {
    /// The stored row: the artifact's length (u64 BE, top bit set when a
    /// proof follows), the artifact, the proof's length (u16 BE) and the
    /// proof when there is one, then the events as JSON.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let events = serde_json::to_vec(&self.events).expect("events serialize");
        let mut row =
            Vec::with_capacity(10 + self.artifact.len() + self.proof.len() + events.len());
        let flag = if self.proof.is_empty() { 0 } else { PROOF_FLAG };
        row.extend_from_slice(&(self.artifact.len() as u64 | flag).to_be_bytes());
        row.extend_from_slice(&self.artifact);
        if !self.proof.is_empty() {
            let length = u16::try_from(self.proof.len()).expect("a proof is under 64 KiB");
            row.extend_from_slice(&length.to_be_bytes());
            row.extend_from_slice(&self.proof);
        }
        row.extend_from_slice(&events);
        row
    }

    /// The delta of a stored row.
    pub(crate) fn decode(author: PublicKey, height: u64, row: &[u8]) -> Option<Self> {
        let (word, rest) = row.split_first_chunk::<8>()?;
        let word = u64::from_be_bytes(*word);
        let length = usize::try_from(word & !PROOF_FLAG).ok()?;
        if rest.len() < length {
            return None;
        }
        let (artifact, mut rest) = rest.split_at(length);
        let mut proof = Vec::new();
        if word & PROOF_FLAG != 0 {
            let (proof_length, after) = rest.split_first_chunk::<2>()?;
            let proof_length = usize::from(u16::from_be_bytes(*proof_length));
            if after.len() < proof_length {
                return None;
            }
            let (stored, after) = after.split_at(proof_length);
            proof = stored.to_vec();
            rest = after;
        }
        Some(Self {
            author,
            height,
            artifact: artifact.to_vec(),
            events: serde_json::from_slice(rest).ok()?,
            proof,
        })
    }
}

/// Everything one successful call changes, applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextCommit {
    /// The context's record after the call.
    pub context: ContextRecord,
    /// The `last_seq` the stored record must have for this commit to apply
    /// (the call ran over the state that record describes). The commit then
    /// sets only what a call changes (root, transaction hash, sequence
    /// number, clock, delta heads) on the stored record, keeping its
    /// members and accounting. `None`: `context` replaces the record as is.
    pub prior_seq: Option<u64>,
    /// State writes: `Some(value)` sets, `None` removes.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The call's event record, if it publishes one.
    pub event: Option<EventRecord>,
    /// How much of the context's history to keep.
    pub retention: Retention,
    /// The call's replication delta.
    pub delta: Option<Delta>,
    /// Blobs the call wrote (`Some(bytes)`: stored) or read (`None`): each
    /// referenced by the context until it is deleted.
    pub blobs: Vec<(BlobId, Option<Vec<u8>>)>,
    /// Secret keys of members this node holds, kept until the context is deleted.
    pub member_secrets: Vec<(PublicKey, [u8; 32])>,
}

/// How much history each context keeps; the oldest goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Event records kept (for subscribers that resume).
    pub events: u64,
    /// Bytes of event records kept; the newest record is kept whatever its size.
    pub event_bytes: u64,
    /// Replication deltas kept per member of a context (the newest).
    pub deltas: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            events: 1_000,
            event_bytes: 16 * 1024 * 1024,
            deltas: 1_000,
        }
    }
}
