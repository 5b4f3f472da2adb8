//! Installing, listing and uninstalling applications.

use node::{InstallError, NodeError};
use node_primitives::{ApplicationId, Hash};

use crate::support::{built_app, node};

#[test]
fn install_is_content_addressed_and_idempotent() {
    let (node, _home) = node();
    let wasm = built_app("kv-store");
    let first = node
        .install_application(&wasm, "file:///kv-store.wasm", b"{}")
        .expect("installs");
    assert_eq!(
        first.id,
        ApplicationId::from_bytes(Hash::digest(&wasm).to_bytes())
    );
    assert_eq!(first.size, wasm.len() as u64);
    let compilations = node.compilations();
    let again = node
        .install_application(&wasm, "https://elsewhere/kv-store.wasm", b"[]")
        .expect("again");
    assert_eq!(again, first, "the first install's record stays");
    assert_eq!(node.compilations(), compilations, "nothing compiled again");
    assert_eq!(node.applications().expect("list").len(), 1);
}

#[test]
fn invalid_modules_are_refused_with_the_reason() {
    let (node, _home) = node();
    let unknown =
        wat::parse_str(r#"(module (import "env" "exec" (func)) (memory (export "memory") 1))"#)
            .expect("wat");
    match node.install_application(&unknown, "test", b"") {
        Err(NodeError::Install(InstallError::UnknownImport { name, .. })) => {
            assert_eq!(name, "exec")
        }
        other => panic!("expected an install error, got {other:?}"),
    }
    assert!(matches!(
        node.install_application(b"\0asm garbage", "test", b""),
        Err(NodeError::Install(_))
    ));
    assert!(node.applications().expect("list").is_empty());
}

#[test]
fn an_application_in_use_cannot_be_uninstalled() {
    let (node, _home) = node();
    let app = node
        .install_application(&built_app("kv-store"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    assert!(matches!(
        node.uninstall_application(&app.id),
        Err(NodeError::Conflict(_))
    ));
    assert!(node.delete_context(&context.id).expect("deleted"));
    assert!(node.uninstall_application(&app.id).expect("uninstalled"));
    assert!(matches!(
        node.create_context(&app.id, b""),
        Err(NodeError::ApplicationNotFound(_))
    ));
}
