//! Replication over the libp2p swarm of `node-network`.

use std::sync::Arc;

use node_network::{Network, NetworkEvent, PeerId};
use tokio::sync::{Semaphore, mpsc};

use super::{Replicator, Transport};

impl Transport for Network {
    fn local_peer(&self) -> PeerId {
        self.peer_id()
    }

    async fn publish(&self, topic: &str, data: Vec<u8>) {
        if let Err(error) = Network::publish(self, topic, data).await {
            tracing::warn!(%error, "publish");
        }
    }

    async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, String> {
        Network::request(self, peer, data)
            .await
            .map_err(|error| error.to_string())
    }

    async fn subscribe(&self, topic: &str) {
        let _ = Network::subscribe(self, topic).await;
    }

    async fn unsubscribe(&self, topic: &str) {
        let _ = Network::unsubscribe(self, topic).await;
    }

    async fn topic_peers(&self, topic: &str) -> Vec<PeerId> {
        Network::topic_peers(self, topic).await.unwrap_or_default()
    }

    async fn remember(&self, peer: PeerId, addresses: &[String]) {
        let addresses = addresses
            .iter()
            .filter_map(|address| address.parse().ok())
            .collect();
        let _ = Network::remember(self, peer, addresses).await;
    }

    async fn addresses(&self) -> Vec<String> {
        self.listening()
            .await
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

/// Most peer requests, and most gossip messages and subscriptions, handled
/// at once (each).
const IN_FLIGHT: usize = 64;

/// Runs replication until the swarm stops: answers peers and catches up
/// after announcements and subscriptions, while
/// [`Replicator::follow_commits`] announces local commits and runs
/// anti-entropy.
pub async fn run(replicator: Arc<Replicator<Network>>, mut events: mpsc::Receiver<NetworkEvent>) {
    let local = tokio::spawn(replicator.clone().follow_commits());
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let answering = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(event) = events.recv().await {
        if matches!(
            event,
            NetworkEvent::Connected(_) | NetworkEvent::Disconnected(_)
        ) {
            tracing::debug!(?event, "network");
            continue;
        }
        // Past the bound, a request goes unanswered (the asker's request
        // fails) and gossip is left to anti-entropy. Peers' requests and
        // what starts this node's catch-ups have bounds of their own, so
        // neither crowds out the other.
        let bound = if matches!(event, NetworkEvent::Request { .. }) {
            &answering
        } else {
            &in_flight
        };
        let Ok(permit) = bound.clone().try_acquire_owned() else {
            continue;
        };
        let replicator = replicator.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match event {
                NetworkEvent::Request { peer, data, reply } => {
                    reply.send(replicator.answer(peer, &data).await);
                }
                NetworkEvent::Gossip {
                    id,
                    source,
                    via,
                    data,
                    ..
                } => {
                    let announced = replicator.check_announcement(source, &data);
                    // Forwarded to the mesh only when it is a member's.
                    let _ = replicator
                        .transport()
                        .validate(id, announced.is_some())
                        .await;
                    if let (Some(source), Some(announced)) = (source, announced) {
                        replicator.announced(announced, source, via).await;
                    }
                }
                NetworkEvent::Subscribed { peer, topic } => {
                    replicator.subscribed(peer, &topic).await;
                }
                NetworkEvent::Connected(_) | NetworkEvent::Disconnected(_) => {}
            }
        });
    }
    local.abort();
}
