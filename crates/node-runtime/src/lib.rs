//! The wasm host that runs applications built with `calimero-sdk` 0.2.5.
//!
//! This crate will hold the wasmtime engine and the 25 host functions of
//! `shared/spec/APP-ABI.md`: module validation at install, compilation once
//! (with a serialized-module cache), a fresh pooled instance per call, fuel,
//! epoch deadline, memory, stack and register limits, and the call outcome
//! (return value, logs, events, root hash, artifact). It sees state only
//! through a storage trait that the `node` crate implements, and it is the only
//! crate of the workspace allowed `unsafe` code.
