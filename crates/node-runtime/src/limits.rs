//! Per-call resource limits, with the reference defaults (APP-ABI §6) plus fuel
//! and a wall-clock deadline, which the reference lacks.

use std::time::Duration;

/// What one call may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) per call.
    pub fuel: u64,
    /// Wall-clock deadline per call.
    pub deadline: Duration,
    /// Linear memory, in 64 KiB pages.
    pub max_memory_pages: u32,
    /// Native stack for wasm frames, bytes.
    pub max_stack_bytes: usize,
    /// Distinct register ids.
    pub max_registers: usize,
    /// Bytes in one register.
    pub max_register_size: u64,
    /// Bytes in all registers, each also counting 8.
    pub max_registers_capacity: u64,
    /// Log lines per call.
    pub max_logs: usize,
    /// Bytes per log line.
    pub max_log_size: u64,
    /// Events per call.
    pub max_events: usize,
    /// Bytes of an event kind.
    pub max_event_kind_size: u64,
    /// Bytes of an event's data.
    pub max_event_data_size: u64,
    /// Bytes of a storage key.
    pub max_storage_key_size: u64,
    /// Bytes of a storage value.
    pub max_storage_value_size: u64,
    /// Bytes of a return value.
    pub max_return_size: u64,
    /// Open blob handles.
    pub max_blob_handles: usize,
    /// Bytes per blob read or write.
    pub max_blob_chunk_size: u64,
    /// Bytes one call may move through host functions in all: copied out of
    /// guest memory, put into registers, loaded from blobs, kept as written
    /// blobs, written back (storage, blob, log and event bytes included).
    /// Fuel does not count host work; this does, so what the host holds for
    /// a call stays within it, give or take one value being loaded (a stored
    /// value, a blob, a fetch response) before it is counted.
    pub max_host_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            fuel: 10_000_000_000,
            deadline: Duration::from_secs(10),
            max_memory_pages: 1024,
            max_stack_bytes: 200 * 1024,
            max_registers: 100,
            max_register_size: 100 * MIB,
            max_registers_capacity: 1024 * MIB,
            max_logs: 100,
            max_log_size: 16 * 1024,
            max_events: 100,
            max_event_kind_size: 100,
            max_event_data_size: 16 * 1024,
            max_storage_key_size: MIB,
            max_storage_value_size: 10 * MIB,
            max_return_size: 10 * MIB,
            max_blob_handles: 100,
            max_blob_chunk_size: 10 * MIB,
            max_host_bytes: 64 * MIB,
        }
    }
}
