//! The per-call host state and safe access to guest memory.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::{Caller, Extern, StoreLimits};

use crate::engine::Mode;
use crate::{BlobStore, CallError, Event, Fetch, HostError, Limits, Storage};

/// Where a call's clock and randomness come from.
pub trait Environment: Send {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    fn now_ns(&mut self) -> u64;
    /// Fills `bytes` with random bytes.
    ///
    /// # Errors
    /// When no randomness is available.
    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), String>;
}

/// The real clock and the OS CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn now_ns(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            })
    }

    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), String> {
        getrandom::fill(bytes).map_err(|err| err.to_string())
    }
}

/// A blob handle of one call.
pub(crate) enum BlobHandle {
    /// Being written: the bytes so far.
    Write(Vec<u8>),
    /// Being read: the blob id, its bytes and the read position.
    Read {
        id: [u8; 32],
        data: Option<Vec<u8>>,
        position: usize,
    },
}

/// Everything one call's host functions work with.
pub(crate) struct HostState {
    pub limits: Arc<Limits>,
    pub store_limits: StoreLimits,
    pub mode: Mode,
    pub context_id: [u8; 32],
    pub executor_id: [u8; 32],
    pub input: Vec<u8>,
    pub storage: Box<dyn Storage>,
    pub blobs: Option<Arc<dyn BlobStore>>,
    pub fetch: Option<Arc<dyn Fetch>>,
    pub environment: Box<dyn Environment>,
    pub registers: HashMap<u64, Vec<u8>>,
    pub registers_size: u64,
    pub returns: Option<Result<Vec<u8>, Vec<u8>>>,
    pub logs: Vec<String>,
    pub events: Vec<Event>,
    pub commit: Option<([u8; 32], Vec<u8>)>,
    pub wrote: bool,
    pub last_time_ns: u64,
    pub blob_handles: HashMap<u64, BlobHandle>,
    pub next_blob_fd: u64,
    /// Bytes moved through host functions so far (see [`Limits::max_host_bytes`]).
    pub host_bytes: u64,
    /// The error that aborted the call, kept here because the engine's error
    /// type is opaque once it crosses the wasm boundary.
    pub abort: Option<CallError>,
    /// The instance's exported memory, once it is instantiated (host
    /// functions read and write it on every call; finding it by name each
    /// time costs more than the copy).
    pub memory: Option<wasmtime::Memory>,
    /// Whether the call runs on a thread that must not wait
    /// ([`crate::Call::budget`]): a `fetch` that would reach the network
    /// stops it instead.
    pub in_place: bool,
}

impl HostState {
    /// Counts `bytes` against the call's host-bytes budget.
    pub fn charge(&mut self, bytes: u64) -> Result<(), HostError> {
        let used = self.host_bytes.saturating_add(bytes);
        if used > self.limits.max_host_bytes {
            return Err(HostError::BudgetExceeded(self.limits.max_host_bytes));
        }
        self.host_bytes = used;
        Ok(())
    }

    /// Puts `value` into register `id`, within the register limits.
    pub fn set_register(&mut self, id: u64, value: Vec<u8>) -> Result<(), HostError> {
        let limits = &self.limits;
        let len = value.len() as u64;
        if len > limits.max_register_size {
            return Err(HostError::InvalidMemoryAccess("register too large"));
        }
        let old = self.registers.get(&id).map(|old| old.len() as u64 + 8);
        if old.is_none() && self.registers.len() >= limits.max_registers {
            return Err(HostError::InvalidMemoryAccess("too many registers"));
        }
        let size = self.registers_size - old.unwrap_or(0) + len + 8;
        if size > limits.max_registers_capacity {
            return Err(HostError::InvalidMemoryAccess("registers too large"));
        }
        self.charge(len)?;
        self.registers_size = size;
        self.registers.insert(id, value);
        Ok(())
    }
}

/// Host functions' result: an error aborts the call.
pub(crate) type HostResult<T> = wasmtime::Result<T>;

/// Aborts the call with `error`: recorded in the state, raised as a trap.
pub(crate) fn abort<T>(
    caller: &mut Caller<'_, HostState>,
    error: impl Into<CallError>,
) -> HostResult<T> {
    let error = error.into();
    let message = error.to_string();
    caller.data_mut().abort = Some(error);
    Err(wasmtime::Error::msg(message))
}

/// A buffer descriptor: `{ptr: u64, len: u64}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buffer {
    pub ptr: u64,
    pub len: u64,
}

/// Guest memory of the calling instance.
fn memory(caller: &mut Caller<'_, HostState>) -> Result<wasmtime::Memory, HostError> {
    if let Some(memory) = caller.data().memory {
        return Ok(memory);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(HostError::InvalidMemoryAccess("no exported memory")),
    }
}

/// The range `[ptr, ptr + len)` if it lies inside a memory of `size` bytes.
fn range(ptr: u64, len: u64, size: usize) -> Result<std::ops::Range<usize>, HostError> {
    let end = ptr
        .checked_add(len)
        .ok_or(HostError::InvalidMemoryAccess("pointer overflow"))?;
    if end > size as u64 {
        return Err(HostError::InvalidMemoryAccess("out of bounds"));
    }
    // Both fit in usize: they are at most the memory size.
    Ok(ptr as usize..end as usize)
}

/// Copies `len` bytes at `ptr` out of guest memory.
pub(crate) fn read_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: u64,
    len: u64,
) -> Result<Vec<u8>, HostError> {
    let memory = memory(caller)?;
    let range = range(ptr, len, memory.data_size(&caller))?;
    caller.data_mut().charge(len)?;
    Ok(memory.data(&caller)[range].to_vec())
}

/// Writes `bytes` at `ptr` in guest memory.
pub(crate) fn write_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: u64,
    bytes: &[u8],
) -> Result<(), HostError> {
    let memory = memory(caller)?;
    let target = range(ptr, bytes.len() as u64, memory.data_size(&caller))?;
    caller.data_mut().charge(bytes.len() as u64)?;
    memory.data_mut(&mut *caller)[target].copy_from_slice(bytes);
    Ok(())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Reads a buffer descriptor at `ptr`.
pub(crate) fn buffer(caller: &mut Caller<'_, HostState>, ptr: u64) -> Result<Buffer, HostError> {
    let bytes = read_bytes(caller, ptr, 16)?;
    Ok(Buffer {
        ptr: u64_at(&bytes, 0),
        len: u64_at(&bytes, 8),
    })
}

/// Reads the bytes a buffer descriptor at `ptr` points to, refusing more than `max`.
pub(crate) fn buffer_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: u64,
) -> Result<Vec<u8>, HostError> {
    let buffer = buffer(caller, ptr)?;
    read_bytes(caller, buffer.ptr, buffer.len)
}

/// Reads UTF-8 text from a buffer.
pub(crate) fn text(
    caller: &mut Caller<'_, HostState>,
    buffer: Buffer,
    what: &'static str,
) -> Result<String, HostError> {
    let bytes = read_bytes(caller, buffer.ptr, buffer.len)?;
    String::from_utf8(bytes).map_err(|_| HostError::BadUtf8(what))
}

/// A source location descriptor: `{file: Buffer, line: u32, column: u32}`.
pub(crate) fn location(
    caller: &mut Caller<'_, HostState>,
    ptr: u64,
) -> Result<(String, u32, u32), HostError> {
    let bytes = read_bytes(caller, ptr, 24)?;
    let file = Buffer {
        ptr: u64_at(&bytes, 0),
        len: u64_at(&bytes, 8),
    };
    let file = text(caller, file, "panic location")?;
    Ok((file, u32_at(&bytes, 16), u32_at(&bytes, 20)))
}

/// Reads two consecutive buffer descriptors at `ptr` (events).
pub(crate) fn two_buffers(
    caller: &mut Caller<'_, HostState>,
    ptr: u64,
) -> Result<(Buffer, Buffer), HostError> {
    let bytes = read_bytes(caller, ptr, 32)?;
    Ok((
        Buffer {
            ptr: u64_at(&bytes, 0),
            len: u64_at(&bytes, 8),
        },
        Buffer {
            ptr: u64_at(&bytes, 16),
            len: u64_at(&bytes, 24),
        },
    ))
}

/// A value-return descriptor: `{tag: u64, payload: Buffer}`.
pub(crate) fn value_return(
    caller: &mut Caller<'_, HostState>,
    ptr: u64,
) -> Result<(u64, Buffer), HostError> {
    let bytes = read_bytes(caller, ptr, 24)?;
    Ok((
        u64_at(&bytes, 0),
        Buffer {
            ptr: u64_at(&bytes, 8),
            len: u64_at(&bytes, 16),
        },
    ))
}
