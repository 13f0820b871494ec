//! The workers of the queued and durable modes: lease in batches, run each job (with the event
//! the request parsed, see [`Handoff`], or parsing the stored body) through the receiver's
//! [`Runner`], the same run as the inline path's, within a timeout; then settle outcomes in
//! batches (complete, retry with backoff, or dead-letter).
//!
//! Workers run on a Tokio runtime the receiver owns (its own threads), so they do not depend on
//! the web framework's executor and keep running whatever the HTTP side does.
//!
//! One fetcher leases up to [`QueueOptions::batch`] jobs per store round trip, as many as there
//! are free slots, and queues them for [`QueueOptions::concurrency`] runners, long-lived tasks
//! that each run one job at a time; one settler records finished runs in batches. A job holds its
//! slot from lease to settlement, so this process holds at most `concurrency + batch` jobs at any
//! time.
//!
//! The runners are started once, not spawned per job: a task is an allocation aligned to 128
//! bytes, which glibc serves outside its per-thread cache (and, for a task of this size, after
//! consolidating its free lists), so spawning one per delivery cost more than running most
//! handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use super::StoreError;
use super::handoff::Handoff;
use super::store::{DeadLetter, Enqueued, Job, Resolution, Settlement, Store, StoreCounts};
use super::{QueueOptions, Role};
use crate::catalog::{Event, EventName};
use crate::dispatch::Dispatch;
use crate::health::{NotReady, READINESS_CACHE, STORE_CHECK_TIMEOUT};
use crate::run::{Ran, Runner};
use crate::stats::Counters;

/// How long an idle fetcher waits before looking for retries that came due.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Woken from idle by a new delivery, the fetcher waits this long before leasing, so deliveries
/// arriving together are leased (and settled) together instead of one store round trip and one
/// thread wake-up each. It delays handlers, never answers.
const GATHER: Duration = Duration::from_millis(1);
/// Back-off after a store failure: doubled each time, up to the maximum.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The queue side of a receiver.
pub(crate) struct Engine {
    role: Role,
    store: Arc<dyn Store>,
    /// See [`Backing::ephemeral`].
    ephemeral: bool,
    options: QueueOptions,
    shared: Arc<Shared>,
    runtime: std::sync::Mutex<Option<tokio::runtime::Runtime>>,
    /// The last readiness answer, and when it was found.
    readiness: std::sync::Mutex<Option<(std::time::Instant, Result<(), NotReady>)>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The store an engine runs on.
pub(crate) struct Backing {
    pub(crate) store: Arc<dyn Store>,
    /// Whether only this process reads it (the in-memory store, the journal): then every job it
    /// stores is run here, and its event, parsed on the way in, is kept for its worker.
    pub(crate) private: bool,
    /// Whether it dies with the process (the in-memory store of the queued mode): then a
    /// shutdown runs what it holds while its grace lasts, and logs what is left as lost.
    pub(crate) ephemeral: bool,
}

impl Backing {
    /// A store other processes may read too, which outlives this one.
    pub(crate) fn shared(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            private: false,
            ephemeral: false,
        }
    }
}

/// What accepting one delivery did.
pub(crate) enum Accepted {
    Stored,
    Duplicate,
    Full,
    Unavailable(StoreError),
    ShuttingDown,
    WorkerOnly,
}

/// State shared by the engine handle, the fetcher, the runs and the settler.
struct Shared {
    wake: Notify,
    /// New deliveries are refused (shutting down); the workers may still run what is stored.
    refusing: AtomicBool,
    /// The workers stop: lease nothing more, hand back what has not started.
    closed: AtomicBool,
    counters: Arc<Counters>,
    /// Jobs leased and not yet settled.
    unsettled: AtomicUsize,
    /// Events parsed on the way in, for the workers that run them (stores only this process
    /// reads).
    handoff: Option<Handoff>,
}

/// A finished run on its way to the store, with the slot it frees once recorded.
struct Finished {
    settlement: Settlement,
    attempts: u32,
    /// The event's name, for the retry and dead-letter lines (`None` when the job did not run,
    /// or its body is not an event).
    name: Option<EventName>,
    slot: OwnedSemaphorePermit,
}

/// A leased job on its way to a runner, with its slot.
type Leased = (Job, OwnedSemaphorePermit);

struct Worker<D> {
    store: Arc<dyn Store>,
    runner: Runner<D>,
    options: QueueOptions,
    shared: Arc<Shared>,
    settle: mpsc::UnboundedSender<Finished>,
}

impl Engine {
    pub(crate) fn start<D: Dispatch>(
        role: Role,
        Backing {
            store,
            private,
            ephemeral,
        }: Backing,
        mut options: QueueOptions,
        runner: Runner<D>,
    ) -> std::io::Result<Self> {
        // As the setters do, for options whose public fields were set to 0: no runner, or
        // leases of no job, would leave every delivery waiting.
        options.concurrency = options.concurrency.max(1);
        options.batch = options.batch.max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(
                options
                    .concurrency
                    .min(std::thread::available_parallelism().map_or(1, usize::from)),
            )
            .thread_name("roamify-worker")
            .enable_time()
            .build()?;
        // Only where this process runs every job it stores can it keep each one's parsed event
        // for the worker that runs it.
        let handoff =
            (private && role == Role::Both).then(|| Handoff::new(store.limits().capacity));
        let (worker, finished) = Worker::new(Arc::clone(&store), runner, options.clone(), handoff);
        let shared = Arc::clone(&worker.shared);
        if role != Role::IngestOnly {
            let slots = Arc::new(Semaphore::new(options.concurrency + options.batch));
            // Unbounded, but never holds more than the slots allow.
            let (queue, leased) = mpsc::unbounded_channel();
            let leased = Arc::new(Mutex::new(leased));
            for _ in 0..options.concurrency {
                runtime.spawn(Arc::clone(&worker).runner(Arc::clone(&leased)));
            }
            runtime.spawn(Arc::clone(&worker).fetch(slots, queue));
            runtime.spawn(settler(
                Arc::clone(&store),
                Arc::clone(&shared),
                options.batch,
                finished,
                options.retry.max_attempts,
            ));
        }
        Ok(Self {
            role,
            store,
            ephemeral,
            options,
            shared,
            runtime: std::sync::Mutex::new(Some(runtime)),
            readiness: std::sync::Mutex::new(None),
        })
    }

    /// Stores a verified delivery, parsed as `event`; the caller acknowledges it only on
    /// `Stored` or `Duplicate`.
    pub(crate) async fn accept(&self, key: String, body: &[u8], event: Event) -> Accepted {
        if self.role == Role::WorkerOnly {
            return Accepted::WorkerOnly;
        }
        if self.shared.refusing.load(Ordering::Acquire)
            || self.shared.closed.load(Ordering::Acquire)
        {
            return Accepted::ShuttingDown;
        }
        // Left before the delivery is stored: a worker may lease it at once. Taken back unless
        // it was stored (also when this future is dropped while the store works).
        let offered = self
            .shared
            .handoff
            .as_ref()
            .map(|handoff| handoff.offer(body, event));
        let enqueued = self.store.enqueue(key, body.to_vec()).await;
        if let (Ok(Enqueued::Stored), Some(offered)) = (&enqueued, offered) {
            offered.keep();
        }
        match enqueued {
            Ok(Enqueued::Stored) => {
                self.shared.wake.notify_one();
                Accepted::Stored
            }
            Ok(Enqueued::Duplicate) => Accepted::Duplicate,
            Ok(Enqueued::Full) => Accepted::Full,
            Err(e) => Accepted::Unavailable(e),
        }
    }

    pub(crate) async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.store.dead_letters().await
    }

    pub(crate) async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.store.counts().await
    }

    pub(crate) async fn discard(&self, key: &str) -> Result<bool, StoreError> {
        self.store.discard(key.to_owned()).await
    }

    pub(crate) async fn replay(&self, key: &str) -> Result<bool, StoreError> {
        let replayed = self.store.replay(key.to_owned()).await?;
        if replayed {
            self.shared.wake.notify_one();
        }
        Ok(replayed)
    }

    pub(crate) async fn pending(&self) -> Result<usize, StoreError> {
        Ok(self.store.counts().await?.pending())
    }

    /// The workers' runtime, to run work that needs its timer from any executor; `None` once it
    /// was stopped.
    fn handle(&self) -> Option<tokio::runtime::Handle> {
        let runtime = self.runtime.lock().ok()?;
        runtime.as_ref().map(|runtime| runtime.handle().clone())
    }

    /// Whether the store answers and holds fewer pending deliveries than the capacity: asked at
    /// most once per [`READINESS_CACHE`], within [`STORE_CHECK_TIMEOUT`] (on the workers'
    /// runtime, which has a timer; awaited from any executor). A change of answer is logged.
    pub(crate) async fn readiness(&self) -> Result<(), NotReady> {
        if let Ok(cached) = self.readiness.lock()
            && let Some((at, answer)) = *cached
            && at.elapsed() < READINESS_CACHE
        {
            return answer;
        }
        let Some(handle) = self.handle() else {
            return Err(NotReady::ShuttingDown);
        };
        let store = Arc::clone(&self.store);
        let capacity = store.limits().capacity;
        let checked = handle.spawn(async move {
            match tokio::time::timeout(STORE_CHECK_TIMEOUT, store.counts()).await {
                Ok(Ok(counts)) if counts.pending() >= capacity => Err((NotReady::QueueFull, None)),
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => Err((NotReady::StoreUnavailable, Some(error.report()))),
                Err(_) => Err((
                    NotReady::StoreUnavailable,
                    Some(format!("no answer within {STORE_CHECK_TIMEOUT:?}")),
                )),
            }
        });
        let (answer, cause) = match checked.await {
            Ok(Ok(())) => (Ok(()), None),
            Ok(Err((reason, cause))) => (Err(reason), cause),
            Err(_) => (Err(NotReady::ShuttingDown), None),
        };
        if let Ok(mut cached) = self.readiness.lock() {
            let before = cached.map(|(_, answer)| answer);
            *cached = Some((std::time::Instant::now(), answer));
            if before != Some(answer) {
                match answer {
                    Ok(()) => tracing::info!(target: crate::logs::TARGET, "ready"),
                    Err(reason) => {
                        let cause = cause.unwrap_or_default();
                        tracing::warn!(target: crate::logs::TARGET, reason = reason.label(), %cause, "not ready: {reason}");
                    }
                }
            }
        }
        answer
    }

    /// Waits until nothing is ready or leased in the store and this process has settled every
    /// run, for at most `timeout`. `Ok(false)` when the time ran out first.
    pub(crate) async fn wait_idle(&self, timeout: Duration) -> Result<bool, StoreError> {
        let Some(handle) = self.handle() else {
            return Ok(self.shared.unsettled.load(Ordering::Acquire) == 0);
        };
        let store = Arc::clone(&self.store);
        let shared = Arc::clone(&self.shared);
        // Polled on the workers' runtime (which has a timer), awaited from any executor.
        let waiting = handle.spawn(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let counts = store.counts().await?;
                if counts.ready == 0
                    && counts.leased == 0
                    && shared.unsettled.load(Ordering::Acquire) == 0
                {
                    return Ok(true);
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(false);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        waiting.await.unwrap_or(Ok(false))
    }

    /// Stops accepting, lets running handlers finish and their outcomes be recorded for up to
    /// `grace`, hands back leased jobs that had not started, then stops the workers. Returns how
    /// many deliveries were still pending (kept by a durable store, lost by memory).
    ///
    /// The in-memory store dies with the process, so there the workers first go on running what
    /// it holds, until it is empty or `grace` is over; whatever is still there then is logged at
    /// ERROR, with its key, as lost.
    pub(crate) fn shutdown(&self, grace: Duration) -> usize {
        self.shared.refusing.store(true, Ordering::Release);
        if !self.ephemeral {
            self.shared.closed.store(true, Ordering::Release);
            self.shared.wake.notify_waiters();
        }
        let Some(runtime) = self.runtime.lock().ok().and_then(|mut r| r.take()) else {
            return 0;
        };
        let store = Arc::clone(&self.store);
        let shared = Arc::clone(&self.shared);
        let ephemeral = self.ephemeral;
        // On a thread of its own, so a caller inside another runtime (an `async fn main`) can
        // call this without nesting runtimes.
        let waiter = std::thread::spawn(move || {
            let pending = runtime.block_on(async move {
                let deadline = tokio::time::Instant::now() + grace;
                let settled = || shared.unsettled.load(Ordering::Acquire) == 0;
                if ephemeral {
                    while tokio::time::Instant::now() < deadline
                        && !(settled() && store.counts().await.map_or(0, |c| c.pending()) == 0)
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    shared.closed.store(true, Ordering::Release);
                    shared.wake.notify_waiters();
                }
                while !settled() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let pending = store.counts().await.map_or(0, |c| c.pending());
                if ephemeral && pending > 0 {
                    log_lost(&*store, pending).await;
                }
                pending
            });
            runtime.shutdown_timeout(grace);
            pending
        });
        waiter.join().unwrap_or(0)
    }
}

/// Logs, at ERROR with its key, each delivery an in-memory store still holds when its receiver
/// stops: acknowledged to Roamify, never to run. (Leased here to read them; nothing runs them.)
async fn log_lost(store: &dyn Store, pending: usize) {
    let listed = match store.lease(pending, Duration::from_secs(3600)).await {
        Ok(jobs) => {
            for job in &jobs {
                tracing::error!(target: crate::logs::TARGET, key = %job.key, "delivery lost: still queued in memory when the receiver stopped (the queued mode cannot keep it; use a durable store)");
            }
            jobs.len()
        }
        Err(error) => {
            tracing::error!(target: crate::logs::TARGET, error = %error.report(), "could not list the deliveries left in memory");
            0
        }
    };
    tracing::error!(target: crate::logs::TARGET, pending, listed, "the receiver stopped with deliveries it acknowledged still queued in memory: they are lost");
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(runtime) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            runtime.shutdown_background();
        }
    }
}

impl<D: Dispatch> Worker<D> {
    /// A worker running `table`'s handlers, with the state it shares with the engine; finished
    /// runs arrive on the receiver returned beside it (for the settler).
    fn new(
        store: Arc<dyn Store>,
        runner: Runner<D>,
        options: QueueOptions,
        handoff: Option<Handoff>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Finished>) {
        let (settle, finished) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            wake: Notify::new(),
            refusing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counters: Arc::clone(&runner.counters),
            unsettled: AtomicUsize::new(0),
            handoff,
        });
        let worker = Arc::new(Worker {
            store,
            runner,
            options,
            shared,
            settle,
        });
        (worker, finished)
    }

    /// Leases as many jobs as there are free slots (at most a batch), and queues each for the
    /// runners.
    async fn fetch(self: Arc<Self>, slots: Arc<Semaphore>, queue: mpsc::UnboundedSender<Leased>) {
        let mut backoff = BACKOFF_MIN;
        #[cfg(feature = "metrics")]
        let mut sampled: Option<std::time::Instant> = None;
        while !self.shared.closed.load(Ordering::Acquire) {
            #[cfg(feature = "metrics")]
            if sampled.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                sampled = Some(std::time::Instant::now());
                if let Ok(pending) = self.store.counts().await.map(|c| c.pending()) {
                    crate::meter::queue_depth(pending);
                }
            }
            let Some(mut taken) = take_slots(&slots, self.options.batch).await else {
                return;
            };
            if self.shared.closed.load(Ordering::Acquire) {
                return;
            }
            let jobs = match self
                .store
                .lease(taken.num_permits(), self.options.visibility_timeout)
                .await
            {
                Ok(jobs) => {
                    backoff = BACKOFF_MIN;
                    jobs
                }
                Err(error) => {
                    tracing::warn!(error = %error.report(), retry_in = ?backoff, "could not lease deliveries");
                    drop(taken);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            if jobs.is_empty() {
                drop(taken);
                if tokio::time::timeout(IDLE_POLL, self.shared.wake.notified())
                    .await
                    .is_ok()
                {
                    tokio::time::sleep(GATHER).await;
                }
                continue;
            }
            self.shared
                .unsettled
                .fetch_add(jobs.len(), Ordering::AcqRel);
            // Unused slots (fewer jobs than asked for) are released with `taken`. A job not
            // queued (more jobs than asked for, from a faulty store; or the runners are gone, the
            // runtime stopping) is left to its lease, which runs out: it is handed out again.
            for job in jobs {
                let queued = taken
                    .split(1)
                    .is_some_and(|slot| queue.send((job, slot)).is_ok());
                if !queued {
                    self.shared.unsettled.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// Runs queued jobs one at a time, until the queue closes.
    async fn runner(self: Arc<Self>, leased: Arc<Mutex<mpsc::UnboundedReceiver<Leased>>>) {
        loop {
            // The lock is held only while waiting for the next job, not while running it.
            let next = leased.lock().await.recv().await;
            let Some((job, slot)) = next else {
                return;
            };
            self.run(job, slot).await;
        }
    }

    async fn run(&self, job: Job, slot: OwnedSemaphorePermit) {
        let mut name = None;
        let resolution = if self.shared.closed.load(Ordering::Acquire) {
            // Shutting down: hand the job back without running it.
            Resolution::Released
        } else {
            Counters::bump(&self.shared.counters.in_flight);
            crate::meter::in_flight(true);
            let (ran_name, ran) = self.attempt(&job).await;
            name = ran_name;
            crate::meter::in_flight(false);
            self.shared
                .counters
                .in_flight
                .fetch_sub(1, Ordering::Relaxed);
            self.resolve(&job, ran)
        };
        let attempts = job.attempts + 1;
        let finished = Finished {
            // The key moves from the finished job, not copied.
            settlement: Settlement {
                key: job.key,
                lease: job.lease,
                resolution,
            },
            attempts,
            name,
            slot,
        };
        if self.settle.send(finished).is_err() {
            // The settler is gone (the runtime is stopping): the lease runs out and the job is
            // handed out again.
            self.shared.unsettled.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// What the store records of a run: its error becomes text only here, where it is stored.
    fn resolve(&self, job: &Job, ran: Ran) -> Resolution {
        let error = match ran {
            Ran::Handled | Ran::NoHandler => return Resolution::Completed,
            // Retrying cannot help: the payload does not fit.
            Ran::Invalid(error) => {
                return Resolution::Dead {
                    error: error.to_string(),
                };
            }
            Ran::Failed(error) => error.report(),
            Ran::TimedOut(after) => format!("handler timed out after {after:?}"),
        };
        let attempts = job.attempts + 1;
        if attempts >= self.options.retry.max_attempts {
            Resolution::Dead { error }
        } else {
            Resolution::Retry {
                after: self.options.retry.delay(attempts),
                error,
            }
        }
    }

    /// Runs a job: the event parsed on the way in, or (a retry, a job stored by another process
    /// or before a restart) parsed from the stored body by the run.
    async fn attempt(&self, job: &Job) -> (Option<EventName>, Ran) {
        let handed = self.shared.handoff.as_ref().and_then(|h| h.take(&job.body));
        self.runner
            .run(
                handed,
                &job.body,
                &job.key,
                job.attempts + 1,
                self.options.handler_timeout,
            )
            .await
    }
}

/// Free slots for the next lease: waits until half a batch of them (rounded up) is free, then
/// takes every free one up to a full batch. `None` once the slots are closed.
///
/// A job holds its slot until its outcome is recorded, so under load slots come free a few at a
/// time; leasing as soon as one did would lease jobs by ones and twos (measured: 2.3 jobs per
/// lease at 40 000 deliveries per second), each lease a store round trip and each a settle batch
/// of its own. While fewer than half a batch are free, more than `concurrency + batch / 2` jobs
/// are leased and unsettled, so the runners are not left waiting for work.
async fn take_slots(slots: &Arc<Semaphore>, batch: usize) -> Option<OwnedSemaphorePermit> {
    let first = u32::try_from(batch.div_ceil(2)).unwrap_or(u32::MAX);
    let mut taken = Arc::clone(slots).acquire_many_owned(first).await.ok()?;
    let more = batch
        .saturating_sub(taken.num_permits())
        .min(slots.available_permits());
    if let Ok(more) = u32::try_from(more)
        && more > 0
        && let Ok(extra) = Arc::clone(slots).try_acquire_many_owned(more)
    {
        taken.merge(extra);
    }
    Some(taken)
}

/// Records finished runs in batches. A batch the store refuses is tried again with back-off
/// for as long as the engine runs: its slots stay taken meanwhile, so the fetcher leases
/// nothing new (and if the process stops first, the leases run out and the jobs run again).
async fn settler(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    batch: usize,
    mut finished: mpsc::UnboundedReceiver<Finished>,
    max_attempts: u32,
) {
    let mut waiting = Vec::with_capacity(batch);
    while finished.recv_many(&mut waiting, batch).await > 0 {
        let mut backoff = BACKOFF_MIN;
        let applied = loop {
            // Copied for the store, which takes them; the originals are logged once recorded.
            let settlements: Vec<Settlement> =
                waiting.iter().map(|f| f.settlement.clone()).collect();
            match store.settle(settlements).await {
                Ok(applied) => break applied,
                Err(error) => {
                    tracing::error!(error = %error.report(), jobs = waiting.len(), retry_in = ?backoff, "could not record the outcome of deliveries");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        };
        // The batch's slots are freed together, one change to the semaphore instead of one per
        // job. A store answering for fewer jobs than it was given recorded none of the rest.
        let settled = waiting.len();
        let mut freed: Option<OwnedSemaphorePermit> = None;
        let applied = applied.into_iter().chain(std::iter::repeat(false));
        for (done, applied) in waiting.drain(..).zip(applied) {
            record(&shared.counters, &done, applied, max_attempts);
            match &mut freed {
                Some(freed) => freed.merge(done.slot),
                None => freed = Some(done.slot),
            }
        }
        drop(freed);
        shared.unsettled.fetch_sub(settled, Ordering::AcqRel);
    }
}

/// Counters move, and retries and dead letters are logged, once the store recorded them.
fn record(counters: &Counters, done: &Finished, applied: bool, max_attempts: u32) {
    let key = &done.settlement.key;
    let (category, kind) = done
        .name
        .as_ref()
        .map_or(("", ""), |name| (name.category(), name.kind()));
    if !applied {
        tracing::warn!(%key, "the lease of a delivery moved on before its outcome was recorded; another worker has it");
        return;
    }
    match &done.settlement.resolution {
        Resolution::Completed => crate::meter::job("completed"),
        Resolution::Retry { after, error } => {
            crate::meter::job("retried");
            Counters::bump(&counters.retried);
            tracing::warn!(%category, %kind, %key, attempts = done.attempts, max_attempts, retry_in = ?after, %error, "delivery will be retried");
        }
        Resolution::Dead { error } => {
            crate::meter::job("dead");
            Counters::bump(&counters.dead_lettered);
            tracing::error!(%category, %kind, %key, attempts = done.attempts, %error, "delivery moved to the dead letters");
        }
        Resolution::Released => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::MemoryStore;
    use crate::dispatch::Dispatched;

    /// A table whose handler keeps 16 KiB across an await, as a handler holding a large
    /// payload or buffer does.
    struct Large;

    impl Dispatch for Large {
        async fn dispatch(&self, event: Event) -> Dispatched {
            let buffer = std::hint::black_box([0_u8; 16 * 1024]);
            tokio::task::yield_now().await;
            drop(event);
            std::hint::black_box(&buffer);
            Dispatched::NoHandler
        }
    }

    /// Records the events it is given.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<Event>>);

    impl Dispatch for Recorder {
        async fn dispatch(&self, event: Event) -> Dispatched {
            self.0.lock().expect("not poisoned").push(event);
            Dispatched::Handled { handler: "record" }
        }
    }

    fn engine(private: bool, table: &Arc<Recorder>) -> Engine {
        Engine::start(
            Role::Both,
            Backing {
                store: Arc::new(MemoryStore::new()),
                private,
                ephemeral: false,
            },
            QueueOptions::default(),
            Runner::new(Arc::clone(table), Arc::default(), None),
        )
        .expect("workers start")
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    /// An event the pipeline parsed from `body` (here deliberately another one, to see which the
    /// handler gets): a store only this process reads hands it to the worker; a shared one
    /// (whose jobs other processes may run) lets the worker parse the stored body.
    #[test]
    fn a_private_store_hands_the_parsed_event_to_its_worker_and_a_shared_one_does_not() {
        let (body, other) = super::super::handoff::tests::bodies();
        let stored = crate::parse::parse(&body).expect("parses");
        let handed = crate::parse::parse(&other).expect("parses");
        assert_ne!(stored, handed);
        for private in [true, false] {
            let table = Arc::new(Recorder::default());
            let engine = engine(private, &table);
            block_on(async {
                let accepted = engine.accept("k".to_owned(), &body, handed.clone()).await;
                assert!(matches!(accepted, Accepted::Stored));
                assert!(matches!(
                    engine.wait_idle(Duration::from_secs(10)).await,
                    Ok(true)
                ));
            });
            let expected = if private { &handed } else { &stored };
            assert_eq!(
                table.0.lock().expect("not poisoned").as_slice(),
                std::slice::from_ref(expected)
            );
            let kept = engine.shared.handoff.as_ref().map(Handoff::len);
            assert_eq!(kept, private.then_some(0), "nothing left behind");
        }
    }

    /// A delivery that is not stored takes its event back: a duplicate's (another body under a
    /// stored key) would otherwise stay until the bound.
    #[test]
    fn an_event_whose_delivery_was_not_stored_is_not_kept() {
        let table = Arc::new(Recorder::default());
        let engine = engine(true, &table);
        let (first, again) = super::super::handoff::tests::bodies();
        block_on(async {
            let event = crate::parse::parse(&first).expect("parses");
            let accepted = engine.accept("k".to_owned(), &first, event).await;
            assert!(matches!(accepted, Accepted::Stored));
            assert!(matches!(
                engine.wait_idle(Duration::from_secs(10)).await,
                Ok(true)
            ));
            let event = crate::parse::parse(&again).expect("parses");
            let accepted = engine.accept("k".to_owned(), &again, event).await;
            assert!(matches!(accepted, Accepted::Duplicate));
        });
        let kept = engine.shared.handoff.as_ref().map(Handoff::len);
        assert_eq!(kept, Some(0));
        assert_eq!(table.0.lock().expect("not poisoned").len(), 1);
    }

    /// A run must not embed the table's future (whose size is the largest handler's), or every
    /// job would copy it in and out of the runner's task.
    #[test]
    fn a_run_task_does_not_embed_the_tables_future() {
        let (worker, _finished) = Worker::new(
            Arc::new(MemoryStore::new()),
            Runner::new(Arc::new(Large), Arc::default(), None),
            QueueOptions::default(),
            None,
        );
        let slots = Arc::new(Semaphore::new(1));
        let slot = slots.try_acquire_owned().expect("a free slot");
        let job = Job {
            key: "k".to_owned(),
            body: b"{}".to_vec(),
            attempts: 0,
            lease: 1,
        };
        let run = worker.run(job, slot);
        let size = std::mem::size_of_val(&run);
        assert!(size < 2048, "the run future is {size} bytes");
    }
}
