//! The 25 host functions, bound to a [`Linker`]. Each reads its descriptors
//! from guest memory with bounds checks and aborts the call on any error.

use wasmtime::{Caller, Linker};

use crate::engine::Mode;
use crate::host::{
    self, BlobHandle, HostResult, HostState, abort, buffer, buffer_bytes, read_bytes, text,
    write_bytes,
};
use crate::{CallError, Event, HostError};

type Ctx<'a> = Caller<'a, HostState>;

/// Runs a host function body, turning its error into an abort of the call.
fn run<T>(
    caller: &mut Ctx<'_>,
    body: impl FnOnce(&mut Ctx<'_>) -> Result<T, CallError>,
) -> HostResult<T> {
    match body(caller) {
        Ok(value) => Ok(value),
        Err(error) => abort(caller, error),
    }
}

fn require_write(caller: &Ctx<'_>, what: &'static str) -> Result<(), HostError> {
    match caller.data().mode {
        Mode::ReadWrite => Ok(()),
        Mode::ReadOnly => Err(HostError::ReadOnly(what)),
    }
}

fn storage_key(caller: &mut Ctx<'_>, ptr: u64) -> Result<Vec<u8>, HostError> {
    let key = buffer(caller, ptr)?;
    if key.len > caller.data().limits.max_storage_key_size {
        return Err(HostError::KeyLengthOverflow(key.len));
    }
    read_bytes(caller, key.ptr, key.len)
}

/// Puts a found value into register `reg` and answers 1, or answers 0.
fn found(caller: &mut Ctx<'_>, reg: u64, value: Option<Vec<u8>>) -> Result<u32, CallError> {
    match value {
        Some(value) => {
            caller.data_mut().set_register(reg, value)?;
            Ok(1)
        }
        None => Ok(0),
    }
}

fn fixed_32(
    caller: &mut Ctx<'_>,
    ptr: u64,
    what: &'static str,
) -> Result<(host::Buffer, [u8; 32]), HostError> {
    let buf = buffer(caller, ptr)?;
    if buf.len != 32 {
        return Err(HostError::InvalidMemoryAccess(what));
    }
    let bytes = read_bytes(caller, buf.ptr, 32)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes);
    Ok((buf, out))
}

/// Decodes borsh `Vec<(String, String)>`.
pub(crate) fn decode_headers(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    fn length(bytes: &mut &[u8]) -> Option<usize> {
        let raw: [u8; 4] = take(bytes, 4)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(raw)).ok()
    }
    fn string(bytes: &mut &[u8]) -> Option<String> {
        let len = length(bytes)?;
        String::from_utf8(take(bytes, len)?.to_vec()).ok()
    }
    let mut rest = bytes;
    let count = length(&mut rest)?;
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        headers.push((string(&mut rest)?, string(&mut rest)?));
    }
    rest.is_empty().then_some(headers)
}

/// Binds a function that copies a per-call value into a register.
fn define_register_source(
    linker: &mut Linker<HostState>,
    name: &str,
    source: fn(&HostState) -> Vec<u8>,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        name,
        move |mut caller: Ctx<'_>, reg: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let value = source(caller.data());
                Ok(caller.data_mut().set_register(reg, value)?)
            })
        },
    )?;
    Ok(())
}

/// Binds every host function of the ABI into `linker`.
pub(crate) fn define(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "panic",
        |mut caller: Ctx<'_>, loc: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let (file, line, column) = host::location(caller, loc)?;
                Err(CallError::Panic {
                    message: "explicit panic".into(),
                    file,
                    line,
                    column,
                })
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "panic_utf8",
        |mut caller: Ctx<'_>, msg: u64, loc: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let msg = buffer(caller, msg)?;
                let message = text(caller, msg, "panic message")?;
                let (file, line, column) = host::location(caller, loc)?;
                Err(CallError::Panic {
                    message,
                    file,
                    line,
                    column,
                })
            })
        },
    )?;
    linker.func_wrap("env", "register_len", |caller: Ctx<'_>, reg: u64| -> u64 {
        caller
            .data()
            .registers
            .get(&reg)
            .map_or(u64::MAX, |value| value.len() as u64)
    })?;
    linker.func_wrap(
        "env",
        "read_register",
        |mut caller: Ctx<'_>, reg: u64, dest: u64| -> HostResult<u32> {
            run(&mut caller, |caller| {
                let dest = buffer(caller, dest)?;
                let len = caller
                    .data()
                    .registers
                    .get(&reg)
                    .map(Vec::len)
                    .ok_or(HostError::InvalidRegisterId(reg))?;
                if dest.len != len as u64 {
                    return Ok(0);
                }
                let value = caller
                    .data()
                    .registers
                    .get(&reg)
                    .cloned()
                    .unwrap_or_default();
                write_bytes(caller, dest.ptr, &value)?;
                Ok(1)
            })
        },
    )?;
    define_register_source(linker, "context_id", |state| state.context_id.to_vec())?;
    define_register_source(linker, "executor_id", |state| state.executor_id.to_vec())?;
    define_register_source(linker, "input", |state| state.input.clone())?;
    linker.func_wrap(
        "env",
        "value_return",
        |mut caller: Ctx<'_>, ptr: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let (tag, payload) = host::value_return(caller, ptr)?;
                if tag > 1 {
                    return Err(
                        HostError::InvalidMemoryAccess("value-return tag must be 0 or 1").into(),
                    );
                }
                if payload.len > caller.data().limits.max_return_size {
                    return Err(HostError::ReturnTooLarge(payload.len).into());
                }
                let bytes = read_bytes(caller, payload.ptr, payload.len)?;
                caller.data_mut().returns = Some(if tag == 0 { Ok(bytes) } else { Err(bytes) });
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "log_utf8",
        |mut caller: Ctx<'_>, ptr: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let limits = caller.data().limits.clone();
                if caller.data().logs.len() >= limits.max_logs {
                    return Err(HostError::LogsOverflow.into());
                }
                let buf = buffer(caller, ptr)?;
                if buf.len > limits.max_log_size {
                    return Err(HostError::LogTooLong(buf.len).into());
                }
                let line = text(caller, buf, "log")?;
                caller.data_mut().logs.push(line);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "emit",
        |mut caller: Ctx<'_>, ptr: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let limits = caller.data().limits.clone();
                let (kind, data) = host::two_buffers(caller, ptr)?;
                if kind.len > limits.max_event_kind_size {
                    return Err(HostError::EventKindSizeOverflow(kind.len).into());
                }
                if data.len > limits.max_event_data_size {
                    return Err(HostError::EventDataSizeOverflow(data.len).into());
                }
                if caller.data().events.len() >= limits.max_events {
                    return Err(HostError::EventsOverflow.into());
                }
                let kind = text(caller, kind, "event kind")?;
                let data = read_bytes(caller, data.ptr, data.len)?;
                caller.data_mut().events.push(Event { kind, data });
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "commit",
        |mut caller: Ctx<'_>, root: u64, artifact: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                require_write(caller, "commit")?;
                let (_, root) = fixed_32(caller, root, "root hash must be 32 bytes")?;
                if caller.data().commit.is_some() {
                    return Err(
                        HostError::InvalidMemoryAccess("a call may commit only once").into(),
                    );
                }
                let artifact = buffer_bytes(caller, artifact)?;
                caller.data_mut().commit = Some((root, artifact));
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "storage_read",
        |mut caller: Ctx<'_>, key: u64, reg: u64| -> HostResult<u32> {
            run(&mut caller, |caller| {
                let key = storage_key(caller, key)?;
                let value = caller
                    .data_mut()
                    .storage
                    .get(&key)
                    .map_err(HostError::Storage)?;
                found(caller, reg, value)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "storage_remove",
        |mut caller: Ctx<'_>, key: u64, reg: u64| -> HostResult<u32> {
            run(&mut caller, |caller| {
                let key = storage_key(caller, key)?;
                require_write(caller, "remove storage keys")?;
                let removed = caller
                    .data_mut()
                    .storage
                    .remove(&key)
                    .map_err(HostError::Storage)?;
                caller.data_mut().wrote = true;
                found(caller, reg, removed)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "storage_write",
        |mut caller: Ctx<'_>, key: u64, value: u64, reg: u64| -> HostResult<u32> {
            run(&mut caller, |caller| {
                let key = storage_key(caller, key)?;
                let value = buffer(caller, value)?;
                if value.len > caller.data().limits.max_storage_value_size {
                    return Err(HostError::ValueLengthOverflow(value.len).into());
                }
                require_write(caller, "write storage keys")?;
                let value = read_bytes(caller, value.ptr, value.len)?;
                let previous = caller
                    .data_mut()
                    .storage
                    .set(&key, &value)
                    .map_err(HostError::Storage)?;
                caller.data_mut().wrote = true;
                found(caller, reg, previous)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "fetch",
        |mut caller: Ctx<'_>,
         url: u64,
         method: u64,
         headers: u64,
         body: u64,
         reg: u64|
         -> HostResult<u32> {
            run(&mut caller, |caller| {
                if caller.data().in_place && caller.data().fetch.is_some() {
                    return Err(CallError::Unfinished);
                }
                let url = buffer(caller, url)?;
                let url = text(caller, url, "fetch url")?;
                let method = buffer(caller, method)?;
                let method = text(caller, method, "fetch method")?;
                let headers = buffer_bytes(caller, headers)?;
                let headers = decode_headers(&headers).ok_or(HostError::DeserializationError)?;
                let body = buffer_bytes(caller, body)?;
                let result = match caller.data().fetch.clone() {
                    Some(fetch) => fetch.fetch(&url, &method, &headers, &body),
                    None => Err("fetch is disabled on this node".to_owned()),
                };
                let (code, bytes) = match result {
                    Ok(bytes) => (0, bytes),
                    Err(message) => (1, message.into_bytes()),
                };
                caller.data_mut().set_register(reg, bytes)?;
                Ok(code)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "random_bytes",
        |mut caller: Ctx<'_>, ptr: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let buf = buffer(caller, ptr)?;
                // Reading first checks the bounds, so a huge length cannot make the
                // host allocate more than the guest's memory.
                let mut bytes = read_bytes(caller, buf.ptr, buf.len)?;
                caller
                    .data_mut()
                    .environment
                    .fill_random(&mut bytes)
                    .map_err(HostError::Storage)?;
                write_bytes(caller, buf.ptr, &bytes)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "time_now",
        |mut caller: Ctx<'_>, ptr: u64| -> HostResult<()> {
            run(&mut caller, |caller| {
                let buf = buffer(caller, ptr)?;
                if buf.len != 8 {
                    return Err(
                        HostError::InvalidMemoryAccess("time buffer must be 8 bytes").into(),
                    );
                }
                let wall = caller.data_mut().environment.now_ns();
                let now = wall.max(caller.data().last_time_ns.saturating_add(1));
                write_bytes(caller, buf.ptr, &now.to_le_bytes())?;
                caller.data_mut().last_time_ns = now;
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "send_proposal",
        |mut caller: Ctx<'_>, _actions: u64, _id: u64| -> HostResult<()> {
            run(
                &mut caller,
                |_| Err(HostError::ProposalsNotSupported.into()),
            )
        },
    )?;
    linker.func_wrap(
        "env",
        "approve_proposal",
        |mut caller: Ctx<'_>, _id: u64| -> HostResult<()> {
            run(
                &mut caller,
                |_| Err(HostError::ProposalsNotSupported.into()),
            )
        },
    )?;
    linker.func_wrap(
        "env",
        "blob_create",
        |mut caller: Ctx<'_>| -> HostResult<u64> {
            run(&mut caller, |caller| {
                open_handle(caller, BlobHandle::Write(Vec::new()))
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "blob_open",
        |mut caller: Ctx<'_>, id: u64| -> HostResult<u64> {
            run(&mut caller, |caller| {
                blob_store(caller)?;
                let (_, id) = fixed_32(caller, id, "blob id must be 32 bytes")?;
                open_handle(
                    caller,
                    BlobHandle::Read {
                        id,
                        data: None,
                        position: 0,
                    },
                )
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "blob_read",
        |mut caller: Ctx<'_>, fd: u64, dest: u64| -> HostResult<u64> {
            run(&mut caller, |caller| {
                let store = blob_store(caller)?;
                let dest = buffer(caller, dest)?;
                if dest.len > caller.data().limits.max_blob_chunk_size {
                    return Err(HostError::BlobChunkTooLarge(dest.len).into());
                }
                let chunk = {
                    let state = caller.data_mut();
                    let Some(BlobHandle::Read { id, data, .. }) = state.blob_handles.get(&fd)
                    else {
                        return Err(HostError::InvalidBlobHandle(fd).into());
                    };
                    if dest.len == 0 {
                        return Ok(0);
                    }
                    if data.is_none() {
                        let loaded = store
                            .get(id)
                            .map_err(HostError::Storage)?
                            .unwrap_or_default();
                        // A loaded blob is host memory the call holds: charged whole.
                        state.charge(loaded.len() as u64)?;
                        if let Some(BlobHandle::Read { data, .. }) = state.blob_handles.get_mut(&fd)
                        {
                            *data = Some(loaded);
                        }
                    }
                    let Some(BlobHandle::Read { data, position, .. }) =
                        state.blob_handles.get_mut(&fd)
                    else {
                        return Err(HostError::InvalidBlobHandle(fd).into());
                    };
                    let bytes = data.as_deref().unwrap_or_default();
                    let start = (*position).min(bytes.len());
                    let end = start
                        .saturating_add(usize::try_from(dest.len).unwrap_or(usize::MAX))
                        .min(bytes.len());
                    *position = end;
                    bytes[start..end].to_vec()
                };
                write_bytes(caller, dest.ptr, &chunk)?;
                Ok(chunk.len() as u64)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "blob_write",
        |mut caller: Ctx<'_>, fd: u64, data: u64| -> HostResult<u64> {
            run(&mut caller, |caller| {
                blob_store(caller)?;
                let data = buffer(caller, data)?;
                if data.len > caller.data().limits.max_blob_chunk_size {
                    return Err(HostError::BlobChunkTooLarge(data.len).into());
                }
                let bytes = read_bytes(caller, data.ptr, data.len)?;
                let Some(BlobHandle::Write(buffer)) = caller.data_mut().blob_handles.get_mut(&fd)
                else {
                    return Err(HostError::InvalidBlobHandle(fd).into());
                };
                buffer.extend_from_slice(&bytes);
                Ok(data.len)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "blob_close",
        |mut caller: Ctx<'_>, fd: u64, id_out: u64| -> HostResult<u32> {
            run(&mut caller, |caller| {
                let store = blob_store(caller)?;
                let out = buffer(caller, id_out)?;
                if out.len != 32 {
                    return Err(HostError::InvalidMemoryAccess("blob id must be 32 bytes").into());
                }
                let handle = caller
                    .data_mut()
                    .blob_handles
                    .remove(&fd)
                    .ok_or(HostError::InvalidBlobHandle(fd))?;
                let id = match handle {
                    BlobHandle::Write(data) => {
                        // The store keeps its own copy until the call ends.
                        caller.data_mut().charge(data.len() as u64 + 64)?;
                        store.put(&data).map_err(|_| HostError::BlobsNotSupported)?
                    }
                    BlobHandle::Read { id, .. } => id,
                };
                write_bytes(caller, out.ptr, &id)?;
                Ok(1)
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "blob_announce_to_context",
        |mut caller: Ctx<'_>, blob: u64, context: u64| -> HostResult<u32> {
            run(&mut caller, |caller| {
                let store = blob_store(caller)?;
                let (_, blob) = fixed_32(caller, blob, "blob id must be 32 bytes")?;
                fixed_32(caller, context, "context id must be 32 bytes")?;
                // A single node has no peers to announce to; the blob must exist.
                match store.get(&blob).map_err(HostError::Storage)? {
                    Some(bytes) => {
                        caller.data_mut().charge(bytes.len() as u64)?;
                        Ok(1)
                    }
                    None => Err(HostError::BlobsNotSupported.into()),
                }
            })
        },
    )?;
    Ok(())
}

fn blob_store(caller: &Ctx<'_>) -> Result<std::sync::Arc<dyn crate::BlobStore>, HostError> {
    caller
        .data()
        .blobs
        .clone()
        .ok_or(HostError::BlobsNotSupported)
}

fn open_handle(caller: &mut Ctx<'_>, handle: BlobHandle) -> Result<u64, CallError> {
    blob_store(caller)?;
    let state = caller.data_mut();
    if state.blob_handles.len() >= state.limits.max_blob_handles {
        return Err(HostError::TooManyBlobHandles(state.limits.max_blob_handles).into());
    }
    state.next_blob_fd += 1;
    let fd = state.next_blob_fd;
    state.blob_handles.insert(fd, handle);
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::decode_headers;

    #[test]
    fn decodes_borsh_header_lists() {
        let mut bytes = 1u32.to_le_bytes().to_vec();
        for text in ["accept", "json"] {
            bytes.extend((text.len() as u32).to_le_bytes());
            bytes.extend(text.as_bytes());
        }
        assert_eq!(
            decode_headers(&bytes),
            Some(vec![("accept".into(), "json".into())])
        );
        assert_eq!(decode_headers(&0u32.to_le_bytes()), Some(vec![]));
        assert_eq!(decode_headers(&[1, 0, 0, 0, 200, 0, 0, 0]), None);
        assert_eq!(decode_headers(&[]), None);
    }
}
