//! The node handle.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use node_primitives::{ApplicationId, BlobId, ContextId, Hash, PublicKey};
use node_runtime::{
    Call, CallError, CompiledModule, Mode, Outcome, Runtime, RuntimeConfig, SystemEnvironment,
};
use node_store::{
    ApplicationRecord, AuthTable, AuthTxn, ContextCommit, ContextRecord, Delta, EventRecord, Store,
    StoreError,
};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast};

use crate::committer::Committer;
use crate::metrics::NodeMetrics;
use crate::overlay::{CallBlobs, Overlay, PendingCommit, Writes};
use crate::{NodeConfig, NodeError, NodeEvent};

/// What a successful call returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutput {
    /// The method's return bytes (JSON from SDK apps), if it returned a value.
    pub returns: Option<Vec<u8>>,
    /// Log lines the call wrote.
    pub logs: Vec<String>,
    /// The committed event record (mutations only).
    pub record: Option<Arc<EventRecord>>,
}

/// The node: cheap to clone, safe to share between threads.
#[derive(Debug, Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<Store>,
    runtime: Runtime,
    config: NodeConfig,
    committer: Committer,
    modules: Mutex<HashMap<ApplicationId, CompiledModule>>,
    lanes: Mutex<HashMap<ContextId, Arc<Lane>>>,
    events: broadcast::Sender<NodeEvent>,
    compilations: AtomicU64,
    fetch: Option<Arc<dyn node_runtime::Fetch>>,
    metrics: NodeMetrics,
    /// Admission to blocking work: one permit per wasm instance slot.
    slots: Arc<Semaphore>,
    /// Work admitted and waiting for a slot (or its context's turn).
    queued: AtomicUsize,
}

/// Work for a context's lane, run by the lane's thread with the node, or
/// refused (`None`) when the lane could not get a slot.
type Job = Box<dyn FnOnce(Option<&Node>) + Send>;

/// A lane's async writers: first come, first served, run one after the
/// other by one blocking thread holding one instance slot, so one busy
/// context cannot take the slots other contexts' calls need, and its
/// writers follow each other without a thread hand-off between them.
#[derive(Default)]
struct Jobs {
    /// Waiting jobs, oldest first; `true`: counted in the node's queue.
    queue: VecDeque<(Job, bool)>,
    /// Whether a thread runs the lane's jobs (or is about to).
    running: bool,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("waiting", &self.queue.len())
            .field("running", &self.running)
            .finish()
    }
}

/// Jobs a lane runs on one slot before it waits for a slot again, behind
/// whatever else waits, so a busy context cannot keep a slot to itself.
const LANE_SLICE: usize = 16;

/// The most fuel a query may use on the async thread that asked for it
/// ([`Node::query_async`]) before it moves to a blocking thread: a few
/// hundred microseconds of guest code, several times what a typical
/// query takes.
pub const IN_PLACE_FUEL: u64 = 2_000_000;

/// A lane's claim to run its jobs. Dropped before it ran (the runtime
/// shutting down), it refuses them, so no caller waits forever.
struct LaneTurn {
    node: Node,
    context: ContextId,
    lane: Arc<Lane>,
    /// Whether dropping it must refuse the lane's jobs.
    armed: bool,
    /// Whether it holds a place in the node's queue while it waits.
    counted: bool,
}

impl LaneTurn {
    /// Gives back its place in the queue: it has its slot.
    fn stop_waiting(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.node.inner.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Runs the lane's jobs, [`LANE_SLICE`] at a time; itself again when
    /// more wait and every slot is taken (other work may wait for one).
    fn run(mut self) -> Option<Self> {
        self.armed = false;
        for ran in 1.. {
            let next = {
                let mut jobs = self
                    .lane
                    .jobs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let next = jobs.queue.pop_front();
                if next.is_none() {
                    jobs.running = false;
                }
                next
            };
            let Some((job, counted)) = next else {
                let lane = std::mem::take(&mut self.lane);
                self.node.release_lane(&self.context, lane);
                return None;
            };
            if counted {
                self.node.inner.queued.fetch_sub(1, Ordering::AcqRel);
            }
            // A panicking job drops its reply: its caller is told, and the
            // lane goes on with the next.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                job(Some(&self.node));
            }));
            if ran % LANE_SLICE == 0 && self.node.inner.slots.available_permits() == 0 {
                break;
            }
        }
        self.armed = true;
        Some(self)
    }
}

impl Drop for LaneTurn {
    fn drop(&mut self) {
        self.stop_waiting();
        if self.armed {
            self.node.refuse_lane(&self.lane);
        }
    }
}

impl std::fmt::Debug for LaneTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneTurn")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// One context's order of writers.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    /// Its async writers ([`Node::run_blocking_on`]).
    jobs: Mutex<Jobs>,
    /// Mutual exclusion of its writers, whoever calls the blocking API.
    pub(crate) writer: Mutex<()>,
    /// Its mutations that ran and whose commits are queued, oldest first:
    /// the next mutation runs over their state.
    pending: Mutex<VecDeque<Arc<PendingCommit>>>,
    /// Signalled when `pending` empties.
    drained: Condvar,
}

impl Lane {
    /// The queued commits, oldest first.
    fn pending(&self) -> Arc<[Arc<PendingCommit>]> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Forgets the queued commit `seq` (durable, or refused).
    fn settle(&self, seq: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.retain(|commit| commit.seq != seq);
        if pending.is_empty() {
            self.drained.notify_all();
        }
    }

    /// Waits until no commit of the context is queued. The caller holds
    /// `writer`, so none is added meanwhile.
    pub(crate) fn wait_drained(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        while !pending.is_empty() {
            pending = self
                .drained
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A mutation that ran, whose commit is queued: [`Mutation::wait`] or
/// [`Mutation::durable`] give its output once the commit is durable, or
/// the error that kept it from committing.
#[derive(Debug)]
pub struct Mutation {
    output: CallOutput,
    settled: Arc<Settled>,
}

/// A commit's result, handed from the commit thread to a blocking or an
/// async waiter.
#[derive(Debug, Default)]
struct Settled {
    result: Mutex<Option<Result<(), NodeError>>>,
    ready: Condvar,
    notify: Notify,
}

impl Settled {
    fn set(&self, result: Result<(), NodeError>) {
        *self.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
        self.ready.notify_all();
        // Stores a permit when nobody waits yet: no wake-up is lost.
        self.notify.notify_one();
    }

    fn take(&self) -> Option<Result<(), NodeError>> {
        self.result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Mutation {
    /// Blocks until the commit is durable; the call's output.
    ///
    /// # Errors
    /// Why the commit failed: the store's error, or
    /// [`NodeError::Conflict`] when the mutation before it in the context
    /// did not commit (or the context was deleted).
    pub fn wait(self) -> Result<CallOutput, NodeError> {
        let mut result = self
            .settled
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(result) = result.take() {
                return result.map(|()| self.output);
            }
            result = self
                .settled
                .ready
                .wait(result)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// As [`Mutation::wait`], without blocking a thread.
    ///
    /// # Errors
    /// As [`Mutation::wait`].
    pub async fn durable(self) -> Result<CallOutput, NodeError> {
        loop {
            if let Some(result) = self.settled.take() {
                return result.map(|()| self.output);
            }
            self.settled.notify.notified().await;
        }
    }
}

/// What follows a queued commit, run by the commit thread with its result:
/// the pending entry settles, the event goes out (if it committed), the
/// waiter wakes. Dropped without running (the commit thread died), it
/// settles the commit as failed, so nobody waits forever.
struct FollowUp {
    lane: Arc<Lane>,
    pending: Arc<PendingCommit>,
    settled: Arc<Settled>,
    /// Taken when it ran.
    event: Option<NodeEvent>,
    events: broadcast::Sender<NodeEvent>,
}

impl FollowUp {
    fn finish(mut self, result: Result<(), NodeError>) {
        if let Some(event) = self.event.take() {
            self.settle(result, Some(event));
        }
    }

    fn settle(&self, result: Result<(), NodeError>, event: Option<NodeEvent>) {
        self.pending.decide(result.is_ok());
        self.lane.settle(self.pending.seq);
        if let (Ok(()), Some(event)) = (&result, event) {
            // Nobody listening is fine.
            let _ = self.events.send(event);
        }
        self.settled.set(result);
    }
}

impl Drop for FollowUp {
    fn drop(&mut self) {
        if self.event.take().is_some() {
            self.settle(
                Err(NodeError::Internal(
                    "the commit thread stopped before this call was committed".into(),
                )),
                None,
            );
        }
    }
}

/// What a call that may commit produced: the commit to write, the answer
/// and the event to publish once it is durable.
struct Prepared {
    commit: ContextCommit,
    output: CallOutput,
    event: NodeEvent,
}

/// A place in the admission queue, given back when dropped.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(queued: &'a AtomicUsize, max: usize) -> Result<Self, NodeError> {
        enter_queue(queued, max)?;
        Ok(Self(queued))
    }
}

/// Takes a place in a queue of at most `max`, or says how many wait.
fn enter_queue(queued: &AtomicUsize, max: usize) -> Result<(), NodeError> {
    let waiting = queued.fetch_add(1, Ordering::AcqRel);
    if waiting >= max {
        queued.fetch_sub(1, Ordering::AcqRel);
        return Err(NodeError::Busy(waiting));
    }
    Ok(())
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The key that seals the node's compiled modules, kept in a file beside the
/// database (created on first open, readable by its owner only): someone who
/// can change the database but not this file cannot make the node run
/// native code of their choosing.
fn artifact_key(database: &Path) -> Result<[u8; 32], NodeError> {
    let mut name = database
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_else(|| "node".into());
    name.push(".artifact-key");
    let path = database.with_file_name(name);
    let fail = |err: std::io::Error| {
        NodeError::Internal(format!("artifact key {}: {err}", path.display()))
    };
    loop {
        match std::fs::read(&path) {
            Ok(bytes) => {
                return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                    NodeError::Internal(format!(
                        "artifact key {}: {} bytes, expected 32",
                        path.display(),
                        bytes.len()
                    ))
                });
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(fail(err)),
        }
        // Written whole to a file of its own, then linked into place: a
        // crash leaves either no key or a whole one, and of two openers the
        // second reads the first's.
        let key = random_32()?;
        let mut draft = path.clone().into_os_string();
        draft.push(format!(".{}", std::process::id()));
        let draft = std::path::PathBuf::from(draft);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&draft).map_err(fail)?;
        std::io::Write::write_all(&mut file, &key).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        let linked = std::fs::hard_link(&draft, &path);
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => return Ok(key),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(fail(err)),
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

pub(crate) fn random_32() -> Result<[u8; 32], NodeError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| NodeError::Internal(format!("randomness: {err}")))?;
    Ok(bytes)
}

/// The hash of a transaction: SHA-256 of the compact JSON of
/// `{context_id, method, payload, prior_hash}` (PROTOCOL §2).
fn transaction_hash(context: &ContextId, method: &str, payload: &[u8], prior: &Hash) -> Hash {
    #[derive(Serialize)]
    struct Transaction<'a> {
        context_id: &'a ContextId,
        method: &'a str,
        payload: &'a [u8],
        prior_hash: &'a Hash,
    }
    let json = serde_json::to_vec(&Transaction {
        context_id: context,
        method,
        payload,
        prior_hash: prior,
    })
    .expect("a transaction always serializes");
    Hash::digest(json)
}

impl Node {
    /// Opens (or creates) the node's database at `path`.
    ///
    /// # Errors
    /// When the database or the wasm engine cannot be set up.
    pub fn open(path: impl AsRef<Path>, config: NodeConfig) -> Result<Self, NodeError> {
        let path = path.as_ref();
        let store = Arc::new(Store::open(path)?);
        let runtime = Runtime::new(RuntimeConfig {
            limits: config.limits.clone(),
            instances: config.max_concurrent_calls.max(1),
            artifact_key: artifact_key(path)?,
        })
        .map_err(NodeError::Internal)?;
        let metrics = NodeMetrics::default();
        let committer = Committer::start(store.clone(), config.max_commit_batch, metrics.clone())?;
        let (events, _) = broadcast::channel(config.event_bus_capacity.max(1));
        let fetch = crate::fetch::HttpFetch::new(&config.fetch)
            .map(|fetch| Arc::new(fetch) as Arc<dyn node_runtime::Fetch>);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                committer,
                modules: Mutex::new(HashMap::new()),
                lanes: Mutex::new(HashMap::new()),
                events,
                compilations: AtomicU64::new(0),
                fetch,
                metrics,
                slots: Arc::new(Semaphore::new(config.max_concurrent_calls.max(1) as usize)),
                queued: AtomicUsize::new(0),
                config,
            }),
        })
    }

    /// Runs blocking node work (calls, commits, key updates) off the async
    /// threads: the one way async code reaches the node's blocking API. At
    /// most [`NodeConfig::max_concurrent_calls`] run at once; up to
    /// [`NodeConfig::max_queued_calls`] more wait their turn, first come,
    /// first served; past that the work is refused at once.
    ///
    /// # Errors
    /// `work`'s error, [`NodeError::Busy`] when the queue is full, or
    /// [`NodeError::Internal`] if the work panicked.
    pub async fn run_blocking<T, E>(
        &self,
        work: impl FnOnce(&Node) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<NodeError> + Send + 'static,
    {
        let permit = self.admit().await?;
        self.run_admitted(permit, work).await
    }

    /// A slot for blocking work: at once if one is free (such work takes
    /// no place in the queue), else in turn, or [`NodeError::Busy`] when
    /// the queue is full.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, NodeError> {
        let slots = self.inner.slots.clone();
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let _queued = Queued::enter(&self.inner.queued, self.inner.config.max_queued_calls)?;
        slots
            .acquire_owned()
            .await
            .map_err(|_| NodeError::Internal("the node is shutting down".into()))
    }

    /// Runs `work` on a blocking thread, holding `permit` until it is done.
    async fn run_admitted<T, E>(
        &self,
        permit: OwnedSemaphorePermit,
        work: impl FnOnce(&Node) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<NodeError> + Send + 'static,
    {
        let node = self.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work(&node)
        })
        .await
        .map_err(|err| NodeError::Internal(format!("blocking work failed: {err}")))?
    }

    /// As [`Node::run_blocking`], for work that writes `context` (a
    /// mutation, a membership change, its deletion): such work runs in
    /// arrival order per context, and waits for its turn without holding a
    /// slot, so other contexts' calls are not held up.
    ///
    /// # Errors
    /// As [`Node::run_blocking`].
    pub async fn run_blocking_on<T, E>(
        &self,
        context: ContextId,
        work: impl FnOnce(&Node) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<NodeError> + Send + 'static,
    {
        let lane = self.lane(&context);
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |node| {
            // A caller that went away no longer wants its work done.
            if reply.is_closed() {
                return;
            }
            let _ = reply.send(match node {
                Some(node) => work(node),
                None => Err(NodeError::Busy(0).into()),
            });
        });
        let start = {
            let mut jobs = lane.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            if jobs.running {
                // One context takes at most its share of the queue.
                let waiting = jobs.queue.len();
                if waiting >= self.inner.config.max_queued_per_context {
                    return Err(NodeError::Busy(waiting).into());
                }
                enter_queue(&self.inner.queued, self.inner.config.max_queued_calls)?;
                jobs.queue.push_back((job, true));
                false
            } else {
                jobs.running = true;
                jobs.queue.push_back((job, false));
                true
            }
        };
        if start {
            self.start_lane(context, lane.clone())?;
        }
        let result = answer.await;
        self.release_lane(&context, lane);
        result.unwrap_or_else(|_| {
            Err(NodeError::Internal("the work panicked or the node is shutting down".into()).into())
        })
    }

    /// Gets the lane a slot (now, or after waiting in the queue) and a
    /// blocking thread that runs its jobs. Does not depend on the caller
    /// staying: the jobs queued behind it run either way.
    fn start_lane(&self, context: ContextId, lane: Arc<Lane>) -> Result<(), NodeError> {
        let permit = match self.inner.slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                if let Err(busy) =
                    enter_queue(&self.inner.queued, self.inner.config.max_queued_calls)
                {
                    self.refuse_lane(&lane);
                    return Err(busy);
                }
                None
            }
        };
        let counted = permit.is_none();
        self.schedule_lane(
            LaneTurn {
                node: self.clone(),
                context,
                lane,
                armed: true,
                counted,
            },
            permit,
        );
        Ok(())
    }

    /// Runs `turn` on a blocking thread once it has a slot (`permit`, or
    /// one it waits for, first come, first served).
    fn schedule_lane(&self, mut turn: LaneTurn, permit: Option<OwnedSemaphorePermit>) {
        let slots = self.inner.slots.clone();
        tokio::spawn(async move {
            let permit = match permit {
                Some(permit) => permit,
                // Shutting down: dropping the turn refuses the lane's jobs.
                None => match slots.acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            turn.stop_waiting();
            tokio::task::spawn_blocking(move || {
                let next = turn.run();
                drop(permit);
                if let Some(next) = next {
                    let node = next.node.clone();
                    node.schedule_lane(next, None);
                }
            });
        });
    }

    /// Refuses every job of a lane that could not get a slot.
    fn refuse_lane(&self, lane: &Lane) {
        let refused = {
            let mut jobs = lane.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.running = false;
            std::mem::take(&mut jobs.queue)
        };
        for (job, counted) in refused {
            if counted {
                self.inner.queued.fetch_sub(1, Ordering::AcqRel);
            }
            job(None);
        }
    }

    /// Forgets a context's lane when nobody else holds it, so lanes of
    /// contexts that were never written (or no longer exist) do not pile up.
    fn release_lane(&self, id: &ContextId, lane: Arc<Lane>) {
        let mut lanes = self
            .inner
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ours = lanes.get(id).is_some_and(|kept| Arc::ptr_eq(kept, &lane));
        // Ours and the map's: nobody waits on it or holds it.
        if ours && Arc::strong_count(&lane) == 2 {
            lanes.remove(id);
        }
    }

    /// Work admitted and waiting for a slot or its context's turn now.
    #[must_use]
    pub fn queued_calls(&self) -> usize {
        self.inner.queued.load(Ordering::Acquire)
    }

    /// The bytes of a stored blob (an application's wasm, or a blob a
    /// committed call wrote).
    ///
    /// # Errors
    /// When the store fails.
    pub fn blob(&self, id: &BlobId) -> Result<Option<Vec<u8>>, NodeError> {
        Ok(self.inner.store.snapshot()?.blob(id)?)
    }

    /// The node's settings.
    #[must_use]
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// How many modules this node compiled from wasm since it opened (the
    /// others came from the compiled-module cache).
    #[must_use]
    pub fn compilations(&self) -> u64 {
        self.inner.compilations.load(Ordering::Relaxed)
    }

    /// Adds the node's measurements (group commit latency and batch sizes)
    /// to `registry`; they are live from the moment the node opened.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.register(registry);
    }

    /// Receives every committed mutation from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// Event records of a context after sequence number `after`, oldest first.
    ///
    /// # Errors
    /// When the store fails.
    pub fn events_after(
        &self,
        context: &ContextId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, NodeError> {
        Ok(self
            .inner
            .store
            .snapshot()?
            .events_after(context, after, limit)?)
    }

    /// Installs an application from its wasm bytes: validated, compiled once,
    /// stored with its compiled form. The id is the SHA-256 of the bytes, so
    /// installing the same bytes again is a no-op (nothing is compiled) that
    /// returns the installed record.
    ///
    /// # Errors
    /// [`NodeError::Install`] naming what is wrong with the module,
    /// [`NodeError::TooLarge`], or the store's error.
    pub fn install_application(
        &self,
        wasm: &[u8],
        source: &str,
        metadata: &[u8],
    ) -> Result<ApplicationRecord, NodeError> {
        if wasm.len() > self.inner.config.max_application_size {
            return Err(NodeError::TooLarge(format!(
                "application of {} bytes exceeds the limit of {} bytes",
                wasm.len(),
                self.inner.config.max_application_size
            )));
        }
        let hash = Hash::digest(wasm);
        let blob = BlobId::from_bytes(hash.to_bytes());
        let id = ApplicationId::from_bytes(hash.to_bytes());
        // Installed already: nothing to compile or store (the first
        // install's source and metadata stay).
        if let Some(installed) = self.application(&id)? {
            return Ok(installed);
        }
        let (module, compiled) = self.inner.runtime.compile(wasm)?;
        self.inner.compilations.fetch_add(1, Ordering::Relaxed);
        let record = ApplicationRecord {
            id,
            blob,
            size: wasm.len() as u64,
            source: source.to_owned(),
            metadata: metadata.to_vec(),
            installed_at: now_ms(),
        };
        self.inner.store.put_application(
            &record,
            wasm,
            self.inner.runtime.fingerprint(),
            &compiled,
        )?;
        self.inner
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, module);
        Ok(record)
    }

    /// Every installed application.
    ///
    /// # Errors
    /// When the store fails.
    pub fn applications(&self) -> Result<Vec<ApplicationRecord>, NodeError> {
        Ok(self.inner.store.snapshot()?.applications()?)
    }

    /// One application.
    ///
    /// # Errors
    /// When the store fails.
    pub fn application(&self, id: &ApplicationId) -> Result<Option<ApplicationRecord>, NodeError> {
        Ok(self.inner.store.snapshot()?.application(id)?)
    }

    /// Uninstalls an application no context uses; its wasm bytes and
    /// compiled modules go with it.
    ///
    /// # Errors
    /// [`NodeError::Conflict`] while a context uses it (checked in the same
    /// transaction as the removal), or the store's error.
    pub fn uninstall_application(&self, id: &ApplicationId) -> Result<bool, NodeError> {
        let removed = self.inner.store.delete_application(id)?;
        self.inner
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        Ok(removed)
    }

    /// The compiled module of an application: from memory, else from the
    /// compiled-module cache, else compiled from its blob.
    /// An application's module if it is in memory already.
    fn loaded_module(&self, id: &ApplicationId) -> Option<CompiledModule> {
        self.inner
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn module(&self, id: &ApplicationId) -> Result<CompiledModule, NodeError> {
        if let Some(module) = self.loaded_module(id) {
            return Ok(module);
        }
        let snapshot = self.inner.store.snapshot()?;
        let record = snapshot
            .application(id)?
            .ok_or(NodeError::ApplicationNotFound(*id))?;
        let fingerprint = self.inner.runtime.fingerprint();
        let cached = snapshot
            .compiled(&record.blob, fingerprint)?
            .and_then(|bytes| self.inner.runtime.load(&bytes).ok());
        let module = match cached {
            Some(module) => module,
            None => {
                let wasm = snapshot
                    .blob(&record.blob)?
                    .ok_or(NodeError::ApplicationNotFound(*id))?;
                let (module, compiled) = self.inner.runtime.compile(&wasm)?;
                self.inner.compilations.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .store
                    .put_compiled(&record.blob, fingerprint, &compiled)?;
                module
            }
        };
        self.inner
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*id, module.clone());
        Ok(module)
    }

    /// Creates a context of an installed application and runs its `init` with
    /// `init_params`; the context exists only if `init` commits.
    ///
    /// # Errors
    /// [`NodeError::ApplicationNotFound`], [`NodeError::Call`] when `init` fails,
    /// or the store's error.
    pub fn create_context(
        &self,
        application: &ApplicationId,
        init_params: &[u8],
    ) -> Result<(ContextRecord, PublicKey), NodeError> {
        self.module(application)?;
        // The context's own key certifies its creator, then is forgotten.
        let context_key = ed25519_dalek::SigningKey::from_bytes(&random_32()?);
        let id = ContextId::from_bytes(context_key.verifying_key().to_bytes());
        let member_secret = random_32()?;
        let member = PublicKey::from_bytes(
            ed25519_dalek::SigningKey::from_bytes(&member_secret)
                .verifying_key()
                .to_bytes(),
        );
        let created_at = now_ms();
        let record = ContextRecord {
            id,
            application_id: *application,
            root_hash: Hash::ZERO,
            last_transaction_hash: Hash::ZERO,
            last_seq: 0,
            last_time_ns: 0,
            created_at,
            members: vec![member],
            joined_at: BTreeMap::from([(member, created_at)]),
            event_bytes: 0,
            heads: BTreeMap::new(),
            remote: BTreeSet::new(),
            sharing: Some(crate::sync::genesis(
                &context_key,
                application,
                &member,
                created_at,
            )),
        };
        drop(context_key);
        let lane = self.lane(&id);
        let _writer = lane.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let snapshot = Arc::new(self.inner.store.snapshot()?);
        let Prepared { commit, event, .. } = self.prepare(
            record,
            snapshot,
            Arc::from([]),
            "init",
            init_params,
            member,
            Some((member, member_secret)),
            None,
        )?;
        // Checks, in the same transaction, that the application is still
        // installed.
        let started = std::time::Instant::now();
        let created = self.inner.store.create_context(&commit);
        self.inner
            .metrics
            .committed(started, 1, !matches!(created, Err(StoreError::Database(_))));
        created?;
        // Nobody listening is fine.
        let _ = self.inner.events.send(event);
        let context = self.context(&id)?.ok_or(NodeError::ContextNotFound(id))?;
        Ok((context, member))
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A node-wide value (identity, secrets, auth state).
    ///
    /// # Errors
    /// When the store fails.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, NodeError> {
        Ok(self.inner.store.snapshot()?.meta(name)?)
    }

    /// Replaces a node-wide value by `change(current)` atomically; nothing is
    /// written when `change` fails.
    ///
    /// # Errors
    /// `change`'s error, or the store's.
    pub fn update_meta<E: From<NodeError>>(
        &self,
        name: &str,
        change: &mut node_store::MetaChange<'_, E>,
    ) -> Result<(), E> {
        let mut failure = None;
        let result = self
            .inner
            .store
            .update_meta::<NodeError>(name, &mut |current| {
                change(current).map_err(|error| refused(&mut failure, error))
            });
        caller_error(result, failure)
    }

    /// `author`'s deltas in a context after height `after`, in order, at
    /// most `limit` and about `budget` stored bytes (at least one): what
    /// another node lacks of that member's calls.
    ///
    /// # Errors
    /// When the store fails.
    pub fn deltas_after(
        &self,
        context: &ContextId,
        author: &PublicKey,
        after: u64,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<Delta>, NodeError> {
        let deltas = self
            .inner
            .store
            .snapshot()?
            .deltas_after(context, author, after, limit, budget)?;
        match deltas.first() {
            Some(first) if first.height != after + 1 => Err(NodeError::Conflict(format!(
                "member {author}'s deltas {} to {} of context {context} are no longer kept here (keep_deltas)",
                after + 1,
                first.height - 1
            ))),
            _ => Ok(deltas),
        }
    }

    /// Makes a context that another node created known here, uninitialised
    /// until its members' deltas (the creator's `init` first) are applied
    /// ([`Node::begin_apply`]): `members` (the creator first) and `own`, a
    /// member whose secret key this node holds (and keeps). Whether it was
    /// new; a context known already keeps its record and gains `own`'s
    /// secret.
    ///
    /// # Errors
    /// [`NodeError::ApplicationNotFound`] unless its application is
    /// installed, or the store's error.
    pub fn join_context(
        &self,
        id: &ContextId,
        application: &ApplicationId,
        members: &[PublicKey],
        own: (PublicKey, [u8; 32]),
    ) -> Result<bool, NodeError> {
        let derived = ed25519_dalek::SigningKey::from_bytes(&own.1)
            .verifying_key()
            .to_bytes();
        if derived != own.0.to_bytes() {
            return Err(NodeError::Rejected(format!(
                "the secret given for member {} is not its key",
                own.0
            )));
        }
        self.module(application)?;
        let lane = self.lane(id);
        let _writer = lane.writer.lock().unwrap_or_else(PoisonError::into_inner);
        lane.wait_drained();
        let known = self.context(id)?;
        let joined = now_ms();
        let mut record = known.clone().unwrap_or_else(|| ContextRecord {
            id: *id,
            application_id: *application,
            root_hash: Hash::ZERO,
            last_transaction_hash: Hash::ZERO,
            last_seq: 0,
            last_time_ns: 0,
            created_at: joined,
            members: Vec::new(),
            joined_at: BTreeMap::new(),
            event_bytes: 0,
            heads: BTreeMap::new(),
            remote: BTreeSet::new(),
            sharing: None,
        });
        if record.application_id != *application {
            return Err(NodeError::Rejected(format!(
                "context {id} runs application {}, not {application}",
                record.application_id
            )));
        }
        if let Some(held) = self.inner.store.snapshot()?.member_secret(id, &own.0)?
            && held.as_slice() != own.1.as_slice()
        {
            return Err(NodeError::Rejected(format!(
                "this node holds another secret for member {}",
                own.0
            )));
        }
        for member in members.iter().chain([&own.0]) {
            if !record.members.contains(member) {
                record.members.push(*member);
                record.joined_at.insert(*member, joined);
                // The others' calls run where they are held.
                if *member != own.0 {
                    record.remote.insert(*member);
                }
            }
        }
        record.remote.remove(&own.0);
        let commit = ContextCommit {
            context: record,
            prior_seq: None,
            writes: BTreeMap::new(),
            event: None,
            retention: self.inner.config.retention,
            delta: None,
            blobs: Vec::new(),
            member_secrets: vec![own],
        };
        self.inner.store.create_context(&commit)?;
        Ok(known.is_none())
    }

    /// Makes `member` a member of a context (calls may run as it); whether it
    /// was new. Waits for a running mutation.
    ///
    /// # Errors
    /// [`NodeError::ContextNotFound`], or the store's error.
    pub fn add_member(&self, id: &ContextId, member: PublicKey) -> Result<bool, NodeError> {
        let lane = self.lane(id);
        let _writer = lane.writer.lock().unwrap_or_else(PoisonError::into_inner);
        lane.wait_drained();
        let mut record = self.context(id)?.ok_or(NodeError::ContextNotFound(*id))?;
        if record.members.contains(&member) {
            return Ok(false);
        }
        record.members.push(member);
        record.joined_at.insert(member, now_ms());
        self.inner.store.put_context(&record)?;
        Ok(true)
    }

    /// The row `key` of an auth table (the server's auth state).
    ///
    /// # Errors
    /// When the store fails.
    pub fn auth_get(&self, table: AuthTable, key: &str) -> Result<Option<Vec<u8>>, NodeError> {
        Ok(self.inner.store.snapshot()?.auth_get(table, key)?)
    }

    /// Every row of an auth table, in key order.
    ///
    /// # Errors
    /// When the store fails.
    pub fn auth_list(&self, table: AuthTable) -> Result<Vec<(String, Vec<u8>)>, NodeError> {
        Ok(self.inner.store.snapshot()?.auth_list(table)?)
    }

    /// Runs `change` over the auth tables in one transaction, returning
    /// once it is durable ([`node_store::Store::auth_write`]); nothing is
    /// written when `change` fails.
    ///
    /// # Errors
    /// `change`'s error, or the store's.
    pub fn auth_write<E: From<NodeError>>(
        &self,
        change: &mut dyn FnMut(&mut AuthTxn<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut failure = None;
        let result = self.inner.store.auth_write::<NodeError>(&mut |txn| {
            change(txn).map_err(|error| refused(&mut failure, error))
        });
        caller_error(result, failure)
    }

    /// One context.
    ///
    /// # Errors
    /// When the store fails.
    pub fn context(&self, id: &ContextId) -> Result<Option<ContextRecord>, NodeError> {
        Ok(self.inner.store.snapshot()?.context(id)?)
    }

    /// Every context, in id order.
    ///
    /// # Errors
    /// When the store fails.
    pub fn contexts(&self) -> Result<Vec<ContextRecord>, NodeError> {
        Ok(self.inner.store.snapshot()?.contexts()?)
    }

    /// Deletes a context and all its state, history and member secrets, and
    /// the blobs only its calls referenced. Waits for a running mutation.
    ///
    /// # Errors
    /// When the store fails.
    pub fn delete_context(&self, id: &ContextId) -> Result<bool, NodeError> {
        let lane = self.lane(id);
        let _writer = lane.writer.lock().unwrap_or_else(PoisonError::into_inner);
        lane.wait_drained();
        let existed = self.inner.store.delete_context(id)?;
        self.inner
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        Ok(existed)
    }

    /// A context's record with its values digest
    /// ([`node_store::Snapshot::values_digest`]), read from one snapshot.
    ///
    /// # Errors
    /// When the store fails.
    pub fn values_digest(
        &self,
        id: &ContextId,
    ) -> Result<Option<(ContextRecord, Hash)>, NodeError> {
        let snapshot = self.inner.store.snapshot()?;
        let Some(record) = snapshot.context(id)? else {
            return Ok(None);
        };
        let digest = snapshot.values_digest(id)?;
        Ok(Some((record, digest)))
    }

    /// Exact bytes of keys and values of a context's state.
    ///
    /// # Errors
    /// [`NodeError::ContextNotFound`], or the store's error.
    pub fn storage_size(&self, id: &ContextId) -> Result<u64, NodeError> {
        let snapshot = self.inner.store.snapshot()?;
        snapshot
            .context(id)?
            .ok_or(NodeError::ContextNotFound(*id))?;
        Ok(snapshot.state_size(id)?.1)
    }

    /// A read-only call on a snapshot; never waits for writers.
    ///
    /// # Errors
    /// [`NodeError::ContextNotFound`], [`NodeError::Uninitialized`],
    /// [`NodeError::ReservedMethod`], [`NodeError::Call`] (a write inside a
    /// query included), or the store's error.
    pub fn query(
        &self,
        context: &ContextId,
        method: &str,
        args: &[u8],
        executor: Option<PublicKey>,
    ) -> Result<CallOutput, NodeError> {
        self.query_within(context, method, args, executor, None)
    }

    /// [`Node::query`] for async code. Most queries take tens of
    /// microseconds, less than a hand-off to a blocking thread and back, so
    /// one runs right here, on the async thread that asked, when an
    /// instance slot is free at once, its application's module is loaded,
    /// and it finishes within [`IN_PLACE_FUEL`] and 20 ms without waiting on the
    /// network. Otherwise it runs again from the start on a blocking
    /// thread: with the slot it had if it had one, else queued like any
    /// other call ([`Node::run_blocking`]). A query writes nothing, so the
    /// abandoned attempt leaves no trace; it costs at most that much fuel.
    ///
    /// # Errors
    /// As [`Node::query`] and [`Node::run_blocking`].
    pub async fn query_async(
        &self,
        context: ContextId,
        method: String,
        args: Vec<u8>,
        executor: Option<PublicKey>,
    ) -> Result<CallOutput, NodeError> {
        let permit = match self.inner.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                if let Some(done) = self.query_in_place(&context, &method, &args, executor) {
                    return done;
                }
                permit
            }
            Err(_) => self.admit().await?,
        };
        self.run_admitted(permit, move |node| {
            node.query(&context, &method, &args, executor)
        })
        .await
    }

    /// The in-place attempt of [`Node::query_async`], by a caller holding a
    /// slot; `None` when the query must run on a blocking thread.
    fn query_in_place(
        &self,
        context: &ContextId,
        method: &str,
        args: &[u8],
        executor: Option<PublicKey>,
    ) -> Option<Result<CallOutput, NodeError>> {
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.query_within(context, method, args, executor, Some(IN_PLACE_FUEL))
        }));
        match attempt {
            Ok(Err(NodeError::Call {
                error: CallError::Unfinished,
                ..
            })) => None,
            Ok(done) => Some(done),
            Err(_) => Some(Err(NodeError::Internal("the query panicked".into()))),
        }
    }

    /// A query, run under `budget` ([`node_runtime::Call::budget`]) if any.
    fn query_within(
        &self,
        context: &ContextId,
        method: &str,
        args: &[u8],
        executor: Option<PublicKey>,
        budget: Option<u64>,
    ) -> Result<CallOutput, NodeError> {
        refuse_reserved(method)?;
        let snapshot = Arc::new(self.inner.store.snapshot()?);
        let (record, executor) = callable(context, snapshot.context(context)?, executor, false)?;
        let (outcome, _, _) = self.run(
            &record,
            snapshot,
            Arc::from([]),
            method,
            args,
            executor,
            Mode::ReadOnly,
            budget,
        )?;
        let logs = outcome.logs;
        match outcome.returns {
            Ok(returns) => Ok(CallOutput {
                returns,
                logs,
                record: None,
            }),
            Err(error) => Err(NodeError::Call { error, logs }),
        }
    }

    /// A call with write access: its writes, root hash, delta and event record
    /// commit atomically and durably, only if it succeeds; then its events are
    /// published. Returns once the commit is durable.
    ///
    /// # Errors
    /// As [`Node::query`], plus [`NodeError::Rejected`] for a call that broke
    /// a commit rule, and the errors of [`Mutation::wait`].
    pub fn mutate(
        &self,
        context: &ContextId,
        method: &str,
        args: &[u8],
        executor: Option<PublicKey>,
    ) -> Result<CallOutput, NodeError> {
        self.begin_mutate(context, method, args, executor)?.wait()
    }

    /// Runs a mutation and queues its commit; the returned [`Mutation`]
    /// answers once that commit is durable. Mutations of one context run
    /// one at a time, in order, each over the state of the one before,
    /// which need not be durable yet: their commits, answers and events
    /// follow in the same order, and when one fails to commit, those that
    /// ran over its state fail too (nothing of theirs is written).
    ///
    /// # Errors
    /// As [`Node::mutate`], for the call itself.
    pub fn begin_mutate(
        &self,
        context: &ContextId,
        method: &str,
        args: &[u8],
        executor: Option<PublicKey>,
    ) -> Result<Mutation, NodeError> {
        refuse_reserved(method)?;
        let lane = self.lane(context);
        let _writer = lane.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let WriterView {
            snapshot,
            pending,
            newest,
            ..
        } = self.writer_view(context, &lane)?;
        let (record, executor) = callable(context, newest, executor, true)?;
        let prepared = self.prepare(
            record,
            snapshot,
            pending.clone(),
            method,
            args,
            executor,
            None,
            None,
        );
        self.queue(&lane, &pending, prepared)
    }

    /// Applies a member's delta made on another node, as that member's call
    /// made here would have been: its artifact goes to the application's
    /// `__calimero_sync_next` (run as a member this node holds), and its
    /// writes, the new root, the delta itself (stored under its author and
    /// height, for other nodes to fetch) and an event record carrying the
    /// author's events commit through the same path and order as local
    /// mutations. `None` when the delta is applied already.
    ///
    /// # Errors
    /// [`NodeError::NotMember`] when its author is not a member,
    /// [`NodeError::Conflict`] when it does not follow the author's last
    /// delta here (the ones between must come first),
    /// [`NodeError::Rejected`] when this node holds no member of the
    /// context, else as [`Node::begin_mutate`].
    pub fn begin_apply(
        &self,
        context: &ContextId,
        delta: Delta,
    ) -> Result<Option<Mutation>, NodeError> {
        let lane = self.lane(context);
        let _writer = lane.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let WriterView {
            snapshot,
            pending,
            stored,
            newest,
        } = self.writer_view(context, &lane)?;
        let stored_head = stored
            .and_then(|stored| stored.heads.get(&delta.author).copied())
            .unwrap_or(0);
        let record = newest.ok_or(NodeError::ContextNotFound(*context))?;
        if !record.members.contains(&delta.author) {
            return Err(NodeError::NotMember {
                context: *context,
                executor: delta.author,
            });
        }
        // Applied already, and durable: nothing to do.
        if delta.height <= stored_head {
            return Ok(None);
        }
        let head = record.heads.get(&delta.author).copied().unwrap_or(0);
        if delta.height <= head {
            return Err(NodeError::Conflict(format!(
                "delta {} of member {} is being applied here: ask again once it committed",
                delta.height, delta.author
            )));
        }
        if delta.height != head + 1 {
            return Err(NodeError::Conflict(format!(
                "delta {} of member {} does not follow its last one here ({head}): the ones between come first",
                delta.height, delta.author
            )));
        }
        // Nothing runs on a context before its creator's `init`.
        let creator = record.members.first().copied();
        if record.root_hash.is_zero() && (Some(delta.author) != creator || delta.height != 1) {
            return Err(NodeError::Conflict(format!(
                "context {context} is uninitialised here: its creator's first delta comes first"
            )));
        }
        self.check_events(&delta)?;
        let mut executor = None;
        for member in &record.members {
            if snapshot.member_secret(context, member)?.is_some() {
                executor = Some(*member);
                break;
            }
        }
        let executor = executor.ok_or_else(|| {
            NodeError::Rejected(format!("this node holds no member of context {context}"))
        })?;
        let artifact = delta.artifact.clone();
        let prepared = self.prepare(
            record,
            snapshot,
            pending.clone(),
            SYNC_METHOD,
            &artifact,
            executor,
            None,
            Some(delta),
        );
        self.queue(&lane, &pending, prepared).map(Some)
    }

    /// Holds another node's delta's events to the limits a local call's
    /// events are held to.
    fn check_events(&self, delta: &Delta) -> Result<(), NodeError> {
        let limits = &self.inner.config.limits;
        let too_large = delta.events.len() > limits.max_events
            || delta.events.iter().any(|(kind, data)| {
                kind.len() as u64 > limits.max_event_kind_size
                    || data.len() as u64 > limits.max_event_data_size
            });
        if too_large {
            return Err(NodeError::TooLarge(format!(
                "delta {} of member {} carries more or larger events than a call may emit",
                delta.height, delta.author
            )));
        }
        Ok(())
    }

    /// What a writer of `context` runs over; the caller holds the lane's
    /// writer lock.
    fn writer_view(&self, context: &ContextId, lane: &Lane) -> Result<WriterView, NodeError> {
        let pending = lane.pending();
        let snapshot = Arc::new(self.inner.store.snapshot()?);
        let stored = snapshot.context(context)?;
        // A deleted context has no queued commits (deletion waits for
        // them), so the stored record decides whether it exists.
        let newest = match (&stored, pending.last()) {
            (Some(_), Some(queued)) => Some(queued.record.clone()),
            (stored, _) => stored.clone(),
        };
        Ok(WriterView {
            snapshot,
            pending,
            stored,
            newest,
        })
    }

    /// Queues a prepared write's commit behind the context's pending ones.
    fn queue(
        &self,
        lane: &Arc<Lane>,
        pending: &Arc<[Arc<PendingCommit>]>,
        prepared: Result<Prepared, NodeError>,
    ) -> Result<Mutation, NodeError> {
        let Prepared {
            commit,
            output,
            event,
        } = match prepared {
            Ok(prepared) => prepared,
            // A refusal is an answer about the state it ran over: only
            // once that state is durable.
            Err(error) => match pending.last() {
                Some(newest) if !newest.committed() => {
                    return Err(NodeError::Conflict(
                        "the call before this one in its context did not commit, and this one ran over its state: try again".into(),
                    ));
                }
                _ => return Err(error),
            },
        };
        let seq = commit.context.last_seq;
        let queued = Arc::new(PendingCommit {
            seq,
            record: commit.context.clone(),
            writes: commit.writes.clone(),
            blobs: commit
                .blobs
                .iter()
                .filter_map(|(id, bytes)| bytes.clone().map(|bytes| (*id, bytes)))
                .collect(),
            committed: Mutex::new(None),
            decided: Condvar::new(),
        });
        lane.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(queued.clone());
        let settled = Arc::new(Settled::default());
        let follow_up = FollowUp {
            lane: lane.clone(),
            pending: queued,
            settled: settled.clone(),
            event: Some(event),
            events: self.inner.events.clone(),
        };
        self.inner
            .committer
            .submit(commit, Box::new(move |result| follow_up.finish(result)));
        Ok(Mutation { output, settled })
    }

    /// The writer lane of a context.
    pub(crate) fn lane(&self, id: &ContextId) -> Arc<Lane> {
        self.inner
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*id)
            .or_default()
            .clone()
    }

    /// Runs a method on a fresh instance; returns the outcome, the writes
    /// and the blobs it wrote.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        record: &ContextRecord,
        snapshot: Arc<node_store::Snapshot>,
        pending: Arc<[Arc<PendingCommit>]>,
        method: &str,
        args: &[u8],
        executor: PublicKey,
        mode: Mode,
        budget: Option<u64>,
    ) -> Result<(Outcome, Writes, Arc<CallBlobs>), NodeError> {
        let module = match budget {
            // Loading or compiling a module is no work for a budgeted call.
            Some(_) => self
                .loaded_module(&record.application_id)
                .ok_or(NodeError::Call {
                    error: CallError::Unfinished,
                    logs: Vec::new(),
                })?,
            None => self.module(&record.application_id)?,
        };
        let writes = Writes::default();
        let blobs = Arc::new(CallBlobs::new(self.inner.store.clone(), pending.clone()));
        let overlay = Overlay {
            snapshot,
            context: record.id,
            pending,
            writes: writes.clone(),
        };
        let (outcome, _) = self.inner.runtime.call(
            &module,
            Call {
                method: method.to_owned(),
                input: args.to_vec(),
                context_id: record.id.to_bytes(),
                executor_id: executor.to_bytes(),
                mode,
                storage: Box::new(overlay),
                blobs: Some(blobs.clone()),
                fetch: self.inner.fetch.clone(),
                last_time_ns: record.last_time_ns,
                environment: Box::new(SystemEnvironment),
                budget,
            },
        );
        Ok((outcome, writes, blobs))
    }

    /// Runs a call with write access over `snapshot` under `pending` (the
    /// caller holds the context's lane) and, if it succeeded and kept the
    /// commit rules, builds its commit. `creating` (the `init` of a new
    /// context) carries the creator's member key, stored with the first
    /// commit.
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        record: ContextRecord,
        snapshot: Arc<node_store::Snapshot>,
        pending: Arc<[Arc<PendingCommit>]>,
        method: &str,
        args: &[u8],
        executor: PublicKey,
        creating: Option<(PublicKey, [u8; 32])>,
        remote: Option<Delta>,
    ) -> Result<Prepared, NodeError> {
        let (outcome, writes, blobs) = self.run(
            &record,
            snapshot,
            pending,
            method,
            args,
            executor,
            Mode::ReadWrite,
            None,
        )?;
        let returns = match outcome.returns {
            Ok(returns) => returns,
            Err(error) => {
                return Err(NodeError::Call {
                    error,
                    logs: outcome.logs,
                });
            }
        };
        if creating.is_some() && returns.is_some() {
            return Err(NodeError::Rejected("init must not return a value".into()));
        }
        let writes = std::mem::take(&mut *writes.lock().unwrap_or_else(PoisonError::into_inner));
        let (root_hash, delta) = match outcome.root_hash {
            // Applying another node's delta: what the app answers (its own
            // artifact, a list of comparisons) is not a delta of this node.
            Some(root) if remote.is_some() => (Hash::from_bytes(root), None),
            None if remote.is_some() && !writes.is_empty() => {
                return Err(NodeError::Rejected(format!(
                    "{SYNC_METHOD} wrote state without committing it"
                )));
            }
            Some(_) if outcome.artifact.is_empty() => {
                return Err(NodeError::Rejected(format!(
                    "method {method:?} committed a new state root without a replication delta"
                )));
            }
            Some(root) if creating.is_some() && root == [0; 32] => {
                return Err(NodeError::Rejected(
                    "init committed the all-zero root, which means \"uninitialised\"".into(),
                ));
            }
            Some(root) => (Hash::from_bytes(root), Some(outcome.artifact)),
            None if !writes.is_empty() => {
                return Err(NodeError::Rejected(format!(
                    "method {method:?} wrote state without committing it"
                )));
            }
            None if creating.is_some() => {
                return Err(NodeError::Rejected(
                    "init did not commit a state root".into(),
                ));
            }
            None => (record.root_hash, None),
        };
        let transaction = transaction_hash(&record.id, method, args, &record.last_transaction_hash);
        let seq = record.last_seq + 1;
        let events = match &remote {
            // The author's events, so that subscribers here see them too.
            Some(remote) => remote.events.clone(),
            None => outcome
                .events
                .into_iter()
                .map(|event| (event.kind, event.data))
                .collect(),
        };
        let event = EventRecord {
            seq,
            transaction_hash: transaction,
            root_hash,
            events,
        };
        let mut context = record;
        context.root_hash = root_hash;
        context.last_transaction_hash = transaction;
        context.last_seq = seq;
        context.last_time_ns = outcome.last_time_ns;
        let delta = match remote {
            Some(remote) => {
                context.heads.insert(remote.author, remote.height);
                Some(remote)
            }
            None => delta.map(|artifact| {
                let height = context.heads.get(&executor).copied().unwrap_or(0) + 1;
                context.heads.insert(executor, height);
                Delta {
                    author: executor,
                    height,
                    artifact,
                    events: event.events.clone(),
                    proof: Vec::new(),
                }
            }),
        };
        // A mutation applies only over the state it ran on.
        let prior_seq = creating.is_none().then_some(seq - 1);
        let context_id = context.id;
        let record = Arc::new(event.clone());
        let commit = ContextCommit {
            context,
            prior_seq,
            writes: writes.into_iter().collect::<BTreeMap<_, _>>(),
            event: Some(event),
            retention: self.inner.config.retention,
            delta,
            blobs: blobs.take(),
            member_secrets: creating.into_iter().collect(),
        };
        Ok(Prepared {
            commit,
            output: CallOutput {
                returns,
                logs: outcome.logs,
                record: Some(record.clone()),
            },
            event: NodeEvent { context_id, record },
        })
    }
}

/// The context a client call targets, if it exists and is initialised, and
/// the executor: the one asked for, else the context's first member whose
/// calls run here. A call that writes may not run as a member whose calls
/// run on another node (its deltas are numbered there).
fn callable(
    id: &ContextId,
    record: Option<ContextRecord>,
    executor: Option<PublicKey>,
    writing: bool,
) -> Result<(ContextRecord, PublicKey), NodeError> {
    let record = record.ok_or(NodeError::ContextNotFound(*id))?;
    if record.root_hash.is_zero() {
        return Err(NodeError::Uninitialized(*id));
    }
    let executor = match executor {
        Some(executor)
            if !record.members.contains(&executor)
                || (writing && record.remote.contains(&executor)) =>
        {
            return Err(NodeError::NotMember {
                context: *id,
                executor,
            });
        }
        Some(executor) => executor,
        None => record
            .members
            .iter()
            .find(|member| !record.remote.contains(member))
            .copied()
            .unwrap_or(PublicKey::from_bytes([0; 32])),
    };
    Ok((record, executor))
}

/// Keeps the caller's own error of a store write's closure; the store sees
/// a refusal (and writes nothing).
fn refused<E>(failure: &mut Option<E>, error: E) -> NodeError {
    *failure = Some(error);
    NodeError::Rejected("update refused".into())
}

/// The result of a store write whose closure may have failed with the
/// caller's error (see [`refused`]).
fn caller_error<E: From<NodeError>>(
    result: Result<(), NodeError>,
    failure: Option<E>,
) -> Result<(), E> {
    match (result, failure) {
        (_, Some(error)) => Err(error),
        (Err(error), None) => Err(error.into()),
        (Ok(()), None) => Ok(()),
    }
}

/// What a writer of a context runs over, read under its lane's writer lock.
struct WriterView {
    /// The committed state.
    snapshot: Arc<node_store::Snapshot>,
    /// Commits queued over it, oldest first.
    pending: Arc<[Arc<PendingCommit>]>,
    /// The committed record.
    stored: Option<ContextRecord>,
    /// The record as the newest queued commit leaves it, else the committed one.
    newest: Option<ContextRecord>,
}

/// The application entry point that applies another node's delta.
const SYNC_METHOD: &str = "__calimero_sync_next";

fn refuse_reserved(method: &str) -> Result<(), NodeError> {
    if node_runtime::is_reserved_method(method) {
        return Err(NodeError::ReservedMethod(method.to_owned()));
    }
    Ok(())
}
