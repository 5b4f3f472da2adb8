//! The wasm host that runs applications built with `calimero-sdk` 0.2.5.
//!
//! It implements the 25 host functions of `shared/spec/APP-ABI.md` on wasmtime.
//! Where to start:
//! - [`Runtime`]: the engine (compile once, validate imports against the ABI,
//!   serialize / deserialize compiled modules) and [`Runtime::call`].
//! - [`Storage`] / [`BlobStore`]: how the host sees a context's state and the
//!   node's blobs; the `node` crate implements them.
//! - [`Outcome`] and [`CallError`]: what a call produced, and every way it can fail.
//! - [`Limits`]: fuel, wall-clock deadline, memory, stack, registers, logs,
//!   events, key / value and return sizes.
//!
//! A call runs on a fresh instance with a per-call host state; nothing survives
//! in wasm memory between calls. A host-function error or a trap aborts the
//! call at once and is reported as a typed [`CallError`].

mod abi;
mod engine;
mod error;
mod host;
mod imports;
mod limits;
mod outcome;

pub use engine::{
    Call, CompiledModule, DEFAULT_INSTANCES, Mode, Runtime, RuntimeConfig, is_reserved_method,
};
pub use error::{CallError, HostError, InstallError, TrapKind};
pub use host::{Environment, SystemEnvironment};
pub use limits::Limits;
pub use outcome::{Event, Outcome};

/// The `fetch` host function's decoder of its borsh header list, for the
/// fuzz targets in `fuzz/`. Not part of the API.
#[doc(hidden)]
#[must_use]
pub fn fuzz_decode_headers(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    imports::decode_headers(bytes)
}

/// A context's key-value state as the guest sees it during one call.
pub trait Storage: Send {
    /// The value under `key`.
    ///
    /// # Errors
    /// When the state cannot be read.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
    /// Sets `key`, returning the previous value.
    ///
    /// # Errors
    /// When the state cannot be read.
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, String>;
    /// Removes `key`, returning the removed value.
    ///
    /// # Errors
    /// When the state cannot be read.
    fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

/// The node's content-addressed blob store, as the guest's blob functions use it.
pub trait BlobStore: Send + Sync {
    /// Stores `data`, returning its blob id.
    ///
    /// # Errors
    /// When the store fails.
    fn put(&self, data: &[u8]) -> Result<[u8; 32], String>;
    /// The bytes of blob `id`, if present.
    ///
    /// # Errors
    /// When the store fails.
    fn get(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>, String>;
}

/// Outgoing HTTP for the guest's `fetch`; without one, `fetch` fails with a
/// clear message. The node's implementation enforces its allow-list, timeout
/// and size cap.
pub trait Fetch: Send + Sync + std::fmt::Debug {
    /// Performs the request; `Ok` is the response body, `Err` the error text
    /// the guest receives.
    ///
    /// # Errors
    /// When the request is not allowed or fails.
    fn fetch(
        &self,
        url: &str,
        method: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<u8>, String>;
}
