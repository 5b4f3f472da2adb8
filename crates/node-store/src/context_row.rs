//! The stored row of a context record.
//!
//! Every call's commit rewrites its context's record, so the row is binary:
//! little over half the bytes of the JSON it replaced (field names, ids as
//! base58 text), and no text to format or parse. A row starts with a format byte; rows
//! written before the binary format are JSON objects, whose first byte is
//! `{`, and are still read. A context's row becomes binary at its next
//! write; from then on a node of an earlier version refuses the store when
//! it opens it (it reads every context record at open).
//!
//! Format 1, every integer big-endian:
//!
//! | field | bytes |
//! |---|---|
//! | format | `1` |
//! | id, application id, root hash, last transaction hash | 32 each |
//! | last sequence number, last time (ns), created at (ms), event bytes | u64 each |
//! | members | u32 count, then 32 each |
//! | joined at | u32 count, then (member 32, ms u64) each |
//! | heads | u32 count, then (member 32, height u64) each |
//! | remote members | u32 count, then 32 each |
//! | sharing | `0` (none), or `1`, the genesis text, then invitations and peers, each a u32 count of texts |
//!
//! A text is a u32 length, then that many bytes of UTF-8. The members of
//! each map and of the remote set come in strictly increasing order. Nothing
//! follows the last field. A row that breaks any of this is refused, so a
//! row has one reading, and a record one row.

use std::collections::BTreeMap;

use node_primitives::{ApplicationId, ContextId, Hash, PublicKey};

use crate::{ContextRecord, Sharing};

/// The first byte of a row in format 1.
const FORMAT_1: u8 = 1;

/// The first byte of a JSON row (an object).
const JSON: u8 = b'{';

impl ContextRecord {
    /// The row the store keeps for this record (format 1, see
    /// `context_row.rs`).
    #[must_use]
    pub fn to_row(&self) -> Vec<u8> {
        encode(self)
    }

    /// The record of a stored row, in format 1 or the JSON of rows written
    /// before it.
    ///
    /// # Errors
    /// What is wrong with the row.
    pub fn from_row(row: &[u8]) -> Result<Self, String> {
        decode(row)
    }
}

/// The stored row of `record`.
fn encode(record: &ContextRecord) -> Vec<u8> {
    // Every field by name: a field added to the record does not compile
    // here until the row has a place for it.
    let ContextRecord {
        id,
        application_id,
        root_hash,
        last_transaction_hash,
        last_seq,
        last_time_ns,
        created_at,
        members,
        joined_at,
        event_bytes,
        heads,
        remote,
        sharing,
    } = record;
    let mut row = Row(Vec::with_capacity(
        1 + 4 * 32 + 4 * 8 + 4 * 4 + 1 + members.len() * 32 + heads.len() * 40,
    ));
    row.0.push(FORMAT_1);
    row.id(id.as_bytes());
    row.id(application_id.as_bytes());
    row.id(root_hash.as_bytes());
    row.id(last_transaction_hash.as_bytes());
    for number in [*last_seq, *last_time_ns, *created_at, *event_bytes] {
        row.u64(number);
    }
    row.keys(members);
    row.numbered(joined_at);
    row.numbered(heads);
    row.keys(remote);
    match sharing {
        None => row.0.push(0),
        Some(Sharing {
            genesis,
            invitations,
            peers,
        }) => {
            row.0.push(1);
            row.text(genesis);
            row.texts(invitations);
            row.texts(peers);
        }
    }
    row.0
}

/// The record of a stored row, in format 1 or JSON.
///
/// # Errors
/// What is wrong with the row.
fn decode(row: &[u8]) -> Result<ContextRecord, String> {
    match row.first() {
        Some(&FORMAT_1) => {
            let mut fields = Fields(&row[1..]);
            let record = fields
                .record()
                .map_err(|wrong| format!("a row of {} bytes with {wrong}", row.len()))?;
            if fields.0.is_empty() {
                Ok(record)
            } else {
                Err(format!(
                    "{} bytes after the last field of a row of {}",
                    fields.0.len(),
                    row.len()
                ))
            }
        }
        Some(&JSON) => serde_json::from_slice(row).map_err(|err| err.to_string()),
        Some(other) => Err(format!("unknown row format {other}")),
        None => Err("an empty row".into()),
    }
}

/// A row being written.
struct Row(Vec<u8>);

impl Row {
    fn id(&mut self, bytes: &[u8; 32]) {
        self.0.extend_from_slice(bytes);
    }

    fn u64(&mut self, number: u64) {
        self.0.extend_from_slice(&number.to_be_bytes());
    }

    fn count(&mut self, count: usize) {
        let count = u32::try_from(count).expect("a record's lists are far below 2^32 items");
        self.0.extend_from_slice(&count.to_be_bytes());
    }

    fn keys<'a>(
        &mut self,
        keys: impl IntoIterator<Item = &'a PublicKey, IntoIter: ExactSizeIterator>,
    ) {
        let keys = keys.into_iter();
        self.count(keys.len());
        for key in keys {
            self.id(key.as_bytes());
        }
    }

    fn numbered(&mut self, map: &BTreeMap<PublicKey, u64>) {
        self.count(map.len());
        for (key, number) in map {
            self.id(key.as_bytes());
            self.u64(*number);
        }
    }

    fn text(&mut self, text: &str) {
        self.count(text.len());
        self.0.extend_from_slice(text.as_bytes());
    }

    fn texts(&mut self, texts: &[String]) {
        self.count(texts.len());
        for text in texts {
            self.text(text);
        }
    }
}

/// What is wrong with a row's fields.
type Wrong = &'static str;

const TOO_SHORT: Wrong = "too few bytes for its fields";

/// The fields of a row not read yet.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    /// The record, its fields read in the row's order (a struct
    /// expression evaluates its fields in the order they are written).
    fn record(&mut self) -> Result<ContextRecord, Wrong> {
        Ok(ContextRecord {
            id: ContextId::from_bytes(self.id()?),
            application_id: ApplicationId::from_bytes(self.id()?),
            root_hash: Hash::from_bytes(self.id()?),
            last_transaction_hash: Hash::from_bytes(self.id()?),
            last_seq: self.u64()?,
            last_time_ns: self.u64()?,
            created_at: self.u64()?,
            event_bytes: self.u64()?,
            members: (0..self.count(32)?)
                .map(|_| self.id().map(PublicKey::from_bytes))
                .collect::<Result<_, _>>()?,
            joined_at: self.numbered()?,
            heads: self.numbered()?,
            remote: self.ordered(0, |_| Ok(()))?.into_keys().collect(),
            sharing: match self.take(1)? {
                [0] => None,
                [1] => Some(Sharing {
                    genesis: self.text()?,
                    invitations: self.texts()?,
                    peers: self.texts()?,
                }),
                _ => return Err("a sharing tag that is neither 0 nor 1"),
            },
        })
    }

    fn take(&mut self, length: usize) -> Result<&[u8], Wrong> {
        let (taken, rest) = self.0.split_at_checked(length).ok_or(TOO_SHORT)?;
        self.0 = rest;
        Ok(taken)
    }

    fn id(&mut self) -> Result<[u8; 32], Wrong> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }

    fn u64(&mut self) -> Result<u64, Wrong> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A count of items of at least `least` bytes each: never more than the
    /// rest of the row can hold, so a corrupt count allocates nothing.
    fn count(&mut self, least: usize) -> Result<usize, Wrong> {
        let count = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        usize::try_from(count)
            .ok()
            .filter(|count| {
                count
                    .checked_mul(least)
                    .is_some_and(|bytes| bytes <= self.0.len())
            })
            .ok_or(TOO_SHORT)
    }

    /// A map keyed by members, each key followed by what `value` reads (of
    /// at least `least` bytes). Keys come in strictly increasing order, as
    /// they are written, so a row has one reading and one writing.
    fn ordered<V>(
        &mut self,
        least: usize,
        mut value: impl FnMut(&mut Self) -> Result<V, Wrong>,
    ) -> Result<BTreeMap<PublicKey, V>, Wrong> {
        let count = self.count(32 + least)?;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let key = PublicKey::from_bytes(self.id()?);
            if map.last_key_value().is_some_and(|(last, _)| *last >= key) {
                return Err("members out of order or repeated");
            }
            let read = value(self)?;
            map.insert(key, read);
        }
        Ok(map)
    }

    fn numbered(&mut self) -> Result<BTreeMap<PublicKey, u64>, Wrong> {
        self.ordered(8, Self::u64)
    }

    fn text(&mut self) -> Result<String, Wrong> {
        let length = self.count(1)?;
        String::from_utf8(self.take(length)?.to_vec()).map_err(|_| "a text that is not UTF-8")
    }

    fn texts(&mut self) -> Result<Vec<String>, Wrong> {
        (0..self.count(4)?).map(|_| self.text()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn plain() -> ContextRecord {
        ContextRecord {
            id: ContextId::from_bytes([1; 32]),
            application_id: ApplicationId::from_bytes([2; 32]),
            root_hash: Hash::from_bytes([0; 32]),
            last_transaction_hash: Hash::from_bytes([9; 32]),
            last_seq: 8,
            last_time_ns: 0,
            created_at: 1_700_000_000_000,
            members: vec![PublicKey::from_bytes([3; 32])],
            joined_at: BTreeMap::new(),
            event_bytes: 0,
            heads: BTreeMap::new(),
            remote: BTreeSet::new(),
            sharing: None,
        }
    }

    fn full() -> ContextRecord {
        let member = PublicKey::from_bytes([3; 32]);
        let other = PublicKey::from_bytes([4; 32]);
        ContextRecord {
            root_hash: Hash::from_bytes([5; 32]),
            last_seq: u64::MAX - 1,
            last_time_ns: u64::MAX,
            members: vec![member, other],
            joined_at: [(other, 7)].into(),
            event_bytes: 99,
            heads: [(member, 12), (other, 1)].into(),
            remote: [other].into(),
            sharing: Some(Sharing {
                genesis: "genesis".into(),
                invitations: vec!["invitation".into(), String::new()],
                peers: vec!["/ip4/127.0.0.1/tcp/1".into()],
            }),
            ..plain()
        }
    }

    #[test]
    fn a_row_decodes_to_the_record_it_was_encoded_from() {
        for record in [plain(), full()] {
            let row = encode(&record);
            assert_eq!(row[0], FORMAT_1);
            assert_eq!(decode(&row), Ok(record));
        }
    }

    /// Rows written before the binary format are read as they were.
    #[test]
    fn a_json_row_is_still_read() {
        for record in [plain(), full()] {
            let json = serde_json::to_vec(&record).expect("serializes");
            assert_eq!(decode(&json), Ok(record));
        }
        // As the oldest versions wrote it: none of the fields that came later.
        let mut old = serde_json::to_value(plain()).expect("serializes");
        for later in ["members", "joined_at", "event_bytes", "heads"] {
            old.as_object_mut().expect("an object").remove(later);
        }
        let record = decode(&serde_json::to_vec(&old).expect("serializes")).expect("an old row");
        assert_eq!(record.id, plain().id);
        assert!(record.members.is_empty() && record.heads.is_empty());
    }

    /// A damaged row is refused with what is wrong, never read as another
    /// record and never a panic: every truncation, a byte more, an unknown
    /// format, counts past the row's end and text that is not UTF-8.
    #[test]
    fn a_damaged_row_is_refused() {
        let row = encode(&full());
        for end in 0..row.len() {
            assert!(decode(&row[..end]).is_err(), "cut at {end}");
        }
        let mut longer = row.clone();
        longer.push(0);
        assert!(
            decode(&longer)
                .unwrap_err()
                .contains("after the last field")
        );
        let mut unknown = row.clone();
        unknown[0] = 2;
        assert!(
            decode(&unknown)
                .unwrap_err()
                .contains("unknown row format 2")
        );
        // The members' count, just after the fixed fields.
        let members = 1 + 4 * 32 + 4 * 8;
        let mut counted = row.clone();
        counted[members..members + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&counted).is_err());
        // The genesis text's first byte.
        let genesis = row.len()
            - ["/ip4/127.0.0.1/tcp/1", "", "invitation"]
                .iter()
                .map(|text| 4 + text.len())
                .sum::<usize>()
            - 2 * 4
            - "genesis".len();
        assert_eq!(&row[genesis..genesis + 7], b"genesis");
        let mut invalid = row.clone();
        invalid[genesis] = 0xff;
        assert!(decode(&invalid).unwrap_err().contains("not UTF-8"));
        // The sharing tag, just before the genesis text's length.
        let mut tagged = row;
        tagged[genesis - 5] = 2;
        assert!(decode(&tagged).unwrap_err().contains("sharing tag"));
    }

    /// A row has one reading: members of a map that repeat or come out of
    /// order are refused, not merged, so a decoded row encodes to itself.
    #[test]
    fn map_keys_out_of_order_are_refused() {
        let member = PublicKey::from_bytes([3; 32]);
        let other = PublicKey::from_bytes([4; 32]);
        let record = ContextRecord {
            heads: [(member, 12), (other, 1)].into(),
            remote: [member, other].into(),
            ..plain()
        };
        let row = encode(&record);
        let heads = 1 + 4 * 32 + 4 * 8 + (4 + 32) + 4 + 4;
        assert_eq!(&row[heads..heads + 32], member.as_bytes());
        let remote = heads + 2 * 40 + 4;
        assert_eq!(&row[remote..remote + 32], member.as_bytes());
        for (first, second) in [(heads, heads + 40), (remote, remote + 32)] {
            let mut swapped = row.clone();
            swapped[first..first + 32].copy_from_slice(other.as_bytes());
            swapped[second..second + 32].copy_from_slice(member.as_bytes());
            assert!(
                decode(&swapped).unwrap_err().contains("out of order"),
                "swapped at {first}"
            );
            let mut repeated = row.clone();
            repeated[second..second + 32].copy_from_slice(member.as_bytes());
            assert!(decode(&repeated).unwrap_err().contains("repeated"));
        }
        assert_eq!(encode(&decode(&row).expect("decodes")), row);
    }

    /// A record as a member's calls leave it: under 60% of the JSON.
    #[test]
    fn a_row_is_much_smaller_than_the_json() {
        let member = PublicKey::from_bytes([3; 32]);
        let record = ContextRecord {
            joined_at: [(member, 1_700_000_000_000)].into(),
            heads: [(member, 1_000)].into(),
            event_bytes: 300_000,
            last_time_ns: 1_700_000_000_000_000_000,
            ..plain()
        };
        let row = encode(&record);
        let json = serde_json::to_vec(&record).expect("serializes");
        assert!(
            row.len() * 5 < json.len() * 3,
            "{} vs {}",
            row.len(),
            json.len()
        );
    }
}
