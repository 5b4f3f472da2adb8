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
    let (_, serialized) = runtime.compile(&wasm).expect("compiles");
    let loaded = runtime.load(&serialized).expect("loads");
    assert!(loaded.methods().contains(&"ok".to_owned()));
    assert!(runtime.load(b"garbage").is_err());
    let other = crate::support::runtime(Limits {
        max_stack_bytes: 100 * 1024,
        ..Limits::default()
    });
    assert_eq!(
        other.fingerprint() == runtime.fingerprint(),
        other.load(&serialized).is_ok()
    );
}
