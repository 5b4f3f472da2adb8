//! Mutations of one context are linearizable; different contexts run in parallel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::{built_app, faulty, node};

#[test]
fn concurrent_mutations_of_one_context_are_linearizable() {
    let (node, _home) = node();
    let app = node
        .install_application(&built_app("kv-store"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    let mut bus = node.subscribe();
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let node = node.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|i| {
                        let args = format!(r#"{{"key":"k{thread}-{i}","value":"v"}}"#);
                        node.mutate(&context.id, "set", args.as_bytes(), None)
                            .expect("set")
                            .record
                            .expect("record")
                            .seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("no panic"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (2..42).collect::<Vec<_>>(),
        "every mutation got its own place in one order"
    );
    let len = node
        .query(&context.id, "len", b"{}", None)
        .expect("len")
        .returns
        .expect("value");
    assert_eq!(len, b"40");
    let log: Vec<u64> = node
        .events_after(&context.id, 1, 100)
        .expect("log")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(log, (2..42).collect::<Vec<_>>());
    // Published in order, each once.
    let published: Vec<u64> = std::iter::from_fn(|| bus.try_recv().ok())
        .filter(|event| event.context_id == context.id)
        .map(|event| event.record.seq)
        .collect();
    assert_eq!(published, (2..42).collect::<Vec<_>>());
}

#[test]
fn a_mutation_runs_over_the_state_of_the_one_before_it_commits() {
    let (node, _home) = node();
    let app = node
        .install_application(&built_app("ledger"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    let deposit = br#"{"account":"a","amount":5}"#;
    // Both run before either is waited for: the second over the first's
    // state, committed or not.
    let first = node
        .begin_mutate(&context.id, "deposit", deposit, None)
        .expect("runs");
    let second = node
        .begin_mutate(&context.id, "deposit", deposit, None)
        .expect("runs");
    let second = second.wait().expect("commits");
    let first = first.wait().expect("commits");
    assert_eq!(first.returns.as_deref(), Some(&b"5"[..]));
    assert_eq!(second.returns.as_deref(), Some(&b"10"[..]));
    assert_eq!(
        first.record.expect("record").seq + 1,
        second.record.expect("record").seq
    );
    let balance = node
        .query(&context.id, "balance", br#"{"account":"a"}"#, None)
        .expect("balance");
    assert_eq!(balance.returns.as_deref(), Some(&b"10"[..]));
    let history = node
        .query(&context.id, "history_len", b"{}", None)
        .expect("history");
    assert_eq!(history.returns.as_deref(), Some(&b"2"[..]));
}

#[test]
fn a_slow_mutation_does_not_block_other_contexts_or_queries() {
    let (node, _home) = node();
    let slow_app = node
        .install_application(&faulty(), "test", b"")
        .expect("installs");
    let (slow, _) = node.create_context(&slow_app.id, b"").expect("context");
    let kv = node
        .install_application(&built_app("kv-store"), "test", b"")
        .expect("installs");
    let (fast, _) = node.create_context(&kv.id, b"").expect("context");

    let done = Arc::new(AtomicBool::new(false));
    let slow_call = {
        let (node, done) = (node.clone(), done.clone());
        std::thread::spawn(move || {
            let result = node.mutate(&slow.id, "spin_a_while", b"", None);
            done.store(true, Ordering::SeqCst);
            result
        })
    };
    // Another context's mutations, and queries, complete while the slow call runs.
    node.mutate(&fast.id, "set", br#"{"key":"a","value":"b"}"#, None)
        .expect("set");
    node.query(&fast.id, "len", b"{}", None).expect("len");
    let overlapped = !done.load(Ordering::SeqCst);
    assert!(slow_call.join().expect("no panic").is_ok());
    assert!(overlapped, "the other context waited for the slow one");
}
