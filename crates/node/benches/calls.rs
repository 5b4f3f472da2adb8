//! Call throughput of the node, as ratios to a baseline measured in the same
//! run: one durable single-key commit straight into the store.
//!
//! Run with `cargo xtask bench` (it builds the example apps first).

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::{Node, NodeConfig};
use node_primitives::{ApplicationId, ContextId, Hash};
use node_store::{ContextCommit, ContextRecord, Store};
use prometheus_client::registry::Registry;

const MUTATIONS: usize = 300;
const QUERIES: usize = 3_000;
const THREADS: usize = 4;

/// A neighbour that only burns: `spin` loops until its fuel runs out,
/// `flood` writes 10 MiB values until its host-bytes budget runs out.
const HOSTILE: &str = r#"
(module
  (import "env" "storage_write" (func $write (param i64 i64 i64) (result i32)))
  (import "env" "storage_read" (func $read (param i64 i64) (result i32)))
  (import "env" "commit" (func $commit (param i64 i64)))
  (memory (export "memory") 200)
  (data (i32.const 0) "keyrootrootrootrootrootrootrootrootart")
  (func $buf (param $at i32) (param $ptr i64) (param $len i64)
    (i64.store (local.get $at) (local.get $ptr))
    (i64.store offset=8 (local.get $at) (local.get $len)))
  (func (export "init")
    (call $buf (i32.const 100) (i64.const 0) (i64.const 3))
    (call $buf (i32.const 116) (i64.const 0) (i64.const 3))
    (drop (call $write (i64.const 100) (i64.const 116) (i64.const 1)))
    (call $buf (i32.const 132) (i64.const 3) (i64.const 32))
    (call $buf (i32.const 148) (i64.const 35) (i64.const 3))
    (call $commit (i64.const 132) (i64.const 148)))
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "flood")
    (call $buf (i32.const 100) (i64.const 0) (i64.const 3))
    (call $buf (i32.const 116) (i64.const 65536) (i64.const 10485760))
    (loop $more
      (drop (call $write (i64.const 100) (i64.const 116) (i64.const 1)))
      (drop (call $read (i64.const 100) (i64.const 1)))
      (br $more)))
)"#;

/// Mean latency of `get` queries on a kv-store context, alone and while
/// hostile calls run on another context of the same node.
fn neighbours(dir: &Path, wasm: &[u8]) -> (Duration, Duration) {
    let node = Node::open(
        dir.join("neighbours.redb"),
        NodeConfig {
            limits: node::Limits {
                fuel: 300_000_000,
                ..node::Limits::default()
            },
            ..NodeConfig::default()
        },
    )
    .expect("node");
    let kv = node.install_application(wasm, "bench", b"").expect("kv");
    let hostile = node
        .install_application(&wat::parse_str(HOSTILE).expect("wat"), "bench", b"")
        .expect("hostile");
    let quiet = node.create_context(&kv.id, b"").expect("context").0.id;
    let noisy = node.create_context(&hostile.id, b"").expect("context").0.id;
    node.mutate(&quiet, "set", br#"{"key":"k","value":"v"}"#, None)
        .expect("set");
    let measure = |node: &Node| {
        let start = Instant::now();
        for _ in 0..QUERIES / 3 {
            node.query(&quiet, "get", br#"{"key":"k"}"#, None)
                .expect("get");
        }
        per_op(start.elapsed(), QUERIES / 3)
    };
    let alone = measure(&node);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = ["spin", "flood"]
        .into_iter()
        .map(|method| {
            let (node, stop) = (node.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let failed = if method == "flood" {
                        node.mutate(&noisy, method, b"", None).is_err()
                    } else {
                        node.query(&noisy, method, b"", None).is_err()
                    };
                    assert!(failed, "{method} succeeded");
                }
            })
        })
        .collect();
    let beside = measure(&node);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("no panic");
    }
    (alone, beside)
}

fn per_op(total: Duration, ops: usize) -> Duration {
    total / u32::try_from(ops).expect("few ops")
}

fn baseline(dir: &Path) -> Duration {
    let store = Store::open(dir.join("baseline.redb")).expect("store");
    let mut context = ContextRecord {
        id: ContextId::from_bytes([1; 32]),
        application_id: ApplicationId::from_bytes([2; 32]),
        root_hash: Hash::ZERO,
        last_transaction_hash: Hash::ZERO,
        last_seq: 0,
        last_time_ns: 0,
        created_at: 0,
        members: vec![],
        joined_at: BTreeMap::new(),
        event_bytes: 0,
        heads: BTreeMap::new(),
        remote: std::collections::BTreeSet::new(),
        sharing: None,
    };
    let start = Instant::now();
    for i in 0..MUTATIONS {
        context.last_seq = i as u64;
        let mut writes = BTreeMap::new();
        writes.insert(format!("key-{i}").into_bytes(), Some(vec![7; 100]));
        store
            .commit(&[ContextCommit {
                prior_seq: None,
                context: context.clone(),
                writes,
                event: None,
                retention: node_store::Retention::default(),
                delta: None,
                blobs: Vec::new(),
                member_secrets: Vec::new(),
            }])
            .expect("commit");
    }
    per_op(start.elapsed(), MUTATIONS)
}

/// Mean wall time of the node's group commits so far, from its metrics.
fn mean_commit(registry: &Registry) -> Duration {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
    let sample = |series: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    let count = sample("store_commit_duration_seconds_count");
    Duration::from_secs_f64(sample("store_commit_duration_seconds_sum") / count.max(1.0))
}

fn main() {
    let wasm_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/apps/kv-store.wasm");
    let wasm = std::fs::read(&wasm_path).expect("run `cargo xtask build-apps` first");
    let dir = tempfile::tempdir().expect("temp dir");
    let base = baseline(dir.path());

    let node = Node::open(dir.path().join("node.redb"), NodeConfig::default()).expect("node");
    let mut registry = Registry::default();
    node.register_metrics(&mut registry);
    let app = node
        .install_application(&wasm, "bench", b"")
        .expect("installs");
    let contexts: Vec<ContextId> = (0..THREADS)
        .map(|_| node.create_context(&app.id, b"").expect("context").0.id)
        .collect();

    let start = Instant::now();
    for i in 0..MUTATIONS {
        let args = format!(r#"{{"key":"key-{i}","value":"{}"}}"#, "v".repeat(100));
        node.mutate(&contexts[0], "set", args.as_bytes(), None)
            .expect("set");
    }
    let sequential = per_op(start.elapsed(), MUTATIONS);
    let commit = mean_commit(&registry);

    let node = Arc::new(node);
    let start = Instant::now();
    let threads: Vec<_> = contexts
        .iter()
        .map(|context| {
            let (node, context) = (node.clone(), *context);
            std::thread::spawn(move || {
                for i in 0..MUTATIONS / THREADS {
                    let args = format!(r#"{{"key":"par-{i}","value":"{}"}}"#, "v".repeat(100));
                    node.mutate(&context, "set", args.as_bytes(), None)
                        .expect("set");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no panic");
    }
    let parallel = per_op(start.elapsed(), MUTATIONS / THREADS * THREADS);

    let start = Instant::now();
    for i in 0..QUERIES {
        let args = format!(r#"{{"key":"key-{}"}}"#, i % MUTATIONS);
        node.query(&contexts[0], "get", args.as_bytes(), None)
            .expect("get");
    }
    let query = per_op(start.elapsed(), QUERIES);

    let (alone, beside) = neighbours(dir.path(), &wasm);

    let ratio = |value: Duration| value.as_secs_f64() / base.as_secs_f64();
    println!("baseline: one durable single-key store commit = {base:?}");
    println!(
        "mutate, one context, sequential:         {sequential:?}/op = {:.2} x baseline",
        ratio(sequential)
    );
    println!(
        "  of which the group commit (one transaction, one fsync): {commit:?} = {:.2} x baseline",
        ratio(commit)
    );
    println!(
        "mutate, {THREADS} contexts, {THREADS} threads (group commit): {parallel:?}/op = {:.2} x baseline",
        ratio(parallel)
    );
    println!(
        "query, one context:                      {query:?}/op = {:.3} x baseline",
        ratio(query)
    );
    println!(
        "query beside 2 hostile callers (spin to out-of-fuel, 10 MiB storage flood to the \
         host-bytes budget) on another context: {beside:?}/op = {:.2} x the same query alone ({alone:?})",
        beside.as_secs_f64() / alone.as_secs_f64()
    );
}
