//! A deterministic test harness: in-memory state, a fixed clock and fixed
//! randomness (APP-ABI §7), and the node's commit rule (only on success).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use node_runtime::{
    Call, CompiledModule, Environment, Limits, Mode, Outcome, Runtime, RuntimeConfig, Storage,
};

pub const CONTEXT: [u8; 32] = [0x11; 32];
pub const EXECUTOR: [u8; 32] = [0x22; 32];

/// State shared between the harness and the storage a call sees.
pub type State = Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>;

struct MemoryStorage(State);

impl Storage for MemoryStorage {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().unwrap().insert(key.to_vec(), value.to_vec()))
    }
    fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().unwrap().remove(key))
    }
}

/// `time_now` = 1 700 000 000 000 000 001, +1 per read; randomness = 0xAB.
pub struct FixedEnvironment(pub Arc<AtomicU64>);

impl Environment for FixedEnvironment {
    fn now_ns(&mut self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), String> {
        bytes.fill(0xAB);
        Ok(())
    }
}

/// One deterministic "node": a module, its committed state and its clock.
pub struct Harness {
    pub runtime: Runtime,
    pub module: CompiledModule,
    pub state: State,
    pub clock: Arc<AtomicU64>,
    pub root: Option<[u8; 32]>,
    pub blobs: Option<Arc<dyn node_runtime::BlobStore>>,
    /// The last `time_now` value a committed call saw, as a node keeps it.
    pub last_time_ns: u64,
    /// The guest's outgoing HTTP.
    pub fetch: Option<Arc<dyn node_runtime::Fetch>>,
    /// The budget of the calls ([`Call::budget`]).
    pub budget: Option<u64>,
}

/// Blobs in memory, named by SHA-256-free test ids (the content's length and first byte).
#[derive(Default)]
pub struct MemoryBlobs(Mutex<BTreeMap<[u8; 32], Vec<u8>>>);

impl node_runtime::BlobStore for MemoryBlobs {
    fn put(&self, data: &[u8]) -> Result<[u8; 32], String> {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(data.len() as u64).to_le_bytes());
        id[8] = data.first().copied().unwrap_or(0);
        self.0.lock().unwrap().insert(id, data.to_vec());
        Ok(id)
    }
    fn get(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.lock().unwrap().get(id).cloned())
    }
}

pub fn built_app(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../target/apps/{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run `cargo xtask build-apps`", path.display()))
}

pub fn runtime(limits: Limits) -> Runtime {
    Runtime::new(RuntimeConfig::new(limits, [7; 32])).expect("engine")
}

impl Harness {
    pub fn new(wasm: &[u8]) -> Self {
        Self::with_limits(wasm, Limits::default())
    }

    pub fn with_limits(wasm: &[u8], limits: Limits) -> Self {
        let runtime = runtime(limits);
        let (module, _) = runtime.compile(wasm).expect("compiles");
        Self {
            runtime,
            module,
            state: State::default(),
            clock: Arc::new(AtomicU64::new(1_700_000_000_000_000_001)),
            root: None,
            blobs: None,
            last_time_ns: 0,
            fetch: None,
            budget: None,
        }
    }

    /// Runs a call on a copy of the state; commits the copy only if the call
    /// succeeded (and, when it committed, its root becomes the context's).
    pub fn call(&mut self, method: &str, input: &str, mode: Mode) -> Outcome {
        self.call_raw(method, input.as_bytes(), mode)
    }

    /// A read-write call with raw input bytes.
    pub fn call_bytes(&mut self, method: &str, input: &[u8]) -> Outcome {
        self.call_raw(method, input, Mode::ReadWrite)
    }

    fn call_raw(&mut self, method: &str, input: &[u8], mode: Mode) -> Outcome {
        let overlay: State = Arc::new(Mutex::new(self.state.lock().unwrap().clone()));
        let (outcome, _) = self.runtime.call(
            &self.module,
            Call {
                method: method.to_owned(),
                input: input.to_vec(),
                context_id: CONTEXT,
                executor_id: EXECUTOR,
                mode,
                storage: Box::new(MemoryStorage(overlay.clone())),
                blobs: self.blobs.clone(),
                fetch: self.fetch.clone(),
                last_time_ns: self.last_time_ns,
                environment: Box::new(FixedEnvironment(self.clock.clone())),
                budget: self.budget,
            },
        );
        if outcome.returns.is_ok() {
            self.last_time_ns = outcome.last_time_ns;
            let committed = overlay.lock().unwrap().clone();
            *self.state.lock().unwrap() = committed;
            if outcome.root_hash.is_some() {
                self.root = outcome.root_hash;
            }
        }
        outcome
    }

    pub fn mutate(&mut self, method: &str, input: &str) -> Outcome {
        self.call(method, input, Mode::ReadWrite)
    }

    pub fn query(&mut self, method: &str, input: &str) -> Outcome {
        self.call(method, input, Mode::ReadOnly)
    }

    pub fn keys(&self) -> usize {
        self.state.lock().unwrap().len()
    }

    pub fn snapshot(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.state.lock().unwrap().clone()
    }
}

/// Hex of a 32-byte value.
pub fn hex32(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
