//! What the replication layer needs of the node: member identities made
//! before they join anything, signing as held members, the network key, and
//! changes to a context's membership record.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use ed25519_dalek::SigningKey;
use node_primitives::{ContextId, PublicKey};
use node_store::ContextRecord;

use crate::NodeError;
use crate::node::{Node, random_32};

/// Node value: identities made by `POST /identity/context`, not yet members
/// of a context (base58 public key → hex secret).
const IDENTITIES: &str = "identities";
/// Node value: the secret of the swarm's ed25519 key.
const NETWORK_KEY: &str = "network_key";

fn identities(bytes: Option<&[u8]>) -> Result<BTreeMap<String, String>, NodeError> {
    bytes.map_or_else(
        || Ok(BTreeMap::new()),
        |bytes| {
            serde_json::from_slice(bytes)
                .map_err(|err| NodeError::Internal(format!("stored identities: {err}")))
        },
    )
}

fn secret_of(hex_secret: &str) -> Option<[u8; 32]> {
    hex::decode(hex_secret).ok()?.try_into().ok()
}

impl Node {
    /// Makes a member identity held by this node: a new ed25519 key whose
    /// secret is kept here and never leaves it. It becomes a member of a
    /// context by invitation.
    ///
    /// # Errors
    /// When the store fails.
    pub fn new_identity(&self) -> Result<PublicKey, NodeError> {
        let secret = random_32()?;
        let public =
            PublicKey::from_bytes(SigningKey::from_bytes(&secret).verifying_key().to_bytes());
        self.update_meta::<NodeError>(IDENTITIES, &mut |current| {
            let mut held = identities(current)?;
            held.insert(public.to_string(), hex::encode(secret));
            Ok(serde_json::to_vec(&held).expect("a map serializes"))
        })?;
        Ok(public)
    }

    /// The secret of an identity made by [`Node::new_identity`].
    pub(crate) fn identity(&self, public: &PublicKey) -> Result<Option<[u8; 32]>, NodeError> {
        let held = identities(self.meta(IDENTITIES)?.as_deref())?;
        Ok(held.get(&public.to_string()).and_then(|hex| secret_of(hex)))
    }

    /// The signing key of a member of a context whose secret this node holds.
    pub(crate) fn member_key(
        &self,
        context: &ContextId,
        member: &PublicKey,
    ) -> Result<Option<SigningKey>, NodeError> {
        let secret = self.store().snapshot()?.member_secret(context, member)?;
        Ok(secret
            .and_then(|secret| <[u8; 32]>::try_from(secret.as_slice()).ok())
            .map(|secret| SigningKey::from_bytes(&secret)))
    }

    /// The swarm's identity secret, made at first use and kept.
    ///
    /// # Errors
    /// When the store fails.
    pub fn network_key(&self) -> Result<[u8; 32], NodeError> {
        if let Some(stored) = self.meta(NETWORK_KEY)?
            && let Ok(secret) = <[u8; 32]>::try_from(stored.as_slice())
        {
            return Ok(secret);
        }
        let fresh = random_32()?;
        let mut kept = fresh;
        self.update_meta::<NodeError>(NETWORK_KEY, &mut |current| {
            // Another caller may have made it first: keep theirs.
            if let Some(current) = current.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) {
                kept = current;
            }
            Ok(kept.to_vec())
        })?;
        Ok(kept)
    }

    /// Changes a context's stored record with `change` once its pending
    /// mutations are durable; `change` says whether it changed anything.
    ///
    /// # Errors
    /// [`NodeError::ContextNotFound`], `change`'s error, or the store's.
    pub(crate) fn update_record(
        &self,
        id: &ContextId,
        change: impl FnOnce(&mut ContextRecord) -> Result<bool, NodeError>,
    ) -> Result<bool, NodeError> {
        let lane = self.lane(id);
        let _writer = lane.writer.lock().unwrap_or_else(PoisonError::into_inner);
        lane.wait_drained();
        let mut record = self.context(id)?.ok_or(NodeError::ContextNotFound(*id))?;
        if !change(&mut record)? {
            return Ok(false);
        }
        self.store().put_context(&record)?;
        Ok(true)
    }
}
