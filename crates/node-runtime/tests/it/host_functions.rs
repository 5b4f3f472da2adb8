//! APP-ABI §7 items 4, 5 and 14–27 with a probe module calling host functions
//! directly.

use std::sync::Arc;

use node_runtime::{CallError, HostError, InstallError, Limits};

use crate::support::{Harness, MemoryBlobs, runtime};

fn probe() -> Harness {
    Harness::new(&wat::parse_str(include_str!("probe.wat")).expect("probe.wat parses"))
}

fn returned_i64(outcome: &node_runtime::Outcome) -> i64 {
    let bytes = outcome
        .returns
        .clone()
        .expect("call succeeds")
        .expect("a value");
    i64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

fn host_error(outcome: &node_runtime::Outcome) -> HostError {
    match outcome.returns.clone() {
        Err(CallError::Host(error)) => error,
        other => panic!("expected a host error, got {other:?}"),
    }
}

#[test]
fn item_4_methods_must_take_and_return_nothing() {
    let mut harness = probe();
    for method in ["takes_arg", "returns_value"] {
        assert_eq!(
            harness.query(method, "").returns,
            Err(CallError::InvalidSignature(method.into()))
        );
    }
}

#[test]
fn item_5_imports_are_checked_at_install() {
    let runtime = runtime(Limits::default());
    let module = |imports: &str, memory: bool| {
        let memory = if memory {
            r#"(memory (export "memory") 1)"#
        } else {
            ""
        };
        wat::parse_str(format!("(module {imports} {memory})")).expect("wat")
    };
    let wrong_type = module(
        r#"(import "env" "storage_read" (func (param i32 i32) (result i32)))"#,
        true,
    );
    assert!(
        matches!(runtime.compile(&wrong_type), Err(InstallError::ImportSignature { name, .. }) if name == "storage_read")
    );
    let unknown = module(r#"(import "env" "open_file" (func (param i64)))"#, true);
    assert!(
        matches!(runtime.compile(&unknown), Err(InstallError::UnknownImport { name, .. }) if name == "open_file")
    );
    let wasi = module(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        true,
    );
    assert!(matches!(
        runtime.compile(&wasi),
        Err(InstallError::UnknownImport { .. })
    ));
    assert_eq!(
        runtime.compile(&module("", false)).err(),
        Some(InstallError::MissingMemory)
    );
    assert!(matches!(
        runtime.compile(b"not wasm"),
        Err(InstallError::InvalidModule(_))
    ));
}

#[test]
fn item_14_registers() {
    let mut harness = probe();
    assert_eq!(returned_i64(&harness.query("unset_register_len", "")), -1);
    assert_eq!(
        host_error(&harness.query("read_unset", "")),
        HostError::InvalidRegisterId(5)
    );
    // wrong length → 0, exact → 1, context id 32 bytes, executor id 32 bytes.
    assert_eq!(
        returned_i64(&harness.query("registers", "")),
        1 + 32 * 100 + 32 * 10_000
    );
}

#[test]
fn item_15_storage_semantics() {
    let mut harness = probe();
    // write new → 0; overwrite → 1 with the old value (5 bytes) in the register;
    // remove → 1 with the removed value (3 bytes); read → 0, register untouched (-1).
    assert_eq!(
        returned_i64(&harness.mutate("storage", "")),
        10 + 500 + 1000 + 30_000 - 1_000_000
    );
    assert!(harness.snapshot().is_empty());
}

#[test]
fn item_16_key_and_value_limits() {
    let mut harness = probe();
    assert_eq!(
        host_error(&harness.mutate("key_too_long", "")),
        HostError::KeyLengthOverflow(1_048_577)
    );
    assert_eq!(
        host_error(&harness.mutate("value_too_long", "")),
        HostError::ValueLengthOverflow(10_485_761)
    );
}

#[test]
fn item_17_log_limit() {
    let mut harness = probe();
    let outcome = harness.query("logs_100", "");
    assert!(outcome.returns.is_ok());
    assert_eq!(outcome.logs.len(), 100);
    assert!(outcome.logs.iter().all(|line| line == "value"));
    let outcome = harness.query("logs_101", "");
    assert_eq!(host_error(&outcome), HostError::LogsOverflow);
    assert_eq!(outcome.logs.len(), 100);
}

#[test]
fn item_18_event_limits() {
    let mut harness = probe();
    assert_eq!(
        host_error(&harness.query("event_kind_101", "")),
        HostError::EventKindSizeOverflow(101)
    );
    let outcome = harness.query("event_data_16384", "");
    assert!(outcome.returns.is_ok());
    assert_eq!(outcome.events[0].data.len(), 16_384);
    assert_eq!(
        host_error(&harness.query("event_data_16385", "")),
        HostError::EventDataSizeOverflow(16_385)
    );
    let outcome = harness.query("events_101", "");
    assert_eq!(host_error(&outcome), HostError::EventsOverflow);
    assert_eq!(outcome.events.len(), 100);
}

#[test]
fn item_19_invalid_utf8_aborts() {
    let mut harness = probe();
    assert_eq!(
        host_error(&harness.query("log_bad_utf8", "")),
        HostError::BadUtf8("log")
    );
    assert_eq!(
        host_error(&harness.query("panic_bad_utf8", "")),
        HostError::BadUtf8("panic message")
    );
}

#[test]
fn item_22_out_of_bounds_pointers_abort_and_empty_buffers_pass() {
    let mut harness = probe();
    for method in [
        "out_of_bounds",
        "pointer_overflow",
        "descriptor_out_of_bounds",
    ] {
        assert!(
            matches!(
                host_error(&harness.query(method, "")),
                HostError::InvalidMemoryAccess(_)
            ),
            "{method}"
        );
    }
    let outcome = harness.query("zero_length_at_0", "");
    assert!(outcome.returns.is_ok());
    assert_eq!(outcome.logs, vec![String::new()]);
}

#[test]
fn item_23_commit_rules() {
    let mut harness = probe();
    assert!(matches!(
        host_error(&harness.mutate("commit_31", "")),
        HostError::InvalidMemoryAccess(_)
    ));
    assert!(matches!(
        host_error(&harness.mutate("commit_twice", "")),
        HostError::InvalidMemoryAccess(_)
    ));
    let once = harness.mutate("commit_once", "");
    assert_eq!(once.root_hash, Some([0; 32]));
    assert_eq!(once.artifact, b"key");
}

#[test]
fn item_24_clock_and_randomness() {
    let mut harness = probe();
    assert!(matches!(
        host_error(&harness.query("time_7", "")),
        HostError::InvalidMemoryAccess(_)
    ));
    let first = returned_i64(&harness.mutate("time_8", ""));
    let second = returned_i64(&harness.mutate("time_8", ""));
    assert!(second > first, "{first} then {second}");
    // The wall clock steps back an hour: the context's clock still moves on.
    let back = u64::try_from(second).expect("positive") - 3_600_000_000_000;
    harness
        .clock
        .store(back, std::sync::atomic::Ordering::SeqCst);
    let third = returned_i64(&harness.mutate("time_8", ""));
    assert!(
        third > second && third - second < 10,
        "{second} then {third}: the clock went back to {back}"
    );
    assert_eq!(
        returned_i64(&harness.query("random", "")),
        i64::from_le_bytes([0xAB; 8])
    );
}

#[test]
fn queries_cannot_write_and_proposals_are_refused() {
    let mut harness = probe();
    assert!(matches!(
        host_error(&harness.query("write_only", "")),
        HostError::ReadOnly(_)
    ));
    assert!(matches!(
        host_error(&harness.query("commit_once", "")),
        HostError::ReadOnly(_)
    ));
    assert_eq!(
        host_error(&harness.mutate("proposal", "")),
        HostError::ProposalsNotSupported
    );
}

#[test]
fn item_27_blobs() {
    let mut harness = probe();
    assert_eq!(
        host_error(&harness.mutate("blob_roundtrip", "")),
        HostError::BlobsNotSupported
    );
    harness.blobs = Some(Arc::new(MemoryBlobs::default()));
    // "key" written and closed, reopened: the first read gives 3 bytes, the next 0.
    assert_eq!(returned_i64(&harness.mutate("blob_roundtrip", "")), 300);
}

/// Answers every request with "pong" and counts them.
#[derive(Debug, Default)]
struct Pong(std::sync::atomic::AtomicUsize);

impl node_runtime::Fetch for Pong {
    fn fetch(
        &self,
        _url: &str,
        _method: &str,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(b"pong".to_vec())
    }
}

#[test]
fn a_call_that_must_not_wait_stops_before_it_fetches() {
    let mut harness = probe();
    let pong = Arc::new(Pong::default());
    harness.fetch = Some(pong.clone());
    harness.budget = Some(1_000_000);
    assert_eq!(
        harness.query("fetch", "").returns,
        Err(CallError::Unfinished)
    );
    assert_eq!(pong.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Run again without a budget, it fetches.
    harness.budget = None;
    assert_eq!(returned_i64(&harness.query("fetch", "")), 10 * 4);
    assert_eq!(pong.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Without a fetcher there is nothing to wait for: the refusal comes at once.
    harness.fetch = None;
    harness.budget = Some(1_000_000);
    let disabled = "fetch is disabled on this node".len() as i64;
    assert_eq!(returned_i64(&harness.query("fetch", "")), 1 + 10 * disabled);
}

#[test]
fn fetch_is_disabled_without_a_fetcher() {
    let mut harness = probe();
    let disabled = "fetch is disabled on this node".len() as i64;
    assert_eq!(returned_i64(&harness.query("fetch", "")), 1 + 10 * disabled);
}

#[test]
fn item_20_a_panic_keeps_its_location_logs_and_events() {
    let mut harness = probe();
    let outcome = harness.mutate("log_emit_panic", "");
    assert_eq!(
        outcome.returns,
        Err(CallError::Panic {
            message: "key".into(),
            file: "value".into(),
            line: 4,
            column: 9
        })
    );
    assert_eq!(outcome.logs, vec!["value".to_owned()]);
    assert_eq!(outcome.events.len(), 1);
}

#[test]
fn the_register_count_is_limited() {
    let mut harness = probe();
    assert!(
        matches!(host_error(&harness.query("registers_101", "")), HostError::InvalidMemoryAccess(why) if why.contains("registers"))
    );
    let mut roomy = Harness::with_limits(
        &wat::parse_str(include_str!("probe.wat")).expect("wat"),
        Limits {
            max_registers: 101,
            ..Limits::default()
        },
    );
    assert!(roomy.query("registers_101", "").returns.is_ok());
}

#[test]
fn the_log_line_size_is_limited() {
    let mut harness = Harness::with_limits(
        &wat::parse_str(include_str!("probe.wat")).expect("wat"),
        Limits {
            max_log_size: 4,
            ..Limits::default()
        },
    );
    assert_eq!(
        host_error(&harness.query("logs_100", "")),
        HostError::LogTooLong(5)
    );
}
