//! Where keys live: the [`KeyStore`] trait over one [`KeyState`] value.
//!
//! The whole auth state is small (a handful of keys, the challenges used within
//! their lifetime, the live refresh tokens), so a store keeps it as one value
//! and every change is one atomic read-modify-write. That makes "verify, then
//! consume the challenge and compare-and-set the root key" a single step.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use server_primitives::auth::{ClientKey, RootKey};

use crate::AuthError;

/// Everything auth keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// Wallets that administer the node.
    pub root_keys: Vec<RootKey>,
    /// Registered client keys.
    pub client_keys: Vec<ClientKey>,
    /// Nonces (base64) of challenges already used, with their expiry (Unix s).
    pub used_challenges: BTreeMap<String, i64>,
    /// Ids of refresh tokens not yet used, with their expiry (Unix s).
    pub refresh_tokens: BTreeMap<String, u64>,
}

impl KeyState {
    /// Forgets used challenges and refresh tokens that have expired anyway.
    pub(crate) fn prune(&mut self, now_secs: i64) {
        self.used_challenges
            .retain(|_, expires| *expires >= now_secs);
        let now = u64::try_from(now_secs).unwrap_or(0);
        self.refresh_tokens.retain(|_, expires| *expires >= now);
    }
}

/// Persistence of the [`KeyState`].
pub trait KeyStore: Send + Sync + Debug {
    /// A snapshot of the state.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn load(&self) -> Result<KeyState, AuthError>;

    /// Applies `change` to the current state and saves the result, atomically
    /// with respect to every other `update`. When `change` fails, nothing is saved.
    ///
    /// # Errors
    /// `change`'s error, or the store's.
    fn update(
        &self,
        change: &mut dyn FnMut(&mut KeyState) -> Result<(), AuthError>,
    ) -> Result<(), AuthError>;
}

/// A [`KeyStore`] in memory (tests, and nodes that keep no keys on disk).
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    state: Mutex<KeyState>,
}

impl MemoryKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyStore for MemoryKeyStore {
    fn load(&self) -> Result<KeyState, AuthError> {
        Ok(self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn update(
        &self,
        change: &mut dyn FnMut(&mut KeyState) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = guard.clone();
        change(&mut next)?;
        *guard = next;
        Ok(())
    }
}
