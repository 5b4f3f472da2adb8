//! Integration tests of the store on a real database file.

use std::collections::BTreeMap;

use node_primitives::{ApplicationId, BlobId, ContextId, Hash};
use node_store::{ApplicationRecord, ContextCommit, ContextRecord, EventRecord, Store};

fn context(id: u8) -> ContextRecord {
    ContextRecord {
        id: ContextId::from_bytes([id; 32]),
        application_id: ApplicationId::from_bytes([9; 32]),
        root_hash: Hash::ZERO,
        last_transaction_hash: Hash::ZERO,
        last_seq: 0,
        delta_height: 0,
        last_time_ns: 0,
        created_at: 1,
        members: vec![],
    }
}

fn commit(
    record: &ContextRecord,
    seq: u64,
    writes: &[(&str, Option<&str>)],
    keep: u64,
) -> ContextCommit {
    let mut context = record.clone();
    context.last_seq = seq;
    context.delta_height = seq;
    context.root_hash = Hash::digest(seq.to_be_bytes());
    ContextCommit {
        writes: writes
            .iter()
            .map(|(key, value)| {
                (
                    key.as_bytes().to_vec(),
                    value.map(|v| v.as_bytes().to_vec()),
                )
            })
            .collect::<BTreeMap<_, _>>(),
        event: Some(EventRecord {
            seq,
            transaction_hash: Hash::digest(b"tx"),
            root_hash: context.root_hash,
            events: vec![("Set".into(), seq.to_string().into_bytes())],
        }),
        keep_events: keep,
        delta: Some(vec![seq as u8]),
        context,
    }
}

#[test]
fn commits_are_durable_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.redb");
    let ctx = context(1);
    {
        let store = Store::open(&path).expect("open");
        store.put_context(&ctx).expect("context");
        store
            .commit(&[commit(&ctx, 1, &[("a", Some("1")), ("b", Some("22"))], 10)])
            .expect("commit");
        store.put_meta("identity", b"seed").expect("meta");
    }
    let store = Store::open(&path).expect("reopen");
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(
        snapshot.state(&ctx.id, b"a").expect("read"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        snapshot
            .context(&ctx.id)
            .expect("read")
            .expect("exists")
            .last_seq,
        1
    );
    assert_eq!(snapshot.delta(&ctx.id, 1).expect("read"), Some(vec![1]));
    assert_eq!(
        snapshot.meta("identity").expect("read"),
        Some(b"seed".to_vec())
    );
    // Exact size: keys and values, without the context prefix.
    assert_eq!(
        snapshot.state_size(&ctx.id).expect("size"),
        (2, 1 + 1 + 1 + 2)
    );
}

#[test]
fn snapshots_do_not_see_later_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let ctx = context(2);
    store.put_context(&ctx).expect("context");
    let before = store.snapshot().expect("snapshot");
    store
        .commit(&[commit(&ctx, 1, &[("k", Some("v"))], 10)])
        .expect("commit");
    assert_eq!(before.state(&ctx.id, b"k").expect("read"), None);
    assert_eq!(
        store
            .snapshot()
            .expect("snapshot")
            .state(&ctx.id, b"k")
            .expect("read"),
        Some(b"v".to_vec())
    );
}

#[test]
fn one_commit_spans_several_contexts_and_removes_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let (one, two) = (context(3), context(4));
    store
        .commit(&[
            commit(&one, 1, &[("x", Some("1"))], 10),
            commit(&two, 1, &[("y", Some("2"))], 10),
        ])
        .expect("commit");
    store
        .commit(&[commit(&one, 2, &[("x", None)], 10)])
        .expect("commit");
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(snapshot.state(&one.id, b"x").expect("read"), None);
    assert_eq!(
        snapshot.state(&two.id, b"y").expect("read"),
        Some(b"2".to_vec())
    );
    assert_eq!(snapshot.contexts().expect("list").len(), 2);
}

#[test]
fn the_event_log_is_bounded_and_resumable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let ctx = context(5);
    for seq in 1..=5 {
        store.commit(&[commit(&ctx, seq, &[], 3)]).expect("commit");
    }
    let snapshot = store.snapshot().expect("snapshot");
    let seqs = |after| -> Vec<u64> {
        snapshot
            .events_after(&ctx.id, after, 100)
            .expect("read")
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(seqs(0), vec![3, 4, 5]);
    assert_eq!(seqs(3), vec![4, 5]);
    assert_eq!(seqs(5), Vec::<u64>::new());
    assert_eq!(seqs(u64::MAX), Vec::<u64>::new());
}

#[test]
fn deleting_a_context_removes_its_rows_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let (gone, kept) = (context(6), context(7));
    store
        .commit(&[
            commit(&gone, 1, &[("a", Some("1"))], 10),
            commit(&kept, 1, &[("a", Some("1"))], 10),
        ])
        .expect("commit");
    assert!(store.delete_context(&gone.id).expect("delete"));
    assert!(!store.delete_context(&gone.id).expect("delete again"));
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(snapshot.context(&gone.id).expect("read"), None);
    assert_eq!(snapshot.state_size(&gone.id).expect("size"), (0, 0));
    assert!(
        snapshot
            .events_after(&gone.id, 0, 10)
            .expect("read")
            .is_empty()
    );
    assert_eq!(snapshot.state_size(&kept.id).expect("size"), (1, 2));
}

#[test]
fn the_all_ones_context_id_has_a_range_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let last = context(0xFF);
    store
        .commit(&[commit(&last, 1, &[("z", Some("1"))], 10)])
        .expect("commit");
    assert_eq!(
        store
            .snapshot()
            .expect("snapshot")
            .state_size(&last.id)
            .expect("size"),
        (1, 2)
    );
}

#[test]
fn applications_and_compiled_modules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let blob = BlobId::from_bytes([1; 32]);
    store.put_blob(&blob, b"\0asm").expect("blob");
    let record = ApplicationRecord {
        id: ApplicationId::from_bytes([2; 32]),
        blob,
        size: 4,
        source: "file:///app.wasm".into(),
        metadata: vec![],
        installed_at: 1,
    };
    store
        .put_application(&record, 42, b"compiled")
        .expect("app");
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(snapshot.applications().expect("list"), vec![record.clone()]);
    assert_eq!(
        snapshot.compiled(&blob, 42).expect("read"),
        Some(b"compiled".to_vec())
    );
    assert_eq!(snapshot.compiled(&blob, 43).expect("read"), None);
    assert_eq!(snapshot.blob(&blob).expect("read"), Some(b"\0asm".to_vec()));
    assert!(store.delete_application(&record.id).expect("delete"));
    assert!(
        store
            .snapshot()
            .expect("snapshot")
            .applications()
            .expect("list")
            .is_empty()
    );
}
