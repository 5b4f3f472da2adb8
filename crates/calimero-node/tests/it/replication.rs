//! Three real `calimero-node` processes sharing one context over libp2p on
//! loopback: create on A, invite and join B and C (which fetch the
//! application from A), mutate on all three at once, `kill -9` B mid-stream
//! and restart it, then check that every node holds the same values and the
//! same root, reports its peers `inSync`, and that a WebSocket subscriber on
//! each saw every change exactly once, by `seq`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use client::primitives::ws::EventPayload;
use client::{Client, ContextId, WatchEvent, WatchOptions};
use serde_json::json;

use super::{Running, start_with, stop};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A node with fixed HTTP and swarm ports (so that a restart keeps them).
struct Peer {
    home: tempfile::TempDir,
    http: u16,
    swarm: u16,
}

impl Peer {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("temp dir"),
            http: free_port(),
            swarm: free_port(),
        }
    }

    fn start(&self, bootstrap: &[String]) -> Running {
        let listen = format!("127.0.0.1:{}", self.http);
        let swarm = format!("/ip4/127.0.0.1/tcp/{}", self.swarm);
        let mut args = vec!["--listen", &listen, "--swarm-listen", &swarm];
        let bootstrap = bootstrap.join(",");
        if !bootstrap.is_empty() {
            args.extend(["--bootstrap", &bootstrap]);
        }
        start_with(self.home.path(), &args)
    }

    async fn client(&self) -> Client {
        Client::operator(self.home.path())
            .await
            .expect("the operator client")
    }
}

/// Sets `count` keys named `prefix-i` on a node, one after another; the keys
/// whose set was answered as committed.
async fn writer(client: Client, context: ContextId, prefix: String, count: usize) -> Vec<String> {
    let mut committed = Vec::new();
    for i in 0..count {
        let key = format!("{prefix}-{i}");
        let set = client
            .mutate(
                context,
                "set",
                json!({"key": key, "value": format!("v-{key}")}),
            )
            .await;
        if set.is_ok() {
            committed.push(key);
        }
    }
    committed
}

/// What a node holds of the context: every entry, its root, its members'
/// heights and its last event's `seq`.
async fn holdings(
    client: &Client,
    context: ContextId,
) -> (BTreeMap<String, String>, String, BTreeMap<String, u64>) {
    let entries = client
        .query(context, "entries", json!({}))
        .await
        .expect("entries");
    let entries: BTreeMap<String, String> =
        serde_json::from_value(entries.output).expect("a map of strings");
    let (context, sync) = client.context_sync(context).await.expect("the context");
    let sync = sync.expect("the node shares contexts");
    let heads = sync
        .members
        .iter()
        .map(|member| (member.public_key.to_string(), member.height))
        .collect();
    (entries, context.root_hash.to_string(), heads)
}

/// Every `seq` a subscriber saw, until it has seen `last`.
async fn seqs_until(watch: &mut client::Watch, seen: &mut Vec<u64>, last: u64) {
    while seen.last().copied().unwrap_or(0) < last {
        match tokio::time::timeout(Duration::from_secs(60), watch.next())
            .await
            .expect("events keep coming")
            .expect("the subscription holds")
        {
            WatchEvent::Event(event) => match event.payload {
                EventPayload::TransactionExecuted { .. } => {
                    seen.push(event.seq.expect("events carry seq"));
                }
                EventPayload::Gap { from_seq, to_seq } => {
                    panic!("gap {from_seq}..={to_seq}: the log keeps every event here")
                }
                _ => {}
            },
            WatchEvent::Reconnected { .. } => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_share_a_context_through_a_crash() {
    let (a, b, c) = (Peer::new(), Peer::new(), Peer::new());
    let node_a = a.start(&[]);
    assert_eq!(node_a.swarm.len(), 1, "{:?}", node_a.swarm);
    assert!(
        node_a.swarm[0].starts_with(&format!("/ip4/127.0.0.1/tcp/{}/p2p/", a.swarm)),
        "{:?}",
        node_a.swarm
    );
    let mut node_b = b.start(&node_a.swarm);
    let node_c = c.start(&node_a.swarm);
    let (ca, cb, cc) = (a.client().await, b.client().await, c.client().await);

    // A makes the context; B and C join it with keys of their own, fetching
    // the application from A (they never install it).
    let application = ca
        .install_bytes(test_utils::built_app("kv-store"))
        .await
        .expect("installs");
    let created = ca
        .create_context(application, b"{}".to_vec())
        .await
        .expect("creates");
    let context = created.context.id;
    let creator = created.member_public_key;
    for joiner in [&cb, &cc] {
        let invitee = joiner.create_identity().await.expect("an identity");
        let payload = ca.invite(context, creator, invitee).await.expect("invites");
        let joined = joiner.join(payload).await.expect("joins");
        assert_eq!(
            (joined.context_id, joined.member_public_key),
            (context, invitee)
        );
    }
    assert_eq!(
        cb.applications().await.expect("lists")[0].id,
        application,
        "B fetched the application from A"
    );

    // A subscriber on each node, from the first event.
    let options = || WatchOptions {
        since: BTreeMap::from([(context, 0)]),
        give_up_after: Duration::from_secs(120),
        ..WatchOptions::default()
    };
    let mut watches = Vec::new();
    for client in [&ca, &cb, &cc] {
        watches.push(client.watch(&[context], options()).await.expect("watches"));
    }

    // All three write at once; B is killed in the middle of its writes.
    let per_node = 20;
    let wa = tokio::spawn(writer(ca.clone(), context, "a".into(), per_node));
    let wc = tokio::spawn(writer(cc.clone(), context, "c".into(), per_node));
    let wb = tokio::spawn(writer(cb.clone(), context, "b".into(), per_node / 2));
    let mut b_keys = wb.await.expect("B's writer");
    node_b.child.kill().expect("kill -9 B");
    let _ = node_b.child.wait();
    node_b = b.start(&node_a.swarm);
    let cb = b.client().await;
    let more = writer(cb.clone(), context, "b2".into(), per_node / 2).await;
    b_keys.extend(more);
    let mut written: Vec<String> = wa.await.expect("A's writer");
    written.extend(wc.await.expect("C's writer"));
    written.extend(b_keys);
    assert!(written.len() >= 2 * per_node, "{written:?}");

    // Converged: the same entries, root and heights everywhere, holding
    // every committed write.
    let started = Instant::now();
    let clients = [&ca, &cb, &cc];
    let (entries, root, heads) = loop {
        let mut views = Vec::new();
        for client in clients {
            views.push(holdings(client, context).await);
        }
        if views.windows(2).all(|pair| pair[0] == pair[1]) {
            break views.swap_remove(0);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no convergence within 120 s: {:#?}",
            views
                .iter()
                .map(|(entries, root, heads)| (entries.len(), root, heads))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for key in &written {
        assert_eq!(entries.get(key), Some(&format!("v-{key}")), "{key}");
    }
    assert_ne!(root, client::Hash::ZERO.to_string());
    // And each node says so: every peer it compares with is `inSync`, with
    // this node's root and values digest (a publisher it could only reach
    // through another peer stays `unreachable` until that view expires).
    let started = Instant::now();
    for (node, client) in clients.iter().enumerate() {
        loop {
            let (_, sync) = client.context_sync(context).await.expect("the context");
            let sync = sync.expect("the node shares contexts");
            let compared: Vec<_> = sync
                .peers
                .iter()
                .filter(|peer| peer.status != "unreachable")
                .collect();
            let agreed = !compared.is_empty()
                && compared.iter().all(|peer| {
                    peer.status == "inSync"
                        && peer.root_hash == sync.root_hash
                        && peer.values_hash == sync.values_hash
                });
            if agreed {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "node {node} does not report its peers in step: {sync:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // One event record per delta, on every node: each applied once.
    let last: u64 = heads.values().sum();
    assert!(last > written.len() as u64, "{heads:?}");
    for (node, watch) in watches.iter_mut().enumerate() {
        let mut seen = Vec::new();
        seqs_until(watch, &mut seen, last).await;
        assert_eq!(
            seen,
            (1..=last).collect::<Vec<_>>(),
            "node {node}'s subscriber saw each change once"
        );
    }
    drop(watches);
    stop(node_c);
    stop(node_b);
    stop(node_a);
}
