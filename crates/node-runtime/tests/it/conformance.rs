//! APP-ABI §7 items 1–13 with the guestbook app (calimero-sdk 0.2.5).

use node_runtime::{CallError, TrapKind};

use crate::support::{Harness, built_app, hex32};

fn guestbook() -> Harness {
    Harness::new(&built_app("guestbook"))
}

fn panic_message(error: &CallError) -> (&str, &str, u32, u32) {
    match error {
        CallError::Panic {
            message,
            file,
            line,
            column,
        } => (message, file, *line, *column),
        other => panic!("expected a guest panic, got {other:?}"),
    }
}

#[test]
fn item_1_links_with_the_abi_and_exports_its_methods() {
    let harness = guestbook();
    let mut methods = harness.module.methods();
    methods.sort();
    for expected in ["__calimero_sync_next", "init", "read", "sign"] {
        assert!(methods.contains(&expected.to_owned()), "{methods:?}");
    }
}

#[test]
fn item_2_read_before_init_panics_in_the_guest() {
    let mut harness = guestbook();
    let outcome = harness.query("read", r#"{"author":"a"}"#);
    let error = outcome.returns.expect_err("no state yet");
    let (message, file, line, column) = panic_message(&error);
    // The path is relative to the workspace the app was built in.
    assert!(file.ends_with("src/lib.rs"), "{file}");
    assert_eq!(
        (message, line, column),
        ("Failed to find or read app state", 30, 17)
    );
}

#[test]
fn item_3_unknown_and_non_function_exports_are_method_not_found() {
    let mut harness = guestbook();
    for method in ["nosuch", "memory", "__heap_base", "__data_end"] {
        let outcome = harness.query(method, "");
        assert_eq!(
            outcome.returns,
            Err(CallError::MethodNotFound(method.to_owned()))
        );
    }
    // The host is still fine.
    assert!(harness.mutate("init", "").returns.is_ok());
}

#[test]
fn items_6_to_10_init_sign_read_give_the_reference_roots() {
    let mut harness = guestbook();
    let init = harness.mutate("init", "");
    assert_eq!(init.returns, Ok(None));
    assert_eq!(
        hex32(&init.root_hash.expect("init commits")),
        "466113d2157efc49e97d7a6e7863b531169f9b315ed4c7229b740dec112ead60"
    );
    assert_eq!(init.artifact.first(), Some(&0x00));
    assert_eq!(harness.keys(), 6);

    let again = harness.mutate("init", "");
    let (message, _, line, column) =
        panic_message(again.returns.as_ref().expect_err("second init"));
    assert_eq!(
        (message, line, column),
        ("Cannot initialize over already existing state.", 20, 12)
    );
    assert_eq!(harness.keys(), 6);

    let alice = harness.mutate("sign", r#"{"author":"alice","text":"hello"}"#);
    assert_eq!(alice.returns, Ok(Some(b"1".to_vec())));
    assert_eq!(alice.events.len(), 1);
    assert_eq!(alice.events[0].kind, "Note");
    assert_eq!(alice.events[0].data, br#"{"author":"alice"}"#);
    assert_eq!(
        hex32(&alice.root_hash.expect("commits")),
        "3a131f991d453d1608848a8c4975437cdeeb176db29b908fe01485a8fdc55b92"
    );
    assert_eq!(harness.keys(), 8);

    let bob = harness.mutate("sign", r#"{"author":"bob","text":"hey"}"#);
    assert_eq!(bob.returns, Ok(Some(b"2".to_vec())));
    assert_eq!(
        hex32(&bob.root_hash.expect("commits")),
        "339f2159756ec8ed5a8d0eddc7ece22e0325e2017da9027f0ad094cf173ddd62"
    );
    assert_eq!(harness.keys(), 10);

    let again = harness.mutate("sign", r#"{"author":"alice","text":"bye"}"#);
    assert_eq!(again.returns, Ok(Some(b"2".to_vec())));
    assert_eq!(
        harness.query("read", r#"{"author":"alice"}"#).returns,
        Ok(Some(br#""bye""#.to_vec()))
    );
    let missing = harness.query("read", r#"{"author":"zed"}"#);
    assert_eq!(missing.returns, Ok(Some(b"null".to_vec())));
    assert_eq!(missing.root_hash, None);
    assert!(!missing.wrote);
}

#[test]
fn item_11_bad_input_panics_with_the_serde_message() {
    let mut harness = guestbook();
    harness.mutate("init", "");
    let wrong = harness.query("read", r#"{"autho":"x"}"#);
    let (message, ..) = panic_message(wrong.returns.as_ref().expect_err("bad field"));
    assert!(
        message.starts_with("Failed to deserialize input from JSON:")
            && message.contains("missing field"),
        "{message}"
    );
    let empty = harness.query("read", "");
    let (message, ..) = panic_message(empty.returns.as_ref().expect_err("empty"));
    assert!(message.contains("EOF while parsing a value"), "{message}");
}

#[test]
fn item_12_a_replica_applies_the_artifacts_to_the_same_roots() {
    let mut origin = guestbook();
    let artifacts: Vec<(Vec<u8>, [u8; 32])> = [
        ("init", ""),
        ("sign", r#"{"author":"alice","text":"hello"}"#),
        ("sign", r#"{"author":"bob","text":"hey"}"#),
    ]
    .into_iter()
    .map(|(method, input)| {
        let outcome = origin.mutate(method, input);
        (outcome.artifact, outcome.root_hash.expect("commits"))
    })
    .collect();

    let mut replica = guestbook();
    replica.clock.store(
        1_800_000_000_000_000_000,
        std::sync::atomic::Ordering::SeqCst,
    );
    for (artifact, root) in artifacts {
        let outcome = replica.call_bytes("__calimero_sync_next", &artifact);
        assert!(outcome.returns.is_ok(), "{:?}", outcome.returns);
        assert_eq!(outcome.root_hash, Some(root));
    }
    assert_eq!(
        replica.query("read", r#"{"author":"bob"}"#).returns,
        Ok(Some(br#""hey""#.to_vec()))
    );
}

#[test]
fn item_13_sync_with_empty_or_garbage_input() {
    let mut empty_store = guestbook();
    let outcome = empty_store.mutate("__calimero_sync_next", "");
    assert!(outcome.returns.is_ok());
    assert_eq!(outcome.root_hash, None);

    let mut harness = guestbook();
    harness.mutate("init", "");
    let compare = harness.mutate("__calimero_sync_next", "");
    assert!(compare.returns.is_ok());
    assert_eq!(compare.artifact.first(), Some(&0x01));

    let before = harness.snapshot();
    let garbage = harness.call_bytes("__calimero_sync_next", &[7, 1, 2]);
    assert_eq!(garbage.returns, Err(CallError::Trap(TrapKind::Unreachable)));
    assert_eq!(harness.snapshot(), before);
}
