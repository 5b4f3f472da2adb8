//! The node's settings.

use node_runtime::Limits;
use node_store::Retention;

use crate::FetchConfig;

/// What a node enforces and keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Per-call limits of the wasm runtime.
    pub limits: Limits,
    /// Calls (and other blocking work) running at once: the wasm instance
    /// pool has this many slots.
    pub max_concurrent_calls: u32,
    /// Calls admitted to wait for a slot, in arrival order; past it a call
    /// is refused at once with [`crate::NodeError::Busy`].
    pub max_queued_calls: usize,
    /// Of those, the writers of one context that may wait their turn; past
    /// it that context's writes are refused with [`crate::NodeError::Busy`]
    /// while other contexts still get queue places.
    pub max_queued_per_context: usize,
    /// History kept per context: event records (for subscribers that
    /// resume), their bytes, and replication deltas.
    pub retention: Retention,
    /// Capacity of the in-process event bus (a slower subscriber lags and
    /// must replay from the event log).
    pub event_bus_capacity: usize,
    /// Largest application module accepted, bytes.
    pub max_application_size: usize,
    /// Most commits written in one transaction.
    pub max_commit_batch: usize,
    /// The guest's outgoing HTTP (disabled by default).
    pub fetch: FetchConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_concurrent_calls: node_runtime::DEFAULT_INSTANCES,
            max_queued_calls: 1_024,
            max_queued_per_context: 128,
            retention: Retention::default(),
            event_bus_capacity: 4_096,
            max_application_size: 50 * 1024 * 1024,
            max_commit_batch: 256,
            fetch: FetchConfig::default(),
        }
    }
}
