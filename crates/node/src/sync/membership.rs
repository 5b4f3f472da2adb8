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
                // Only a member that is not hosted invites: a hosted key is
                // a client's, whose node signs for it.
                if !members.contains(&body.inviter) || hosts.contains_key(&body.inviter) {
                    return true;
                }
                // One invitation admits a key, once: a second one for a
                // member (hosted or not) is ignored, so nobody makes itself
                // the host of someone else's key, and re-invitations do not
                // pile up.
                if members.contains(&body.invitee) || members.len() >= max {
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
        if !self.contains(author) {
            return false;
        }
        match self.hosts.get(author) {
            // A hosted key's deltas carry its host's signature, never its
            // own: it writes through its node's application calls only.
            Some(hosts) => hosts.contains(signer),
            None => author == signer,
        }
    }

    /// Whether `member` may speak for a node (sign requests and
    /// announcements): a member that is not hosted.
    pub(crate) fn speaks_for_a_node(&self, member: &Key) -> bool {
        self.contains(member) && !self.hosts.contains_key(member)
    }

    /// A member hosting `author` (one whose signature stands for its deltas).
    pub(crate) fn host_of(&self, author: &Key) -> Option<Key> {
        self.hosts.get(author)?.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::sync::proto::{Genesis, Invitation};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn invite(
        inviter: &SigningKey,
        invitee: &SigningKey,
        hosted: bool,
        at: u64,
    ) -> Signed<Invitation> {
        Signed::<Invitation>::sign(
            Invitation {
                context: key(1).verifying_key().to_bytes(),
                application: [2; 32],
                inviter: inviter.verifying_key().to_bytes(),
                invitee: invitee.verifying_key().to_bytes(),
                hosted,
                issued_at: at,
            },
            inviter,
        )
    }

    #[test]
    fn a_member_cannot_make_itself_another_member_s_host() {
        let (creator, mallory, client, stranger) = (key(3), key(4), key(5), key(6));
        let genesis = Signed::<Genesis>::sign(
            Genesis {
                context: key(1).verifying_key().to_bytes(),
                application: [2; 32],
                creator: creator.verifying_key().to_bytes(),
                created_at: 0,
            },
            &key(1),
        );
        let id = |key: &SigningKey| key.verifying_key().to_bytes();
        let members = Members::verify(
            &genesis,
            [
                invite(&creator, &mallory, false, 1),
                invite(&creator, &client, true, 2),
                // Mallory claims to host the creator and the client: ignored,
                // they are members already.
                invite(&mallory, &creator, true, 0),
                invite(&mallory, &client, true, 3),
                // A hosted key does not invite.
                invite(&client, &stranger, false, 4),
                // Nor does a stranger, or a forged signature.
                invite(&stranger, &key(7), false, 5),
            ],
            1_024,
        );
        assert!(members.may_sign(&id(&creator), &id(&creator)));
        assert!(!members.may_sign(&id(&creator), &id(&mallory)));
        // The client's deltas carry its host's signature, never its own.
        assert!(members.may_sign(&id(&client), &id(&creator)));
        assert!(!members.may_sign(&id(&client), &id(&client)));
        assert!(!members.may_sign(&id(&client), &id(&mallory)));
        assert!(!members.contains(&id(&stranger)));
        assert!(!members.contains(&id(&key(7))));
        assert!(members.speaks_for_a_node(&id(&mallory)));
        assert!(!members.speaks_for_a_node(&id(&client)));
        assert_eq!(members.accepted().len(), 2);
        assert_eq!(members.len(), 3);
    }
}
