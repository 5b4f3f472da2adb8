//! Signed header sets are accepted once: the signatures seen while their
//! stamps are still fresh, kept in memory and forgotten as the stamps expire.
//!
//! After a restart the memory is empty, so a header set captured in the few
//! minutes before it could be replayed once more until its stamp expires.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Mutex, PoisonError};

/// Most signatures remembered at once; past it header sets are refused until
/// the oldest expire (each lives at most a few minutes).
const CAPACITY: usize = 1 << 18;

/// The signatures of the header sets accepted and not yet expired.
#[derive(Debug, Default)]
pub(crate) struct SeenSignatures {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    signatures: HashSet<[u8; 64]>,
    by_expiry: BTreeSet<(u64, [u8; 64])>,
}

impl SeenSignatures {
    /// Records `signature`, valid until `expires` (Unix s); refused when it
    /// was seen before, or when too many are remembered.
    pub(crate) fn admit(
        &self,
        signature: [u8; 64],
        expires: u64,
        now_secs: u64,
    ) -> Result<(), &'static str> {
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(&(expiry, oldest)) = seen.by_expiry.first() {
            if expiry >= now_secs {
                break;
            }
            seen.by_expiry.pop_first();
            seen.signatures.remove(&oldest);
        }
        if seen.signatures.contains(&signature) {
            return Err("the header set was already used");
        }
        if seen.signatures.len() >= CAPACITY {
            return Err("too many signed requests in the last minutes");
        }
        seen.signatures.insert(signature);
        seen.by_expiry.insert((expires, signature));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_admitted_once_until_it_expires() {
        let seen = SeenSignatures::default();
        assert_eq!(seen.admit([1; 64], 100, 10), Ok(()));
        assert!(seen.admit([1; 64], 100, 50).is_err());
        assert_eq!(seen.admit([2; 64], 100, 50), Ok(()));
        // Forgotten once expired (and by then its stamp is refused anyway).
        assert_eq!(seen.admit([1; 64], 300, 101), Ok(()));
    }
}
