//! Replication under faults, in one process: N real nodes (real database
//! files, the real kv-store application) replicating through
//! [`Replicator`] over a simulated network whose seeded fault injector
//! drops, delays (so reorders) and duplicates gossip and requests,
//! partitions nodes, and restarts them with and without their data.
//!
//! Each run: a new context on node 0, joined by the others; every node
//! writes keys of its own while faults are on; then the faults stop and the
//! run measures how long until every live node holds the same heads, the
//! same root, the same stored bytes and the same values read through the
//! application, which must
//! hold every write a node acknowledged (unless that node lost its data).
//! A permanent partition must not converge (the negative control).
//!
//! `CALIMERO_SIM_RUNS` sets the number of seeded runs (default 200);
//! `CALIMERO_SIM_SEED` replays one seed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use node::sync::{PeerId, Replicator, SyncConfig, Transport};
use node::{Node, NodeConfig};
use node_primitives::{ApplicationId, ContextId, PublicKey};
use serde_json::json;
use tempfile::TempDir;
use tokio::task::JoinHandle;

use crate::support::{built_app, db};

/// splitmix64: a small seeded generator, the same sequence everywhere.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the network does to messages now.
#[derive(Debug, Default, Clone)]
struct Faults {
    drop_percent: u64,
    duplicate_percent: u64,
    max_delay_ms: u64,
    /// Nodes cut off from the others (they reach each other).
    isolated: BTreeSet<usize>,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: u64,
    dropped: u64,
    duplicated: u64,
}

type Live = Arc<Replicator<Sim>>;

/// The simulated network: who is up, who subscribed to what, the faults.
#[derive(Debug)]
struct Net {
    peers: Vec<PeerId>,
    live: Mutex<Vec<Option<Live>>>,
    topics: Mutex<Vec<BTreeSet<String>>>,
    faults: Mutex<Faults>,
    rng: Mutex<Rng>,
    counters: Mutex<Counters>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Net {
    fn index(&self, peer: &PeerId) -> Option<usize> {
        self.peers.iter().position(|known| known == peer)
    }

    fn node(&self, index: usize) -> Option<Live> {
        lock(&self.live)[index].clone()
    }

    fn reachable(&self, from: usize, to: usize) -> bool {
        let faults = lock(&self.faults);
        lock(&self.live)[to].is_some()
            && faults.isolated.contains(&from) == faults.isolated.contains(&to)
    }

    /// How many copies of a message arrive (0: dropped) and after how long.
    fn roll(&self) -> (usize, Duration) {
        let faults = lock(&self.faults).clone();
        let mut rng = lock(&self.rng);
        let mut counters = lock(&self.counters);
        let delay = Duration::from_millis(rng.below(faults.max_delay_ms + 1));
        if rng.chance(faults.drop_percent) {
            counters.dropped += 1;
            return (0, delay);
        }
        counters.delivered += 1;
        if rng.chance(faults.duplicate_percent) {
            counters.duplicated += 1;
            return (2, delay);
        }
        (1, delay)
    }
}

/// One node's view of the simulated network.
#[derive(Debug, Clone)]
struct Sim {
    net: Arc<Net>,
    me: usize,
}

impl Sim {
    /// The other nodes subscribed to `topic` that this one reaches now.
    fn reachable_subscribers(&self, topic: &str) -> Vec<usize> {
        let subscribed: Vec<usize> = lock(&self.net.topics)
            .iter()
            .enumerate()
            .filter(|(index, topics)| *index != self.me && topics.contains(topic))
            .map(|(index, _)| index)
            .collect();
        subscribed
            .into_iter()
            .filter(|to| self.net.reachable(self.me, *to))
            .collect()
    }
}

impl Transport for Sim {
    fn local_peer(&self) -> PeerId {
        self.net.peers[self.me]
    }

    async fn publish(&self, topic: &str, data: Vec<u8>) {
        for to in self.reachable_subscribers(topic) {
            let (copies, delay) = self.net.roll();
            for copy in 0..copies {
                let (net, data, from) = (self.net.clone(), data.clone(), self.net.peers[self.me]);
                let delay = delay * u32::try_from(copy + 1).unwrap_or(1);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if let Some(node) = net.node(to) {
                        node.gossip(Some(from), from, &data).await;
                    }
                });
            }
        }
    }

    async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, String> {
        let to = self.net.index(&peer).ok_or("unknown peer")?;
        if !self.net.reachable(self.me, to) {
            return Err(format!("{peer} is unreachable"));
        }
        let (copies, delay) = self.net.roll();
        tokio::time::sleep(delay).await;
        if copies == 0 {
            return Err("the request was lost".into());
        }
        let node = self.net.node(to).ok_or("the peer went down")?;
        let answer = node.answer(self.net.peers[self.me], &data).await;
        // A duplicated request is answered twice; the asker takes one.
        if copies == 2 {
            let _ = node.answer(self.net.peers[self.me], &data).await;
        }
        drop(node);
        let (copies, delay) = self.net.roll();
        tokio::time::sleep(delay).await;
        if copies == 0 || !self.net.reachable(to, self.me) {
            return Err("the answer was lost".into());
        }
        Ok(answer)
    }

    async fn subscribe(&self, topic: &str) {
        lock(&self.net.topics)[self.me].insert(topic.to_owned());
    }

    async fn unsubscribe(&self, topic: &str) {
        lock(&self.net.topics)[self.me].remove(topic);
    }

    async fn topic_peers(&self, topic: &str) -> Vec<PeerId> {
        self.reachable_subscribers(topic)
            .into_iter()
            .map(|to| self.net.peers[to])
            .collect()
    }

    async fn remember(&self, _peer: PeerId, _addresses: &[String]) {}

    async fn addresses(&self) -> Vec<String> {
        Vec::new()
    }
}

/// N nodes on the simulated network.
struct World {
    net: Arc<Net>,
    homes: Vec<TempDir>,
    drivers: Vec<Option<JoinHandle<()>>>,
    config: SyncConfig,
}

impl World {
    async fn new(nodes: usize, seed: u64) -> Self {
        let net = Arc::new(Net {
            peers: (0..nodes).map(|_| PeerId::random()).collect(),
            live: Mutex::new(vec![None; nodes]),
            topics: Mutex::new(vec![BTreeSet::new(); nodes]),
            faults: Mutex::new(Faults::default()),
            rng: Mutex::new(Rng(seed)),
            counters: Mutex::new(Counters::default()),
        });
        let mut world = Self {
            net,
            homes: (0..nodes)
                .map(|_| tempfile::tempdir().expect("temp dir"))
                .collect(),
            drivers: (0..nodes).map(|_| None).collect(),
            config: SyncConfig {
                interval: Duration::from_millis(50),
                join_timeout: Duration::from_secs(20),
                ..SyncConfig::default()
            },
        };
        for index in 0..nodes {
            world.start(index).await;
        }
        world
    }

    fn node(&self, index: usize) -> Live {
        self.net.node(index).expect("the node is up")
    }

    async fn start(&mut self, index: usize) {
        let path = db(self.homes[index].path());
        // The previous run's database closes once its last handle is gone.
        let started = Instant::now();
        let node = loop {
            match Node::open(&path, NodeConfig::default()) {
                Ok(node) => break node,
                Err(error) => {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "reopening: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let replicator = Replicator::new(
            node,
            Sim {
                net: self.net.clone(),
                me: index,
            },
            self.config.clone(),
        );
        lock(&self.net.live)[index] = Some(replicator.clone());
        self.drivers[index] = Some(tokio::spawn(replicator.follow_commits()));
    }

    /// Stops a node; its topics are forgotten (a restarted node subscribes
    /// again).
    async fn stop(&mut self, index: usize) {
        if let Some(driver) = self.drivers[index].take() {
            driver.abort();
            let _ = driver.await;
        }
        let stopped = lock(&self.net.live)[index].take();
        lock(&self.net.topics)[index].clear();
        if let Some(stopped) = stopped {
            let started = Instant::now();
            // Work in flight still holds it for a moment.
            while Arc::strong_count(&stopped) > 1 {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "node {index} is still in use"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }

    async fn restart(&mut self, index: usize) {
        self.stop(index).await;
        self.start(index).await;
    }

    /// Restarts a node without its data: an empty database.
    async fn wipe(&mut self, index: usize) {
        self.stop(index).await;
        self.homes[index] = tempfile::tempdir().expect("temp dir");
        self.start(index).await;
    }

    fn set_faults(&self, faults: Faults) {
        *lock(&self.net.faults) = faults;
    }

    /// A kv-store context created on node 0 and joined by every other node.
    async fn shared_kv_context(&self) -> ContextId {
        let zero = self.node(0).node().clone();
        let (record, creator) = tokio::task::spawn_blocking(move || {
            let application = zero
                .install_application(&built_app("kv-store"), "test", b"")
                .expect("installs")
                .id;
            zero.create_context(&application, b"{}")
        })
        .await
        .expect("ran")
        .expect("creates");
        for index in 1..self.homes.len() {
            self.join(index, record.id, creator).await;
        }
        record.id
    }

    /// Makes `index` a member of `context` by invitation from node 0's
    /// member `inviter`, retrying while the network loses messages.
    async fn join(&self, index: usize, context: ContextId, inviter: PublicKey) {
        let joiner = self.node(index);
        let invitee = joiner.node().new_identity().expect("an identity");
        let payload = self
            .node(0)
            .invite(&context, &inviter, &invitee)
            .await
            .expect("invites");
        let started = Instant::now();
        loop {
            match joiner.join(&payload).await {
                Ok(joined) => {
                    assert_eq!(joined, (context, invitee));
                    return;
                }
                Err(error) => {
                    assert!(started.elapsed() < Duration::from_secs(20), "join: {error}");
                }
            }
        }
    }
}

/// What a node holds of a context: heads, root and entries.
type Holding = (BTreeMap<PublicKey, u64>, String, BTreeMap<String, String>);

fn holding(node: &Node, context: &ContextId) -> Option<Holding> {
    let record = node.context(context).ok()??;
    let entries = node.query(context, "entries", b"{}", None).ok()?;
    let entries = serde_json::from_slice(&entries.returns?).ok()?;
    Some((record.heads, record.root_hash.to_string(), entries))
}

/// Whether every node in `nodes` holds the same non-empty state.
fn converged(world: &World, nodes: &[usize], context: &ContextId) -> Option<Holding> {
    // Heads and roots first: reading the values runs the application.
    let mut records = nodes.iter().map(|index| {
        world
            .node(*index)
            .node()
            .context(context)
            .ok()
            .flatten()
            .map(|record| (record.heads, record.root_hash))
    });
    let first = records.next()??;
    if !records.all(|record| record.as_ref() == Some(&first)) {
        return None;
    }
    // Then the stored values, which is what the nodes compare besides roots.
    let mut digests = nodes.iter().map(|index| {
        world
            .node(*index)
            .node()
            .values_digest(context)
            .ok()
            .flatten()
            .map(|(_, digest)| digest)
    });
    let first = digests.next()??;
    if !digests.all(|digest| digest == Some(first)) {
        return None;
    }
    let mut first: Option<Holding> = None;
    for index in nodes {
        let held = holding(world.node(*index).node(), context)?;
        match &first {
            None => first = Some(held),
            Some(first) if *first != held => return None,
            Some(_) => {}
        }
    }
    first
}

/// Sets keys `prefix-0..count` on a node (skipping while it is down); the
/// keys it acknowledged.
async fn write(
    net: Arc<Net>,
    index: usize,
    context: ContextId,
    prefix: String,
    count: u64,
    seed: u64,
) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut acked = Vec::new();
    for k in 0..count {
        tokio::time::sleep(Duration::from_millis(rng.below(15))).await;
        let Some(live) = net.node(index) else {
            continue;
        };
        let node = live.node().clone();
        drop(live);
        let key = format!("{prefix}-{k}");
        let args = json!({"key": key, "value": format!("v-{key}")}).to_string();
        let set = tokio::task::spawn_blocking(move || {
            node.mutate(&context, "set", args.as_bytes(), None)
        })
        .await
        .expect("the write ran");
        if set.is_ok() {
            acked.push(key);
        }
    }
    acked
}

/// One seeded run; how long convergence took after the faults stopped.
async fn run(world: &mut World, application: ApplicationId, seed: u64) -> Duration {
    let mut rng = Rng(seed ^ 0xA5A5_A5A5);
    let nodes = world.homes.len();
    world.set_faults(Faults::default());
    let (record, creator) = {
        let zero = world.node(0);
        let node = zero.node().clone();
        tokio::task::spawn_blocking(move || node.create_context(&application, b"{}"))
            .await
            .expect("ran")
            .expect("creates")
    };
    let context = record.id;
    for index in 1..nodes {
        world.join(index, context, creator).await;
    }

    // Faults on; every node writes.
    world.set_faults(Faults {
        drop_percent: rng.below(30),
        duplicate_percent: rng.below(20),
        max_delay_ms: rng.below(20),
        isolated: BTreeSet::new(),
    });
    let writers: Vec<_> = (0..nodes)
        .map(|index| {
            tokio::spawn(write(
                world.net.clone(),
                index,
                context,
                format!("s{seed}-n{index}"),
                3 + rng.below(4),
                rng.next(),
            ))
        })
        .collect();
    // Meanwhile: a partition, a restart with data, now and then a node that
    // loses its data (never node 0, which invites).
    let mut wiped = BTreeSet::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(rng.below(40))).await;
        match rng.below(10) {
            0..=3 => {
                let isolated = rng.below(nodes as u64) as usize;
                lock(&world.net.faults).isolated = BTreeSet::from([isolated]);
            }
            4..=6 => {
                let index = rng.below(nodes as u64) as usize;
                world.restart(index).await;
            }
            7 if nodes > 1 => {
                let index = 1 + rng.below(nodes as u64 - 1) as usize;
                world.wipe(index).await;
                wiped.insert(index);
            }
            _ => {}
        }
    }
    let mut acked = BTreeMap::new();
    for (index, writer) in writers.into_iter().enumerate() {
        acked.insert(index, writer.await.expect("the writer"));
    }
    // A node that lost its data rejoins with a new identity.
    for index in &wiped {
        world.set_faults(Faults::default());
        world.join(*index, context, creator).await;
    }
    // Faults off: converge.
    world.set_faults(Faults::default());
    let healed = Instant::now();
    let all: Vec<usize> = (0..nodes).collect();
    let (_, _, entries) = loop {
        if let Some(held) = converged(world, &all, &context) {
            break held;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(20),
            "seed {seed}: no convergence within 20 s after the faults stopped: {:#?}",
            all.iter()
                .map(|index| holding(world.node(*index).node(), &context)
                    .map(|(heads, root, entries)| (heads, root, entries.len())))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let took = healed.elapsed();
    for (index, keys) in &acked {
        if wiped.contains(index) {
            continue;
        }
        for key in keys {
            assert_eq!(
                entries.get(key),
                Some(&format!("v-{key}")),
                "seed {seed}: node {index}'s acknowledged write {key}"
            );
        }
    }
    for index in 0..nodes {
        let node = world.node(index).node().clone();
        let _ = tokio::task::spawn_blocking(move || node.delete_context(&context))
            .await
            .expect("ran");
    }
    took
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(
    clippy::print_stderr,
    reason = "the run count and the times to converge are this test's report"
)]
async fn seeded_runs_converge_after_faults_stop() {
    let runs: u64 = std::env::var("CALIMERO_SIM_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(200);
    let seeds: Vec<u64> = match std::env::var("CALIMERO_SIM_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (1..=runs).collect(),
    };
    let mut world = World::new(3, 7).await;
    let application = {
        let zero = world.node(0);
        zero.node()
            .install_application(&built_app("kv-store"), "test", b"")
            .expect("installs")
            .id
    };
    let started = Instant::now();
    let mut times = Vec::new();
    for seed in &seeds {
        times.push(run(&mut world, application, *seed).await);
    }
    times.sort();
    let counters = lock(&world.net.counters);
    eprintln!(
        "simulation: {} runs of 3 nodes in {:.1?}; converged after the faults stopped in median {:?}, p99 {:?}, max {:?}; messages delivered {}, dropped {}, duplicated {}",
        times.len(),
        started.elapsed(),
        percentile(&times, 50),
        percentile(&times, 99),
        times.last().expect("runs"),
        counters.delivered,
        counters.dropped,
        counters.duplicated,
    );
}

/// The negative control: a node cut off for good never matches the others,
/// and nobody reports it in step; once the partition heals, it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanent_partition_does_not_converge() {
    let world = World::new(3, 11).await;
    let context = world.shared_kv_context().await;
    lock(&world.net.faults).isolated = BTreeSet::from([2]);
    let a = write(world.net.clone(), 0, context, "zero".into(), 3, 1).await;
    let b = write(world.net.clone(), 2, context, "two".into(), 3, 2).await;
    assert_eq!((a.len(), b.len()), (3, 3));
    // Forty anti-entropy intervals: 0 and 1 agree, 2 stays apart.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert!(
            converged(&world, &[0, 1, 2], &context).is_none(),
            "a partitioned node converged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        converged(&world, &[0, 1], &context).is_some(),
        "the connected side converges"
    );
    let state = world.node(0).sync_state(&context).expect("sync state");
    let two = world.net.peers[2].to_string();
    assert!(
        state
            .peers
            .iter()
            .all(|peer| peer.peer_id != two || peer.status != "inSync"),
        "{state:?}"
    );
    // Healed: it catches up, and node 0 says so once it compared again.
    lock(&world.net.faults).isolated.clear();
    let healed = Instant::now();
    while converged(&world, &[0, 1, 2], &context).is_none() {
        assert!(
            healed.elapsed() < Duration::from_secs(20),
            "no convergence after healing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let view = status_of(&world, 0, 2, &context, "inSync").await;
    assert_eq!(
        view.values_hash,
        world
            .node(0)
            .sync_state(&context)
            .expect("sync state")
            .values_hash
    );
}

/// Polls `from`'s view of `to` until it has `status`; that view.
async fn status_of(
    world: &World,
    from: usize,
    to: usize,
    context: &ContextId,
    status: &str,
) -> node::sync::PeerSync {
    let peer = world.net.peers[to].to_string();
    let started = Instant::now();
    loop {
        let state = world.node(from).sync_state(context).expect("sync state");
        if let Some(view) = state
            .peers
            .iter()
            .find(|view| view.peer_id == peer && view.status == status)
        {
            return view.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "node {from} never saw node {to} {status}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A merge the 0.2.5 application cannot reconcile (a delete racing an
/// update of the same key) leaves equal heads and equal roots but
/// different values: the nodes report `diverged`, never `inSync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_racing_an_update_is_reported_diverged() {
    let world = World::new(2, 5).await;
    let context = world.shared_kv_context().await;
    let call = |index: usize, method: &'static str, args: serde_json::Value| {
        let node = world.node(index).node().clone();
        tokio::task::spawn_blocking(move || {
            node.mutate(&context, method, args.to_string().as_bytes(), None)
                .expect("commits");
        })
    };
    call(0, "set", json!({"key": "k", "value": "v"}))
        .await
        .expect("ran");
    let started = Instant::now();
    while converged(&world, &[0, 1], &context).is_none() {
        assert!(started.elapsed() < Duration::from_secs(20), "no first sync");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Apart, one node deletes the key and the other updates it.
    lock(&world.net.faults).isolated = BTreeSet::from([1]);
    call(0, "remove", json!({"key": "k"})).await.expect("ran");
    call(1, "set", json!({"key": "k", "value": "updated"}))
        .await
        .expect("ran");
    lock(&world.net.faults).isolated.clear();
    let view = status_of(&world, 0, 1, &context, "diverged").await;
    status_of(&world, 1, 0, &context, "diverged").await;
    let (zero, one) = (
        world
            .node(0)
            .node()
            .context(&context)
            .expect("read")
            .expect("held"),
        world
            .node(1)
            .node()
            .context(&context)
            .expect("read")
            .expect("held"),
    );
    // Every delta reached both, and the roots alone would say "in step".
    assert_eq!(zero.heads, one.heads);
    assert_eq!(zero.root_hash, one.root_hash);
    assert_eq!(view.root_hash, zero.root_hash);
    let entries = |index: usize| {
        let output = world
            .node(index)
            .node()
            .query(&context, "entries", b"{}", None)
            .expect("entries");
        serde_json::from_slice::<serde_json::Value>(&output.returns.expect("a value"))
            .expect("JSON")
    };
    assert_ne!(entries(0), entries(1), "the values differ");

    // Deleted on one node: that node leaves the context's topic.
    let one = world.node(1).node().clone();
    tokio::task::spawn_blocking(move || one.delete_context(&context))
        .await
        .expect("ran")
        .expect("deletes");
    let name = node::sync::topic(&context);
    let started = Instant::now();
    while lock(&world.net.topics)[1].contains(&name) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still on the topic"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(lock(&world.net.topics)[0].contains(&name));
}
