//! Example app: a string key-value store that emits an event for every change.
//!
//! Methods (JSON-RPC `method` / `argsJson`):
//! - `set {"key", "value"}` → `null`; emits `Inserted` or `Updated`.
//! - `get {"key"}` → the value or `null`.
//! - `remove {"key"}` → the removed value or `null`; emits `Removed` if present.
//! - `entries` → an object of every key and value.
//! - `len` → the number of keys.
//! - `clear` → `null`; emits `Cleared`.

use std::collections::BTreeMap;

use calimero_sdk::app;
use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_storage::collections::UnorderedMap;

/// The store's state: one map of strings.
#[app::state(emits = Event)]
#[derive(Debug, BorshSerialize, BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct KvStore {
    items: UnorderedMap<String, String>,
}

/// What changed.
#[app::event]
pub enum Event {
    /// A new key was set.
    Inserted { key: String, value: String },
    /// An existing key got a new value.
    Updated { key: String, value: String },
    /// A key was removed.
    Removed { key: String },
    /// Every key was removed.
    Cleared,
}

#[app::logic]
impl KvStore {
    #[app::init]
    pub fn init() -> KvStore {
        KvStore {
            items: UnorderedMap::new(),
        }
    }

    pub fn set(&mut self, key: String, value: String) -> app::Result<()> {
        if self.items.insert(key.clone(), value.clone())?.is_some() {
            app::emit!(Event::Updated { key, value });
        } else {
            app::emit!(Event::Inserted { key, value });
        }
        Ok(())
    }

    pub fn get(&self, key: String) -> app::Result<Option<String>> {
        Ok(self.items.get(&key)?)
    }

    pub fn remove(&mut self, key: String) -> app::Result<Option<String>> {
        let removed = self.items.remove(&key)?;
        if removed.is_some() {
            app::emit!(Event::Removed { key });
        }
        Ok(removed)
    }

    pub fn entries(&self) -> app::Result<BTreeMap<String, String>> {
        Ok(self.items.entries()?.collect())
    }

    pub fn len(&self) -> app::Result<u64> {
        Ok(self.items.len()? as u64)
    }

    pub fn clear(&mut self) -> app::Result<()> {
        self.items.clear()?;
        app::emit!(Event::Cleared);
        Ok(())
    }
}
