//! Replication over the libp2p swarm of `node-network`.

use std::sync::Arc;

use node_network::{Network, NetworkEvent, PeerId};
use tokio::sync::{Semaphore, broadcast, mpsc};

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

/// Most peer requests and gossip messages handled at once.
const IN_FLIGHT: usize = 64;

/// Runs replication until the swarm stops: answers peers, catches up after
/// announcements and subscriptions, announces local commits, and runs
/// anti-entropy every [`super::SyncConfig::interval`].
pub async fn run(replicator: Arc<Replicator<Network>>, mut events: mpsc::Receiver<NetworkEvent>) {
    if let Err(error) = replicator.start().await {
        tracing::warn!(%error, "cannot follow the shared contexts");
    }
    let mut commits = replicator.node().subscribe();
    let mut ticks = tokio::time::interval(replicator.config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let ticking = Arc::new(Semaphore::new(1));
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return };
                if !matches!(event, NetworkEvent::Request { .. } | NetworkEvent::Gossip { .. }) {
                    tracing::debug!(?event, "network");
                }
                // Past the bound, a request goes unanswered (the asker's
                // request fails) and gossip is left to anti-entropy.
                let Ok(permit) = in_flight.clone().try_acquire_owned() else { continue };
                let replicator = replicator.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match event {
                        NetworkEvent::Request { peer, data, reply } => {
                            reply.send(replicator.answer(peer, &data).await);
                        }
                        NetworkEvent::Gossip { source, data, .. } => replicator.gossip(source, &data).await,
                        NetworkEvent::Subscribed { peer, topic } => replicator.subscribed(peer, &topic).await,
                        NetworkEvent::Connected(_) | NetworkEvent::Disconnected(_) => {}
                    }
                });
            }
            commit = commits.recv() => match commit {
                Ok(event) => {
                    let replicator = replicator.clone();
                    tokio::spawn(async move { replicator.committed(&event).await });
                }
                // Missed announcements: anti-entropy finds what they said.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticks.tick() => {
                if let Ok(permit) = ticking.clone().try_acquire_owned() {
                    let replicator = replicator.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        replicator.tick().await;
                    });
                }
            }
        }
    }
}
