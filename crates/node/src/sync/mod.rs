//! Replication: one context, members on several nodes.
//!
//! [`Replicator`] keeps this node's shared contexts in step with their
//! other members' nodes over a [`Transport`] (the libp2p swarm of
//! `node-network` in a running node, see [`run`]; an in-process network
//! in the simulation tests). The protocol, its security and its limits are
//! described in `docs/replication.md`:
//! - a context's creator is certified by the context's own key (the
//!   genesis); every other member by an invitation signed by a member;
//! - every delta is signed by its author, or by the member whose node hosts
//!   it (a client key registered there);
//! - gossip only announces new heights; deltas, membership and the
//!   application travel over requests that a member signs for the asking
//!   peer, so a stranger learns nothing of a context's state;
//! - a peer that announces more, subscribes to a context, or is due for
//!   anti-entropy is asked for its state, and what it has that this node
//!   lacks is fetched, checked and applied through the node's durable
//!   commit path, each member's deltas in order.

mod libp2p;
mod membership;
pub(crate) mod proto;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use node_primitives::{ApplicationId, ContextId, Hash, PublicKey};
use node_store::{ContextRecord, Delta, Sharing};
use serde::Serialize;

pub use node_network::PeerId;

pub use self::libp2p::run;
use self::membership::Members;
use self::proto::{
    Announce, Answer, Ask, Auth, Genesis, Invitation, InvitationPayload, Proof, Request, Signed,
    WireDelta,
};
use crate::node::now_ms;
use crate::{Node, NodeError, NodeEvent};

/// How long a peer that refused or did not answer is left alone.
const REFUSED_PAUSE: Duration = Duration::from_secs(10);

/// How long a comparison with a peer is kept and shown: a peer compared
/// with no more (gone, or never reachable directly) drops out after this.
const VIEW_KEPT: Duration = Duration::from_secs(60);

/// Replication over the node's libp2p swarm: what a running node has.
pub type Replication = Replicator<node_network::Network>;

/// How replication paces and bounds itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// How often each shared context is compared with its peers
    /// (anti-entropy).
    pub interval: Duration,
    /// Most deltas in one catch-up answer.
    pub batch_deltas: u32,
    /// Most artifact and event bytes in one catch-up answer (at least one
    /// delta is always sent).
    pub batch_bytes: usize,
    /// Requests a peer may make per second (a burst of twice that is
    /// allowed); past it the peer is told it is refused.
    pub peer_requests_per_second: u32,
    /// How long a join waits for the inviter's node.
    pub join_timeout: Duration,
    /// Most members a context may have.
    pub max_members: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            batch_deltas: 128,
            batch_bytes: 4 << 20,
            peer_requests_per_second: 200,
            join_timeout: Duration::from_secs(30),
            max_members: 1_024,
        }
    }
}

/// What replication needs of the network: a gossip topic per context and
/// requests to one peer.
pub trait Transport: Send + Sync + 'static {
    /// This node's peer id.
    fn local_peer(&self) -> PeerId;
    /// Publishes on a topic (nobody listening is not an error).
    fn publish(&self, topic: &str, data: Vec<u8>) -> impl Future<Output = ()> + Send;
    /// Asks a peer and waits for its answer.
    fn request(
        &self,
        peer: PeerId,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
    /// Joins a topic.
    fn subscribe(&self, topic: &str) -> impl Future<Output = ()> + Send;
    /// Leaves a topic.
    fn unsubscribe(&self, topic: &str) -> impl Future<Output = ()> + Send;
    /// The connected peers on a topic.
    fn topic_peers(&self, topic: &str) -> impl Future<Output = Vec<PeerId>> + Send;
    /// Keeps a peer connected at these addresses.
    fn remember(&self, peer: PeerId, addresses: &[String]) -> impl Future<Output = ()> + Send;
    /// This node's addresses, as others dial them.
    fn addresses(&self) -> impl Future<Output = Vec<String>> + Send;
}

/// A context's gossip topic.
#[must_use]
pub fn topic(context: &ContextId) -> String {
    format!("/calimero/context/{context}")
}

fn context_of_topic(topic: &str) -> Option<ContextId> {
    topic.strip_prefix("/calimero/context/")?.parse().ok()
}

/// The genesis of a new context: `creator`, certified by the context's key.
pub(crate) fn genesis(
    context_key: &SigningKey,
    application: &ApplicationId,
    creator: &PublicKey,
    created_at: u64,
) -> Sharing {
    let genesis = Signed::<Genesis>::sign(
        Genesis {
            context: context_key.verifying_key().to_bytes(),
            application: application.to_bytes(),
            creator: creator.to_bytes(),
            created_at,
        },
        context_key,
    );
    Sharing {
        genesis: proto::to_text(&genesis),
        invitations: Vec::new(),
        peers: Vec::new(),
    }
}

/// A member's node's announcement, checked ([`Replicator::check_announcement`]).
#[derive(Debug, Clone, Copy)]
pub struct Announced {
    context: ContextId,
    /// Whether it says its node has what this one lacks.
    behind: bool,
}

/// How a context compares with one peer's copy, as of the last exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSync {
    /// The peer.
    pub peer_id: String,
    /// `inSync` (same heads, same root, same values), `diverged`
    /// (same heads, but a different root or different stored values: the
    /// application's merge disagrees, see docs/replication.md),
    /// `behind` / `ahead` (heads differ), `refused` (not a member's node, or
    /// one that does not know this node's member yet) or `unreachable`.
    pub status: &'static str,
    /// The peer's heads.
    pub heads: BTreeMap<String, u64>,
    /// The peer's root.
    pub root_hash: Hash,
    /// Digest of the peer's stored values (calimero-storage's index left out).
    pub values_hash: Hash,
    /// Milliseconds since that exchange.
    pub age_ms: u64,
}

/// A shared context's replication state, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// Whether it can be shared at all (contexts made before sharing
    /// existed cannot).
    pub shareable: bool,
    /// Its members: key, whether this node holds it, and their heights.
    pub members: Vec<MemberSync>,
    /// This node's root.
    pub root_hash: Hash,
    /// Digest of this node's stored values.
    pub values_hash: Hash,
    /// Peers it was compared with.
    pub peers: Vec<PeerSync>,
}

/// One member's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSync {
    /// Its key.
    pub public_key: PublicKey,
    /// Whether its calls run on this node.
    pub local: bool,
    /// Height of its last delta applied here.
    pub height: u64,
}

#[derive(Debug, Clone)]
struct PeerView {
    heads: BTreeMap<PublicKey, u64>,
    root: Hash,
    digest: Hash,
    status: &'static str,
    at: Instant,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct State {
    peers: HashMap<ContextId, BTreeMap<PeerId, PeerView>>,
    announced: HashMap<ContextId, (BTreeMap<PublicKey, u64>, u32)>,
    buckets: HashMap<PeerId, Bucket>,
    members: HashMap<ContextId, (usize, Arc<Members>)>,
    catching_up: HashMap<ContextId, Arc<tokio::sync::Mutex<()>>>,
    followed: std::collections::HashSet<ContextId>,
}

/// Keeps this node's shared contexts in step with their peers.
#[derive(Debug)]
pub struct Replicator<T> {
    node: Node,
    transport: T,
    config: SyncConfig,
    state: Mutex<State>,
}

/// What a refusal from a peer or a bad answer means here.
fn unavailable(reason: impl std::fmt::Display) -> NodeError {
    NodeError::Unavailable(reason.to_string())
}

impl<T: Transport> Replicator<T> {
    /// Replication for `node` over `transport`.
    pub fn new(node: Node, transport: T, config: SyncConfig) -> Arc<Self> {
        Arc::new(Self {
            node,
            transport,
            config,
            state: Mutex::new(State::default()),
        })
    }

    /// The node it replicates.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The transport it uses.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes to every shared context's topic and redials its peers.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn start(&self) -> Result<(), NodeError> {
        for record in self.node.contexts()? {
            self.follow(&record).await;
        }
        Ok(())
    }

    /// Subscribes to a shared context's topic (once) and keeps its known
    /// peers connected.
    async fn follow(&self, record: &ContextRecord) {
        let Some(sharing) = &record.sharing else {
            return;
        };
        // Shareable but not shared yet: nothing to follow, and no topic
        // that would tell peers the context exists.
        if sharing.invitations.is_empty() && sharing.peers.is_empty() {
            return;
        }
        if !self.state().followed.insert(record.id) {
            return;
        }
        self.transport.subscribe(&topic(&record.id)).await;
        for address in &sharing.peers {
            if let Some((peer, address)) = split_peer(address) {
                self.transport.remember(peer, &[address]).await;
            }
        }
    }

    /// The verified membership of a shared context.
    fn members(&self, record: &ContextRecord) -> Option<Arc<Members>> {
        let sharing = record.sharing.as_ref()?;
        if let Some((count, members)) = self.state().members.get(&record.id)
            && *count == sharing.invitations.len()
        {
            return Some(members.clone());
        }
        let genesis = proto::from_text::<Signed<Genesis>>(&sharing.genesis)?;
        let invitations = sharing
            .invitations
            .iter()
            .filter_map(|text| proto::from_text::<Signed<Invitation>>(text));
        let members = Arc::new(Members::verify(
            &genesis,
            invitations,
            self.config.max_members,
        ));
        self.state()
            .members
            .insert(record.id, (sharing.invitations.len(), members.clone()));
        Some(members)
    }

    fn record(&self, context: &ContextId) -> Result<ContextRecord, NodeError> {
        self.node
            .context(context)?
            .ok_or(NodeError::ContextNotFound(*context))
    }

    /// A key this node holds for a member of the context.
    fn held_key(&self, record: &ContextRecord) -> Result<(PublicKey, SigningKey), NodeError> {
        for member in &record.members {
            if let Some(key) = self.node.member_key(&record.id, member)? {
                return Ok((*member, key));
            }
        }
        Err(NodeError::Rejected(format!(
            "this node holds no member of context {}",
            record.id
        )))
    }

    // ----- Invitations and joining -------------------------------------

    /// Invites `invitee` into a context as `inviter`, a member this node
    /// holds; the payload the invitee's node presents to join. The invitee
    /// is a member from now on, here and (once they sync) on the
    /// context's other nodes.
    ///
    /// # Errors
    /// [`NodeError::ContextNotFound`]; [`NodeError::Rejected`] when the
    /// context cannot be shared or this node does not hold `inviter`;
    /// [`NodeError::NotMember`] when `inviter` is not a member.
    pub async fn invite(
        &self,
        context: &ContextId,
        inviter: &PublicKey,
        invitee: &PublicKey,
    ) -> Result<String, NodeError> {
        let record = self.record(context)?;
        let sharing = record.sharing.clone().ok_or_else(|| {
            NodeError::Rejected(format!(
                "context {context} was made before contexts could be shared; create a new one to share"
            ))
        })?;
        if !record.members.contains(inviter) {
            return Err(NodeError::NotMember {
                context: *context,
                executor: *inviter,
            });
        }
        let key = self.node.member_key(context, inviter)?.ok_or_else(|| {
            NodeError::Rejected(format!("this node does not hold member {inviter}'s key"))
        })?;
        let genesis = proto::from_text::<Signed<Genesis>>(&sharing.genesis).ok_or_else(|| {
            NodeError::Internal(format!("context {context}'s genesis is unreadable"))
        })?;
        let invitation = Signed::<Invitation>::sign(
            Invitation {
                context: context.to_bytes(),
                application: record.application_id.to_bytes(),
                inviter: inviter.to_bytes(),
                invitee: invitee.to_bytes(),
                hosted: false,
                issued_at: now_ms(),
            },
            &key,
        );
        let held_here = self.node.identity(invitee)?.is_some();
        self.admit(context, vec![invitation.clone()], !held_here)
            .await?;
        self.follow(&self.record(context)?).await;
        let payload = InvitationPayload {
            genesis,
            invitation,
            peer: self.transport.local_peer().to_bytes(),
            addresses: self.transport.addresses().await,
        };
        self.announce(context).await;
        Ok(proto::to_text(&payload))
    }

    /// Records invitations (checked against the membership they extend) and
    /// the members they admit; new members are `remote` when so marked.
    async fn admit(
        &self,
        context: &ContextId,
        invitations: Vec<Signed<Invitation>>,
        remote: bool,
    ) -> Result<usize, NodeError> {
        let max = self.config.max_members;
        let context = *context;
        let admitted = self
            .node
            .run_blocking_on(context, move |node| {
                let mut added = 0;
                node.update_record(&context, |record| {
                    let Some(sharing) = record.sharing.as_mut() else {
                        return Ok(false);
                    };
                    let genesis = proto::from_text::<Signed<Genesis>>(&sharing.genesis)
                        .ok_or_else(|| NodeError::Internal("unreadable genesis".into()))?;
                    let known: Vec<Signed<Invitation>> = sharing
                        .invitations
                        .iter()
                        .filter_map(|text| proto::from_text(text))
                        .collect();
                    let members =
                        Members::verify(&genesis, known.iter().cloned().chain(invitations), max);
                    let joined = now_ms();
                    for invitation in members.accepted() {
                        let text = proto::to_text(invitation);
                        if sharing.invitations.contains(&text) {
                            continue;
                        }
                        sharing.invitations.push(text);
                        let invitee = PublicKey::from_bytes(invitation.body.invitee);
                        if !record.members.contains(&invitee) {
                            record.members.push(invitee);
                            record.joined_at.insert(invitee, joined);
                            let held = node.member_key(&context, &invitee)?.is_some();
                            if remote && !held {
                                record.remote.insert(invitee);
                            }
                        }
                        added += 1;
                    }
                    Ok(added > 0)
                })?;
                Ok::<_, NodeError>(added)
            })
            .await?;
        Ok(admitted)
    }

    /// Joins a context with an invitation made for an identity this node
    /// holds: fetches the application if it is missing, the membership and
    /// the state, and follows the context from then on. The context and the
    /// member it joined as.
    ///
    /// # Errors
    /// [`NodeError::Rejected`] for a payload that is not a valid invitation
    /// or names an identity this node does not hold;
    /// [`NodeError::Unavailable`] when the inviter's node cannot be reached
    /// or does not answer as it should.
    pub async fn join(&self, payload: &str) -> Result<(ContextId, PublicKey), NodeError> {
        let bad = |why: &str| NodeError::Rejected(format!("invalid invitation payload: {why}"));
        let payload = proto::from_text::<InvitationPayload>(payload.trim())
            .ok_or_else(|| bad("not an encoded invitation"))?;
        let InvitationPayload {
            genesis,
            invitation,
            peer,
            addresses,
        } = payload;
        if !genesis.verify() {
            return Err(bad(
                "the context's certificate is not signed by the context",
            ));
        }
        if !invitation.verify() {
            return Err(bad("the invitation is not signed by its inviter"));
        }
        if invitation.body.context != genesis.body.context
            || invitation.body.application != genesis.body.application
        {
            return Err(bad("the invitation is for another context"));
        }
        let context = proto::context_id(&genesis.body.context);
        let application = proto::application_id(&genesis.body.application);
        let invitee = PublicKey::from_bytes(invitation.body.invitee);
        let secret = match self.node.identity(&invitee)? {
            Some(secret) => secret,
            None => match self.node.member_key(&context, &invitee)? {
                Some(key) => key.to_bytes(),
                None => {
                    return Err(NodeError::Rejected(format!(
                        "this node does not hold the invitee {invitee}'s key: make it with POST /admin-api/identity/context and invite that key"
                    )));
                }
            },
        };
        let peer =
            PeerId::from_bytes(&peer).map_err(|_| bad("the inviter's peer id is invalid"))?;
        self.transport.remember(peer, &addresses).await;
        let key = SigningKey::from_bytes(&secret);
        let auth = Auth::sign(
            &self.transport.local_peer().to_bytes(),
            &genesis.body.context,
            &key,
        );
        let deadline = Instant::now() + self.config.join_timeout;
        // The inviter's state: who the members are.
        let state = self
            .ask_until(peer, &context, &auth, Ask::State, deadline)
            .await?;
        let Answer::State {
            genesis: theirs,
            invitations,
            ..
        } = state
        else {
            return Err(unavailable(
                "the inviter's node answered a state request with something else",
            ));
        };
        if *theirs != genesis {
            return Err(unavailable(
                "the inviter's node holds another certificate for this context",
            ));
        }
        let members = Members::verify(
            &genesis,
            invitations.iter().cloned(),
            self.config.max_members,
        );
        if !members.contains(&invitation.body.invitee) {
            return Err(NodeError::Rejected(format!(
                "the inviter's node does not count {invitee} as a member of context {context}"
            )));
        }
        if self.node.application(&application)?.is_none() {
            let answer = self
                .ask_until(peer, &context, &auth, Ask::Application, deadline)
                .await?;
            let Answer::Application(wasm) = answer else {
                return Err(unavailable(
                    "the inviter's node did not send the application",
                ));
            };
            if Hash::digest(&wasm).to_bytes() != application.to_bytes() {
                return Err(unavailable("the application sent does not match its hash"));
            }
            let node = self.node.clone();
            self.node
                .run_blocking(move |_| node.install_application(&wasm, "peer", &[]))
                .await?;
        }
        let creator = PublicKey::from_bytes(genesis.body.creator);
        let ordered: Vec<PublicKey> = std::iter::once(creator)
            .chain(
                members
                    .accepted()
                    .iter()
                    .map(|invitation| PublicKey::from_bytes(invitation.body.invitee)),
            )
            .collect();
        let sharing = Sharing {
            genesis: proto::to_text(&genesis),
            invitations: members.accepted().iter().map(proto::to_text).collect(),
            peers: addresses
                .iter()
                .map(|address| with_peer(address, &peer))
                .collect(),
        };
        let node = self.node.clone();
        self.node
            .run_blocking_on(context, move |_| {
                node.join_context(&context, &application, &ordered, (invitee, secret))?;
                node.update_record(&context, |record| {
                    let mut next = sharing.clone();
                    if let Some(known) = &record.sharing {
                        for text in &known.invitations {
                            if !next.invitations.contains(text) {
                                next.invitations.push(text.clone());
                            }
                        }
                        for address in &known.peers {
                            if !next.peers.contains(address) {
                                next.peers.push(address.clone());
                            }
                        }
                    }
                    let changed = record.sharing.as_ref() != Some(&next);
                    record.sharing = Some(next);
                    Ok(changed)
                })
            })
            .await?;
        let record = self.record(&context)?;
        self.follow(&record).await;
        self.catch_up(peer, &context).await?;
        Ok((context, invitee))
    }

    /// Asks `peer` until it answers or the deadline passes (its connection
    /// may still be forming).
    async fn ask_until(
        &self,
        peer: PeerId,
        context: &ContextId,
        auth: &Auth,
        ask: Ask,
        deadline: Instant,
    ) -> Result<Answer, NodeError> {
        let request = proto::encode(&Request {
            context: context.to_bytes(),
            auth: auth.clone(),
            ask,
        });
        let mut pause = Duration::from_millis(50);
        loop {
            let failure = match self.transport.request(peer, request.clone()).await {
                Ok(bytes) => match proto::decode::<Answer>(&bytes) {
                    Some(Answer::Refused(why)) => {
                        return Err(unavailable(format!("the inviter's node refused: {why}")));
                    }
                    Some(answer) => return Ok(answer),
                    None => {
                        return Err(unavailable("the inviter's node sent an unreadable answer"));
                    }
                },
                Err(failure) => failure,
            };
            if Instant::now() + pause > deadline {
                return Err(unavailable(format!(
                    "the inviter's node {peer} cannot be reached: {failure}"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    // ----- Catching up --------------------------------------------------

    fn catching_up(&self, context: &ContextId) -> Arc<tokio::sync::Mutex<()>> {
        self.state()
            .catching_up
            .entry(*context)
            .or_default()
            .clone()
    }

    async fn ask(
        &self,
        peer: PeerId,
        record: &ContextRecord,
        ask: Ask,
    ) -> Result<Answer, NodeError> {
        let (_, key) = self.held_key(record)?;
        let auth = Auth::sign(
            &self.transport.local_peer().to_bytes(),
            record.id.as_bytes(),
            &key,
        );
        let request = proto::encode(&Request {
            context: record.id.to_bytes(),
            auth,
            ask,
        });
        let bytes = self
            .transport
            .request(peer, request)
            .await
            .map_err(unavailable)?;
        match proto::decode::<Answer>(&bytes) {
            Some(Answer::Refused(why)) => {
                Err(NodeError::Rejected(format!("{peer} refused: {why}")))
            }
            Some(answer) => Ok(answer),
            None => Err(unavailable(format!("{peer} sent an unreadable answer"))),
        }
    }

    /// Compares a context with `peer`'s copy and fetches and applies what
    /// this node lacks: membership first, then each member's deltas (the
    /// creator's first), in order. How many deltas were applied.
    ///
    /// # Errors
    /// [`NodeError::Unavailable`] when the peer cannot be reached or
    /// answers wrongly; a delta that does not check out stops the catch-up
    /// with its error.
    pub async fn catch_up(&self, peer: PeerId, context: &ContextId) -> Result<usize, NodeError> {
        let lock = self.catching_up(context);
        let _one = lock.lock().await;
        let result = self.compare(peer, context).await;
        match &result {
            Ok(applied) => tracing::debug!(%context, %peer, applied, "caught up"),
            Err(error) => tracing::debug!(%context, %peer, %error, "catch-up failed"),
        }
        result
    }

    async fn compare(&self, peer: PeerId, context: &ContextId) -> Result<usize, NodeError> {
        let record = self.record(context)?;
        if record.sharing.is_none() {
            return Ok(0);
        }
        let answer = match self.ask(peer, &record, Ask::State).await {
            Ok(answer) => answer,
            Err(error) => {
                self.saw(
                    context,
                    peer,
                    PeerView {
                        heads: BTreeMap::new(),
                        root: Hash::ZERO,
                        digest: Hash::ZERO,
                        status: if matches!(error, NodeError::Rejected(_)) {
                            "refused"
                        } else {
                            "unreachable"
                        },
                        at: Instant::now(),
                    },
                );
                return Err(error);
            }
        };
        let Answer::State {
            genesis,
            invitations,
            heads,
            root,
            digest,
        } = answer
        else {
            return Err(unavailable(format!(
                "{peer} answered a state request with something else"
            )));
        };
        let ours = self
            .members(&record)
            .ok_or_else(|| NodeError::Internal("unreadable membership".into()))?;
        if genesis.body.context != context.to_bytes()
            || !genesis.verify()
            || !ours.same_genesis(&genesis)
        {
            return Err(unavailable(format!(
                "{peer} holds another certificate for context {context}"
            )));
        }
        if invitations.iter().any(|invitation| !ours.knows(invitation)) {
            self.admit(context, invitations, true).await?;
        }
        let mut record = self.record(context)?;
        let members = self
            .members(&record)
            .ok_or_else(|| NodeError::Internal("unreadable membership".into()))?;
        let theirs: BTreeMap<PublicKey, u64> = heads
            .into_iter()
            .map(|(author, height)| (PublicKey::from_bytes(author), height))
            .collect();
        // Behind until shown otherwise: a fetch that fails leaves it so.
        if theirs
            .iter()
            .any(|(author, height)| record.heads.get(author).copied().unwrap_or(0) < *height)
        {
            self.saw(
                context,
                peer,
                PeerView {
                    heads: theirs.clone(),
                    root: Hash::from_bytes(root),
                    digest: Hash::from_bytes(digest),
                    status: "behind",
                    at: Instant::now(),
                },
            );
        }
        let creator = members.creator();

        let mut authors: Vec<PublicKey> = theirs.keys().copied().collect();
        authors.sort_by_key(|author| *author != creator);
        let mut applied = 0;
        for author in authors {
            let want = theirs[&author];
            if !members.contains(&author.to_bytes()) {
                continue;
            }
            loop {
                let have = record.heads.get(&author).copied().unwrap_or(0);
                if have >= want {
                    break;
                }
                let answer = self
                    .ask(
                        peer,
                        &record,
                        Ask::Deltas {
                            author: author.to_bytes(),
                            after: have,
                            limit: self.config.batch_deltas,
                        },
                    )
                    .await?;
                let Answer::Deltas(deltas) = answer else {
                    return Err(unavailable(format!(
                        "{peer} answered a delta request with something else"
                    )));
                };
                if deltas.is_empty() {
                    break;
                }
                // The next ones, in order: a batch that would not advance
                // this node's head (already applied, or a gap) ends the
                // catch-up instead of asking again forever.
                let in_order = deltas.iter().zip(have + 1..).all(|(delta, height)| {
                    delta.author == author.to_bytes() && delta.height == height
                });
                if !in_order {
                    return Err(unavailable(format!(
                        "{peer} answered with deltas that are not {author}'s next ones after {have}"
                    )));
                }
                applied += self.apply(context, &members, deltas).await?;
                record = self.record(context)?;
            }
        }
        let (record, ours) = self.digest(context)?;
        let same_heads = theirs
            .iter()
            .all(|(author, height)| record.heads.get(author).copied().unwrap_or(0) == *height)
            && record
                .heads
                .iter()
                .all(|(author, height)| theirs.get(author).copied().unwrap_or(0) == *height);
        let root = Hash::from_bytes(root);
        let digest = Hash::from_bytes(digest);
        let status = if !same_heads {
            if theirs
                .iter()
                .any(|(author, height)| record.heads.get(author).copied().unwrap_or(0) < *height)
            {
                "behind"
            } else {
                "ahead"
            }
        } else if root == record.root_hash && digest == ours {
            "inSync"
        } else {
            // The same deltas, different results: the application's merge
            // disagrees (docs/replication.md). Shown, never papered over.
            if !self.was(context, &peer, "diverged") {
                tracing::warn!(%context, %peer, %root, ours = %record.root_hash, "diverged: same deltas, different state");
            }
            "diverged"
        };
        self.saw(
            context,
            peer,
            PeerView {
                heads: theirs,
                root,
                digest,
                status,
                at: Instant::now(),
            },
        );
        Ok(applied)
    }

    /// A context's record and values digest, from one snapshot.
    fn digest(&self, context: &ContextId) -> Result<(ContextRecord, Hash), NodeError> {
        self.node
            .values_digest(context)?
            .ok_or(NodeError::ContextNotFound(*context))
    }

    /// Whether the last comparison with `peer` had `status`.
    fn was(&self, context: &ContextId, peer: &PeerId, status: &str) -> bool {
        self.state()
            .peers
            .get(context)
            .and_then(|views| views.get(peer))
            .is_some_and(|view| view.status == status)
    }

    fn saw(&self, context: &ContextId, peer: PeerId, view: PeerView) {
        let mut state = self.state();
        let views = state.peers.entry(*context).or_default();
        views.retain(|_, view| view.at.elapsed() < VIEW_KEPT);
        views.insert(peer, view);
    }

    /// Checks deltas' proofs and applies them in order, durably, in one
    /// turn of the context's writer (each runs over the one before, their
    /// commits share fsyncs); how many were new. A delta whose proof does
    /// not check out stops the batch: the ones before it still apply.
    async fn apply(
        &self,
        context: &ContextId,
        members: &Members,
        deltas: Vec<WireDelta>,
    ) -> Result<usize, NodeError> {
        let mut checked = Vec::with_capacity(deltas.len());
        let mut forged = None;
        for delta in deltas {
            let proof = delta.proof.clone();
            let delta = delta.into_delta();
            if !members.may_sign(&delta.author.to_bytes(), &proof.signer)
                || !proto::verify_delta(context, &delta, &proof)
            {
                forged = Some(NodeError::Rejected(format!(
                    "delta {} of member {} is not signed by it or its host",
                    delta.height, delta.author
                )));
                break;
            }
            checked.push(delta);
        }
        let context = *context;
        let (mutations, refused) = self
            .node
            .run_blocking_on(context, move |node| {
                let mut mutations = Vec::new();
                for delta in checked {
                    match node.begin_apply(&context, delta) {
                        Ok(Some(mutation)) => mutations.push(mutation),
                        Ok(None) => {}
                        Err(error) => return Ok::<_, NodeError>((mutations, Some(error))),
                    }
                }
                Ok((mutations, None))
            })
            .await?;
        let mut applied = 0;
        for mutation in mutations {
            mutation.durable().await?;
            applied += 1;
        }
        match refused.or(forged) {
            Some(error) => Err(error),
            None => Ok(applied),
        }
    }

    // ----- Serving -------------------------------------------------------

    fn admit_request(&self, peer: PeerId) -> bool {
        let rate = f64::from(self.config.peer_requests_per_second.max(1));
        let now = Instant::now();
        let mut state = self.state();
        let bucket = state.buckets.entry(peer).or_insert(Bucket {
            tokens: rate * 2.0,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(rate * 2.0);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    /// Answers a peer's request.
    pub async fn answer(&self, peer: PeerId, request: &[u8]) -> Vec<u8> {
        let answer = match self.answer_request(peer, request).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(%peer, %error, "request refused");
                Answer::Refused(error.to_string())
            }
        };
        proto::encode(&answer)
    }

    async fn answer_request(&self, peer: PeerId, request: &[u8]) -> Result<Answer, NodeError> {
        if !self.admit_request(peer) {
            return Err(NodeError::Busy(0));
        }
        // One answer for every way of not being a member's node: a
        // stranger learns nothing, not even whether the context exists.
        let refused = || NodeError::Rejected("not a member's node of this context".into());
        let request = proto::decode::<Request>(request).ok_or_else(refused)?;
        if !request.auth.verify(&peer.to_bytes(), &request.context) {
            return Err(refused());
        }
        let context = proto::context_id(&request.context);
        let record = self
            .node
            .context(&context)?
            .filter(|record| record.sharing.is_some())
            .ok_or_else(refused)?;
        let members = self.members(&record).ok_or_else(refused)?;
        if !members.speaks_for_a_node(&request.auth.member) {
            return Err(refused());
        }
        match request.ask {
            Ask::State => {
                // Membership, heads, root and digest from one snapshot.
                let (record, digest) = self.digest(&context)?;
                let sharing = record.sharing.as_ref().ok_or_else(refused)?;
                let members = self.members(&record).ok_or_else(refused)?;
                Ok(Answer::State {
                    genesis: proto::from_text(&sharing.genesis)
                        .ok_or_else(|| NodeError::Internal("unreadable genesis".into()))?,
                    invitations: members.accepted().to_vec(),
                    heads: record
                        .heads
                        .iter()
                        .map(|(author, height)| (author.to_bytes(), *height))
                        .collect(),
                    root: record.root_hash.to_bytes(),
                    digest: digest.to_bytes(),
                })
            }
            Ask::Deltas {
                author,
                after,
                limit,
            } => {
                let author = PublicKey::from_bytes(author);
                let limit = limit.min(self.config.batch_deltas).max(1) as usize;
                let budget = self.config.batch_bytes;
                let deltas = self
                    .node
                    .run_blocking(move |node| {
                        node.deltas_after(&context, &author, after, limit, budget)
                    })
                    .await?;
                let out = deltas
                    .into_iter()
                    .map(|delta| {
                        let proof = self.proof_of(&record, &members, &delta)?;
                        Ok(WireDelta::of(delta, proof))
                    })
                    .collect::<Result<_, NodeError>>()?;
                Ok(Answer::Deltas(out))
            }
            Ask::Application => {
                let application = self
                    .node
                    .application(&record.application_id)?
                    .ok_or(NodeError::ApplicationNotFound(record.application_id))?;
                let wasm = self
                    .node
                    .blob(&application.blob)?
                    .ok_or(NodeError::ApplicationNotFound(record.application_id))?;
                Ok(Answer::Application(wasm))
            }
        }
    }

    /// A delta's proof: the one it arrived with, or, for a delta made here,
    /// its author's signature (or its host's, for a hosted member).
    fn proof_of(
        &self,
        record: &ContextRecord,
        members: &Members,
        delta: &Delta,
    ) -> Result<Proof, NodeError> {
        if let Some(proof) = proto::decode::<Proof>(&delta.proof) {
            return Ok(proof);
        }
        if let Some(key) = self.node.member_key(&record.id, &delta.author)? {
            return Ok(proto::sign_delta(&record.id, delta, &key));
        }
        if let Some(host) = members.host_of(&delta.author.to_bytes()) {
            let host = PublicKey::from_bytes(host);
            if let Some(key) = self.node.member_key(&record.id, &host)? {
                return Ok(proto::sign_delta(&record.id, delta, &key));
            }
        }
        Err(NodeError::Internal(format!(
            "delta {} of member {} has no proof and this node cannot sign it",
            delta.height, delta.author
        )))
    }

    // ----- Local changes, gossip and anti-entropy --------------------------

    /// After a local commit: makes sure each member writing here is in the
    /// membership (a client key registered here is admitted as hosted by a
    /// member this node holds), then announces the new heads.
    pub async fn committed(&self, event: &NodeEvent) {
        let context = event.context_id;
        if !self.state().followed.contains(&context) {
            return;
        }
        let Ok(record) = self.record(&context) else {
            return;
        };
        let Some(members) = self.members(&record) else {
            return;
        };
        let unlisted: Vec<PublicKey> = record
            .heads
            .keys()
            .filter(|author| {
                !record.remote.contains(author) && !members.contains(&author.to_bytes())
            })
            .copied()
            .collect();
        if !unlisted.is_empty()
            && let Ok((host, key)) = self.held_key(&record)
        {
            let invitations = unlisted
                .iter()
                .map(|member| {
                    Signed::<Invitation>::sign(
                        Invitation {
                            context: context.to_bytes(),
                            application: record.application_id.to_bytes(),
                            inviter: host.to_bytes(),
                            invitee: member.to_bytes(),
                            hosted: true,
                            issued_at: now_ms(),
                        },
                        &key,
                    )
                })
                .collect();
            if let Err(error) = self.admit(&context, invitations, false).await {
                tracing::warn!(%context, %error, "cannot admit the members writing here");
            }
        }
        self.announce(&context).await;
    }

    /// Announces a context's heads (after a local commit, or after applying
    /// another node's deltas).
    async fn announce(&self, context: &ContextId) {
        let Ok(record) = self.record(context) else {
            return;
        };
        let Some(members) = self.members(&record) else {
            return;
        };
        // Every member's head, not only those hosted here: a peer that
        // cannot reach an author's node hears from this one what it can
        // fetch here.
        let heads = record.heads.clone();
        let count = u32::try_from(members.len()).unwrap_or(u32::MAX);
        // Said already (several commits announced at once read one record).
        let said = (heads.clone(), count);
        if self.state().announced.insert(*context, said.clone()) == Some(said) {
            return;
        }
        let Ok((_, key)) = self.held_key(&record) else {
            return;
        };
        let announce = Announce {
            auth: Auth::sign(
                &self.transport.local_peer().to_bytes(),
                context.as_bytes(),
                &key,
            ),
            context: context.to_bytes(),
            heads: heads
                .iter()
                .map(|(author, height)| (author.to_bytes(), *height))
                .collect(),
            members: count,
        };
        self.transport
            .publish(&topic(context), proto::encode(&announce))
            .await;
    }

    /// A gossip message: if it is a member's node's announcement and says
    /// that node has more than this one, catches up.
    pub async fn gossip(&self, source: Option<PeerId>, via: PeerId, data: &[u8]) {
        if let (Some(source), Some(announced)) = (source, self.check_announcement(source, data)) {
            self.announced(announced, source, via).await;
        }
    }

    /// Checks a gossip message: an announcement of a shared context, signed
    /// by a member that speaks for a node, bound to its publisher `source`.
    /// What it says, or `None` (the message is not forwarded then).
    pub fn check_announcement(&self, source: Option<PeerId>, data: &[u8]) -> Option<Announced> {
        let source = source?;
        let announce = proto::decode::<Announce>(data)?;
        let context = proto::context_id(&announce.context);
        let record = self.node.context(&context).ok()??;
        let members = self.members(&record)?;
        if !members.speaks_for_a_node(&announce.auth.member)
            || !announce.auth.verify(&source.to_bytes(), &announce.context)
        {
            tracing::debug!(%context, %source, "an announcement not from a member's node");
            return None;
        }
        let behind = announce.members as usize > members.len()
            || announce.heads.iter().any(|(author, height)| {
                record
                    .heads
                    .get(&PublicKey::from_bytes(*author))
                    .copied()
                    .unwrap_or(0)
                    < *height
            });
        Some(Announced { context, behind })
    }

    /// Follows a checked announcement: when it says `source` has more, catches
    /// up from it; when `source` cannot be reached (not connected here: the
    /// message came through `via`), from `via`.
    pub async fn announced(&self, announced: Announced, source: PeerId, via: PeerId) {
        let Announced { context, behind } = announced;
        if !behind {
            return;
        }
        for peer in std::iter::once(source).chain((via != source).then_some(via)) {
            match self.catch_up(peer, &context).await {
                Ok(_) => return,
                Err(error) => {
                    tracing::debug!(%context, %peer, %error, "catch-up after an announcement");
                }
            }
        }
    }

    /// A peer subscribed to a topic: if it is a shared context's, compare.
    pub async fn subscribed(&self, peer: PeerId, topic: &str) {
        let Some(context) = context_of_topic(topic) else {
            return;
        };
        // A peer compared with lately (or that refused or did not answer)
        // waits for anti-entropy: repeated subscriptions send nobody asking.
        if self.seen_recently(&context, &peer) {
            return;
        }
        if let Ok(record) = self.record(&context)
            && record.sharing.is_some()
            && let Err(error) = self.catch_up(peer, &context).await
        {
            tracing::debug!(%context, %peer, %error, "catch-up with a new subscriber");
        }
    }

    /// Anti-entropy: compares every shared context with each of its peers.
    /// How many deltas were applied.
    pub async fn tick(&self) -> usize {
        let followed: Vec<ContextId> = {
            let mut state = self.state();
            // A peer's request budget refills within two seconds: older ones
            // are full, and forgotten.
            state
                .buckets
                .retain(|_, bucket| bucket.at.elapsed() < Duration::from_secs(10));
            state.followed.iter().copied().collect()
        };
        let mut applied = 0;
        for context in followed {
            if !matches!(self.node.context(&context), Ok(Some(_))) {
                // Deleted here: leave its topic, forget what is kept about it.
                {
                    let mut state = self.state();
                    state.followed.remove(&context);
                    state.peers.remove(&context);
                    state.announced.remove(&context);
                    state.members.remove(&context);
                    state.catching_up.remove(&context);
                }
                self.transport.unsubscribe(&topic(&context)).await;
                continue;
            }
            for peer in self.transport.topic_peers(&topic(&context)).await {
                // A peer that refused recently (not a member's node, or one
                // that does not know this node's member yet) is asked again
                // only after a pause.
                if self.refused_recently(&context, &peer) {
                    continue;
                }
                match self.catch_up(peer, &context).await {
                    Ok(count) => applied += count,
                    Err(error) => tracing::debug!(%context, %peer, %error, "anti-entropy"),
                }
            }
        }
        applied
    }

    /// Whether `peer` refused or did not answer lately.
    fn refused_recently(&self, context: &ContextId, peer: &PeerId) -> bool {
        self.state()
            .peers
            .get(context)
            .and_then(|peers| peers.get(peer))
            .is_some_and(|view| {
                matches!(view.status, "refused" | "unreachable")
                    && view.at.elapsed() < REFUSED_PAUSE
            })
    }

    /// Whether `peer` was compared with (whatever came of it) lately.
    fn seen_recently(&self, context: &ContextId, peer: &PeerId) -> bool {
        self.state()
            .peers
            .get(context)
            .and_then(|peers| peers.get(peer))
            .is_some_and(|view| view.at.elapsed() < REFUSED_PAUSE)
    }

    /// Follows the shared contexts ([`Replicator::start`]), then, until the
    /// node's event bus closes, announces each local commit
    /// ([`Replicator::committed`]) and runs anti-entropy
    /// ([`Replicator::tick`]) every [`SyncConfig::interval`] (a round still
    /// running makes the next wait).
    pub async fn follow_commits(self: Arc<Self>) {
        use tokio::sync::broadcast::error::RecvError;
        if let Err(error) = self.start().await {
            tracing::warn!(%error, "cannot follow the shared contexts");
        }
        let mut commits = self.node.subscribe();
        let mut ticks = tokio::time::interval(self.config.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ticking = Arc::new(tokio::sync::Semaphore::new(1));
        loop {
            tokio::select! {
                commit = commits.recv() => match commit {
                    Ok(event) => {
                        let replicator = self.clone();
                        tokio::spawn(async move { replicator.committed(&event).await });
                    }
                    // Missed announcements: anti-entropy finds what they said.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                _ = ticks.tick() => {
                    if let Ok(permit) = ticking.clone().try_acquire_owned() {
                        let replicator = self.clone();
                        tokio::spawn(async move {
                            let _permit = permit;
                            replicator.tick().await;
                        });
                    }
                }
            }
        }
    }

    /// A context's replication state.
    ///
    /// # Errors
    /// [`NodeError::ContextNotFound`], or the store's error.
    pub fn sync_state(&self, context: &ContextId) -> Result<SyncState, NodeError> {
        let (record, values_hash) = self.digest(context)?;
        let members = record
            .members
            .iter()
            .map(|member| MemberSync {
                public_key: *member,
                local: !record.remote.contains(member),
                height: record.heads.get(member).copied().unwrap_or(0),
            })
            .collect();
        let now = Instant::now();
        let peers = self
            .state()
            .peers
            .get(context)
            .map(|peers| {
                peers
                    .iter()
                    .filter(|(_, view)| now.duration_since(view.at) < VIEW_KEPT)
                    .map(|(peer, view)| PeerSync {
                        peer_id: peer.to_string(),
                        status: view.status,
                        heads: view
                            .heads
                            .iter()
                            .map(|(author, height)| (author.to_string(), *height))
                            .collect(),
                        root_hash: view.root,
                        values_hash: view.digest,
                        age_ms: u64::try_from(now.duration_since(view.at).as_millis())
                            .unwrap_or(u64::MAX),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(SyncState {
            shareable: record.sharing.is_some(),
            members,
            root_hash: record.root_hash,
            values_hash,
            peers,
        })
    }
}

/// `address/p2p/<peer>` split into the peer and the address.
fn split_peer(address: &str) -> Option<(PeerId, String)> {
    let (base, peer) = address.rsplit_once("/p2p/")?;
    Some((peer.parse().ok()?, format!("{base}/p2p/{peer}")))
}

fn with_peer(address: &str, peer: &PeerId) -> String {
    if address.contains("/p2p/") {
        address.to_owned()
    } else {
        format!("{address}/p2p/{peer}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_their_context() {
        let context = ContextId::from_bytes([7; 32]);
        assert_eq!(context_of_topic(&topic(&context)), Some(context));
        assert_eq!(context_of_topic("/other/x"), None);
    }
}
