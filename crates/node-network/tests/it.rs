//! Two swarms over TCP on loopback: requests and answers, gossip on more
//! than a hundred topics, bounds on message sizes.

use std::time::{Duration, Instant};

use node_network::{Keypair, Network, NetworkConfig, NetworkError, NetworkEvent};
use tokio::sync::mpsc;

async fn swarm(bootstrap: Vec<node_network::Multiaddr>) -> (Network, mpsc::Receiver<NetworkEvent>) {
    Network::start(
        Keypair::generate_ed25519(),
        NetworkConfig {
            bootstrap,
            max_message: 64 << 10,
            heartbeat: Duration::from_millis(100),
            ..NetworkConfig::default()
        },
    )
    .await
    .expect("the swarm starts")
}

/// Polls `check` until it holds, for at most 20 s.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_swarms_answer_requests_and_gossip_on_many_topics() {
    let (a, mut a_events) = swarm(Vec::new()).await;
    let addresses = a.listening().await.expect("addresses");
    assert!(
        addresses[0]
            .to_string()
            .ends_with(&format!("/p2p/{}", a.peer_id())),
        "{addresses:?}"
    );
    let (b, _b_events) = swarm(addresses).await;

    // A answers every request with the request reversed, and passes on the
    // gossip it receives.
    let (gossip, mut received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = a_events.recv().await {
            match event {
                NetworkEvent::Request { data, reply, .. } => {
                    reply.send(data.into_iter().rev().collect());
                }
                NetworkEvent::Gossip {
                    source,
                    topic,
                    data,
                    ..
                } => {
                    let _ = gossip.send((source, topic, data));
                }
                _ => {}
            }
        }
    });
    let started = Instant::now();
    let answer = loop {
        match b.request(a.peer_id(), b"abc".to_vec()).await {
            Ok(answer) => break answer,
            Err(error) => assert!(started.elapsed() < Duration::from_secs(20), "{error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(answer, b"cba");
    // A request past the bound fails on the asker's side, unsent.
    let large = b.request(a.peer_id(), vec![0; (64 << 10) + 1]).await;
    assert!(large.is_err(), "a request past max_request is refused");

    // 150 topics: more than the 100 some stacks allow per peer.
    let topics: Vec<String> = (0..150).map(|i| format!("/test/topic/{i}")).collect();
    for topic in &topics {
        a.subscribe(topic).await.expect("subscribes");
        b.subscribe(topic).await.expect("subscribes");
    }
    let last = topics.last().expect("topics").clone();
    eventually("B sees A on the last topic", || {
        let (b, last, a) = (b.clone(), last.clone(), a.peer_id());
        async move { b.topic_peers(&last).await.expect("peers") == vec![a] }
    })
    .await;
    assert_eq!(
        b.publish(&last, b"news".to_vec()).await.expect("publishes"),
        1
    );
    let (source, topic, data) = tokio::time::timeout(Duration::from_secs(20), received.recv())
        .await
        .expect("A receives the message")
        .expect("A's events go on");
    assert_eq!(
        (source, topic, data),
        (Some(b.peer_id()), last.clone(), b"news".to_vec())
    );

    // A message past the gossip bound is refused as too large.
    match b.publish(&last, vec![1; (64 << 10) + 1]).await {
        Err(NetworkError::TooLarge { limit, .. }) => assert_eq!(limit, 64 << 10),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Nobody on a topic: published to no one, not an error.
    assert_eq!(
        b.publish("/test/empty", b"x".to_vec()).await.expect("ok"),
        0
    );
}
