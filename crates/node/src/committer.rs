//! Group commit: one thread writes every pending context commit in one
//! durable transaction, so concurrent mutations share one fsync.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

use node_store::{ContextCommit, Store, StoreError};

use crate::NodeError;
use crate::metrics::NodeMetrics;

type Reply = SyncSender<Result<(), String>>;

/// Hands commits to the commit thread and waits until they are durable.
/// Dropping it lets the thread finish what is queued and joins it, so the
/// database is closed when the node is gone.
#[derive(Debug)]
pub(crate) struct Committer {
    queue: Option<Sender<(ContextCommit, Reply)>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // A panicked commit thread has nothing left to flush.
            let _ = thread.join();
        }
    }
}

impl Committer {
    /// Starts the commit thread. It ends when the last `Committer` is dropped.
    pub fn start(
        store: Arc<Store>,
        max_batch: usize,
        metrics: NodeMetrics,
    ) -> Result<Self, NodeError> {
        let (queue, pending) = channel();
        let thread = std::thread::Builder::new()
            .name("node-commit".into())
            .spawn(move || run(&store, &pending, max_batch.max(1), &metrics))
            .map_err(|err| NodeError::Internal(format!("starting the commit thread: {err}")))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Commits `commit` durably (with whatever else is pending).
    pub fn commit(&self, commit: ContextCommit) -> Result<(), NodeError> {
        let (reply, done) = sync_channel(1);
        self.queue
            .as_ref()
            .ok_or_else(|| NodeError::Internal("the commit thread has stopped".into()))?
            .send((commit, reply))
            .map_err(|_| NodeError::Internal("the commit thread has stopped".into()))?;
        done.recv()
            .map_err(|_| NodeError::Internal("the commit thread has stopped".into()))?
            .map_err(|err| NodeError::Store(StoreError::Database(err)))
    }
}

fn run(
    store: &Store,
    pending: &Receiver<(ContextCommit, Reply)>,
    max_batch: usize,
    metrics: &NodeMetrics,
) {
    while let Ok(first) = pending.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match pending.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (commits, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let started = Instant::now();
        let result = store.commit(&commits).map_err(|err| err.to_string());
        metrics.committed(started, commits.len(), result.is_ok());
        for reply in replies {
            // A caller that went away no longer needs its answer.
            let _ = reply.send(result.clone());
        }
    }
}
