//! What the node publishes after each committed mutation.

use std::sync::Arc;

use node_primitives::ContextId;
use node_store::EventRecord;

/// A committed mutation of one context, as published on the event bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// The context.
    pub context_id: ContextId,
    /// The stored record: sequence number, transaction, new root, emitted events.
    pub record: Arc<EventRecord>,
}
