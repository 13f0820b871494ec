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
use super::filter::Described;
use super::handoff::Handoff;
use super::store::{DeadLetter, Enqueued, Incoming, Job, Settlement, Store, StoreCounts};
use super::{QueueOptions, Role};
use crate::catalog::{Event, EventName};
use crate::dispatch::Dispatch;
use crate::health::{NotReady, READINESS_CACHE, STORE_CHECK_TIMEOUT};
use crate::run::Runner;
use crate::stats::Counters;

mod operated;
mod worker;

use worker::{Worker, settler};

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
    /// Whether the store keeps a history: then each delivery's eSIM goes with it.
    history: bool,
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
            history: store.limits().history.is_on(),
            store,
            ephemeral,
            options,
            shared,
            runtime: std::sync::Mutex::new(Some(runtime)),
            readiness: std::sync::Mutex::new(None),
        })
    }

    /// Stores a verified delivery, parsed as `event`, at its place in its stream (`order`); the
    /// caller acknowledges it only on `Stored` or `Duplicate`.
    pub(crate) async fn accept(
        &self,
        key: String,
        body: &[u8],
        event: Event,
        order: Option<crate::ordering::Order>,
    ) -> Accepted {
        if self.role == Role::WorkerOnly {
            return Accepted::WorkerOnly;
        }
        if self.shared.refusing.load(Ordering::Acquire)
            || self.shared.closed.load(Ordering::Acquire)
        {
            return Accepted::ShuttingDown;
        }
        // Its names (the lease skips a paused kind) and eSIM (for the history).
        let name = EventName::of(&event);
        let about = Described {
            category: name.category().to_owned(),
            kind: name.kind().to_owned(),
            iccid: if self.history {
                event.iccid().map(str::to_owned)
            } else {
                None
            },
        };
        // Left before the delivery is stored: a worker may lease it at once. Taken back unless
        // it was stored (also when this future is dropped while the store works).
        let offered = self
            .shared
            .handoff
            .as_ref()
            .map(|handoff| handoff.offer(body, event));
        let delivery = Incoming::new(key, body.to_vec())
            .ordered(order)
            .about(about);
        let enqueued = self.store.enqueue(delivery).await;
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
        operated::replay(&*self.store, &self.shared, key.to_owned()).await
    }

    #[cfg(feature = "admin")]
    /// The store for operators: what [`Admin`] offers, a replay waking the workers.
    pub(crate) fn operated(&self) -> Arc<dyn super::store::Admin> {
        Arc::new(operated::Operated {
            store: Arc::clone(&self.store),
            shared: Arc::clone(&self.shared),
        })
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

#[cfg(test)]
mod tests;
