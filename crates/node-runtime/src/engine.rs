//! The engine: compile and validate modules, load compiled ones, run calls.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store, StoreLimitsBuilder, Trap,
};

use crate::host::HostState;
use crate::{BlobStore, CallError, Fetch, InstallError, Limits, Outcome, Storage, TrapKind};

/// How often the wall-clock deadline is checked.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances that may run at once (pooling allocator slots).
pub const MAX_CONCURRENT_INSTANCES: u32 = 128;

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
    module: Module,
    pre: InstancePre<HostState>,
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
        self.module
            .exports()
            .filter(|export| {
                matches!(export.ty(), ExternType::Func(ref ty) if ty.params().len() == 0 && ty.results().len() == 0)
            })
            .map(|export| export.name().to_owned())
            .collect()
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
    /// A runtime enforcing `limits`.
    ///
    /// # Errors
    /// When the engine cannot be configured on this machine.
    pub fn new(limits: Limits) -> Result<Self, String> {
        let memory_bytes = u64::from(limits.max_memory_pages) * 65_536;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(MAX_CONCURRENT_INSTANCES)
            .total_memories(MAX_CONCURRENT_INSTANCES)
            .total_tables(MAX_CONCURRENT_INSTANCES)
            .max_memory_size(usize::try_from(memory_bytes).map_err(|err| err.to_string())?)
            .linear_memory_keep_resident(1 << 20);
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(limits.max_stack_bytes)
            .memory_reservation(memory_bytes)
            .memory_reservation_for_growth(0)
            .memory_guard_size(2 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|err| err.to_string())?;
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

    /// Validates and compiles wasm bytes; returns the module and its
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
        Ok((self.prepare(module)?, serialized))
    }

    /// Loads a module serialized by [`Runtime::compile`] of a runtime with the
    /// same [`Runtime::fingerprint`].
    ///
    /// # Errors
    /// When the bytes are not a compatible compiled module.
    pub fn load(&self, serialized: &[u8]) -> Result<CompiledModule, InstallError> {
        // SAFETY: the bytes come from the node's own compiled-module cache,
        // written by `Runtime::compile` (`Module::serialize`) and keyed by this
        // engine's fingerprint; wasmtime additionally checks the version and
        // configuration header and refuses incompatible artifacts.
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
        Ok(CompiledModule { module, pre })
    }

    /// Runs `call` on a fresh instance of `module`. Returns the outcome and the
    /// storage (with the call's writes, for the caller to commit or drop).
    #[must_use]
    pub fn call(&self, module: &CompiledModule, call: Call) -> (Outcome, Box<dyn Storage>) {
        let limits = self.limits.clone();
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
            abort: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.store_limits);
        let result = store
            .set_fuel(limits.fuel)
            .map_err(|err| CallError::Instantiate(format!("{err:#}")))
            .and_then(|()| {
                let ticks = (limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1);
                store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
                run(&mut store, module, &call.method)
            });
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
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
        };
        (outcome, state.storage)
    }
}

/// Resolves and runs the method; maps every failure to a [`CallError`].
fn run(
    store: &mut Store<HostState>,
    module: &CompiledModule,
    method: &str,
) -> Result<(), CallError> {
    match module.module.get_export(method) {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
        Some(ExternType::Func(_)) => return Err(CallError::InvalidSignature(method.to_owned())),
        _ => return Err(CallError::MethodNotFound(method.to_owned())),
    }
    let instance = module.pre.instantiate(&mut *store).map_err(|err| {
        failure(store, &err).unwrap_or_else(|| CallError::Instantiate(format!("{err:#}")))
    })?;
    let func = instance
        .get_typed_func::<(), ()>(&mut *store, method)
        .map_err(|_| CallError::InvalidSignature(method.to_owned()))?;
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
