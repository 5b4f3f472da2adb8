//! Client-key registrations the authenticator has read from its store, so
//! that a request with a token does not read the store again for the key
//! it was minted under.
//!
//! Every write through the authenticator forgets them all, after the write
//! is durable: a key deleted (or registered again under a new registration)
//! is read afresh by the next request. A read that overlapped a write is
//! not remembered, by its generation. This holds while the authenticator
//! and its clones are their store's only writer, as in the node.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Most registrations remembered; when full they are all forgotten. Only
/// registrations read from the store are remembered, so its registered
/// keys bound how many there can be.
const KEPT: usize = 4096;

/// The registrations known to hold, by client key.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    inner: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    /// How many writes have been forgotten: a read remembered under an
    /// older generation may predate a write.
    generation: u64,
    keys: HashMap<Box<str>, Box<str>>,
}

/// What [`Registrations::check`] knows of a registration.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// It holds.
    Holds,
    /// Not known: read the store, then [`Registrations::remember`] under
    /// this generation.
    Unknown(u64),
}

impl Registrations {
    /// Whether `key` is known to be registered under `registration`.
    pub(crate) fn check(&self, key: &str, registration: &str) -> Lookup {
        let known = self.lock();
        if known
            .keys
            .get(key)
            .is_some_and(|held| **held == *registration)
        {
            Lookup::Holds
        } else {
            Lookup::Unknown(known.generation)
        }
    }

    /// Remembers that the store held `key` under `registration` when read
    /// at `generation`; ignored when a write came since.
    pub(crate) fn remember(&self, generation: u64, key: &str, registration: &str) {
        let mut known = self.lock();
        if known.generation != generation {
            return;
        }
        if known.keys.len() >= KEPT {
            known.keys.clear();
        }
        known.keys.insert(key.into(), registration.into());
    }

    /// Forgets every registration when the returned guard drops, however
    /// the write it covers ends.
    pub(crate) fn forget_after(&self) -> ForgetAll<'_> {
        ForgetAll(self)
    }

    /// Forgets every registration: the store was written.
    pub(crate) fn forget_all(&self) {
        let mut known = self.lock();
        known.generation += 1;
        known.keys.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Known> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Forgets every registration when dropped ([`Registrations::forget_after`]).
pub(crate) struct ForgetAll<'a>(&'a Registrations);

impl Drop for ForgetAll<'_> {
    fn drop(&mut self) {
        self.0.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_is_known_until_a_write() {
        let registrations = Registrations::default();
        let Lookup::Unknown(generation) = registrations.check("key", "r1") else {
            panic!("nothing is known at first");
        };
        registrations.remember(generation, "key", "r1");
        assert_eq!(registrations.check("key", "r1"), Lookup::Holds);
        assert!(matches!(
            registrations.check("key", "r2"),
            Lookup::Unknown(_)
        ));
        assert!(matches!(
            registrations.check("other", "r1"),
            Lookup::Unknown(_)
        ));
        registrations.forget_all();
        assert_eq!(
            registrations.check("key", "r1"),
            Lookup::Unknown(generation + 1)
        );
    }

    #[test]
    fn a_read_that_overlapped_a_write_is_not_remembered() {
        let registrations = Registrations::default();
        let Lookup::Unknown(before) = registrations.check("key", "r1") else {
            panic!("nothing is known at first");
        };
        // The store is read, then written (the key deleted), then the
        // read's result arrives.
        registrations.forget_all();
        registrations.remember(before, "key", "r1");
        assert!(matches!(
            registrations.check("key", "r1"),
            Lookup::Unknown(_)
        ));
    }

    #[test]
    fn a_write_that_panics_still_forgets() {
        let registrations = Registrations::default();
        registrations.remember(0, "key", "r1");
        let panicked = std::panic::catch_unwind(|| {
            let _forget = registrations.forget_after();
            panic!("the store failed after committing");
        });
        assert!(panicked.is_err());
        assert_eq!(registrations.check("key", "r1"), Lookup::Unknown(1));
    }

    #[test]
    fn a_full_cache_starts_over() {
        let registrations = Registrations::default();
        for index in 0..=KEPT {
            registrations.remember(0, &format!("key {index}"), "r");
        }
        assert_eq!(registrations.lock().keys.len(), 1);
        assert_eq!(
            registrations.check(&format!("key {KEPT}"), "r"),
            Lookup::Holds
        );
    }
}
