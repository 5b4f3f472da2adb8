//! Replication between nodes, without a network: a context created on one
//! node, joined on another, and each member's deltas carried across by hand
//! in each member's order (what the network layer does over the wire).

use std::collections::BTreeMap;

use node::{Node, NodeError};
use node_primitives::{ApplicationId, ContextId, PublicKey};
use serde_json::{Value, json};

use crate::support::{built_app, node};

/// An event an app emitted: kind and data.
type AppEvent = (String, Vec<u8>);

/// A member key this node will hold: its public key and secret.
fn member(seed: u8) -> (PublicKey, [u8; 32]) {
    let secret = [seed; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&secret)
        .verifying_key()
        .to_bytes();
    (PublicKey::from_bytes(public), secret)
}

fn install(node: &Node) -> ApplicationId {
    node.install_application(&built_app("kv-store"), "test", b"")
        .expect("installs")
        .id
}

fn set(node: &Node, context: &ContextId, as_member: Option<PublicKey>, key: &str, value: &str) {
    let args = json!({"key": key, "value": value}).to_string();
    node.mutate(context, "set", args.as_bytes(), as_member)
        .expect("set commits");
}

fn entries(node: &Node, context: &ContextId) -> Value {
    let output = node
        .query(context, "entries", b"{}", None)
        .expect("entries");
    serde_json::from_slice(&output.returns.expect("a value")).expect("JSON")
}

/// Applies on `to` every delta of `from` that `to` lacks, each member's in
/// that member's order, the creator's first; how many.
fn carry(from: &Node, to: &Node, context: &ContextId) -> usize {
    let source = from.context(context).expect("read").expect("on the source");
    let mut applied = 0;
    for author in &source.members {
        let have = to
            .context(context)
            .expect("read")
            .expect("on the target")
            .heads
            .get(author)
            .copied()
            .unwrap_or(0);
        for delta in from
            .deltas_after(context, author, have, 1_000, usize::MAX)
            .expect("deltas")
        {
            if let Some(mutation) = to.begin_apply(context, delta).expect("applies") {
                mutation.wait().expect("commits");
                applied += 1;
            }
        }
    }
    applied
}

/// Two nodes holding one context: `a` created it, `b` joined with a member
/// key of its own and caught up.
struct Pair {
    a: Node,
    b: Node,
    context: ContextId,
    creator: PublicKey,
    joiner: PublicKey,
    _homes: [tempfile::TempDir; 2],
}

fn pair() -> Pair {
    let ((a, home_a), (b, home_b)) = (node(), node());
    let app = install(&a);
    assert_eq!(install(&b), app, "content addressed");
    let (record, creator) = a.create_context(&app, b"").expect("creates");
    let (joiner, secret) = member(0x42);
    a.add_member(&record.id, joiner).expect("adds the member");
    let members = a
        .context(&record.id)
        .expect("read")
        .expect("exists")
        .members;
    assert!(
        b.join_context(&record.id, &app, &members, (joiner, secret))
            .expect("joins")
    );
    let joined = b.context(&record.id).expect("read").expect("exists");
    assert!(joined.root_hash.is_zero(), "uninitialised until caught up");
    Pair {
        a,
        b,
        context: record.id,
        creator,
        joiner,
        _homes: [home_a, home_b],
    }
}

fn assert_same(pair: &Pair) {
    let (a, b) = (
        pair.a.context(&pair.context).expect("read").expect("on a"),
        pair.b.context(&pair.context).expect("read").expect("on b"),
    );
    assert_eq!(a.root_hash, b.root_hash, "roots");
    assert_eq!(a.heads, b.heads, "every member's deltas");
    assert_eq!(
        values_digest(&pair.a, &pair.context),
        values_digest(&pair.b, &pair.context),
        "stored values"
    );
    assert_eq!(
        entries(&pair.a, &pair.context),
        entries(&pair.b, &pair.context)
    );
}

#[test]
fn a_joined_node_catches_up_then_each_follows_the_other() {
    let pair = pair();
    set(&pair.a, &pair.context, None, "a", "1");
    set(&pair.a, &pair.context, None, "b", "2");
    // init and two writes, the creator's deltas 1 to 3.
    assert_eq!(carry(&pair.a, &pair.b, &pair.context), 3);
    assert_same(&pair);
    assert_eq!(entries(&pair.b, &pair.context), json!({"a": "1", "b": "2"}));
    // The joiner writes as itself; its delta 1 goes back.
    set(&pair.b, &pair.context, Some(pair.joiner), "c", "3");
    assert_eq!(carry(&pair.b, &pair.a, &pair.context), 1);
    assert_same(&pair);
    let heads = pair
        .a
        .context(&pair.context)
        .expect("read")
        .expect("exists")
        .heads;
    assert_eq!(heads, BTreeMap::from([(pair.creator, 3), (pair.joiner, 1)]));
    // Carrying again changes nothing.
    assert_eq!(carry(&pair.a, &pair.b, &pair.context), 0);
    assert_eq!(carry(&pair.b, &pair.a, &pair.context), 0);
    // Each node's subscribers saw the same changes: the same event records
    // (each node numbers them itself, here in the same order).
    let events = |node: &Node| -> Vec<(Vec<AppEvent>, node_primitives::Hash)> {
        node.events_after(&pair.context, 0, 100)
            .expect("events")
            .into_iter()
            .map(|record| (record.events, record.root_hash))
            .collect()
    };
    assert_eq!(events(&pair.a), events(&pair.b));
    assert_eq!(events(&pair.a).len(), 4);
}

#[test]
fn deltas_out_of_order_or_from_strangers_are_refused() {
    let pair = pair();
    set(&pair.a, &pair.context, None, "a", "1");
    set(&pair.a, &pair.context, None, "b", "2");
    let deltas = pair
        .a
        .deltas_after(&pair.context, &pair.creator, 0, 10, usize::MAX)
        .expect("deltas");
    assert_eq!(deltas.len(), 3);
    // Anything before the creator's `init`: refused.
    let early = node::Delta {
        author: pair.joiner,
        height: 1,
        ..deltas[0].clone()
    };
    let refused = pair.b.begin_apply(&pair.context, early);
    assert!(
        matches!(refused, Err(NodeError::Conflict(_))),
        "{refused:?}"
    );
    // More or larger events than a call may emit: refused.
    let mut loud = deltas[0].clone();
    loud.events = vec![("Event".into(), vec![0; 1 << 20])];
    let refused = pair.b.begin_apply(&pair.context, loud);
    assert!(
        matches!(refused, Err(NodeError::TooLarge(_))),
        "{refused:?}"
    );
    // Height 2 before height 1: refused, nothing applied.
    let refused = pair.b.begin_apply(&pair.context, deltas[1].clone());
    assert!(
        matches!(refused, Err(NodeError::Conflict(_))),
        "{refused:?}"
    );
    let root = pair
        .b
        .context(&pair.context)
        .expect("read")
        .expect("exists")
        .root_hash;
    assert!(root.is_zero());
    // A delta claiming an author that is not a member: refused.
    let mut forged = deltas[0].clone();
    forged.author = member(0x66).0;
    let refused = pair.b.begin_apply(&pair.context, forged);
    assert!(
        matches!(refused, Err(NodeError::NotMember { .. })),
        "{refused:?}"
    );
    // In order they apply, and again they are a no-op.
    for delta in &deltas {
        let applied = pair
            .b
            .begin_apply(&pair.context, delta.clone())
            .expect("applies");
        applied.expect("new").wait().expect("commits");
    }
    assert!(
        pair.b
            .begin_apply(&pair.context, deltas[0].clone())
            .expect("a repeat")
            .is_none()
    );
    assert_same(&pair);
}

#[test]
fn concurrent_writes_to_different_keys_converge() {
    let pair = pair();
    carry(&pair.a, &pair.b, &pair.context);
    // Both write at once, each over the state they share.
    set(&pair.a, &pair.context, None, "from-a", "x");
    set(&pair.b, &pair.context, Some(pair.joiner), "from-b", "y");
    carry(&pair.a, &pair.b, &pair.context);
    carry(&pair.b, &pair.a, &pair.context);
    assert_same(&pair);
    assert_eq!(
        entries(&pair.a, &pair.context),
        json!({"from-a": "x", "from-b": "y"})
    );
}

#[test]
fn concurrent_writes_to_one_key_agree_on_values_but_not_on_roots() {
    let pair = pair();
    carry(&pair.a, &pair.b, &pair.context);
    set(&pair.a, &pair.context, None, "k", "from a");
    set(&pair.b, &pair.context, Some(pair.joiner), "k", "from b");
    let (values_agree, roots_agree, ..) = exchanged(&pair);
    // The values agree: the later write wins on both (last writer wins by
    // its timestamp)…
    assert!(values_agree);
    assert_eq!(entries(&pair.a, &pair.context), json!({"k": "from b"}));
    // …but the roots do not: the node whose write lost keeps that write's
    // hash in the application's index (calimero-storage 0.2.5). Equal values
    // with different roots is what docs/replication.md describes; were the
    // application's merge to change, this would fail and the page with it.
    assert!(!roots_agree);
}

#[test]
fn a_node_writes_only_as_the_members_it_holds() {
    let pair = pair();
    carry(&pair.a, &pair.b, &pair.context);
    // Without an executor, `b` writes as its own member, not the creator…
    set(&pair.b, &pair.context, None, "k", "v");
    let heads = pair
        .b
        .context(&pair.context)
        .expect("read")
        .expect("exists")
        .heads;
    assert_eq!(heads.get(&pair.joiner), Some(&1));
    assert_eq!(heads.get(&pair.creator), Some(&1));
    // …and may not write as the creator, whose calls run on `a`; reading
    // as the creator is fine.
    let args = json!({"key": "k", "value": "w"}).to_string();
    let refused = pair
        .b
        .mutate(&pair.context, "set", args.as_bytes(), Some(pair.creator));
    assert!(
        matches!(refused, Err(NodeError::NotMember { .. })),
        "{refused:?}"
    );
    pair.b
        .query(&pair.context, "get", br#"{"key":"k"}"#, Some(pair.creator))
        .expect("reads as the creator");
    carry(&pair.b, &pair.a, &pair.context);
    assert_same(&pair);
}

#[test]
fn a_joining_node_must_hold_the_key_it_joins_with() {
    let ((a, _home_a), (b, _home_b)) = (node(), node());
    let app = install(&a);
    install(&b);
    let (record, creator) = a.create_context(&app, b"").expect("creates");
    let (joiner, _) = member(0x42);
    let refused = b.join_context(&record.id, &app, &[creator], (joiner, [0x43; 32]));
    assert!(
        matches!(refused, Err(NodeError::Rejected(_))),
        "{refused:?}"
    );
    assert!(b.context(&record.id).expect("read").is_none());
}

#[test]
fn deltas_no_longer_kept_are_refused_not_skipped() {
    let home = tempfile::tempdir().expect("temp dir");
    let a = Node::open(
        crate::support::db(home.path()),
        node::NodeConfig {
            retention: node::Retention {
                deltas: 2,
                ..node::Retention::default()
            },
            ..node::NodeConfig::default()
        },
    )
    .expect("opens");
    let app = install(&a);
    let (record, creator) = a.create_context(&app, b"").expect("creates");
    for value in ["1", "2", "3"] {
        set(&a, &record.id, None, "k", value);
    }
    // Heights 3 and 4 are kept; 1 (init) and 2 are not.
    let kept = a
        .deltas_after(&record.id, &creator, 2, 10, usize::MAX)
        .expect("kept");
    assert_eq!(
        kept.iter().map(|delta| delta.height).collect::<Vec<_>>(),
        [3, 4]
    );
    let refused = a.deltas_after(&record.id, &creator, 0, 10, usize::MAX);
    assert!(
        matches!(refused, Err(NodeError::Conflict(_))),
        "{refused:?}"
    );
}

fn remove(node: &Node, context: &ContextId, as_member: Option<PublicKey>, key: &str) {
    let args = json!({"key": key}).to_string();
    node.mutate(context, "remove", args.as_bytes(), as_member)
        .expect("remove commits");
}

fn len(node: &Node, context: &ContextId) -> Value {
    let output = node.query(context, "len", b"{}", None).expect("len");
    serde_json::from_slice(&output.returns.expect("a value")).expect("JSON")
}

/// Digest of a node's stored values of a context.
fn values_digest(node: &Node, context: &ContextId) -> node_primitives::Hash {
    node.values_digest(context).expect("read").expect("held").1
}

/// What two nodes hold after exchanging every delta: whether the values,
/// the roots and the stored values (what the nodes compare besides roots)
/// agree, and each node's `len`.
fn exchanged(pair: &Pair) -> (bool, bool, bool, Value, Value) {
    carry(&pair.a, &pair.b, &pair.context);
    carry(&pair.b, &pair.a, &pair.context);
    let (a, b) = (
        pair.a.context(&pair.context).expect("read").expect("on a"),
        pair.b.context(&pair.context).expect("read").expect("on b"),
    );
    assert_eq!(a.heads, b.heads, "every delta reached both");
    (
        entries(&pair.a, &pair.context) == entries(&pair.b, &pair.context),
        a.root_hash == b.root_hash,
        values_digest(&pair.a, &pair.context) == values_digest(&pair.b, &pair.context),
        len(&pair.a, &pair.context),
        len(&pair.b, &pair.context),
    )
}

/// The 0.2.5 merge on patterns the network cannot fix, pinned: each line
/// is what `docs/replication.md` says about it.
#[test]
fn what_the_0_2_5_merge_does_with_updates_and_deletes() {
    // An update of a key both nodes hold, made concurrently on each.
    let pair = pair();
    set(&pair.a, &pair.context, None, "k", "first");
    carry(&pair.a, &pair.b, &pair.context);
    set(&pair.a, &pair.context, None, "k", "from a");
    set(&pair.b, &pair.context, Some(pair.joiner), "k", "from b");
    let updated = exchanged(&pair);
    assert_eq!(entries(&pair.a, &pair.context), json!({"k": "from b"}));

    // A delete, replicated with nothing concurrent.
    let pair = pair_with(&[("k", "v"), ("other", "kept")]);
    remove(&pair.a, &pair.context, None, "k");
    let deleted = exchanged(&pair);

    // A delete on one node, concurrent with an update of the key on the other.
    let pair = pair_with(&[("k", "v")]);
    remove(&pair.a, &pair.context, None, "k");
    set(&pair.b, &pair.context, Some(pair.joiner), "k", "updated");
    let raced = exchanged(&pair);

    assert_eq!(
        (updated, deleted, raced),
        (
            // Last writer wins on both, but the loser's index keeps its
            // write's hash: values agree, roots differ.
            (true, false, true, json!(1), json!(1)),
            // The entry is gone on both, but the peer's index keeps the
            // child: roots differ and its `len` stays stale.
            (true, false, true, json!(1), json!(2)),
            // One node ends with the entry and the other without, and the
            // roots are equal: equal roots do not prove equal values. The
            // stored values differ, which is how a node sees it (`diverged`).
            (false, true, false, json!(1), json!(1)),
        ),
        "(values agree, roots agree, stored values agree, len on a, len on b) for: a concurrent update, a replicated delete, a delete racing an update"
    );
}

/// A pair that already holds `entries`, set on `a` and carried to `b`.
fn pair_with(entries: &[(&str, &str)]) -> Pair {
    let pair = pair();
    for (key, value) in entries {
        set(&pair.a, &pair.context, None, key, value);
    }
    carry(&pair.a, &pair.b, &pair.context);
    pair
}
