//! A context's values digest, kept up to date by every commit: the sum,
//! modulo 2^256, of SHA-256 over each stored key and value (each
//! length-prefixed), leaving out calimero-storage's index records.
//!
//! A sum changes by what a commit writes (the old value's hash out, the new
//! one's in), so reading it costs one row whatever the state's size, and
//! two copies holding the same records have the same sum whatever order
//! their writes came in. The index records are left out because they hold
//! timestamps and hashes that differ between copies with the same data;
//! which entities a collection lists is covered by the application's root.
//! It detects copies that differ by accident (an application's merge), not
//! an adversary: someone who chooses many values could aim at a collision.

use sha2::{Digest, Sha256};

use crate::StoreError;

/// A sum of record hashes, big-endian.
pub(crate) type Sum = [u8; 32];

/// A stored row: the sum, then the context's transaction it is the sum
/// after.
pub(crate) fn row(sum: &Sum, transaction: &[u8; 32]) -> [u8; 64] {
    let mut row = [0; 64];
    row[..32].copy_from_slice(sum);
    row[32..].copy_from_slice(transaction);
    row
}

/// The sum of a stored row (`None`: a context with no state yet).
///
/// # Errors
/// [`StoreError::Corrupt`] for a row that is not 64 bytes.
pub(crate) fn stored(row: Option<&[u8]>) -> Result<Sum, StoreError> {
    match row {
        None => Ok([0; 32]),
        Some(row) if row.len() == 64 => Ok(row[..32].try_into().expect("32 bytes")),
        Some(row) => Err(StoreError::Corrupt {
            what: "values digest",
            reason: format!("{} bytes", row.len()),
        }),
    }
}

/// Whether a stored row is the sum after `transaction`.
pub(crate) fn covers(row: &[u8], transaction: &[u8; 32]) -> bool {
    row.len() == 64 && row[32..] == transaction[..]
}

/// Adds (`negate == false`) or subtracts the hash of `key` and `value` to
/// `sum`, unless the record is an index record.
pub(crate) fn account(sum: &mut Sum, key: &[u8], value: &[u8], negate: bool) {
    if is_storage_index(key, value) {
        return;
    }
    let mut hasher = Sha256::new();
    for part in [key, value] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let hash: Sum = hasher.finalize().into();
    let mut carry = false;
    for i in (0..32).rev() {
        let (a, b) = (sum[i], hash[i]);
        (sum[i], carry) = if negate {
            let (d, borrow1) = a.overflowing_sub(b);
            let (d, borrow2) = d.overflowing_sub(u8::from(carry));
            (d, borrow1 || borrow2)
        } else {
            let (s, carry1) = a.overflowing_add(b);
            let (s, carry2) = s.overflowing_add(u8::from(carry));
            (s, carry1 || carry2)
        };
    }
}

/// Whether a state record is one of calimero-storage 0.2.5's index records:
/// its key is SHA-256 of `0x00` and an entity id, and its value is exactly a
/// borsh `EntityIndex` of that id (`id, parent_id: Option<Id>, children:
/// BTreeMap<String, Vec<ChildInfo>>, full_hash, own_hash, metadata`, a
/// `ChildInfo` being an id, a hash and two `u64` timestamps). A record an
/// application wrote under a raw key of its own would need both to match.
pub(crate) fn is_storage_index(key: &[u8], value: &[u8]) -> bool {
    /// Reads `n` bytes.
    fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = (input.get(..n)?, input.get(n..)?);
        *input = rest;
        Some(taken)
    }
    fn count(input: &mut &[u8]) -> Option<usize> {
        let bytes = take(input, 4)?;
        usize::try_from(u32::from_le_bytes(bytes.try_into().ok()?)).ok()
    }
    fn index(mut input: &[u8]) -> Option<&[u8]> {
        let id = take(&mut input, 32)?;
        match take(&mut input, 1)? {
            [0] => {}
            [1] => {
                take(&mut input, 32)?;
            }
            _ => return None,
        }
        for _ in 0..count(&mut input)? {
            let name = count(&mut input)?;
            take(&mut input, name)?;
            let children = count(&mut input)?;
            take(&mut input, children.checked_mul(32 + 32 + 16)?)?;
        }
        take(&mut input, 32 + 32 + 16)?;
        input.is_empty().then_some(id)
    }
    if key.len() != 32 {
        return false;
    }
    let Some(id) = index(value) else {
        return false;
    };
    let mut tagged = [0u8; 33];
    tagged[1..].copy_from_slice(id);
    Sha256::digest(tagged).as_slice() == key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A borsh `EntityIndex` of `id` with a parent and one collection of
    /// two children, as calimero-storage 0.2.5 stores it, and its key.
    fn index_record(id: [u8; 32]) -> (Vec<u8>, Vec<u8>) {
        let mut value = id.to_vec();
        value.push(1);
        value.extend([5; 32]);
        value.extend(1u32.to_le_bytes());
        value.extend(5u32.to_le_bytes());
        value.extend(b"items");
        value.extend(2u32.to_le_bytes());
        value.extend([6; 2 * 80]);
        value.extend([7; 32 + 32 + 16]);
        let mut tagged = vec![0];
        tagged.extend(id);
        (Sha256::digest(&tagged).to_vec(), value)
    }

    #[test]
    fn only_exact_index_records_are_left_out() {
        let (key, value) = index_record([3; 32]);
        assert!(is_storage_index(&key, &value));
        // An entity's data, under its own key kind (0x01).
        let mut data_key = vec![1];
        data_key.extend([3; 32]);
        assert!(!is_storage_index(&Sha256::digest(&data_key), &value));
        // A value that only starts like an index record.
        let mut longer = value.clone();
        longer.push(0);
        assert!(!is_storage_index(&key, &longer));
        assert!(!is_storage_index(&key, &value[..value.len() - 1]));
        assert!(!is_storage_index(&key, &value[..32]));
        // Another entity's index under this key.
        let (_, other) = index_record([4; 32]);
        assert!(!is_storage_index(&key, &other));
    }

    #[test]
    fn sums_do_not_depend_on_order_and_undo_exactly() {
        let records: Vec<(Vec<u8>, Vec<u8>)> = (0..50u8)
            .map(|i| {
                (
                    vec![i; 1 + usize::from(i % 7)],
                    vec![255 - i; usize::from(i)],
                )
            })
            .collect();
        let mut forward = [0; 32];
        for (key, value) in &records {
            account(&mut forward, key, value, false);
        }
        let mut backward = [0; 32];
        for (key, value) in records.iter().rev() {
            account(&mut backward, key, value, false);
        }
        assert_eq!(forward, backward);
        assert_ne!(forward, [0; 32]);
        // An index record counts for nothing.
        let (key, value) = index_record([9; 32]);
        let before = forward;
        account(&mut forward, &key, &value, false);
        assert_eq!(forward, before);
        for (key, value) in &records {
            account(&mut forward, key, value, true);
        }
        assert_eq!(forward, [0; 32]);
    }
}
