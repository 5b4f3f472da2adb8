//! The node's libp2p swarm: TCP with noise and yamux, identify and ping, a
//! gossipsub topic per context for fresh updates and a request-response
//! protocol for catching up. It moves bytes between peers and knows nothing
//! of what they mean: what is signed, by whom, and whether to believe it is
//! the replication layer's business (`node::sync`).
//!
//! [`Network::start`] runs the swarm on its own task; the returned
//! [`Network`] is a cheap handle that sends it commands, and the receiver
//! yields what peers send ([`NetworkEvent`]).

mod codec;
mod swarm;

use std::time::Duration;

pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId};

pub use crate::swarm::{GossipId, Network, NetworkEvent, Reply};

/// What the swarm listens on, whom it dials at start, and its bounds.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on (TCP port 0 picks a free port).
    pub listen: Vec<Multiaddr>,
    /// Peers dialled at start and redialled when their connection drops
    /// (each ends in `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// The largest gossip message, bytes.
    pub max_message: usize,
    /// The largest request, bytes.
    pub max_request: usize,
    /// The largest response, bytes.
    pub max_response: usize,
    /// How long a request waits for its response.
    pub request_timeout: Duration,
    /// The gossipsub heartbeat (mesh upkeep).
    pub heartbeat: Duration,
    /// How often peers worth keeping are redialled when not connected.
    pub redial_interval: Duration,
    /// The most topics a peer may subscribe to in our view of it.
    pub max_peer_topics: usize,
    /// The most connections established at once.
    pub max_connections: u32,
    /// The most connections to one peer.
    pub max_connections_per_peer: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr")],
            bootstrap: Vec::new(),
            max_message: 1 << 20,
            max_request: 64 << 10,
            max_response: 64 << 20,
            request_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_millis(500),
            redial_interval: Duration::from_secs(2),
            max_peer_topics: 100_000,
            max_connections: 512,
            max_connections_per_peer: 4,
        }
    }
}

/// What went wrong talking to the swarm or a peer.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A listen or bootstrap address the swarm cannot use.
    #[error("bad address {address}: {reason}")]
    Address {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The swarm could not be built (its transport or behaviours).
    #[error("cannot start the swarm: {0}")]
    Start(String),
    /// A request failed: no connection, a timeout, a closed stream.
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer asked.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A message larger than the configured bound.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The swarm has stopped.
    #[error("the network has stopped")]
    Stopped,
}
