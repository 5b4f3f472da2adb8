//! Hostile modules get a typed error and leave the runtime healthy.

use std::time::Duration;

use node_runtime::{CallError, HostError, InstallError, Limits, TrapKind};

use crate::support::{Harness, runtime};

const HOSTILE: &str = r#"
(module
  (import "env" "value_return" (func $value_return (param i64)))
  (memory (export "memory") 1)
  (func (export "spin") (loop $forever (br $forever)))
  (func $recurse (export "recurse") (call $recurse))
  (func (export "grow") (local $pages i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable)
  (func (export "giant_return")
    (i64.store (i32.const 0) (i64.const 0))
    (i64.store (i32.const 8) (i64.const 0))
    (i64.store (i32.const 16) (i64.const 10485761))
    (call $value_return (i64.const 0)))
  (func (export "past_the_end") (drop (i32.load (i32.const 65536))))
  (func (export "across_the_end") (drop (i64.load (i32.const 65533))))
  (func (export "ok"))
)"#;

fn hostile(limits: Limits) -> Harness {
    Harness::with_limits(&wat::parse_str(HOSTILE).expect("wat"), limits)
}

fn assert_healthy(harness: &mut Harness) {
    assert_eq!(harness.query("ok", "").returns, Ok(None));
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let mut harness = hostile(Limits {
        fuel: 50_000_000,
        ..Limits::default()
    });
    let outcome = harness.query("spin", "");
    assert_eq!(outcome.returns, Err(CallError::Trap(TrapKind::OutOfFuel)));
    assert!(outcome.fuel_used >= 50_000_000);
    assert_healthy(&mut harness);
}

#[test]
fn a_budgeted_call_stops_unfinished_at_its_budget_and_only_there() {
    let mut harness = hostile(Limits {
        fuel: 50_000_000,
        ..Limits::default()
    });
    harness.budget = Some(100_000);
    let outcome = harness.query("spin", "");
    assert_eq!(outcome.returns, Err(CallError::Unfinished));
    assert!(
        (100_000..50_000_000).contains(&outcome.fuel_used),
        "{}",
        outcome.fuel_used
    );
    // A call that fits finishes as it would without a budget.
    assert_eq!(harness.query("ok", "").returns, Ok(None));
    // A budget above the call's own fuel changes nothing: running out of
    // the call's fuel is final.
    let mut small = hostile(Limits {
        fuel: 100_000,
        ..Limits::default()
    });
    small.budget = Some(u64::MAX);
    assert_eq!(
        small.query("spin", "").returns,
        Err(CallError::Trap(TrapKind::OutOfFuel))
    );
    harness.budget = None;
    assert_healthy(&mut harness);
    // Fuel does not bound time; the budget's few epoch ticks do.
    let mut unbounded = hostile(Limits {
        fuel: u64::MAX,
        deadline: Duration::from_secs(600),
        ..Limits::default()
    });
    unbounded.budget = Some(u64::MAX - 1);
    assert_eq!(
        unbounded.query("spin", "").returns,
        Err(CallError::Unfinished)
    );
    // Without fuel metering nothing would bound it: a budgeted call does
    // not start.
    let unmetered = node_runtime::Runtime::with_wasmtime_defaults(
        node_runtime::RuntimeConfig::new(Limits::default(), [7; 32]),
    )
    .expect("engine");
    let (module, _) = unmetered
        .compile(&wat::parse_str(HOSTILE).expect("wat"))
        .expect("compiles");
    harness.runtime = unmetered;
    harness.module = module;
    harness.budget = Some(u64::MAX);
    assert_eq!(harness.query("ok", "").returns, Err(CallError::Unfinished));
}

#[test]
fn an_endless_loop_hits_the_deadline() {
    let mut harness = hostile(Limits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(100),
        ..Limits::default()
    });
    assert_eq!(
        harness.query("spin", "").returns,
        Err(CallError::Trap(TrapKind::Deadline))
    );
    assert_healthy(&mut harness);
}

#[test]
fn endless_recursion_overflows_the_stack() {
    let mut harness = hostile(Limits::default());
    assert_eq!(
        harness.query("recurse", "").returns,
        Err(CallError::Trap(TrapKind::StackOverflow))
    );
    assert_healthy(&mut harness);
}

#[test]
fn memory_growth_stops_at_the_limit() {
    let mut harness = hostile(Limits {
        max_memory_pages: 64,
        ..Limits::default()
    });
    // memory.grow fails (returns -1) at the cap; the module then traps.
    assert_eq!(
        harness.query("grow", "").returns,
        Err(CallError::Trap(TrapKind::Unreachable))
    );
    assert_healthy(&mut harness);
}

#[test]
fn a_giant_return_value_is_refused() {
    let mut harness = hostile(Limits::default());
    assert_eq!(
        harness.query("giant_return", "").returns,
        Err(CallError::Host(HostError::ReturnTooLarge(10_485_761)))
    );
    assert_healthy(&mut harness);
}

/// Each hostile call ends with the same typed error whether it runs as a
/// query or as a mutation (a guard for any engine setting that differs by
/// mode).
#[test]
fn queries_and_mutations_stop_hostile_calls_with_the_same_error() {
    use node_runtime::Mode::{ReadOnly, ReadWrite};
    let mut harness = hostile(Limits {
        fuel: 50_000_000,
        max_memory_pages: 64,
        ..Limits::default()
    });
    let cases = [
        ("spin", TrapKind::OutOfFuel),
        ("recurse", TrapKind::StackOverflow),
        ("grow", TrapKind::Unreachable),
        ("past_the_end", TrapKind::MemoryOutOfBounds),
        ("across_the_end", TrapKind::MemoryOutOfBounds),
    ];
    for (method, trap) in cases {
        for mode in [ReadOnly, ReadWrite] {
            assert_eq!(
                harness.call(method, "", mode).returns,
                Err(CallError::Trap(trap.clone())),
                "{method} {mode:?}"
            );
            assert_eq!(harness.call("ok", "", mode).returns, Ok(None));
        }
    }
}

#[test]
fn an_unknown_import_is_refused_at_install() {
    let wasm =
        wat::parse_str(r#"(module (import "env" "exec" (func)) (memory (export "memory") 1))"#)
            .expect("wat");
    let err = runtime(Limits::default())
        .compile(&wasm)
        .expect_err("refused");
    assert_eq!(
        err,
        InstallError::UnknownImport {
            module: "env".into(),
            name: "exec".into()
        }
    );
    assert!(err.to_string().contains("env.exec"));
}

#[test]
fn compiled_modules_survive_serialization() {
    let runtime = runtime(Limits::default());
    let wasm = wat::parse_str(HOSTILE).expect("wat");
    let (_, sealed) = runtime.compile(&wasm).expect("compiles");
    let loaded = runtime.load(&sealed).expect("loads");
    assert!(loaded.methods().contains(&"ok".to_owned()));
    // An engine configured differently (here: without fuel metering) has
    // another fingerprint, and wasmtime refuses its artifacts even when the
    // seal holds.
    let other = node_runtime::Runtime::with_wasmtime_defaults(node_runtime::RuntimeConfig::new(
        Limits::default(),
        [7; 32],
    ))
    .expect("engine");
    assert_ne!(other.fingerprint(), runtime.fingerprint());
    assert!(matches!(
        other.load(&sealed),
        Err(InstallError::Deserialize(_))
    ));
}

#[test]
fn a_compiled_module_that_is_not_sealed_with_the_key_is_never_loaded() {
    let runtime = runtime(Limits::default());
    let wasm = wat::parse_str(HOSTILE).expect("wat");
    let (_, sealed) = runtime.compile(&wasm).expect("compiles");
    assert_eq!(runtime.load(b"garbage").err(), Some(InstallError::Tampered));
    assert_eq!(runtime.load(&[]).err(), Some(InstallError::Tampered));
    // One flipped bit anywhere (seal or code) and the artifact is refused.
    for at in [0, 31, 32, sealed.len() / 2, sealed.len() - 1] {
        let mut corrupt = sealed.clone();
        corrupt[at] ^= 0x01;
        assert_eq!(
            runtime.load(&corrupt).err(),
            Some(InstallError::Tampered),
            "byte {at}"
        );
    }
    // Another node's key: the same bytes are not trusted here.
    let stranger =
        node_runtime::Runtime::new(node_runtime::RuntimeConfig::new(Limits::default(), [8; 32]))
            .expect("engine");
    assert_eq!(stranger.load(&sealed).err(), Some(InstallError::Tampered));
}

/// Writes 10 MiB blob chunks until something stops it.
const BLOB_BOMB: &str = r#"
(module
  (import "env" "blob_create" (func $create (result i64)))
  (import "env" "blob_write" (func $write (param i64 i64) (result i64)))
  (memory (export "memory") 200)
  (func (export "bomb") (local $fd i64)
    (local.set $fd (call $create))
    (i64.store (i32.const 0) (i64.const 64))
    (i64.store (i32.const 8) (i64.const 10485760))
    (loop $more
      (drop (call $write (local.get $fd) (i64.const 0)))
      (br $more)))
  (func (export "ok"))
)"#;

#[test]
fn a_blob_memory_bomb_stops_at_the_host_bytes_budget() {
    let limits = Limits::default();
    let budget = limits.max_host_bytes;
    let mut harness = Harness::with_limits(&wat::parse_str(BLOB_BOMB).expect("wat"), limits);
    harness.blobs = Some(std::sync::Arc::new(crate::support::MemoryBlobs::default()));
    let outcome = harness.query("bomb", "");
    assert_eq!(
        outcome.returns,
        Err(CallError::Host(HostError::BudgetExceeded(budget)))
    );
    assert!(outcome.host_bytes <= budget, "{}", outcome.host_bytes);
    assert!(outcome.host_bytes > budget - 10 * 1024 * 1024 - 64);
    assert_healthy(&mut harness);
}

/// Each export floods one host resource until something stops it.
const FLOODS: &str = r#"
(module
  (import "env" "storage_write" (func $write (param i64 i64 i64) (result i32)))
  (import "env" "log_utf8" (func $log (param i64)))
  (import "env" "emit" (func $emit (param i64)))
  (import "env" "input" (func $input (param i64)))
  (import "env" "read_register" (func $read_register (param i64 i64) (result i32)))
  (import "env" "time_now" (func $time_now (param i64)))
  (memory (export "memory") 200)
  (data (i32.const 0) "keylog-lineKind")
  (func $buf (param $at i32) (param $ptr i64) (param $len i64)
    (i64.store (local.get $at) (local.get $ptr))
    (i64.store offset=8 (local.get $at) (local.get $len)))
  ;; 10 MiB values under one key, again and again.
  (func (export "storage")
    (call $buf (i32.const 100) (i64.const 0) (i64.const 3))
    (call $buf (i32.const 116) (i64.const 65536) (i64.const 10485760))
    (loop $more
      (drop (call $write (i64.const 100) (i64.const 116) (i64.const 1)))
      (br $more)))
  (func (export "logs")
    (call $buf (i32.const 100) (i64.const 3) (i64.const 8))
    (loop $more (call $log (i64.const 100)) (br $more)))
  (func (export "events")
    (call $buf (i32.const 100) (i64.const 11) (i64.const 4))
    (call $buf (i32.const 116) (i64.const 3) (i64.const 8))
    (loop $more (call $emit (i64.const 100)) (br $more)))
  ;; The input copied out of its register, again and again.
  (func (export "registers")
    (call $input (i64.const 7))
    (call $buf (i32.const 100) (i64.const 65536) (i64.const 1048576))
    (loop $more
      (drop (call $read_register (i64.const 7) (i64.const 100)))
      (br $more)))
  (func (export "time")
    (call $buf (i32.const 100) (i64.const 200) (i64.const 8))
    (loop $more (call $time_now (i64.const 100)) (br $more)))
  (func (export "ok"))
)"#;

#[test]
fn floods_of_storage_logs_events_registers_and_time_end_in_typed_errors() {
    let limits = Limits::default();
    let budget = limits.max_host_bytes;
    let mut harness = Harness::with_limits(&wat::parse_str(FLOODS).expect("wat"), limits);
    let storage = harness.mutate("storage", "");
    assert_eq!(
        storage.returns,
        Err(CallError::Host(HostError::BudgetExceeded(budget)))
    );
    assert_eq!(harness.keys(), 0, "a failed call leaves no state");
    assert_eq!(
        harness.query("logs", "").returns,
        Err(CallError::Host(HostError::LogsOverflow))
    );
    assert_eq!(
        harness.query("events", "").returns,
        Err(CallError::Host(HostError::EventsOverflow))
    );
    let input = vec![b'i'; 1024 * 1024];
    let registers = harness.call_bytes("registers", &input);
    assert_eq!(
        registers.returns,
        Err(CallError::Host(HostError::BudgetExceeded(budget)))
    );
    // Reading the clock is host work fuel does not see: the budget or the
    // deadline ends it, whichever comes first.
    let time = harness.query("time", "");
    assert!(
        matches!(
            time.returns,
            Err(CallError::Host(HostError::BudgetExceeded(_))
                | CallError::Trap(TrapKind::Deadline | TrapKind::OutOfFuel))
        ),
        "{:?}",
        time.returns
    );
    assert_healthy(&mut harness);
}

/// A clock that stops the calling instance until the test lets it go.
struct GatedClock {
    entered: std::sync::mpsc::Sender<()>,
    release: std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl node_runtime::Environment for GatedClock {
    fn now_ns(&mut self) -> u64 {
        let _ = self.entered.send(());
        let _ = self.release.lock().expect("gate").recv();
        1
    }
    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), String> {
        bytes.fill(0);
        Ok(())
    }
}

struct NoState;

impl node_runtime::Storage for NoState {
    fn get(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn set(&mut self, _: &[u8], _: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn remove(&mut self, _: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

#[test]
fn a_call_past_the_pool_waits_for_a_slot_instead_of_failing() {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    const CLOCK: &str = r#"
    (module
      (import "env" "time_now" (func $time_now (param i64)))
      (memory (export "memory") 1)
      (func (export "clock")
        (i64.store (i32.const 0) (i64.const 64))
        (i64.store (i32.const 8) (i64.const 8))
        (call $time_now (i64.const 0)))
      (func (export "ok")))"#;
    let runtime = node_runtime::Runtime::new(node_runtime::RuntimeConfig {
        instances: 1,
        ..node_runtime::RuntimeConfig::new(Limits::default(), [7; 32])
    })
    .expect("engine");
    let (module, _) = runtime
        .compile(&wat::parse_str(CLOCK).expect("wat"))
        .expect("compiles");
    let (entered, inside) = mpsc::channel();
    let (release, gate) = mpsc::channel();
    let gate = Arc::new(Mutex::new(gate));
    let call = |method: &str| node_runtime::Call {
        method: method.to_owned(),
        input: Vec::new(),
        context_id: [1; 32],
        executor_id: [2; 32],
        mode: node_runtime::Mode::ReadOnly,
        storage: Box::new(NoState),
        blobs: None,
        fetch: None,
        last_time_ns: 0,
        environment: Box::new(GatedClock {
            entered: entered.clone(),
            release: gate.clone(),
        }),
        budget: None,
    };
    std::thread::scope(|scope| {
        // The only slot, held inside a host function.
        let holder = scope.spawn(|| runtime.call(&module, call("clock")).0.returns);
        inside.recv().expect("the first call is running");
        let waiter = scope.spawn(|| runtime.call(&module, call("ok")).0.returns);
        // A call that cannot get a slot returns at once; one that waits for
        // it is still running a while later.
        for _ in 0..100 {
            if waiter.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        release.send(()).expect("released");
        assert_eq!(holder.join().expect("no panic"), Ok(None));
        assert_eq!(waiter.join().expect("no panic"), Ok(None));
    });
}
