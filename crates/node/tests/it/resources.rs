//! What a call may hold and leave behind: blobs live and die with their
//! call and their context, compiled modules are trusted only when sealed,
//! and admission is bounded and first come, first served.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use node::{Node, NodeConfig, NodeError};
use node_primitives::{BlobId, ContextId};

use crate::support::{built_app, db, faulty, node};

/// `init` writes and commits; `blob` writes the blob "keyvalue" and returns
/// its 32-byte id; `blob_then_trap` does the same and then traps; `read`
/// returns the first bytes of the blob whose id is its input.
const BLOBS: &str = r#"
(module
  (import "env" "storage_write" (func $write (param i64 i64 i64) (result i32)))
  (import "env" "commit" (func $commit (param i64 i64)))
  (import "env" "value_return" (func $value_return (param i64)))
  (import "env" "blob_create" (func $create (result i64)))
  (import "env" "blob_write" (func $blob_write (param i64 i64) (result i64)))
  (import "env" "blob_close" (func $close (param i64 i64) (result i32)))
  (import "env" "input" (func $input (param i64)))
  (import "env" "read_register" (func $read_register (param i64 i64) (result i32)))
  (import "env" "blob_open" (func $open (param i64) (result i64)))
  (import "env" "blob_read" (func $blob_read (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "keyvalue-rootroot-rootroot-rootroot-rootart")
  (func $buf (param $at i32) (param $ptr i64) (param $len i64)
    (i64.store (local.get $at) (local.get $ptr))
    (i64.store offset=8 (local.get $at) (local.get $len)))
  (func (export "init")
    (call $buf (i32.const 1000) (i64.const 0) (i64.const 3))
    (call $buf (i32.const 1016) (i64.const 3) (i64.const 5))
    (drop (call $write (i64.const 1000) (i64.const 1016) (i64.const 1)))
    (call $buf (i32.const 1032) (i64.const 8) (i64.const 32))
    (call $buf (i32.const 1048) (i64.const 40) (i64.const 3))
    (call $commit (i64.const 1032) (i64.const 1048)))
  (func $blob (local $fd i64)
    (local.set $fd (call $create))
    (call $buf (i32.const 2000) (i64.const 0) (i64.const 8))
    (drop (call $blob_write (local.get $fd) (i64.const 2000)))
    (call $buf (i32.const 2016) (i64.const 3000) (i64.const 32))
    (drop (call $close (local.get $fd) (i64.const 2016)))
    (i64.store (i32.const 2100) (i64.const 0))
    (call $buf (i32.const 2108) (i64.const 3000) (i64.const 32))
    (call $value_return (i64.const 2100)))
  (func (export "blob") (call $blob))
  ;; Reads the blob whose id is the input; returns its first 64 bytes.
  (func (export "read") (local $fd i64)
    (call $input (i64.const 0))
    (call $buf (i32.const 4000) (i64.const 4100) (i64.const 32))
    (drop (call $read_register (i64.const 0) (i64.const 4000)))
    (call $buf (i32.const 4200) (i64.const 4100) (i64.const 32))
    (local.set $fd (call $open (i64.const 4200)))
    (call $buf (i32.const 4300) (i64.const 5000) (i64.const 64))
    (i64.store (i32.const 2100) (i64.const 0))
    (call $buf (i32.const 2108) (i64.const 5000)
      (call $blob_read (local.get $fd) (i64.const 4300)))
    (call $value_return (i64.const 2100)))
  (func (export "blob_then_trap") (call $blob) unreachable)
)"#;

fn blob_id(output: &node::CallOutput) -> BlobId {
    let bytes: [u8; 32] = output
        .returns
        .clone()
        .expect("a blob id")
        .try_into()
        .expect("32 bytes");
    BlobId::from_bytes(bytes)
}

#[test]
fn blobs_commit_with_their_call_and_go_with_their_context() {
    let (node, _home) = node();
    let app = node
        .install_application(&wat::parse_str(BLOBS).expect("wat"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");

    // A query's blob, and a failed call's, never reach the store.
    let queried = blob_id(&node.query(&context.id, "blob", b"", None).expect("query"));
    assert_eq!(node.blob(&queried).expect("read"), None);
    assert!(
        node.mutate(&context.id, "blob_then_trap", b"", None)
            .is_err()
    );
    assert_eq!(node.blob(&queried).expect("read"), None);

    let written = blob_id(&node.mutate(&context.id, "blob", b"", None).expect("mutate"));
    assert_eq!(written, queried, "content-addressed");
    assert_eq!(
        node.blob(&written).expect("read"),
        Some(b"keyvalue".to_vec())
    );

    assert!(node.delete_context(&context.id).expect("delete"));
    assert_eq!(node.blob(&written).expect("read"), None);
}

#[test]
fn members_keep_the_time_they_joined() {
    let (node, _home) = node();
    let app = node
        .install_application(&faulty(), "test", b"")
        .expect("installs");
    let (context, creator) = node.create_context(&app.id, b"").expect("context");
    assert_eq!(context.joined_at(&creator), context.created_at);
    let joiner = node_primitives::PublicKey::from_bytes([5; 32]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    assert!(node.add_member(&context.id, joiner).expect("added"));
    let record = node.context(&context.id).expect("read").expect("exists");
    assert!(record.joined_at(&joiner) >= before);
    assert_eq!(record.joined_at(&creator), context.created_at);
}

#[test]
fn an_application_being_created_on_cannot_be_uninstalled_and_vice_versa() {
    let (node, _home) = node();
    let app = node
        .install_application(&faulty(), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    assert!(matches!(
        node.uninstall_application(&app.id),
        Err(NodeError::Conflict(_))
    ));
    assert!(node.delete_context(&context.id).expect("delete"));
    assert!(node.uninstall_application(&app.id).expect("unused now"));
    assert!(matches!(
        node.create_context(&app.id, b""),
        Err(NodeError::ApplicationNotFound(_))
    ));
}

#[test]
fn a_corrupted_compiled_module_is_never_loaded_but_compiled_again() {
    let home = tempfile::tempdir().expect("temp dir");
    let (app, context) = {
        let node = Node::open(db(home.path()), NodeConfig::default()).expect("open");
        let app = node
            .install_application(&built_app("kv-store"), "test", b"")
            .expect("installs");
        let (context, _) = node.create_context(&app.id, b"").expect("context");
        (app, context.id)
    };
    // Flip bytes of the cached artifact in the database file itself.
    let mut file = std::fs::read(db(home.path())).expect("database file");
    let wasm = built_app("kv-store");
    let needle = b"ELF";
    let at = file
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("a compiled module in the file");
    for byte in &mut file[at + 64..at + 96] {
        *byte ^= 0x5A;
    }
    std::fs::write(db(home.path()), &file).expect("written back");
    let node = Node::open(db(home.path()), NodeConfig::default()).expect("reopen");
    let output = node
        .query(&context, "len", b"{}", None)
        .expect("the app still runs");
    assert_eq!(output.returns, Some(b"0".to_vec()));
    assert_eq!(
        node.compilations(),
        1,
        "the corrupt artifact was compiled again"
    );
    assert_eq!(
        node.application(&app.id)
            .expect("read")
            .expect("installed")
            .size,
        wasm.len() as u64
    );
}

/// Polls `done` for up to a minute.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime")
}

/// A node on a fresh temp home with `config`.
fn open_with(config: NodeConfig) -> (Node, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("temp dir");
    let node = Node::open(db(home.path()), config).expect("open");
    (node, home)
}

/// Runs `work` through the node's admission: as a writer of `context`, or
/// as any blocking work.
fn spawn_work<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    node: &Node,
    context: Option<ContextId>,
    work: impl FnOnce(&Node) -> Result<T, NodeError> + Send + 'static,
) -> tokio::task::JoinHandle<Result<T, NodeError>> {
    let node = node.clone();
    rt.spawn(async move {
        match context {
            Some(context) => node.run_blocking_on(context, work).await,
            None => node.run_blocking(work).await,
        }
    })
}

/// A blocking job that holds its slot until told to finish.
fn held(
    node: &Node,
    context: Option<ContextId>,
    rt: &tokio::runtime::Runtime,
) -> (
    mpsc::Sender<()>,
    tokio::task::JoinHandle<Result<(), NodeError>>,
    mpsc::Receiver<()>,
) {
    let (release, wait) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel::<()>();
    let job = spawn_work(rt, node, context, move |_| {
        started.send(()).expect("test listening");
        wait.recv().expect("released");
        Ok(())
    });
    (release, job, running)
}

#[test]
fn past_the_queue_work_is_refused_at_once() {
    let rt = runtime();
    let (node, _home) = open_with(NodeConfig {
        max_concurrent_calls: 1,
        max_queued_calls: 1,
        ..NodeConfig::default()
    });
    let (release, first, running) = held(&node, None, &rt);
    running.recv().expect("the first job runs");
    let waiting = spawn_work(&rt, &node, None, |_| Ok(7));
    eventually("the second job queues", || node.queued_calls() == 1);
    let refused = rt.block_on(node.run_blocking(|_| Ok::<_, NodeError>(8)));
    assert!(matches!(refused, Err(NodeError::Busy(1))), "{refused:?}");
    release.send(()).expect("job waiting");
    assert!(rt.block_on(first).expect("joined").is_ok());
    assert_eq!(rt.block_on(waiting).expect("joined").expect("ran"), 7);
    assert_eq!(node.queued_calls(), 0);
}

#[test]
fn writers_of_one_context_wait_in_order_without_taking_other_contexts_slots() {
    let rt = runtime();
    let (node, _home) = open_with(NodeConfig {
        max_concurrent_calls: 2,
        ..NodeConfig::default()
    });
    let busy = ContextId::from_bytes([1; 32]);
    let (release, first, running) = held(&node, Some(busy), &rt);
    running.recv().expect("the first writer runs");
    // Writers queue behind it, one after the other.
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for i in 0..6 {
        let order = order.clone();
        writers.push(spawn_work(&rt, &node, Some(busy), move |_| {
            order.lock().expect("order").push(i);
            Ok(())
        }));
        eventually("the writer queues", || node.queued_calls() == i + 1);
    }
    // Another context's call still gets the free slot.
    let other = spawn_work(&rt, &node, None, |_| Ok("ran"));
    eventually("another context's call runs", || other.is_finished());
    assert_eq!(rt.block_on(other).expect("joined").expect("ran"), "ran");
    release.send(()).expect("job waiting");
    assert!(rt.block_on(first).expect("joined").is_ok());
    for writer in writers {
        assert!(rt.block_on(writer).expect("joined").is_ok());
    }
    assert_eq!(*order.lock().expect("order"), (0..6).collect::<Vec<_>>());
}

#[test]
fn one_context_takes_at_most_its_share_of_the_queue() {
    let rt = runtime();
    let (node, _home) = open_with(NodeConfig {
        max_concurrent_calls: 1,
        max_queued_per_context: 2,
        ..NodeConfig::default()
    });
    let busy = ContextId::from_bytes([1; 32]);
    let (release, first, running) = held(&node, Some(busy), &rt);
    running.recv().expect("the first writer runs");
    let mut waiting = Vec::new();
    for queued in 1..=2 {
        waiting.push(spawn_work(&rt, &node, Some(busy), |_| Ok(())));
        eventually("the writer queues", || node.queued_calls() == queued);
    }
    let refused = rt.block_on(node.run_blocking_on(busy, |_| Ok::<_, NodeError>(())));
    assert!(matches!(refused, Err(NodeError::Busy(2))), "{refused:?}");
    // Another context's writer still gets a place.
    let other = spawn_work(&rt, &node, Some(ContextId::from_bytes([2; 32])), |_| Ok(()));
    eventually("the other writer queues", || node.queued_calls() == 3);
    release.send(()).expect("job waiting");
    assert!(rt.block_on(first).expect("joined").is_ok());
    for writer in waiting {
        assert!(rt.block_on(writer).expect("joined").is_ok());
    }
    assert!(rt.block_on(other).expect("joined").is_ok());
}

#[test]
fn a_blob_another_context_read_outlives_the_context_that_wrote_it() {
    let (node, _home) = node();
    let app = node
        .install_application(&wat::parse_str(BLOBS).expect("wat"), "test", b"")
        .expect("installs");
    let (writer, _) = node.create_context(&app.id, b"").expect("context");
    let (reader, _) = node.create_context(&app.id, b"").expect("context");
    let id = blob_id(&node.mutate(&writer.id, "blob", b"", None).expect("mutate"));
    let read = node
        .mutate(&reader.id, "read", id.as_bytes(), None)
        .expect("read");
    assert_eq!(read.returns, Some(b"keyvalue".to_vec()));
    assert!(node.delete_context(&writer.id).expect("delete"));
    assert_eq!(node.blob(&id).expect("read"), Some(b"keyvalue".to_vec()));
    let again = node
        .query(&reader.id, "read", id.as_bytes(), None)
        .expect("read");
    assert_eq!(again.returns, Some(b"keyvalue".to_vec()));
    assert!(node.delete_context(&reader.id).expect("delete"));
    assert_eq!(node.blob(&id).expect("read"), None);
}

#[test]
fn a_writer_whose_caller_left_does_not_run_and_a_panicking_one_does_not_stall_its_context() {
    let rt = runtime();
    let (node, _home) = open_with(NodeConfig::default());
    let busy = ContextId::from_bytes([3; 32]);
    let (release, first, running) = held(&node, Some(busy), &rt);
    running.recv().expect("the first writer runs");
    // Queued behind it, then abandoned by its caller.
    let ran = Arc::new(Mutex::new(false));
    let flag = ran.clone();
    let abandoned = spawn_work(&rt, &node, Some(busy), move |_| {
        *flag.lock().expect("flag") = true;
        Ok(())
    });
    eventually("the writer queues", || node.queued_calls() == 1);
    abandoned.abort();
    // Gone (its future dropped) before the lane reaches it.
    assert!(
        rt.block_on(abandoned)
            .expect_err("cancelled")
            .is_cancelled()
    );
    let panicking = spawn_work(&rt, &node, Some(busy), |_| -> Result<(), NodeError> {
        panic!("a writer that panics")
    });
    let after = spawn_work(&rt, &node, Some(busy), |_| Ok(5));
    eventually("both writers queue", || node.queued_calls() == 3);
    release.send(()).expect("job waiting");
    assert!(rt.block_on(first).expect("joined").is_ok());
    let panicked = rt.block_on(panicking).expect("joined");
    assert!(
        matches!(panicked, Err(NodeError::Internal(_))),
        "{panicked:?}"
    );
    assert_eq!(rt.block_on(after).expect("joined").expect("ran"), 5);
    assert!(!*ran.lock().expect("flag"), "the abandoned writer ran");
    assert_eq!(node.queued_calls(), 0);
}

#[test]
fn a_busy_context_gives_its_slot_back_between_turns() {
    let rt = runtime();
    let (node, _home) = open_with(NodeConfig {
        max_concurrent_calls: 1,
        ..NodeConfig::default()
    });
    let busy = ContextId::from_bytes([4; 32]);
    let (release, first, running) = held(&node, Some(busy), &rt);
    running.recv().expect("the first writer runs");
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for i in 0..40 {
        let order = order.clone();
        writers.push(spawn_work(&rt, &node, Some(busy), move |_| {
            order.lock().expect("order").push(i);
            Ok(())
        }));
        eventually("the writer queues", || node.queued_calls() == i + 1);
    }
    // Other work waits for the one slot the busy context holds.
    let marker = order.clone();
    let other = spawn_work(&rt, &node, None, move |_| {
        marker.lock().expect("order").push(usize::MAX);
        Ok(())
    });
    eventually("the other work queues", || node.queued_calls() == 41);
    release.send(()).expect("job waiting");
    assert!(rt.block_on(first).expect("joined").is_ok());
    for writer in writers {
        assert!(rt.block_on(writer).expect("joined").is_ok());
    }
    assert!(rt.block_on(other).expect("joined").is_ok());
    let order = order.lock().expect("order").clone();
    let other_at = order.iter().position(|&i| i == usize::MAX).expect("ran");
    assert!(
        other_at < 40,
        "the other work waited for the whole lane: {order:?}"
    );
    let writers: Vec<usize> = order.into_iter().filter(|&i| i != usize::MAX).collect();
    assert_eq!(
        writers,
        (0..40).collect::<Vec<_>>(),
        "the context's writers kept their order"
    );
    assert_eq!(node.queued_calls(), 0);
}
