//! The swarm task and the handle that commands it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, ping, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{BytesCodec, PROTOCOL};
use crate::{Keypair, NetworkConfig, NetworkError};

/// What peers send, in the order the swarm saw it.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "each event moves through one channel once; boxing buys nothing"
)]
pub enum NetworkEvent {
    /// A gossip message on a topic this node subscribed to.
    Gossip {
        /// Which message it is: report whether it is valid with
        /// [`Network::validate`] (it is forwarded only when it is).
        id: GossipId,
        /// The peer that published it (authenticated by gossipsub's own
        /// signature).
        source: Option<PeerId>,
        /// The connected peer that forwarded it (the publisher, or a peer
        /// between).
        via: PeerId,
        /// The topic.
        topic: String,
        /// The payload.
        data: Vec<u8>,
    },
    /// A request; answer it through `reply` (dropping it fails the request).
    Request {
        /// The asking peer.
        peer: PeerId,
        /// The request.
        data: Vec<u8>,
        /// Where the answer goes.
        reply: Reply,
    },
    /// A first connection to a peer.
    Connected(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
    /// A connected peer subscribed to a topic.
    Subscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: String,
    },
}

/// A gossip message awaiting validation.
#[derive(Debug, Clone)]
pub struct GossipId {
    id: MessageId,
    via: PeerId,
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply(oneshot::Sender<Vec<u8>>);

impl Reply {
    /// Sends the answer.
    pub fn send(self, data: Vec<u8>) {
        // The peer may have gone; nothing to do then.
        let _ = self.0.send(data);
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: libp2p::connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour<
        gossipsub::IdentityTransform,
        gossipsub::MaxCountSubscriptionFilter<gossipsub::AllowAllSubscriptionFilter>,
    >,
    sync: request_response::Behaviour<BytesCodec>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

enum Command {
    Subscribe(String),
    Unsubscribe(String),
    Publish(
        String,
        Vec<u8>,
        oneshot::Sender<Result<usize, NetworkError>>,
    ),
    Request(
        PeerId,
        Vec<u8>,
        oneshot::Sender<Result<Vec<u8>, NetworkError>>,
    ),
    TopicPeers(String, oneshot::Sender<Vec<PeerId>>),
    Connected(oneshot::Sender<Vec<PeerId>>),
    Remember(PeerId, Vec<Multiaddr>),
    Validate(GossipId, bool),
    Listening(oneshot::Sender<Vec<Multiaddr>>),
}

/// A handle on the running swarm; cloning it is cheap. The swarm stops when
/// every handle is dropped.
#[derive(Debug, Clone)]
pub struct Network {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|part| match part {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

fn message_id(message: &gossipsub::Message) -> MessageId {
    // Content-addressed: the same payload from two publishers is one
    // message, so a duplicate is dropped wherever it comes from.
    use sha2::Digest;
    MessageId::from(sha2::Sha256::digest(&message.data).to_vec())
}

impl Network {
    /// Builds the swarm with `key` as its identity, listens on
    /// `config.listen`, waits until each listener has an address, dials the
    /// bootstrap peers and runs it on a task of its own.
    ///
    /// # Errors
    /// [`NetworkError::Address`] for an address it cannot listen on or dial,
    /// [`NetworkError::Start`] when the transport cannot be built.
    pub async fn start(
        key: Keypair,
        config: NetworkConfig,
    ) -> Result<(Self, mpsc::Receiver<NetworkEvent>), NetworkError> {
        let start = |error: &dyn std::fmt::Display| NetworkError::Start(error.to_string());
        let gossip_config = gossipsub::ConfigBuilder::default()
            .max_transmit_size(config.max_message)
            .heartbeat_interval(config.heartbeat)
            .validation_mode(gossipsub::ValidationMode::Strict)
            .message_id_fn(message_id)
            // Forwarded only once the node has checked it.
            .validate_messages()
            .flood_publish(true)
            .mesh_n_low(1)
            .mesh_n(3)
            .mesh_n_high(6)
            .mesh_outbound_min(1)
            .build()
            .map_err(|error| start(&error))?;
        let request_config = request_response::Config::default()
            .with_request_timeout(config.request_timeout)
            .with_max_concurrent_streams(64);
        let codec = BytesCodec {
            max_request: config.max_request,
            max_response: config.max_response,
        };
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|error| start(&error))?
            .with_behaviour(|key| {
                let gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
                    MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                    gossipsub::MaxCountSubscriptionFilter {
                        filter: gossipsub::AllowAllSubscriptionFilter {},
                        max_subscribed_topics: config.max_peer_topics,
                        max_subscriptions_per_request: config.max_peer_topics,
                    },
                )?;
                let limits = libp2p::connection_limits::ConnectionLimits::default()
                    .with_max_established(Some(config.max_connections))
                    .with_max_pending_incoming(Some(config.max_connections / 4 + 1))
                    .with_max_established_per_peer(Some(config.max_connections_per_peer));
                Ok(Behaviour {
                    limits: libp2p::connection_limits::Behaviour::new(limits),
                    gossipsub,
                    sync: request_response::Behaviour::with_codec(
                        codec,
                        [(PROTOCOL, ProtocolSupport::Full)],
                        request_config,
                    ),
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/calimero/1".to_owned(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::default(),
                })
            })
            .map_err(|error| start(&error))?
            // Peers sharing a context stay connected: gossipsub alone keeps
            // only its mesh alive.
            .with_swarm_config(|swarm| {
                swarm.with_idle_connection_timeout(Duration::from_secs(3600))
            })
            .build();
        let peer_id = *swarm.local_peer_id();
        let mut listeners = HashSet::new();
        for address in &config.listen {
            let id = swarm
                .listen_on(address.clone())
                .map_err(|error| NetworkError::Address {
                    address: address.to_string(),
                    reason: error.to_string(),
                })?;
            listeners.insert(id);
        }
        // Each listener's first address, before anyone is told we are up.
        let mut bound = HashSet::new();
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while bound.len() < listeners.len() {
                match swarm.select_next_some().await {
                    SwarmEvent::NewListenAddr { listener_id, .. } => {
                        bound.insert(listener_id);
                    }
                    SwarmEvent::ListenerClosed {
                        reason: Err(error), ..
                    }
                    | SwarmEvent::ListenerError { error, .. } => return Err(error.to_string()),
                    _ => {}
                }
            }
            Ok(())
        })
        .await;
        match waited {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                return Err(NetworkError::Address {
                    address: format!("{:?}", config.listen),
                    reason,
                });
            }
            Err(_) => {
                return Err(NetworkError::Start(
                    "listeners did not bind within 10 s".into(),
                ));
            }
        }
        let mut keep = HashMap::new();
        for address in &config.bootstrap {
            let peer = peer_of(address).ok_or_else(|| NetworkError::Address {
                address: address.to_string(),
                reason: "a bootstrap address ends in /p2p/<peer id>".into(),
            })?;
            keep.entry(peer)
                .or_insert_with(Vec::new)
                .push(address.clone());
        }
        let (commands, receive_commands) = mpsc::channel(1024);
        let (events, receive_events) = mpsc::channel(4096);
        let task = Task {
            swarm,
            events,
            keep,
            requests: HashMap::new(),
            replies: FuturesUnordered::new(),
            redial_interval: config.redial_interval,
            max_message: config.max_message,
        };
        tokio::spawn(task.run(receive_commands));
        Ok((Self { commands, peer_id }, receive_events))
    }

    /// This node's peer id.
    #[must_use]
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (send, receive) = oneshot::channel();
        self.commands
            .send(command(send))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        receive.await.map_err(|_| NetworkError::Stopped)
    }

    /// The addresses the swarm listens on, each ending in `/p2p/<peer id>`.
    ///
    /// # Errors
    /// [`NetworkError::Stopped`].
    pub async fn listening(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        let peer = self.peer_id;
        Ok(self
            .ask(Command::Listening)
            .await?
            .into_iter()
            .map(|address| address.with_p2p(peer).unwrap_or_else(|address| address))
            .collect())
    }

    /// Joins a gossip topic.
    ///
    /// # Errors
    /// [`NetworkError::Stopped`].
    pub async fn subscribe(&self, topic: &str) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Subscribe(topic.to_owned()))
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Leaves a gossip topic.
    ///
    /// # Errors
    /// [`NetworkError::Stopped`].
    pub async fn unsubscribe(&self, topic: &str) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Unsubscribe(topic.to_owned()))
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Publishes on a topic; how many peers it went to (0: nobody is
    /// subscribed, which is not an error: whoever missed it catches up).
    ///
    /// # Errors
    /// [`NetworkError::TooLarge`], [`NetworkError::Stopped`].
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<usize, NetworkError> {
        self.ask(|reply| Command::Publish(topic.to_owned(), data, reply))
            .await?
    }

    /// Sends a request and waits for its answer, dialling the peer if it is
    /// not connected and its address is known.
    ///
    /// # Errors
    /// [`NetworkError::Request`], [`NetworkError::Stopped`].
    pub async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, NetworkError> {
        self.ask(|reply| Command::Request(peer, data, reply))
            .await?
    }

    /// The connected peers subscribed to a topic.
    ///
    /// # Errors
    /// [`NetworkError::Stopped`].
    pub async fn topic_peers(&self, topic: &str) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(|reply| Command::TopicPeers(topic.to_owned(), reply))
            .await
    }

    /// The connected peers.
    ///
    /// # Errors
    /// [`NetworkError::Stopped`].
    pub async fn connected(&self) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(Command::Connected).await
    }

    /// Reports whether a gossip message is valid: a valid one is delivered
    /// on to the mesh, an invalid one is dropped here.
    ///
    /// # Errors
    /// [`NetworkError::Stopped`].
    pub async fn validate(&self, id: GossipId, valid: bool) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Validate(id, valid))
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Keeps a peer connected: dials it at these addresses now and whenever
    /// its connection drops.
    ///
    /// # Errors
    /// [`NetworkError::Stopped`].
    pub async fn remember(
        &self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
    ) -> Result<(), NetworkError> {
        self.commands
            .send(Command::Remember(peer, addresses))
            .await
            .map_err(|_| NetworkError::Stopped)
    }
}

type PendingReply =
    std::pin::Pin<Box<dyn Future<Output = (ResponseChannel<Vec<u8>>, Option<Vec<u8>>)> + Send>>;

struct Task {
    swarm: Swarm<Behaviour>,
    events: mpsc::Sender<NetworkEvent>,
    keep: HashMap<PeerId, Vec<Multiaddr>>,
    requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetworkError>>>,
    replies: FuturesUnordered<PendingReply>,
    redial_interval: Duration,
    max_message: usize,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut redial = tokio::time::interval(self.redial_interval);
        self.redial();
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.event(event),
                Some((channel, answer)) = self.replies.next(), if !self.replies.is_empty() => {
                    if let Some(answer) = answer {
                        // The peer may have gone.
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, answer);
                    }
                }
                _ = redial.tick() => self.redial(),
            }
        }
    }

    fn redial(&mut self) {
        for (peer, addresses) in &self.keep {
            if !self.swarm.is_connected(peer) {
                let options = DialOpts::peer_id(*peer)
                    .addresses(addresses.clone())
                    .build();
                if let Err(error) = self.swarm.dial(options) {
                    tracing::debug!(%peer, %error, "redial");
                }
            }
        }
    }

    fn command(&mut self, command: Command) {
        let behaviour = self.swarm.behaviour_mut();
        match command {
            Command::Subscribe(topic) => {
                if let Err(error) = behaviour.gossipsub.subscribe(&IdentTopic::new(topic)) {
                    tracing::warn!(%error, "subscribe");
                }
            }
            Command::Unsubscribe(topic) => {
                behaviour.gossipsub.unsubscribe(&IdentTopic::new(topic));
            }
            Command::Publish(topic, data, reply) => {
                let size = data.len();
                let result = match behaviour
                    .gossipsub
                    .publish(IdentTopic::new(topic.clone()), data)
                {
                    Ok(_) => Ok(behaviour
                        .gossipsub
                        .all_peers()
                        .filter(|(_, topics)| topics.iter().any(|t| t.as_str() == topic))
                        .count()),
                    // Nobody to send it to, or sent before: not lost, whoever
                    // lacks it catches up.
                    Err(PublishError::NoPeersSubscribedToTopic | PublishError::Duplicate) => Ok(0),
                    Err(PublishError::MessageTooLarge) => Err(NetworkError::TooLarge {
                        size,
                        limit: self.max_message,
                    }),
                    Err(error) => {
                        tracing::debug!(%error, "publish");
                        Ok(0)
                    }
                };
                let _ = reply.send(result);
            }
            Command::Request(peer, data, reply) => {
                let addresses = self.keep.get(&peer).cloned().unwrap_or_default();
                let id = behaviour
                    .sync
                    .send_request_with_addresses(&peer, data, addresses);
                self.requests.insert(id, reply);
            }
            Command::TopicPeers(topic, reply) => {
                let peers = behaviour
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.iter().any(|t| t.as_str() == topic))
                    .map(|(peer, _)| *peer)
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Connected(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Validate(GossipId { id, via }, valid) => {
                let acceptance = if valid {
                    gossipsub::MessageAcceptance::Accept
                } else {
                    gossipsub::MessageAcceptance::Ignore
                };
                behaviour
                    .gossipsub
                    .report_message_validation_result(&id, &via, acceptance);
            }
            Command::Remember(peer, addresses) => {
                let known = self.keep.entry(peer).or_default();
                for address in addresses {
                    if !known.contains(&address) {
                        known.push(address);
                    }
                }
                if !self.swarm.is_connected(&peer) {
                    let options = DialOpts::peer_id(peer).addresses(known.clone()).build();
                    let _ = self.swarm.dial(options);
                }
            }
            Command::Listening(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
        }
    }

    fn emit(&self, event: NetworkEvent) {
        // A full queue drops the event: gossip is caught up later, and a
        // dropped request fails on the asker's side.
        if self.events.try_send(event).is_err() {
            tracing::warn!("network event queue full; event dropped");
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                self.emit(NetworkEvent::Connected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.emit(NetworkEvent::Disconnected(peer_id));
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => match event {
                gossipsub::Event::Message {
                    message,
                    propagation_source,
                    message_id,
                } => self.emit(NetworkEvent::Gossip {
                    id: GossipId {
                        id: message_id,
                        via: propagation_source,
                    },
                    source: message.source,
                    via: propagation_source,
                    topic: message.topic.into_string(),
                    data: message.data,
                }),
                gossipsub::Event::Subscribed { peer_id, topic } => {
                    self.emit(NetworkEvent::Subscribed {
                        peer: peer_id,
                        topic: topic.into_string(),
                    });
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => match event {
                request_response::Event::Message { peer, message, .. } => match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let (send, receive) = oneshot::channel();
                        self.emit(NetworkEvent::Request {
                            peer,
                            data: request,
                            reply: Reply(send),
                        });
                        self.replies
                            .push(Box::pin(async move { (channel, receive.await.ok()) }));
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(reply) = self.requests.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                },
                request_response::Event::OutboundFailure {
                    peer,
                    request_id,
                    error,
                    ..
                } => {
                    if let Some(reply) = self.requests.remove(&request_id) {
                        let _ = reply.send(Err(NetworkError::Request {
                            peer,
                            reason: error.to_string(),
                        }));
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
}
