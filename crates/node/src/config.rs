//! The node's settings.

use node_runtime::Limits;

use crate::FetchConfig;

/// What a node enforces and keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Per-call limits of the wasm runtime.
    pub limits: Limits,
    /// Event records kept per context for resuming subscribers.
    pub keep_events: u64,
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
            keep_events: 1_000,
            event_bus_capacity: 4_096,
            max_application_size: 50 * 1024 * 1024,
            max_commit_batch: 256,
            fetch: FetchConfig::default(),
        }
    }
}
