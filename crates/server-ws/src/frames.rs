//! Event frames, serialized once per event and connection generation and
//! shared by every session that sends them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Message;
use node_primitives::ContextId;
use server_primitives::ws::EventGeneration;

/// Events whose frames are kept; past it the cache starts over (recent
/// events are the ones many sessions send at about the same time).
const KEPT: usize = 4_096;

/// Which event, for which generation.
type Key = (ContextId, u64, EventGeneration);

/// The frames of recent events.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    made: Mutex<HashMap<Key, Arc<[Message]>>>,
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
            .get(&key)
        {
            return frames.clone();
        }
        let frames: Arc<[Message]> = make().into();
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if made.len() >= KEPT {
            made.clear();
        }
        made.insert(key, frames.clone());
        frames
    }
}
