//! Group commit: one thread writes every pending context commit in one
//! durable transaction, so concurrent mutations share one fsync. After the
//! transaction, each commit's follow-up runs on this thread, in queue order
//! (so a context's events are published in sequence order).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use node_store::{ContextCommit, Store, StoreError};

use crate::NodeError;
use crate::metrics::NodeMetrics;

/// What runs once a commit is durable (`Ok`) or refused (`Err`).
pub(crate) type Done = Box<dyn FnOnce(Result<(), NodeError>) + Send>;

/// Hands commits to the commit thread. Dropping it lets the thread finish
/// what is queued and joins it, so the database is closed when the node is
/// gone.
#[derive(Debug)]
pub(crate) struct Committer {
    queue: Option<Sender<(ContextCommit, Done)>>,
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

    /// Queues `commit`; `done` runs on the commit thread with its result.
    /// When the thread has stopped, `done` runs here with the error.
    pub fn submit(&self, commit: ContextCommit, done: Done) {
        let stopped = || NodeError::Internal("the commit thread has stopped".into());
        match &self.queue {
            Some(queue) => {
                if let Err(returned) = queue.send((commit, done)) {
                    let (_, done) = returned.0;
                    done(Err(stopped()));
                }
            }
            None => done(Err(stopped())),
        }
    }
}

fn run(
    store: &Store,
    pending: &Receiver<(ContextCommit, Done)>,
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
        let (commits, follow_ups): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let started = Instant::now();
        let results = store.commit_each(&commits);
        metrics.committed(started, commits.len(), results.is_ok());
        match results {
            Ok(results) => {
                for (result, done) in results.into_iter().zip(follow_ups) {
                    done(result.map_err(NodeError::from));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for done in follow_ups {
                    done(Err(NodeError::Store(StoreError::Database(message.clone()))));
                }
            }
        }
    }
}
