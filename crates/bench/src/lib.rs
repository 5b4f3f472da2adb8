//! The benchmark harness behind `cargo xtask bench`: the real
//! `calimero-node` binary over loopback, driven by a load generator in this
//! crate, each figure reported as a ratio to a baseline measured in the same
//! run (a bare hyper server, a bare WebSocket broadcast, the guest alone in
//! `node-runtime`, wasmtime's default configuration, raw ed25519).
//!
//! `docs/benchmarks.md` explains every row and holds the latest figures.

pub mod baseline;
pub mod load;
pub mod node;
pub mod report;
pub mod scenarios;
pub mod stats;

pub use scenarios::{Options, Row, Target, run};
