//! Temp homes, app bytes and a hand-written test app.

use std::path::{Path, PathBuf};

use node::{Node, NodeConfig};
use tempfile::TempDir;

/// A node on a fresh temp home; keep the `TempDir` alive as long as the node.
pub fn node() -> (Node, TempDir) {
    let home = tempfile::tempdir().expect("temp dir");
    let node = Node::open(db(home.path()), NodeConfig::default()).expect("node opens");
    (node, home)
}

pub fn db(home: &Path) -> PathBuf {
    home.join("node.redb")
}

pub fn built_app(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../target/apps/{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run `cargo xtask build-apps`", path.display()))
}

/// A module following the node's commit rules by hand: `init` and `touch`
/// write and commit; the others write and then fail in different ways, or spin.
pub const FAULTY: &str = r#"
(module
  (import "env" "storage_write" (func $write (param i64 i64 i64) (result i32)))
  (import "env" "commit" (func $commit (param i64 i64)))
  (import "env" "value_return" (func $value_return (param i64)))
  (import "env" "panic_utf8" (func $panic_utf8 (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "keyvalue-rootroot-rootroot-rootroot-rootartboom")
  ;; key {0,3}, value {3,5}, root {8,32}, artifact {40,3}, message {43,4}
  (func $buf (param $at i32) (param $ptr i64) (param $len i64)
    (i64.store (local.get $at) (local.get $ptr))
    (i64.store offset=8 (local.get $at) (local.get $len)))
  (func $write_and_commit
    (call $buf (i32.const 1000) (i64.const 0) (i64.const 3))
    (call $buf (i32.const 1016) (i64.const 3) (i64.const 5))
    (drop (call $write (i64.const 1000) (i64.const 1016) (i64.const 1)))
    (call $buf (i32.const 1032) (i64.const 8) (i64.const 32))
    (call $buf (i32.const 1048) (i64.const 40) (i64.const 3))
    (call $commit (i64.const 1032) (i64.const 1048)))
  (func (export "init") (call $write_and_commit))
  (func (export "touch") (call $write_and_commit))
  (func (export "write_then_trap") (call $write_and_commit) unreachable)
  (func (export "write_then_panic")
    (call $write_and_commit)
    (call $buf (i32.const 1100) (i64.const 43) (i64.const 4))
    (call $buf (i32.const 1116) (i64.const 0) (i64.const 3))
    (i64.store (i32.const 1132) (i64.const 7))
    (call $panic_utf8 (i64.const 1100) (i64.const 1116)))
  (func (export "write_then_error")
    (call $write_and_commit)
    (i64.store (i32.const 1200) (i64.const 1))
    (call $buf (i32.const 1208) (i64.const 43) (i64.const 4))
    (call $value_return (i64.const 1200)))
  (func (export "write_without_commit")
    (call $buf (i32.const 1000) (i64.const 0) (i64.const 3))
    (call $buf (i32.const 1016) (i64.const 3) (i64.const 5))
    (drop (call $write (i64.const 1000) (i64.const 1016) (i64.const 1))))
  (func (export "commit_without_delta")
    (call $buf (i32.const 1032) (i64.const 8) (i64.const 32))
    (call $buf (i32.const 1048) (i64.const 40) (i64.const 0))
    (call $commit (i64.const 1032) (i64.const 1048)))
  (func (export "write_then_spin") (call $write_and_commit) (loop $forever (br $forever)))
  (func (export "spin_a_while") (local $n i64)
    (local.set $n (i64.const 300000000))
    (loop $again
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $again (i64.gt_s (local.get $n) (i64.const 0)))))
)"#;

pub fn faulty() -> Vec<u8> {
    wat::parse_str(FAULTY).expect("wat")
}
