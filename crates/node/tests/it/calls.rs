//! Contexts, queries and mutations with the example apps; failures commit
//! nothing; state survives a restart without recompiling.

use node::{CallError, HostError, Node, NodeConfig, NodeError, TrapKind};
use node_primitives::ContextId;

use crate::support::{built_app, db, faulty, node};

fn text(output: &node::CallOutput) -> String {
    String::from_utf8(output.returns.clone().unwrap_or_default()).expect("utf-8")
}

#[test]
fn kv_store_end_to_end_with_events() {
    let (node, _home) = node();
    let app = node
        .install_application(&built_app("kv-store"), "test", b"")
        .expect("installs");
    let (context, member) = node.create_context(&app.id, b"").expect("context");
    assert!(!context.root_hash.is_zero());
    assert_eq!(context.members, vec![member]);
    assert_eq!(context.last_seq, 1, "init is the first committed call");

    let mut events = node.subscribe();
    let size_before = node.storage_size(&context.id).expect("size");
    let set = node
        .mutate(
            &context.id,
            "set",
            br#"{"key":"greeting","value":"hello"}"#,
            None,
        )
        .expect("set");
    assert_eq!(text(&set), "null");
    let record = set.record.expect("a committed record");
    assert_eq!(record.seq, 2);
    assert_eq!(
        record.events,
        vec![(
            "Inserted".to_owned(),
            br#"{"key":"greeting","value":"hello"}"#.to_vec()
        )]
    );
    let published = events.try_recv().expect("published after commit");
    assert_eq!(
        (published.context_id, published.record.seq),
        (context.id, 2)
    );
    assert!(node.storage_size(&context.id).expect("size") > size_before);

    assert_eq!(
        text(
            &node
                .query(&context.id, "get", br#"{"key":"greeting"}"#, None)
                .expect("get")
        ),
        r#""hello""#
    );
    assert_eq!(
        text(&node.query(&context.id, "len", b"{}", None).expect("len")),
        "1"
    );
    let updated = node
        .mutate(
            &context.id,
            "set",
            br#"{"key":"greeting","value":"hi"}"#,
            None,
        )
        .expect("update");
    assert_eq!(updated.record.expect("record").events[0].0, "Updated");
    assert_eq!(
        text(
            &node
                .query(&context.id, "entries", b"{}", None)
                .expect("entries")
        ),
        r#"{"greeting":"hi"}"#
    );
    let stored = node.context(&context.id).expect("read").expect("exists");
    assert_eq!(stored.last_seq, 3);
    let replay: Vec<u64> = node
        .events_after(&context.id, 1, 10)
        .expect("log")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(replay, vec![2, 3]);
}

#[test]
fn only_peers_forum_posts_and_comments() {
    let (node, _home) = node();
    let app = node
        .install_application(&built_app("only-peers"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    let post = node
        .mutate(
            &context.id,
            "create_post",
            br#"{"title":"Hello","content":"First post"}"#,
            None,
        )
        .expect("post");
    assert!(
        text(&post).contains(r#""title":"Hello""#),
        "{}",
        text(&post)
    );
    assert_eq!(post.record.expect("record").events[0].0, "PostCreated");
    node.mutate(
        &context.id,
        "create_comment",
        br#"{"post_id":0,"user":"bob","text":"Nice"}"#,
        None,
    )
    .expect("comment");
    let fetched = text(
        &node
            .query(&context.id, "post", br#"{"id":0}"#, None)
            .expect("post"),
    );
    assert!(fetched.contains("Nice"), "{fetched}");
    let posts = text(
        &node
            .query(&context.id, "posts", b"{}", None)
            .expect("posts"),
    );
    assert!(
        posts.starts_with('[') && posts.contains("First post"),
        "{posts}"
    );
}

#[test]
fn queries_cannot_write() {
    let (node, _home) = node();
    let app = node
        .install_application(&built_app("kv-store"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    let refused = node.query(&context.id, "set", br#"{"key":"k","value":"v"}"#, None);
    assert!(
        matches!(
            refused,
            Err(NodeError::Call {
                error: CallError::Host(HostError::ReadOnly(_)),
                ..
            })
        ),
        "{refused:?}"
    );
}

#[test]
fn failed_mutations_leave_state_and_root_unchanged_and_publish_nothing() {
    let (node, _home) = node();
    let app = node
        .install_application(&faulty(), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    let before = node.context(&context.id).expect("read").expect("exists");
    let size = node.storage_size(&context.id).expect("size");
    let mut events = node.subscribe();
    for method in [
        "write_then_trap",
        "write_then_panic",
        "write_then_error",
        "write_without_commit",
    ] {
        let result = node.mutate(&context.id, method, b"", None);
        assert!(result.is_err(), "{method} succeeded");
        assert_eq!(
            node.context(&context.id).expect("read").expect("exists"),
            before,
            "{method}"
        );
        assert_eq!(
            node.storage_size(&context.id).expect("size"),
            size,
            "{method}"
        );
    }
    let limited = Node::open(
        tempfile::tempdir().expect("dir").path().join("n.redb"),
        NodeConfig {
            limits: node::Limits {
                fuel: 10_000_000,
                ..node::Limits::default()
            },
            ..NodeConfig::default()
        },
    )
    .expect("node");
    let app = limited
        .install_application(&faulty(), "test", b"")
        .expect("installs");
    let (spinning, _) = limited.create_context(&app.id, b"").expect("context");
    let before = limited.context(&spinning.id).expect("read");
    let mut limited_events = limited.subscribe();
    assert!(matches!(
        limited.mutate(&spinning.id, "write_then_spin", b"", None),
        Err(NodeError::Call {
            error: CallError::Trap(TrapKind::OutOfFuel),
            ..
        })
    ));
    assert_eq!(limited.context(&spinning.id).expect("read"), before);
    assert!(
        events.try_recv().is_err(),
        "a failed call published an event"
    );
    assert!(
        limited_events.try_recv().is_err(),
        "a call out of fuel published an event"
    );
    assert!(
        node.mutate(&context.id, "touch", b"", None).is_ok(),
        "the node is still healthy"
    );
}

#[test]
fn app_errors_and_panics_carry_their_text() {
    let (node, _home) = node();
    let app = node
        .install_application(&faulty(), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    match node.mutate(&context.id, "write_then_error", b"", None) {
        Err(NodeError::Call {
            error: CallError::AppError(payload),
            ..
        }) => assert_eq!(payload, b"boom"),
        other => panic!("{other:?}"),
    }
    match node.mutate(&context.id, "write_then_panic", b"", None) {
        Err(NodeError::Call {
            error:
                CallError::Panic {
                    message,
                    file,
                    line,
                    ..
                },
            ..
        }) => {
            assert_eq!((message.as_str(), file.as_str(), line), ("boom", "key", 7));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reserved_and_unknown_targets_are_typed_errors() {
    let (node, _home) = node();
    let app = node
        .install_application(&built_app("kv-store"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    for method in ["init", "__calimero_sync_next"] {
        assert!(matches!(
            node.mutate(&context.id, method, b"", None),
            Err(NodeError::ReservedMethod(_))
        ));
    }
    assert!(matches!(
        node.query(&context.id, "nosuch", b"", None),
        Err(NodeError::Call {
            error: CallError::MethodNotFound(_),
            ..
        })
    ));
    let missing = ContextId::from_bytes([3; 32]);
    assert!(matches!(
        node.query(&missing, "len", b"", None),
        Err(NodeError::ContextNotFound(_))
    ));
    assert!(matches!(
        node.mutate(&missing, "set", b"", None),
        Err(NodeError::ContextNotFound(_))
    ));
}

#[test]
fn state_survives_a_restart_without_recompiling() {
    let home = tempfile::tempdir().expect("temp dir");
    let (context, root) = {
        let node = Node::open(db(home.path()), NodeConfig::default()).expect("open");
        let app = node
            .install_application(&built_app("kv-store"), "test", b"")
            .expect("installs");
        let (context, _) = node.create_context(&app.id, b"").expect("context");
        let set = node
            .mutate(&context.id, "set", br#"{"key":"k","value":"kept"}"#, None)
            .expect("set");
        (context.id, set.record.expect("record").root_hash)
    };
    let node = Node::open(db(home.path()), NodeConfig::default()).expect("reopen");
    assert_eq!(
        text(
            &node
                .query(&context, "get", br#"{"key":"k"}"#, None)
                .expect("get")
        ),
        r#""kept""#
    );
    assert_eq!(
        node.context(&context)
            .expect("read")
            .expect("exists")
            .root_hash,
        root
    );
    assert_eq!(
        node.compilations(),
        0,
        "the module came from the compiled-module cache"
    );
}

#[test]
fn a_commit_without_a_delta_is_rejected_and_queries_store_nothing() {
    let (node, _home) = node();
    let app = node
        .install_application(&faulty(), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    let before = node.context(&context.id).expect("read");
    let size = node.storage_size(&context.id).expect("size");
    let mut events = node.subscribe();
    assert!(matches!(
        node.mutate(&context.id, "commit_without_delta", b"", None),
        Err(NodeError::Rejected(_))
    ));
    assert_eq!(node.context(&context.id).expect("read"), before);
    assert_eq!(node.storage_size(&context.id).expect("size"), size);
    assert!(events.try_recv().is_err(), "a rejected call published");
    let kv = node
        .install_application(&built_app("kv-store"), "test", b"")
        .expect("installs");
    let (kv_context, _) = node.create_context(&kv.id, b"").expect("context");
    let kv_before = node.context(&kv_context.id).expect("read");
    node.query(&kv_context.id, "entries", b"{}", None)
        .expect("query");
    assert_eq!(
        node.context(&kv_context.id).expect("read"),
        kv_before,
        "a query changed the context"
    );
    assert_eq!(node.context(&context.id).expect("read"), before);
}

/// Counts down from the 8-byte little-endian number it is given, then
/// returns "done": a query whose work grows with its input.
const COUNTDOWN: &str = r#"
(module
  (import "env" "input" (func $input (param i64)))
  (import "env" "read_register" (func $read_register (param i64 i64) (result i32)))
  (import "env" "value_return" (func $value_return (param i64)))
  (import "env" "commit" (func $commit (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "donerootrootrootrootrootrootrootroot")
  (func $buf (param $at i32) (param $ptr i64) (param $len i64)
    (i64.store (local.get $at) (local.get $ptr))
    (i64.store offset=8 (local.get $at) (local.get $len)))
  (func (export "init")
    (call $buf (i32.const 500) (i64.const 4) (i64.const 32))
    (call $buf (i32.const 516) (i64.const 0) (i64.const 4))
    (call $commit (i64.const 500) (i64.const 516)))
  (func (export "count") (local $n i64)
    (call $input (i64.const 1))
    (call $buf (i32.const 200) (i64.const 100) (i64.const 8))
    (drop (call $read_register (i64.const 1) (i64.const 200)))
    (local.set $n (i64.load (i32.const 100)))
    (block $done
      (loop $again
        (br_if $done (i64.le_s (local.get $n) (i64.const 0)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $again)))
    (i64.store (i32.const 300) (i64.const 0))
    (call $buf (i32.const 308) (i64.const 0) (i64.const 4))
    (call $value_return (i64.const 300)))
)"#;

#[test]
fn queries_from_async_code_answer_as_blocking_ones_whatever_their_length() {
    let (node, _home) = node();
    let app = node
        .install_application(&wat::parse_str(COUNTDOWN).expect("wat"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Well within the in-place budget, and several times over it.
    for count in [10_u64, node::IN_PLACE_FUEL] {
        let args = count.to_le_bytes().to_vec();
        let blocking = node
            .query(&context.id, "count", &args, None)
            .expect("query");
        let from_async = runtime
            .block_on(node.query_async(context.id, "count".to_owned(), args, None))
            .expect("query from async code");
        assert_eq!(text(&from_async), "done");
        assert_eq!(from_async.returns, blocking.returns);
    }
    // Failures are the same too.
    let missing =
        runtime.block_on(node.query_async(context.id, "nope".to_owned(), Vec::new(), None));
    assert!(
        matches!(
            missing,
            Err(NodeError::Call {
                error: CallError::MethodNotFound(_),
                ..
            })
        ),
        "{missing:?}"
    );
}
