//! The wasm host functions of node-runtime (`imports.rs`, `host.rs`): how
//! they decode pointer / length arguments and descriptors out of guest
//! memory, with every limit, through the public `Runtime::call`.
//!
//! The guest is a tiny interpreter written in WAT (parsed once with `wat`,
//! compiled once): its `run` method copies the call input to address 0
//! (`input` into a register, then `read_register`) and runs it as a list of
//! 48-byte records:
//!
//! ```text
//! byte 0      op (mod 32): 0..=24 a host function in APP-ABI §3 order,
//!             25 memory.grow, 26 store two i64s, 27..=31 stop
//! byte 1      bit k set: argument k verbatim, else masked into 0..0x20000
//! bytes 2..8  unused
//! bytes 8..48 five u64 little-endian arguments
//! ```
//!
//! Pointers are guest addresses, so descriptors (`{ptr, len}` buffers,
//! locations, events, value returns) can point into the input itself.
//!
//! The fuzz input's byte 0 sets up the call: bit 0 read-write (else a query),
//! bit 1 a blob store, bit 2 an outgoing-HTTP stand-in, bits 3..=5 which
//! export to call; the rest is the call input.
//!
//! Properties: the host never panics and never breaks a limit (logs,
//! events, return size, host bytes, storage key and value sizes); a query
//! writes nothing and commits nothing; time never goes back; a missing or
//! non-function export is `MethodNotFound`, a function with parameters
//! `InvalidSignature`; a call never fails to instantiate.

#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use node_runtime::{
    BlobStore, Call, CallError, CompiledModule, Environment, Fetch, Limits, Mode, Runtime,
    RuntimeConfig, Storage,
};

/// The host functions in op-code order, with their calls on `$a0..$a4`.
const OPS: [&str; 27] = [
    "(call $panic (local.get $a0))",
    "(call $panic_utf8 (local.get $a0) (local.get $a1))",
    "(drop (call $register_len (local.get $a0)))",
    "(drop (call $read_register (local.get $a0) (local.get $a1)))",
    "(call $context_id (local.get $a0))",
    "(call $executor_id (local.get $a0))",
    "(call $input (local.get $a0))",
    "(call $value_return (local.get $a0))",
    "(call $log_utf8 (local.get $a0))",
    "(call $emit (local.get $a0))",
    "(call $commit (local.get $a0) (local.get $a1))",
    "(drop (call $storage_read (local.get $a0) (local.get $a1)))",
    "(drop (call $storage_remove (local.get $a0) (local.get $a1)))",
    "(drop (call $storage_write (local.get $a0) (local.get $a1) (local.get $a2)))",
    "(drop (call $fetch (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3) (local.get $a4)))",
    "(call $random_bytes (local.get $a0))",
    "(call $time_now (local.get $a0))",
    "(call $send_proposal (local.get $a0) (local.get $a1))",
    "(call $approve_proposal (local.get $a0))",
    "(drop (call $blob_create))",
    "(drop (call $blob_open (local.get $a0)))",
    "(drop (call $blob_read (local.get $a0) (local.get $a1)))",
    "(drop (call $blob_write (local.get $a0) (local.get $a1)))",
    "(drop (call $blob_close (local.get $a0) (local.get $a1)))",
    "(drop (call $blob_announce_to_context (local.get $a0) (local.get $a1)))",
    "(drop (memory.grow (i32.wrap_i64 (i64.and (local.get $a0) (i64.const 3)))))",
    "(i64.store (i32.wrap_i64 (local.get $a0)) (local.get $a1)) \
     (i64.store offset=8 (i32.wrap_i64 (local.get $a0)) (local.get $a2))",
];

/// Every host function of APP-ABI §3 with its exact signature.
const IMPORTS: &str = r#"
  (import "env" "panic" (func $panic (param i64)))
  (import "env" "panic_utf8" (func $panic_utf8 (param i64 i64)))
  (import "env" "register_len" (func $register_len (param i64) (result i64)))
  (import "env" "read_register" (func $read_register (param i64 i64) (result i32)))
  (import "env" "context_id" (func $context_id (param i64)))
  (import "env" "executor_id" (func $executor_id (param i64)))
  (import "env" "input" (func $input (param i64)))
  (import "env" "value_return" (func $value_return (param i64)))
  (import "env" "log_utf8" (func $log_utf8 (param i64)))
  (import "env" "emit" (func $emit (param i64)))
  (import "env" "commit" (func $commit (param i64 i64)))
  (import "env" "storage_read" (func $storage_read (param i64 i64) (result i32)))
  (import "env" "storage_remove" (func $storage_remove (param i64 i64) (result i32)))
  (import "env" "storage_write" (func $storage_write (param i64 i64 i64) (result i32)))
  (import "env" "fetch" (func $fetch (param i64 i64 i64 i64 i64) (result i32)))
  (import "env" "random_bytes" (func $random_bytes (param i64)))
  (import "env" "time_now" (func $time_now (param i64)))
  (import "env" "send_proposal" (func $send_proposal (param i64 i64)))
  (import "env" "approve_proposal" (func $approve_proposal (param i64)))
  (import "env" "blob_create" (func $blob_create (result i64)))
  (import "env" "blob_open" (func $blob_open (param i64) (result i64)))
  (import "env" "blob_read" (func $blob_read (param i64 i64) (result i64)))
  (import "env" "blob_write" (func $blob_write (param i64 i64) (result i64)))
  (import "env" "blob_close" (func $blob_close (param i64 i64) (result i32)))
  (import "env" "blob_announce_to_context" (func $blob_announce_to_context (param i64 i64) (result i32)))
"#;

/// The register the interpreter reads its input through (the SDK's id).
const INPUT_REGISTER: u64 = 4_294_967_294;
/// Longest call input the interpreter runs (its records live at 0..len).
const MAX_PROGRAM: usize = 0x1_0000;

/// The interpreter module's text.
fn module_text() -> String {
    let mut dispatch = String::from("(block $continue (block $default ");
    for k in (0..OPS.len()).rev() {
        dispatch.push_str(&format!("(block $c{k} "));
    }
    dispatch.push_str("(br_table");
    for k in 0..OPS.len() {
        dispatch.push_str(&format!(" $c{k}"));
    }
    dispatch.push_str(" $default (local.get $op))");
    for op in OPS {
        dispatch.push_str(&format!(") {op} (br $continue)"));
    }
    // Any other op code stops the program.
    dispatch.push_str(") (br $done))");

    format!(
        r#"(module
{IMPORTS}
  (memory (export "memory") 2)
  (global (export "not_a_function") i32 (i32.const 0))

  ;; Argument k of the record at $at: verbatim when bit k of its flags byte
  ;; is set, else masked into the first two pages.
  (func $arg (param $at i32) (param $k i32) (result i64)
    (local $v i64)
    (local.set $v (i64.load offset=8
      (i32.add (local.get $at) (i32.shl (local.get $k) (i32.const 3)))))
    (if (result i64)
      (i32.and (i32.load8_u offset=1 (local.get $at)) (i32.shl (i32.const 1) (local.get $k)))
      (then (local.get $v))
      (else (i64.and (local.get $v) (i64.const 0x1ffff)))))

  (func (export "with_params") (param i32))

  (func (export "run")
    (local $len i64) (local $at i32) (local $end i32) (local $op i32)
    (local $a0 i64) (local $a1 i64) (local $a2 i64) (local $a3 i64) (local $a4 i64)
    (call $input (i64.const {INPUT_REGISTER}))
    (local.set $len (call $register_len (i64.const {INPUT_REGISTER})))
    (if (i64.gt_u (local.get $len) (i64.const {MAX_PROGRAM})) (then (return)))
    (i64.store (i32.const 0x1ff00) (i64.const 0))
    (i64.store (i32.const 0x1ff08) (local.get $len))
    (drop (call $read_register (i64.const {INPUT_REGISTER}) (i64.const 0x1ff00)))
    (local.set $end (i32.wrap_i64 (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $at) (i32.const 48)) (local.get $end)))
        (local.set $op (i32.and (i32.load8_u (local.get $at)) (i32.const 31)))
        (local.set $a0 (call $arg (local.get $at) (i32.const 0)))
        (local.set $a1 (call $arg (local.get $at) (i32.const 1)))
        (local.set $a2 (call $arg (local.get $at) (i32.const 2)))
        (local.set $a3 (call $arg (local.get $at) (i32.const 3)))
        (local.set $a4 (call $arg (local.get $at) (i32.const 4)))
        {dispatch}
        (local.set $at (i32.add (local.get $at) (i32.const 48)))
        (br $next))))
)"#,
    )
}

/// Small limits, so that every limit is within the fuzzer's reach.
fn limits() -> Limits {
    Limits {
        fuel: 5_000_000,
        deadline: Duration::from_secs(2),
        max_memory_pages: 16,
        max_registers: 16,
        max_register_size: 256 * 1024,
        max_registers_capacity: 1024 * 1024,
        max_logs: 8,
        max_log_size: 256,
        max_events: 8,
        max_event_kind_size: 32,
        max_event_data_size: 256,
        max_storage_key_size: 64,
        max_storage_value_size: 4096,
        max_return_size: 4096,
        max_blob_handles: 4,
        max_blob_chunk_size: 4096,
        max_host_bytes: 1024 * 1024,
        ..Limits::default()
    }
}

type State = Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>;

/// A context's state in memory.
struct MemoryStorage(State);

impl Storage for MemoryStorage {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().expect("not poisoned").get(key).cloned())
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self
            .0
            .lock()
            .expect("not poisoned")
            .insert(key.to_vec(), value.to_vec()))
    }
    fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().expect("not poisoned").remove(key))
    }
}

/// Blobs in memory; one is there from the start, under id 32 × 0x42.
struct MemoryBlobs(Mutex<BTreeMap<[u8; 32], Vec<u8>>>);

impl BlobStore for MemoryBlobs {
    fn put(&self, data: &[u8]) -> Result<[u8; 32], String> {
        let id = node_primitives::Hash::digest(data).to_bytes();
        self.0
            .lock()
            .expect("not poisoned")
            .insert(id, data.to_vec());
        Ok(id)
    }
    fn get(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().expect("not poisoned").get(id).cloned())
    }
}

/// Outgoing HTTP stand-in: `GET` answers the URL back, anything else fails.
#[derive(Debug)]
struct EchoFetch;

impl Fetch for EchoFetch {
    fn fetch(
        &self,
        url: &str,
        method: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        if method == "GET" {
            let mut reply = url.as_bytes().to_vec();
            reply.extend_from_slice(body);
            reply.extend(headers.iter().flat_map(|(name, _)| name.bytes()));
            Ok(reply)
        } else {
            Err(format!("{method} refused"))
        }
    }
}

/// A fixed clock (+1 ns per read) and fixed randomness.
struct FixedEnvironment(u64);

impl Environment for FixedEnvironment {
    fn now_ns(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), String> {
        bytes.fill(0xab);
        Ok(())
    }
}

struct Fixture {
    runtime: Runtime,
    module: CompiledModule,
}

thread_local! {
    static FIXTURE: Fixture = {
        let mut config = RuntimeConfig::new(limits(), [7; 32]);
        config.instances = 2;
        let runtime = Runtime::new(config).expect("the engine starts");
        let wasm = wat::parse_str(module_text()).expect("the interpreter's WAT parses");
        let (module, _) = runtime.compile(&wasm).expect("the interpreter compiles");
        Fixture { runtime, module }
    };
}

const METHODS: [&str; 8] = [
    "run",
    "run",
    "run",
    "run",
    "memory",
    "not_a_function",
    "with_params",
    "missing",
];

const LAST_TIME_NS: u64 = 1_000;

fuzz_target!(|data: &[u8]| {
    let Some((&setup, input)) = data.split_first() else {
        return;
    };
    if input.len() > MAX_PROGRAM {
        return;
    }
    let mode = if setup & 1 == 1 {
        Mode::ReadWrite
    } else {
        Mode::ReadOnly
    };
    let method = METHODS[usize::from(setup >> 3) % METHODS.len()];

    let initial: BTreeMap<Vec<u8>, Vec<u8>> =
        BTreeMap::from([(b"key".to_vec(), b"value".to_vec())]);
    let state: State = Arc::new(Mutex::new(initial.clone()));
    let blobs: Option<Arc<dyn BlobStore>> = (setup & 2 != 0).then(|| {
        Arc::new(MemoryBlobs(Mutex::new(BTreeMap::from([(
            [0x42; 32],
            b"a stored blob".to_vec(),
        )])))) as Arc<dyn BlobStore>
    });
    let fetch: Option<Arc<dyn Fetch>> =
        (setup & 4 != 0).then(|| Arc::new(EchoFetch) as Arc<dyn Fetch>);

    let outcome = FIXTURE.with(|fixture| {
        let (outcome, _storage) = fixture.runtime.call(
            &fixture.module,
            Call {
                method: method.to_owned(),
                input: input.to_vec(),
                context_id: [0x11; 32],
                executor_id: [0x22; 32],
                mode,
                storage: Box::new(MemoryStorage(state.clone())),
                blobs,
                fetch,
                last_time_ns: LAST_TIME_NS,
                environment: Box::new(FixedEnvironment(1_700_000_000_000_000_000)),
                budget: None,
            },
        );
        outcome
    });

    let limits = limits();
    match method {
        "memory" | "not_a_function" | "missing" => assert_eq!(
            outcome.returns,
            Err(CallError::MethodNotFound(method.to_owned()))
        ),
        "with_params" => assert_eq!(
            outcome.returns,
            Err(CallError::InvalidSignature(method.to_owned()))
        ),
        _ => {}
    }
    assert!(
        !matches!(outcome.returns, Err(CallError::Instantiate(_))),
        "a call failed to instantiate: {:?}",
        outcome.returns
    );
    match &outcome.returns {
        Ok(Some(bytes)) | Err(CallError::AppError(bytes)) => {
            assert!(bytes.len() as u64 <= limits.max_return_size);
        }
        _ => {}
    }
    assert!(outcome.logs.len() <= limits.max_logs);
    assert!(
        outcome
            .logs
            .iter()
            .all(|line| line.len() as u64 <= limits.max_log_size)
    );
    assert!(outcome.events.len() <= limits.max_events);
    assert!(outcome.events.iter().all(|event| {
        event.kind.len() as u64 <= limits.max_event_kind_size
            && event.data.len() as u64 <= limits.max_event_data_size
    }));
    assert!(outcome.host_bytes <= limits.max_host_bytes);
    assert!(outcome.fuel_used <= limits.fuel);
    assert!(outcome.last_time_ns >= LAST_TIME_NS, "time went back");
    if outcome.root_hash.is_none() {
        assert!(outcome.artifact.is_empty());
    }

    let after = state.lock().expect("not poisoned").clone();
    for (key, value) in &after {
        if initial.get(key) != Some(value) {
            assert!(key.len() as u64 <= limits.max_storage_key_size);
            assert!(value.len() as u64 <= limits.max_storage_value_size);
        }
    }
    if mode == Mode::ReadOnly {
        assert!(!outcome.wrote, "a query wrote");
        assert!(outcome.root_hash.is_none(), "a query committed");
        assert_eq!(after, initial, "a query changed the state");
    }
});
