//! The engine: compile and validate modules, load compiled ones, run calls.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use wasmtime::{
    Config, Enabled, Engine, Extern, ExternType, InstanceAllocationStrategy, InstancePre, Linker,
    Module, ModuleExport, PoolingAllocationConfig, Store, StoreLimitsBuilder, Trap,
};

use crate::host::HostState;
use crate::{BlobStore, CallError, Fetch, InstallError, Limits, Outcome, Storage, TrapKind};

/// How often the wall-clock deadline is checked.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Epoch ticks a budgeted call ([`Call::budget`]) may run: 10 to 20 ms.
const BUDGET_TICKS: u64 = 2;

/// Instances that may run at once by default (pooling allocator slots).
pub const DEFAULT_INSTANCES: u32 = 128;

/// Linear memory kept resident between calls when only dirty pages are reset.
const KEEP_RESIDENT_SCANNED: usize = 16 << 20;

/// Linear memory zeroed (not returned) between calls without the page scan.
const KEEP_RESIDENT_ZEROED: usize = 1 << 20;

/// Table bytes kept resident between calls.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Address space reserved per linear memory: all a 32-bit memory can address.
const MEMORY_RESERVATION: u64 = 1 << 32;

/// Bytes of the seal in front of a compiled artifact (HMAC-SHA-256).
const SEAL_LEN: usize = 32;

/// How a runtime is set up.
#[derive(Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// What each call may use.
    pub limits: Limits,
    /// Instances that may run at once (pooling allocator slots); further
    /// calls wait for a slot instead of failing.
    pub instances: u32,
    /// The secret that seals compiled artifacts: [`Runtime::load`] runs
    /// native code only from bytes sealed with it.
    pub artifact_key: [u8; 32],
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("limits", &self.limits)
            .field("instances", &self.instances)
            .finish_non_exhaustive()
    }
}

impl RuntimeConfig {
    /// `limits`, the default pool size, and `artifact_key`.
    #[must_use]
    pub fn new(limits: Limits, artifact_key: [u8; 32]) -> Self {
        Self {
            limits,
            instances: DEFAULT_INSTANCES,
            artifact_key,
        }
    }
}

/// The instance slots: a call takes one for its whole run, waiting when
/// none is free, so a full pool never fails a call.
#[derive(Debug)]
struct Slots {
    free: Mutex<u32>,
    freed: Condvar,
}

impl Slots {
    /// A slot, if one is free now.
    fn try_take(&self) -> Option<SlotGuard<'_>> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(SlotGuard(self))
    }

    fn take(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

/// Whether a call may change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A query: a storage write, remove or commit aborts the call.
    ReadOnly,
    /// A mutation.
    ReadWrite,
}

/// A compiled, validated module, ready to instantiate.
#[derive(Clone)]
pub struct CompiledModule {
    pre: InstancePre<HostState>,
    /// Its function exports by name, resolved once so that a call looks
    /// its method up by index, not by name and type.
    functions: Arc<HashMap<Box<str>, Function>>,
    /// Its exported `memory`.
    memory: Option<ModuleExport>,
}

/// A function export of a module.
#[derive(Clone, Copy)]
enum Function {
    /// Of type `() -> ()`: a method.
    Method(ModuleExport),
    /// Of another type: not callable as a method.
    OtherType,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule").finish_non_exhaustive()
    }
}

impl CompiledModule {
    /// Names of the callable methods: function exports of type `() -> ()`.
    #[must_use]
    pub fn methods(&self) -> Vec<String> {
        let mut methods: Vec<String> = self
            .functions
            .iter()
            .filter(|(_, function)| matches!(function, Function::Method(_)))
            .map(|(name, _)| name.to_string())
            .collect();
        methods.sort_unstable();
        methods
    }
}

/// One call to run.
pub struct Call {
    /// The exported method.
    pub method: String,
    /// Input bytes (JSON arguments).
    pub input: Vec<u8>,
    /// The context's id.
    pub context_id: [u8; 32],
    /// The executing identity.
    pub executor_id: [u8; 32],
    /// Read-only or read-write.
    pub mode: Mode,
    /// The context's state.
    pub storage: Box<dyn Storage>,
    /// The node's blob store, if any.
    pub blobs: Option<Arc<dyn BlobStore>>,
    /// Outgoing HTTP, if allowed.
    pub fetch: Option<Arc<dyn Fetch>>,
    /// The last `time_now` value this context saw (nanoseconds).
    pub last_time_ns: u64,
    /// Clock and randomness ([`crate::SystemEnvironment`] on a node).
    pub environment: Box<dyn crate::Environment>,
    /// For a caller that must not wait (an async thread): the most fuel
    /// the call may use. The call then fails with
    /// [`CallError::Unfinished`] when it needs more than that or runs past
    /// two epoch ticks (10 to 20 ms, as fuel does not bound time), when no
    /// instance slot is free at once, or when it would wait on the network
    /// (a `fetch` the node allows), as well as on a runtime without fuel metering, which
    /// could not bound it. `None` (the usual) runs under
    /// [`Limits::fuel`] and waits for a slot.
    pub budget: Option<u64>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Stops the epoch ticker when the last runtime handle goes.
#[derive(Debug)]
struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The wasm engine with the ABI's host functions.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    limits: Arc<Limits>,
    slots: Arc<Slots>,
    artifact_key: Arc<[u8; 32]>,
    /// Whether calls are metered with fuel (always, but for
    /// [`Runtime::with_wasmtime_defaults`]).
    metered: bool,
    _ticker: Arc<Ticker>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Whether clients may not call `method` directly: the constructor and the
/// node's replication entry points.
#[must_use]
pub fn is_reserved_method(method: &str) -> bool {
    method == "init" || method.starts_with("__")
}

impl Runtime {
    /// A runtime set up as `config` says.
    ///
    /// # Errors
    /// When the engine cannot be configured on this machine.
    pub fn new(config: RuntimeConfig) -> Result<Self, String> {
        let instances = config.instances.max(1);
        let max_memory = usize::try_from(u64::from(config.limits.max_memory_pages) * 65_536)
            .map_err(|err| err.to_string())?;
        // Resetting an instance's memory for the next call: with the
        // `PAGEMAP_SCAN` ioctl (Linux 6.7+) only the pages the call dirtied
        // are reset, in place, up to `keep_resident`; the rest is returned
        // to the kernel with `madvise`, whose TLB shootdowns stall every
        // core. Without the ioctl the first `keep_resident` bytes are
        // zeroed whether dirty or not, so it stays small.
        let pagemap = PoolingAllocationConfig::is_pagemap_scan_available();
        let keep_resident = if pagemap {
            KEEP_RESIDENT_SCANNED.min(max_memory)
        } else {
            KEEP_RESIDENT_ZEROED
        };
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(instances)
            .total_memories(instances)
            .total_tables(instances)
            .max_memory_size(max_memory)
            .pagemap_scan(if pagemap { Enabled::Yes } else { Enabled::No })
            .linear_memory_keep_resident(keep_resident)
            .table_keep_resident(TABLE_KEEP_RESIDENT);
        let mut engine = Config::new();
        engine
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.limits.max_stack_bytes)
            // A 4 GiB reservation (address space only) per 32-bit memory
            // lets compiled code rely on guard pages instead of checking
            // the bounds of every load and store; `max_memory_size` still
            // caps what a memory may grow to.
            .memory_reservation(MEMORY_RESERVATION)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        Self::with_engine(config, &engine, true)
    }

    /// A runtime on wasmtime's default engine configuration (no fuel, no
    /// deadline, no instance pool): the benchmarks' reference for what the
    /// node's configuration costs guest code. Not for running untrusted code.
    ///
    /// # Errors
    /// When the engine cannot be configured on this machine.
    #[doc(hidden)]
    pub fn with_wasmtime_defaults(config: RuntimeConfig) -> Result<Self, String> {
        Self::with_engine(config, &Config::new(), false)
    }

    fn with_engine(config: RuntimeConfig, engine: &Config, metered: bool) -> Result<Self, String> {
        let RuntimeConfig {
            limits,
            instances,
            artifact_key,
        } = config;
        let instances = instances.max(1);
        let engine = Engine::new(engine).map_err(|err| err.to_string())?;
        let mut linker = Linker::new(&engine);
        crate::imports::define(&mut linker).map_err(|err| err.to_string())?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.clone();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|err| err.to_string())?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            limits: Arc::new(limits),
            slots: Arc::new(Slots {
                free: Mutex::new(instances),
                freed: Condvar::new(),
            }),
            artifact_key: Arc::new(artifact_key),
            metered,
            _ticker: Arc::new(Ticker(stop)),
        })
    }

    /// The limits every call runs under.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Identifies the engine's code format: compiled modules are only
    /// reusable by a runtime with the same fingerprint.
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        hasher.finish()
    }

    /// Validates and compiles wasm bytes; returns the module and its sealed
    /// serialized form for the compiled-module cache.
    ///
    /// # Errors
    /// [`InstallError`] naming what is wrong with the module.
    pub fn compile(&self, wasm: &[u8]) -> Result<(CompiledModule, Vec<u8>), InstallError> {
        let module = Module::new(&self.engine, wasm)
            .map_err(|err| InstallError::InvalidModule(format!("{err:#}")))?;
        crate::abi::validate(&module)?;
        let serialized = module
            .serialize()
            .map_err(|err| InstallError::InvalidModule(format!("{err:#}")))?;
        let mut sealed = self.seal(&serialized).to_vec();
        sealed.extend_from_slice(&serialized);
        Ok((self.prepare(module)?, sealed))
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.artifact_key.as_slice())
            .expect("HMAC takes a key of any length")
    }

    fn seal(&self, serialized: &[u8]) -> [u8; SEAL_LEN] {
        let mut mac = self.mac();
        mac.update(serialized);
        mac.finalize().into_bytes().into()
    }

    /// Loads a module sealed by [`Runtime::compile`] of a runtime with the
    /// same artifact key and [`Runtime::fingerprint`]. The seal is checked
    /// before anything is deserialized.
    ///
    /// # Errors
    /// [`InstallError::Tampered`] when the seal does not match, else when
    /// the bytes are not a compatible compiled module.
    pub fn load(&self, sealed: &[u8]) -> Result<CompiledModule, InstallError> {
        let (seal, serialized) = sealed
            .split_at_checked(SEAL_LEN)
            .ok_or(InstallError::Tampered)?;
        let mut mac = self.mac();
        mac.update(serialized);
        mac.verify_slice(seal).map_err(|_| InstallError::Tampered)?;
        // SAFETY: `Module::deserialize` trusts its input to be native code
        // wasmtime produced. These bytes carry an HMAC-SHA-256 under this
        // runtime's secret key, verified above, so they are exactly what
        // `Runtime::compile` serialized; wasmtime further checks its version
        // and configuration header and refuses incompatible artifacts.
        #[allow(unsafe_code)]
        let module = unsafe { Module::deserialize(&self.engine, serialized) }
            .map_err(|err| InstallError::Deserialize(format!("{err:#}")))?;
        crate::abi::validate(&module)?;
        self.prepare(module)
    }

    fn prepare(&self, module: Module) -> Result<CompiledModule, InstallError> {
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|err| InstallError::InvalidModule(format!("{err:#}")))?;
        let functions = module
            .exports()
            .filter_map(|export| {
                let ExternType::Func(ty) = export.ty() else {
                    return None;
                };
                let function = match module.get_export_index(export.name()) {
                    Some(index) if ty.params().len() == 0 && ty.results().len() == 0 => {
                        Function::Method(index)
                    }
                    _ => Function::OtherType,
                };
                Some((export.name().into(), function))
            })
            .collect();
        let memory = module.get_export_index("memory");
        Ok(CompiledModule {
            pre,
            functions: Arc::new(functions),
            memory,
        })
    }

    /// Runs `call` on a fresh instance of `module`. Returns the outcome and the
    /// storage (with the call's writes, for the caller to commit or drop).
    #[must_use]
    pub fn call(&self, module: &CompiledModule, call: Call) -> (Outcome, Box<dyn Storage>) {
        let _slot = match call.budget {
            None => self.slots.take(),
            Some(_) if !self.metered => return unfinished(call),
            Some(_) => match self.slots.try_take() {
                Some(slot) => slot,
                None => return unfinished(call),
            },
        };
        let limits = self.limits.clone();
        let fuel_limit = call
            .budget
            .map_or(limits.fuel, |budget| budget.min(limits.fuel));
        // Fuel does not bound time (one bulk-memory instruction or host call
        // is one unit of it): a budgeted call also stops within
        // `BUDGET_TICKS` epoch ticks, the first of which may come at once.
        let full_ticks =
            u64::try_from((limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1))
                .unwrap_or(u64::MAX);
        let deadline_ticks = match call.budget {
            Some(_) => full_ticks.min(BUDGET_TICKS),
            None => full_ticks,
        };
        let memory_bytes =
            usize::try_from(u64::from(limits.max_memory_pages) * 65_536).unwrap_or(usize::MAX);
        let state = HostState {
            store_limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(1)
                .trap_on_grow_failure(false)
                .build(),
            limits: limits.clone(),
            mode: call.mode,
            context_id: call.context_id,
            executor_id: call.executor_id,
            input: call.input,
            storage: call.storage,
            blobs: call.blobs,
            fetch: call.fetch,
            environment: call.environment,
            registers: HashMap::new(),
            registers_size: 0,
            returns: None,
            logs: Vec::new(),
            events: Vec::new(),
            commit: None,
            wrote: false,
            last_time_ns: call.last_time_ns,
            blob_handles: HashMap::new(),
            next_blob_fd: 0,
            host_bytes: 0,
            abort: None,
            memory: None,
            in_place: call.budget.is_some(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.store_limits);
        let fuel = if self.metered {
            store.set_fuel(fuel_limit)
        } else {
            Ok(())
        };
        let result = fuel
            .map_err(|err| CallError::Instantiate(format!("{err:#}")))
            .and_then(|()| {
                store.set_epoch_deadline(deadline_ticks);
                run(&mut store, module, &call.method)
            });
        let fuel_used = if self.metered {
            fuel_limit.saturating_sub(store.get_fuel().unwrap_or(0))
        } else {
            0
        };
        // Out of the budget's fuel, not the call's: it may yet finish.
        let result = match result {
            Err(CallError::Trap(TrapKind::OutOfFuel)) if fuel_limit < limits.fuel => {
                Err(CallError::Unfinished)
            }
            Err(CallError::Trap(TrapKind::Deadline)) if deadline_ticks < full_ticks => {
                Err(CallError::Unfinished)
            }
            result => result,
        };
        let state = store.into_data();
        let returns = match result {
            Err(error) => Err(error),
            Ok(()) => match state.returns {
                None => Ok(None),
                Some(Ok(bytes)) => Ok(Some(bytes)),
                Some(Err(bytes)) => Err(CallError::AppError(bytes)),
            },
        };
        let (root_hash, artifact) = match state.commit {
            Some((root, artifact)) => (Some(root), artifact),
            None => (None, Vec::new()),
        };
        let outcome = Outcome {
            returns,
            logs: state.logs,
            events: state.events,
            root_hash,
            artifact,
            wrote: state.wrote,
            last_time_ns: state.last_time_ns,
            fuel_used,
            host_bytes: state.host_bytes,
        };
        (outcome, state.storage)
    }
}

/// The outcome of a budgeted call that did not start.
fn unfinished(call: Call) -> (Outcome, Box<dyn Storage>) {
    let outcome = Outcome {
        returns: Err(CallError::Unfinished),
        logs: Vec::new(),
        events: Vec::new(),
        root_hash: None,
        artifact: Vec::new(),
        wrote: false,
        last_time_ns: call.last_time_ns,
        fuel_used: 0,
        host_bytes: 0,
    };
    (outcome, call.storage)
}

/// Resolves and runs the method; maps every failure to a [`CallError`].
fn run(
    store: &mut Store<HostState>,
    module: &CompiledModule,
    method: &str,
) -> Result<(), CallError> {
    let export = match module.functions.get(method) {
        Some(Function::Method(export)) => export,
        Some(Function::OtherType) => return Err(CallError::InvalidSignature(method.to_owned())),
        None => return Err(CallError::MethodNotFound(method.to_owned())),
    };
    let instance = module.pre.instantiate(&mut *store).map_err(|err| {
        failure(store, &err).unwrap_or_else(|| CallError::Instantiate(format!("{err:#}")))
    })?;
    store.data_mut().memory = module
        .memory
        .as_ref()
        .and_then(|memory| instance.get_module_export(&mut *store, memory))
        .and_then(Extern::into_memory);
    let func = instance
        .get_module_export(&mut *store, export)
        .and_then(Extern::into_func)
        .and_then(|func| func.typed::<(), ()>(&*store).ok())
        .ok_or_else(|| CallError::InvalidSignature(method.to_owned()))?;
    func.call(&mut *store, ()).map_err(|err| {
        failure(store, &err).unwrap_or_else(|| TrapKind::Other(format!("{err:#}")).into())
    })
}

/// The typed error behind a failed call: a host abort, or a trap.
fn failure(store: &mut Store<HostState>, err: &wasmtime::Error) -> Option<CallError> {
    if let Some(abort) = store.data_mut().abort.take() {
        return Some(abort);
    }
    let trap = err.downcast_ref::<Trap>()?;
    Some(CallError::Trap(match trap {
        Trap::StackOverflow => TrapKind::StackOverflow,
        Trap::MemoryOutOfBounds | Trap::HeapMisaligned => TrapKind::MemoryOutOfBounds,
        Trap::UnreachableCodeReached => TrapKind::Unreachable,
        Trap::OutOfFuel => TrapKind::OutOfFuel,
        Trap::Interrupt => TrapKind::Deadline,
        Trap::IntegerOverflow | Trap::IntegerDivisionByZero | Trap::BadConversionToInteger => {
            TrapKind::IllegalArithmetic
        }
        Trap::IndirectCallToNull | Trap::BadSignature => TrapKind::BadIndirectCall,
        Trap::TableOutOfBounds => TrapKind::TableOutOfBounds,
        other => TrapKind::Other(other.to_string()),
    }))
}
