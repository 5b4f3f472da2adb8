//! What a call produced.

use crate::CallError;

/// One event the guest emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The kind (the variant name of the app's event enum).
    pub kind: String,
    /// The data (JSON bytes from SDK apps).
    pub data: Vec<u8>,
}

/// The result of a call, successful or not. Logs and events are kept even
/// when the call failed; the node publishes them only on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok(None)`: no return value; `Ok(Some(bytes))`: the return value;
    /// `Err`: the call failed (an application error included).
    pub returns: Result<Option<Vec<u8>>, CallError>,
    /// Log lines, in order.
    pub logs: Vec<String>,
    /// Emitted events, in order.
    pub events: Vec<Event>,
    /// The state root the guest committed, if it did.
    pub root_hash: Option<[u8; 32]>,
    /// The replication artifact of the commit (empty if none).
    pub artifact: Vec<u8>,
    /// Whether the guest wrote or removed any key.
    pub wrote: bool,
    /// The last `time_now` value handed out (nanoseconds), for monotonic clocks.
    pub last_time_ns: u64,
    /// Fuel the call consumed.
    pub fuel_used: u64,
    /// Bytes the call moved through host functions (its budget is
    /// [`crate::Limits::max_host_bytes`]).
    pub host_bytes: u64,
}
