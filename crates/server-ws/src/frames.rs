//! Event frames, serialized once per event and connection generation and
//! shared by every session that sends them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Message;
use node_primitives::ContextId;
use server_primitives::ws::EventGeneration;

/// Events whose frames are kept, and their bytes; past either the cache
/// starts over (recent events are the ones many sessions send at about the
/// same time).
const KEPT: usize = 4_096;
const KEPT_BYTES: usize = 32 * 1024 * 1024;

/// Which event, for which generation.
type Key = (ContextId, u64, EventGeneration);

/// The frames of recent events.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    made: Mutex<Made>,
}

#[derive(Debug, Default)]
struct Made {
    /// Looked up by every session for every event: hashed with `foldhash`.
    frames: HashMap<Key, Arc<[Message]>, foldhash::fast::RandomState>,
    bytes: usize,
}

/// Bytes of a frame's payload.
fn size(frame: &Message) -> usize {
    match frame {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
        Message::Close(_) => 0,
    }
}

impl Frames {
    /// The frames of event `seq` of `context` in `generation`: from the
    /// cache, else made by `make` and kept.
    pub fn get(
        &self,
        context: ContextId,
        seq: u64,
        generation: EventGeneration,
        make: impl FnOnce() -> Vec<Message>,
    ) -> Arc<[Message]> {
        let key = (context, seq, generation);
        if let Some(frames) = self
            .made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .frames
            .get(&key)
        {
            return frames.clone();
        }
        let frames: Arc<[Message]> = make().into();
        let bytes: usize = frames.iter().map(size).sum();
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if made.frames.len() >= KEPT || made.bytes + bytes > KEPT_BYTES {
            made.frames.clear();
            made.bytes = 0;
        }
        if bytes <= KEPT_BYTES && made.frames.insert(key, frames.clone()).is_none() {
            made.bytes += bytes;
        }
        frames
    }
}
