//! Integration tests of the store on a real database file.

use std::collections::BTreeMap;

use node_primitives::{ApplicationId, BlobId, ContextId, Hash, PublicKey};
use node_store::{
    ApplicationRecord, AuthTable, ContextCommit, ContextRecord, Delta, EventRecord, Retention,
    Store, StoreError,
};

fn context(id: u8) -> ContextRecord {
    ContextRecord {
        id: ContextId::from_bytes([id; 32]),
        application_id: ApplicationId::from_bytes([9; 32]),
        root_hash: Hash::ZERO,
        last_transaction_hash: Hash::ZERO,
        last_seq: 0,
        last_time_ns: 0,
        created_at: 1,
        members: vec![],
        joined_at: BTreeMap::new(),
        event_bytes: 0,
        heads: BTreeMap::new(),
        remote: std::collections::BTreeSet::new(),
        sharing: None,
    }
}

/// The member whose deltas [`commit`] stores.
const AUTHOR: PublicKey = PublicKey::from_bytes([7; 32]);

fn commit(
    record: &ContextRecord,
    seq: u64,
    writes: &[(&str, Option<&str>)],
    keep: u64,
) -> ContextCommit {
    let mut context = record.clone();
    context.last_seq = seq;
    context.heads.insert(AUTHOR, seq);
    context.root_hash = Hash::digest(seq.to_be_bytes());
    ContextCommit {
        prior_seq: None,
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
        retention: Retention {
            events: keep,
            ..Retention::default()
        },
        delta: Some(Delta {
            author: AUTHOR,
            height: seq,
            artifact: vec![seq as u8],
            events: vec![("Set".into(), seq.to_string().into_bytes())],
            proof: Vec::new(),
        }),
        blobs: Vec::new(),
        member_secrets: Vec::new(),
        context,
    }
}

/// Set in the child process of [`commits_are_durable_across_a_crash`]: the
/// database file it commits to before it dies.
const CRASH_CHILD: &str = "NODE_STORE_TEST_CRASH_CHILD";
const AUTH_CRASH_CHILD: &str = "NODE_STORE_AUTH_CRASH_CHILD";

#[test]
fn commits_are_durable_across_a_crash() {
    let ctx = context(1);
    if let Some(path) = std::env::var_os(CRASH_CHILD) {
        let store = Store::open(&path).expect("open");
        store.put_meta("identity", b"seed").expect("meta");
        store.put_context(&ctx).expect("context");
        store
            .commit(&[commit(&ctx, 1, &[("a", Some("1")), ("b", Some("22"))], 10)])
            .expect("commit");
        // Dies without closing the database: only what was durable survives.
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.redb");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "commits_are_durable_across_a_crash",
            "--exact",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, &path)
        .status()
        .expect("child runs");
    assert!(status.success());
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
    let first = snapshot
        .delta(&ctx.id, &AUTHOR, 1)
        .expect("read")
        .expect("stored");
    assert_eq!((first.height, first.artifact), (1, vec![1]));
    assert_eq!(first.events, vec![("Set".to_owned(), b"1".to_vec())]);
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

/// Auth writes share fsyncs (`flush.rs`); each one acknowledged must still
/// be durable, and a refused one must leave nothing, whatever it shared.
#[test]
fn concurrent_auth_writes_are_durable_when_they_return() {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    if let Some(path) = std::env::var_os(AUTH_CRASH_CHILD) {
        let store = std::sync::Arc::new(Store::open(&path).expect("open"));
        let writers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let key = format!("{thread}-{i}");
                        store
                            .auth_write::<StoreError>(&mut |txn| {
                                txn.insert(AuthTable::ClientKeys, &key, b"row", None)
                            })
                            .expect("written");
                        let refused = store.auth_write::<StoreError>(&mut |txn| {
                            txn.insert(
                                AuthTable::ClientKeys,
                                &format!("refused-{key}"),
                                b"",
                                None,
                            )?;
                            Err(StoreError::Conflict("refused".into()))
                        });
                        assert!(refused.is_err());
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("the writer");
        }
        // Dies without closing the database: only what was durable survives.
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.redb");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "concurrent_auth_writes_are_durable_when_they_return",
            "--exact",
            "--test-threads=1",
        ])
        .env(AUTH_CRASH_CHILD, &path)
        .status()
        .expect("child runs");
    assert!(status.success());
    let store = Store::open(&path).expect("reopen");
    let rows = store
        .snapshot()
        .expect("snapshot")
        .auth_list(AuthTable::ClientKeys)
        .expect("rows");
    let expected: Vec<String> = {
        let mut keys: Vec<String> = (0..THREADS)
            .flat_map(|thread| (0..EACH).map(move |i| format!("{thread}-{i}")))
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(
        rows.into_iter().map(|(key, _)| key).collect::<Vec<_>>(),
        expected
    );
}

/// The values digest follows the records a context holds, not the writes
/// that led there; it survives a reopen and goes with the context.
#[test]
fn the_values_digest_is_that_of_the_records_held() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.redb");
    let store = Store::open(&path).expect("open");
    let (a, b, c) = (context(1), context(2), context(3));
    for record in [&a, &b, &c] {
        store.put_context(record).expect("context");
    }
    let digest = |store: &Store, id: &ContextId| {
        store
            .snapshot()
            .expect("snapshot")
            .values_digest(id)
            .expect("digest")
    };
    assert_eq!(digest(&store, &a.id), Hash::ZERO, "no state yet");
    // a: a long way round; b: straight there; c: somewhere else.
    store
        .commit(&[commit(
            &a,
            1,
            &[("k1", Some("old")), ("k2", Some("gone"))],
            10,
        )])
        .expect("commit");
    store
        .commit(&[commit(
            &a,
            2,
            &[("k1", Some("v1")), ("k2", None), ("k3", Some("v3"))],
            10,
        )])
        .expect("commit");
    store
        .commit(&[commit(&b, 1, &[("k3", Some("v3")), ("k1", Some("v1"))], 10)])
        .expect("commit");
    store
        .commit(&[commit(&c, 1, &[("k1", Some("v1")), ("k3", Some("v4"))], 10)])
        .expect("commit");
    let held = digest(&store, &a.id);
    assert_ne!(held, Hash::ZERO);
    assert_eq!(digest(&store, &b.id), held);
    assert_ne!(digest(&store, &c.id), held);
    drop(store);
    let store = Store::open(&path).expect("reopen");
    assert_eq!(digest(&store, &a.id), held);
    store.delete_context(&a.id).expect("delete");
    assert_eq!(digest(&store, &a.id), Hash::ZERO);
    assert_eq!(digest(&store, &b.id), held);
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
    let record = ApplicationRecord {
        id: ApplicationId::from_bytes([2; 32]),
        blob,
        size: 4,
        source: "file:///app.wasm".into(),
        metadata: vec![],
        installed_at: 1,
    };
    store
        .put_application(&record, b"\0asm", 42, b"compiled")
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
    let snapshot = store.snapshot().expect("snapshot");
    assert!(snapshot.applications().expect("list").is_empty());
    // Nothing references the bytes any more: they go with the application.
    assert_eq!(snapshot.blob(&blob).expect("read"), None);
    assert_eq!(snapshot.compiled(&blob, 42).expect("read"), None);
}

fn application(store: &Store, id: u8) -> ApplicationRecord {
    let record = ApplicationRecord {
        id: ApplicationId::from_bytes([id; 32]),
        blob: BlobId::from_bytes([id; 32]),
        size: 4,
        source: "file:///app.wasm".into(),
        metadata: vec![],
        installed_at: 1,
    };
    store
        .put_application(&record, b"\0asm", 42, b"compiled")
        .expect("app");
    record
}

#[test]
fn an_application_in_use_cannot_be_uninstalled_nor_a_context_created_on_a_gone_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let app = application(&store, 9);
    let ctx = context(1);
    store
        .create_context(&commit(&ctx, 1, &[("a", Some("1"))], 10))
        .expect("created while installed");
    let refused = store.delete_application(&app.id).expect_err("in use");
    assert!(matches!(refused, StoreError::Conflict(ref message) if message.contains("1 context")));
    assert!(
        store
            .snapshot()
            .expect("snapshot")
            .application(&app.id)
            .expect("read")
            .is_some()
    );
    assert!(store.delete_context(&ctx.id).expect("delete"));
    assert!(store.delete_application(&app.id).expect("now unused"));
    let refused = store
        .create_context(&commit(&context(2), 1, &[("a", Some("1"))], 10))
        .expect_err("application gone");
    assert!(matches!(refused, StoreError::Conflict(_)));
    assert_eq!(
        store
            .snapshot()
            .expect("snapshot")
            .context(&context(2).id)
            .expect("read"),
        None
    );
}

#[test]
fn the_event_log_is_bounded_by_bytes_and_deltas_by_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let ctx = context(5);
    let mut record = ctx.clone();
    for seq in 1..=20 {
        let mut next = commit(&record, seq, &[], 1_000);
        next.retention = Retention {
            events: 1_000,
            event_bytes: 2_000,
            deltas: 4,
        };
        if let Some(event) = next.event.as_mut() {
            event.events = vec![("Big".into(), vec![b'x'; 100])];
        }
        store.commit(&[next]).expect("commit");
        record = store
            .snapshot()
            .expect("snapshot")
            .context(&ctx.id)
            .expect("read")
            .expect("exists");
    }
    let snapshot = store.snapshot().expect("snapshot");
    let kept = snapshot.events_after(&ctx.id, 0, 1_000).expect("read");
    let bytes: usize = kept
        .iter()
        .map(|event| serde_json::to_vec(event).expect("json").len())
        .sum();
    assert!(bytes <= 2_000, "{bytes} bytes kept");
    assert!(kept.len() >= 2, "only {} kept", kept.len());
    assert_eq!(kept.last().expect("newest").seq, 20);
    assert_eq!(record.event_bytes, bytes as u64);
    // Deltas 17..=20 stay, the older ones are gone.
    assert_eq!(snapshot.delta(&ctx.id, &AUTHOR, 16).expect("read"), None);
    for height in 17..=20 {
        assert!(
            snapshot
                .delta(&ctx.id, &AUTHOR, height)
                .expect("read")
                .is_some(),
            "{height}"
        );
    }
}

#[test]
fn blobs_and_member_secrets_go_with_the_last_context_that_references_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let app = application(&store, 9);
    let (one, two) = (context(1), context(2));
    let shared = BlobId::from_bytes([0xA1; 32]);
    let own = BlobId::from_bytes([0xA2; 32]);
    let member = PublicKey::from_bytes([0xB1; 32]);
    let mut first = commit(&one, 1, &[], 10);
    first.blobs = vec![
        (shared, Some(b"shared".to_vec())),
        (own, Some(b"own".to_vec())),
    ];
    first.member_secrets = vec![(member, [7; 32])];
    // The same bytes as the application's blob, written by a guest.
    first.blobs.push((app.blob, Some(b"\0asm".to_vec())));
    let mut second = commit(&two, 1, &[], 10);
    // The second context only read it.
    second.blobs = vec![(shared, None)];
    store.commit(&[first, second]).expect("commit");
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(
        snapshot.member_secret(&one.id, &member).expect("read"),
        Some(vec![7; 32])
    );

    assert!(store.delete_context(&one.id).expect("delete"));
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(snapshot.blob(&own).expect("read"), None);
    assert_eq!(
        snapshot.blob(&shared).expect("read"),
        Some(b"shared".to_vec())
    );
    assert_eq!(
        snapshot.blob(&app.blob).expect("read"),
        Some(b"\0asm".to_vec())
    );
    assert_eq!(
        snapshot.member_secret(&one.id, &member).expect("read"),
        None
    );

    assert!(store.delete_context(&two.id).expect("delete"));
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(snapshot.blob(&shared).expect("read"), None);
    assert_eq!(
        snapshot.blob(&app.blob).expect("read"),
        Some(b"\0asm".to_vec())
    );
    assert_eq!(snapshot.blob_count().expect("count"), 1);
}

#[test]
fn member_secrets_kept_as_node_values_move_to_their_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("node.redb");
    let (live, gone) = (context(1), context(2));
    let member = PublicKey::from_bytes([0xB1; 32]);
    {
        let store = Store::open(&path).expect("open");
        store.put_context(&live).expect("context");
        store
            .put_meta(&format!("member-secret/{}/{member}", live.id), &[7; 32])
            .expect("meta");
        store
            .put_meta(&format!("member-secret/{}/{member}", gone.id), &[8; 32])
            .expect("meta");
    }
    let store = Store::open(&path).expect("reopen");
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(
        snapshot.member_secret(&live.id, &member).expect("read"),
        Some(vec![7; 32])
    );
    assert_eq!(
        snapshot.member_secret(&gone.id, &member).expect("read"),
        None
    );
    assert_eq!(
        snapshot
            .meta(&format!("member-secret/{}/{member}", live.id))
            .expect("read"),
        None
    );
}

#[test]
fn a_commit_over_a_state_that_is_not_stored_is_refused_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let (mut one, two) = (context(11), context(12));
    one.members = vec![PublicKey::from_bytes([0x11; 32])];
    store.put_context(&one).expect("context");
    store.put_context(&two).expect("context");
    // `one` at 0: its commit 2 ran over a commit 1 that never made it, and
    // so did 3; `two`'s commit 1 is fine and lands in the same transaction.
    let chained = |ctx: &ContextRecord, seq: u64, key: &str| {
        let mut commit = commit(ctx, seq, &[(key, Some("v"))], 10);
        commit.prior_seq = Some(seq - 1);
        commit
    };
    let results = store
        .commit_each(&[
            chained(&one, 2, "orphan"),
            chained(&two, 1, "fine"),
            chained(&one, 3, "orphan-too"),
        ])
        .expect("the transaction");
    assert!(
        matches!(results[0], Err(StoreError::Conflict(_))),
        "{results:?}"
    );
    assert!(results[1].is_ok(), "{results:?}");
    assert!(
        matches!(results[2], Err(StoreError::Conflict(_))),
        "{results:?}"
    );
    let snapshot = store.snapshot().expect("snapshot");
    assert_eq!(snapshot.state(&one.id, b"orphan").expect("read"), None);
    assert_eq!(snapshot.state(&one.id, b"orphan-too").expect("read"), None);
    assert_eq!(snapshot.events_after(&one.id, 0, 10).expect("read"), vec![]);
    assert_eq!(
        snapshot
            .context(&one.id)
            .expect("read")
            .expect("kept")
            .last_seq,
        0
    );
    assert_eq!(
        snapshot.state(&two.id, b"fine").expect("read"),
        Some(b"v".to_vec())
    );

    // In order, 1 then 2 of `one` in one batch both apply; the record keeps
    // what the commits do not own (its members), whatever they carry.
    let mut first = chained(&one, 1, "a");
    first.context.members.clear();
    let results = store
        .commit_each(&[first, chained(&one, 2, "b")])
        .expect("the transaction");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stored = store
        .snapshot()
        .expect("snapshot")
        .context(&one.id)
        .expect("read")
        .expect("kept");
    assert_eq!(stored.last_seq, 2);
    assert_eq!(stored.members, one.members);

    // A deleted context takes no commit.
    assert!(store.delete_context(&two.id).expect("delete"));
    let results = store
        .commit_each(&[chained(&two, 2, "late")])
        .expect("the transaction");
    assert!(
        matches!(results[0], Err(StoreError::Conflict(_))),
        "{results:?}"
    );
    assert_eq!(
        store
            .snapshot()
            .expect("snapshot")
            .context(&two.id)
            .expect("read"),
        None
    );
}

#[test]
fn each_members_deltas_are_kept_apart_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("node.redb")).expect("open");
    let mut ctx = context(1);
    let other = PublicKey::from_bytes([8; 32]);
    for seq in 1..=3 {
        let mut next = commit(&ctx, seq, &[], 100);
        if seq == 2 {
            // The second call is another member's first.
            next.context.heads.insert(AUTHOR, 1);
            next.context.heads.insert(other, 1);
            next.delta = Some(Delta {
                author: other,
                height: 1,
                artifact: b"other".to_vec(),
                events: Vec::new(),
                proof: Vec::new(),
            });
        } else if seq == 3 {
            next.context.heads.insert(AUTHOR, 2);
            next.delta = Some(Delta {
                author: AUTHOR,
                height: 2,
                artifact: b"second".to_vec(),
                events: vec![("Kept".into(), b"with its proof".to_vec())],
                // Another node's delta keeps the proof it arrived with.
                proof: b"signer and signature".to_vec(),
            });
        }
        ctx = next.context.clone();
        store.commit(&[next]).expect("commits");
    }
    let snapshot = store.snapshot().expect("snapshot");
    let record = snapshot.context(&ctx.id).expect("read").expect("exists");
    assert_eq!(record.heads, BTreeMap::from([(AUTHOR, 2), (other, 1)]));
    let artifacts = |author: &PublicKey, after: u64| -> Vec<(u64, Vec<u8>)> {
        snapshot
            .deltas_after(&ctx.id, author, after, 10, usize::MAX)
            .expect("read")
            .into_iter()
            .map(|delta| (delta.height, delta.artifact))
            .collect()
    };
    assert_eq!(
        artifacts(&AUTHOR, 0),
        vec![(1, vec![1]), (2, b"second".to_vec())]
    );
    assert_eq!(artifacts(&AUTHOR, 1), vec![(2, b"second".to_vec())]);
    let second = snapshot
        .delta(&ctx.id, &AUTHOR, 2)
        .expect("read")
        .expect("kept");
    assert_eq!(
        (second.proof, second.events),
        (
            b"signer and signature".to_vec(),
            vec![("Kept".to_owned(), b"with its proof".to_vec())]
        )
    );
    assert_eq!(artifacts(&other, 0), vec![(1, b"other".to_vec())]);
    assert!(
        snapshot
            .deltas_after(&ctx.id, &other, u64::MAX, 10, usize::MAX)
            .expect("read")
            .is_empty()
    );
    // Deleting the context takes every member's deltas.
    store.delete_context(&ctx.id).expect("deletes");
    let snapshot = store.snapshot().expect("snapshot");
    assert!(
        snapshot
            .deltas_after(&ctx.id, &AUTHOR, 0, 10, usize::MAX)
            .expect("read")
            .is_empty()
    );
    assert!(
        snapshot
            .deltas_after(&ctx.id, &other, 0, 10, usize::MAX)
            .expect("read")
            .is_empty()
    );
}
