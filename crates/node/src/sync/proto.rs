//! What nodes sign and send each other (borsh): the context's genesis,
//! invitations, delta proofs, gossip announcements and the catch-up
//! protocol's requests and answers. Every signature covers a domain tag and
//! the borsh bytes of what it signs, so one kind of signed message can never
//! pass for another.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use node_primitives::{ApplicationId, ContextId, Hash, PublicKey};
use node_store::Delta;

/// A 32-byte key or id on the wire.
pub(crate) type Key = [u8; 32];

/// The creator of a context, certified by the context's own key (whose
/// secret is discarded once this is signed): the root of who may write it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Genesis {
    pub(crate) context: Key,
    pub(crate) application: Key,
    pub(crate) creator: Key,
    pub(crate) created_at: u64,
}

/// One member admitting another, signed by the inviter.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Invitation {
    pub(crate) context: Key,
    pub(crate) application: Key,
    pub(crate) inviter: Key,
    pub(crate) invitee: Key,
    /// The invitee is a key whose secret the inviter's node does not hold
    /// (a client key registered there): the inviter signs its deltas.
    pub(crate) hosted: bool,
    pub(crate) issued_at: u64,
}

/// Something signed, with the signature.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Signed<T> {
    pub(crate) body: T,
    pub(crate) signature: [u8; 64],
}

/// What an invitee presents to join: the genesis and its invitation, and
/// where to find the inviter's node.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct InvitationPayload {
    pub(crate) genesis: Signed<Genesis>,
    pub(crate) invitation: Signed<Invitation>,
    /// The inviter's node's peer id (bytes) and addresses.
    pub(crate) peer: Vec<u8>,
    pub(crate) addresses: Vec<String>,
}

/// What a delta's signature covers.
#[derive(BorshSerialize)]
struct DeltaHeader<'a> {
    context: &'a Key,
    author: &'a Key,
    height: u64,
    artifact: Key,
    events: Key,
}

/// Who signed a delta: its author, or the member hosting it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Proof {
    pub(crate) signer: Key,
    pub(crate) signature: [u8; 64],
}

/// A delta as it travels.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct WireDelta {
    pub(crate) author: Key,
    pub(crate) height: u64,
    pub(crate) artifact: Vec<u8>,
    pub(crate) events: Vec<(String, Vec<u8>)>,
    pub(crate) proof: Proof,
}

/// Gossip on a context's topic: members' new heights (no data: a peer
/// fetches what it lacks over an authenticated request, so the topic tells
/// a stranger only that the context changed).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Announce {
    pub(crate) context: Key,
    pub(crate) heads: Vec<(Key, u64)>,
    pub(crate) members: u32,
    /// A member's proof that the publishing peer is its node: a stranger's
    /// announcement sends nobody asking.
    pub(crate) auth: Auth,
}

/// A member's proof that the asking peer is its node: a signature over the
/// asker's peer id and the context.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Auth {
    pub(crate) member: Key,
    pub(crate) signature: [u8; 64],
}

/// A catch-up request, about one context.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Request {
    pub(crate) context: Key,
    pub(crate) auth: Auth,
    pub(crate) ask: Ask,
}

/// What is asked.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) enum Ask {
    /// Membership, heads, root and values digest.
    State,
    /// At most `limit` of `author`'s deltas after `after`.
    Deltas { author: Key, after: u64, limit: u32 },
    /// The context's application module.
    Application,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) enum Answer {
    State {
        genesis: Box<Signed<Genesis>>,
        invitations: Vec<Signed<Invitation>>,
        heads: Vec<(Key, u64)>,
        root: Key,
        /// Digest of the stored values, read with the heads and root.
        digest: Key,
    },
    Deltas(Vec<WireDelta>),
    Application(Vec<u8>),
    /// Not answered, and why (unknown context, not a member, busy, pruned).
    Refused(String),
}

const GENESIS: &[u8] = b"calimero/genesis/1";
const INVITATION: &[u8] = b"calimero/invitation/1";
const DELTA: &[u8] = b"calimero/delta/1";
const AUTH: &[u8] = b"calimero/sync-auth/1";

fn message(domain: &[u8], body: &impl BorshSerialize) -> Vec<u8> {
    let mut bytes = domain.to_vec();
    body.serialize(&mut bytes).expect("borsh into a Vec");
    bytes
}

fn verify(key: &Key, message: &[u8], signature: &[u8; 64]) -> bool {
    // Strict: no weak (small-order) keys, no malleable signatures.
    VerifyingKey::from_bytes(key).is_ok_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

/// A body that the key it names signs, under a domain of its own.
pub(crate) trait Signable: BorshSerialize {
    /// Prefixes the signed bytes, so that no signature counts as another kind.
    const DOMAIN: &'static [u8];
    /// The key whose signature it needs.
    fn signer(&self) -> &Key;
}

impl Signable for Genesis {
    const DOMAIN: &'static [u8] = GENESIS;
    /// The context's own key.
    fn signer(&self) -> &Key {
        &self.context
    }
}

impl Signable for Invitation {
    const DOMAIN: &'static [u8] = INVITATION;
    /// Its inviter (whether the inviter is a member is the membership's
    /// question).
    fn signer(&self) -> &Key {
        &self.inviter
    }
}

impl<T: Signable> Signed<T> {
    pub(crate) fn sign(body: T, key: &SigningKey) -> Self {
        let signature = key.sign(&message(T::DOMAIN, &body)).to_bytes();
        Self { body, signature }
    }

    /// Signed by the key its body names.
    pub(crate) fn verify(&self) -> bool {
        verify(
            self.body.signer(),
            &message(T::DOMAIN, &self.body),
            &self.signature,
        )
    }
}

fn delta_message(context: &ContextId, delta: &Delta) -> Vec<u8> {
    let events = serde_json::to_vec(&delta.events).expect("events serialize");
    message(
        DELTA,
        &DeltaHeader {
            context: context.as_bytes(),
            author: delta.author.as_bytes(),
            height: delta.height,
            artifact: Hash::digest(&delta.artifact).to_bytes(),
            events: Hash::digest(events).to_bytes(),
        },
    )
}

/// Signs a delta as `signer`.
pub(crate) fn sign_delta(context: &ContextId, delta: &Delta, signer: &SigningKey) -> Proof {
    Proof {
        signer: signer.verifying_key().to_bytes(),
        signature: signer.sign(&delta_message(context, delta)).to_bytes(),
    }
}

/// Whether `proof` is `proof.signer`'s signature of the delta.
pub(crate) fn verify_delta(context: &ContextId, delta: &Delta, proof: &Proof) -> bool {
    verify(
        &proof.signer,
        &delta_message(context, delta),
        &proof.signature,
    )
}

fn auth_message(peer: &[u8], context: &Key) -> Vec<u8> {
    let mut bytes = AUTH.to_vec();
    bytes.extend_from_slice(context);
    bytes.extend_from_slice(peer);
    bytes
}

impl Auth {
    pub(crate) fn sign(peer: &[u8], context: &Key, member: &SigningKey) -> Self {
        Self {
            member: member.verifying_key().to_bytes(),
            signature: member.sign(&auth_message(peer, context)).to_bytes(),
        }
    }

    /// Signed by its member for this asking peer and context.
    pub(crate) fn verify(&self, peer: &[u8], context: &Key) -> bool {
        verify(&self.member, &auth_message(peer, context), &self.signature)
    }
}

/// Encodes anything borsh.
pub(crate) fn encode(value: &impl BorshSerialize) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh into a Vec")
}

/// Decodes exactly one value.
pub(crate) fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Option<T> {
    borsh::from_slice(bytes).ok()
}

/// A stored or travelling value as text (base58 of its borsh bytes).
pub(crate) fn to_text(value: &impl BorshSerialize) -> String {
    bs58::encode(encode(value)).into_string()
}

/// The value of [`to_text`]'s text.
pub(crate) fn from_text<T: BorshDeserialize>(text: &str) -> Option<T> {
    decode(&bs58::decode(text).into_vec().ok()?)
}

impl WireDelta {
    pub(crate) fn of(delta: Delta, proof: Proof) -> Self {
        Self {
            author: delta.author.to_bytes(),
            height: delta.height,
            artifact: delta.artifact,
            events: delta.events,
            proof,
        }
    }

    /// The stored form, with its proof kept for serving it on.
    pub(crate) fn into_delta(self) -> Delta {
        let proof = encode(&self.proof);
        Delta {
            author: PublicKey::from_bytes(self.author),
            height: self.height,
            artifact: self.artifact,
            events: self.events,
            proof,
        }
    }
}

/// Ids from wire keys.
pub(crate) fn context_id(key: &Key) -> ContextId {
    ContextId::from_bytes(*key)
}

pub(crate) fn application_id(key: &Key) -> ApplicationId {
    ApplicationId::from_bytes(*key)
}
