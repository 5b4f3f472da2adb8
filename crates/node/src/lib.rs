//! The node: applications, contexts, call execution and the event bus.
//!
//! [`Node`] is the handle every server crate talks to. It owns the store
//! (`node-store`) and the wasm runtime (`node-runtime`) and guarantees:
//! - a `mutate` commits its writes, the new root hash, its replication delta
//!   and its event record in one durable transaction, **only if the call
//!   succeeded**, and answers only after that commit is durable;
//! - mutations of one context run one at a time, in order, each over the
//!   state of the one before, which need not be durable yet (pipelined
//!   commits): answers and events follow in the same order, after the fsync
//!   that covers them, and a mutation that ran over a commit that failed
//!   fails too; different contexts run in parallel, and all commits share
//!   fsyncs (group commit);
//! - queries read a snapshot and never wait for writers;
//! - every committed mutation is published on the event bus with its
//!   per-context sequence number, after it is durable.
//!
//! The API is blocking (wasm runs on the caller's thread); async callers go
//! through [`Node::run_blocking`] (or [`Node::run_blocking_on`] for work that
//! writes one context), which admits at most as many at once as the runtime
//! has instance slots, in arrival order, queues a bounded number more and
//! refuses the rest with [`NodeError::Busy`]. The one exception is a short
//! query ([`Node::query_async`]): when a slot is free at once it runs on
//! the async thread that asked, within a small fuel budget, and goes
//! through [`Node::run_blocking`] only if it needs more.

mod committer;
mod config;
mod error;
mod events;
mod fetch;
mod metrics;
mod node;
mod overlay;
mod sharing;
pub mod sync;

pub use config::NodeConfig;
pub use error::{InternalDetail, NodeError};
pub use events::NodeEvent;
pub use fetch::FetchConfig;
pub use metrics::latency_histogram;
pub use node::{CallOutput, IN_PLACE_FUEL, Mutation, Node};
pub use node_runtime::{CallError, Event, HostError, InstallError, Limits, TrapKind};
pub use node_store::{
    ApplicationRecord, AuthTable, AuthTxn, ContextRecord, Delta, EventRecord, Retention,
};
