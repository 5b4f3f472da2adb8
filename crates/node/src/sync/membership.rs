//! Who may write a shared context: its creator, certified by the genesis,
//! and every key a member invited, transitively. No chain and no contract:
//! the set of valid invitations only grows, so any two nodes that have seen
//! the same invitations agree on the members.

use std::collections::{BTreeMap, BTreeSet};

use node_primitives::PublicKey;

use super::proto::{Genesis, Invitation, Key, Signed};

/// A context's verified membership.
#[derive(Debug)]
pub(crate) struct Members {
    genesis: Signed<Genesis>,
    members: BTreeSet<Key>,
    /// Members admitted as hosted, with the members that host them (whose
    /// signatures stand for theirs).
    hosts: BTreeMap<Key, BTreeSet<Key>>,
    accepted: Vec<Signed<Invitation>>,
}

impl Members {
    /// The members `invitations` admit under `genesis`: an invitation counts
    /// when it is signed by its inviter, is for this context and
    /// application, and its inviter is the creator or admitted by one that
    /// counts. At most `max` members.
    pub(crate) fn verify(
        genesis: &Signed<Genesis>,
        invitations: impl IntoIterator<Item = Signed<Invitation>>,
        max: usize,
    ) -> Self {
        let mut candidates: Vec<Signed<Invitation>> = invitations
            .into_iter()
            .filter(|invitation| {
                invitation.body.context == genesis.body.context
                    && invitation.body.application == genesis.body.application
                    && invitation.verify()
            })
            .collect();
        // One order everywhere: the stored list does not depend on arrival.
        candidates.sort_by_key(|invitation| (invitation.body.issued_at, invitation.signature));
        candidates.dedup();
        let mut members = BTreeSet::from([genesis.body.creator]);
        let mut hosts: BTreeMap<Key, BTreeSet<Key>> = BTreeMap::new();
        let mut accepted = Vec::new();
        loop {
            let mut progress = false;
            candidates.retain(|invitation| {
                let body = &invitation.body;
                if !members.contains(&body.inviter) {
                    return true;
                }
                if members.len() >= max && !members.contains(&body.invitee) {
                    return false;
                }
                members.insert(body.invitee);
                if body.hosted {
                    hosts.entry(body.invitee).or_default().insert(body.inviter);
                }
                accepted.push(invitation.clone());
                progress = true;
                false
            });
            if !progress {
                break;
            }
        }
        Self {
            genesis: genesis.clone(),
            members,
            hosts,
            accepted,
        }
    }

    pub(crate) fn contains(&self, member: &Key) -> bool {
        self.members.contains(member)
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn creator(&self) -> PublicKey {
        PublicKey::from_bytes(self.genesis.body.creator)
    }

    pub(crate) fn same_genesis(&self, genesis: &Signed<Genesis>) -> bool {
        self.genesis == *genesis
    }

    /// The invitations that count, in the order they were admitted.
    pub(crate) fn accepted(&self) -> &[Signed<Invitation>] {
        &self.accepted
    }

    pub(crate) fn knows(&self, invitation: &Signed<Invitation>) -> bool {
        self.accepted.contains(invitation)
    }

    /// Whether `signer`'s signature stands for `author`'s deltas: its own,
    /// or its host's.
    pub(crate) fn may_sign(&self, author: &Key, signer: &Key) -> bool {
        self.contains(author)
            && (author == signer
                || self
                    .hosts
                    .get(author)
                    .is_some_and(|hosts| hosts.contains(signer)))
    }

    /// A member hosting `author` (one whose signature stands for its deltas).
    pub(crate) fn host_of(&self, author: &Key) -> Option<Key> {
        self.hosts.get(author)?.first().copied()
    }
}
