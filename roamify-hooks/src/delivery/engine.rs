//! The workers of the queued and durable modes: lease, parse, dispatch with a timeout, then
//! complete, retry with backoff, or dead-letter.
//!
//! Workers run on a Tokio runtime the receiver owns (its own threads), so they do not depend on
//! the web framework's executor and keep running whatever the HTTP side does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::store::{DeadLetter, Enqueued, Job, Store, StoreError};
use super::{Counters, QueueOptions};
use crate::dispatch::{Dispatch, Dispatched};
use crate::receiver::{Handled, OnHandled};

/// How long an idle worker waits before looking for retries that came due.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// The queue side of a receiver.
pub(crate) struct Engine {
    store: Arc<dyn Store>,
    options: QueueOptions,
    window: Duration,
    wake: Arc<Notify>,
    closed: Arc<AtomicBool>,
    counters: Arc<Counters>,
    runtime: std::sync::Mutex<Option<tokio::runtime::Runtime>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What accepting one delivery did.
pub(crate) enum Accepted {
    Stored,
    Duplicate,
    Full,
    Unavailable(StoreError),
}

struct Worker<D> {
    store: Arc<dyn Store>,
    table: Arc<D>,
    options: QueueOptions,
    counters: Arc<Counters>,
    wake: Arc<Notify>,
    closed: Arc<AtomicBool>,
    on_handled: Option<OnHandled>,
}

impl Engine {
    pub(crate) fn start<D: Dispatch>(
        store: Arc<dyn Store>,
        options: QueueOptions,
        window: Duration,
        table: Arc<D>,
        counters: Arc<Counters>,
        on_handled: Option<OnHandled>,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(
                options
                    .concurrency
                    .min(std::thread::available_parallelism().map_or(1, usize::from))
                    .max(1),
            )
            .thread_name("roamify-worker")
            .enable_time()
            .build()?;
        let wake = Arc::new(Notify::new());
        let closed = Arc::new(AtomicBool::new(false));
        let worker = Arc::new(Worker {
            store: Arc::clone(&store),
            table,
            options: options.clone(),
            counters: Arc::clone(&counters),
            wake: Arc::clone(&wake),
            closed: Arc::clone(&closed),
            on_handled,
        });
        for _ in 0..options.concurrency {
            runtime.spawn(Arc::clone(&worker).run());
        }
        Ok(Self {
            store,
            options,
            window,
            wake,
            closed,
            counters,
            runtime: std::sync::Mutex::new(Some(runtime)),
        })
    }

    /// Stores a verified delivery; the caller acknowledges it only on `Stored` or `Duplicate`.
    pub(crate) async fn accept(&self, key: String, body: &[u8]) -> Accepted {
        if self.closed.load(Ordering::Acquire) {
            return Accepted::Unavailable(StoreError("shutting down".to_owned()));
        }
        match self
            .store
            .enqueue(key, body.to_vec(), self.window, self.options.capacity)
            .await
        {
            Ok(Enqueued::Stored) => {
                self.wake.notify_one();
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

    pub(crate) async fn replay(&self, key: &str) -> Result<bool, StoreError> {
        let replayed = self.store.replay(key.to_owned()).await?;
        if replayed {
            self.wake.notify_one();
        }
        Ok(replayed)
    }

    pub(crate) async fn pending(&self) -> Result<usize, StoreError> {
        self.store.pending().await
    }

    /// Stops accepting, lets running handlers finish for up to `grace`, then stops the workers.
    /// Returns how many deliveries were still pending (kept by a durable store, lost by memory).
    pub(crate) fn shutdown(&self, grace: Duration) -> usize {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_waiters();
        let Some(runtime) = self.runtime.lock().ok().and_then(|mut r| r.take()) else {
            return 0;
        };
        let store = Arc::clone(&self.store);
        let counters = Arc::clone(&self.counters);
        // On a thread of its own, so a caller inside another runtime (an `async fn main`) can
        // call this without nesting runtimes.
        let waiter = std::thread::spawn(move || {
            // Workers take nothing new once closed; wait for the running handlers, then count
            // what is left.
            let pending = runtime.block_on(async move {
                let deadline = tokio::time::Instant::now() + grace;
                while counters.in_flight.load(Ordering::Acquire) > 0
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                store.pending().await.unwrap_or(0)
            });
            runtime.shutdown_timeout(grace);
            pending
        });
        waiter.join().unwrap_or(0)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        if let Some(runtime) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            runtime.shutdown_background();
        }
    }
}

impl<D: Dispatch> Worker<D> {
    async fn run(self: Arc<Self>) {
        while !self.closed.load(Ordering::Acquire) {
            let jobs = match self.store.lease(1, self.options.visibility_timeout).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, "could not lease deliveries; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if jobs.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                continue;
            }
            for job in jobs {
                self.process(job).await;
            }
        }
    }

    async fn process(&self, job: Job) {
        Counters::bump(&self.counters.in_flight);
        let result = self.attempt(&job).await;
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        // Counters move once the store has recorded the outcome, so what they say can be read
        // back from the store.
        let (stored, counter) = match result {
            Ok(()) => (self.store.complete(&job).await, None),
            Err(Failure::Permanent(error)) => {
                tracing::warn!(key = %job.key, %error, "delivery cannot be handled; moved to the dead letters");
                (
                    self.store.fail(&job, error, None).await,
                    Some(&self.counters.dead_lettered),
                )
            }
            Err(Failure::Transient(error)) => {
                let attempts = job.attempts + 1;
                if attempts >= self.options.retry.max_attempts {
                    tracing::warn!(key = %job.key, attempts, %error, stats = %self.counters.snapshot(), "handler failed on every attempt; moved to the dead letters");
                    (
                        self.store.fail(&job, error, None).await,
                        Some(&self.counters.dead_lettered),
                    )
                } else {
                    let delay = self.options.retry.delay(attempts);
                    tracing::info!(key = %job.key, attempts, ?delay, %error, "handler failed; retrying");
                    (
                        self.store.fail(&job, error, Some(delay)).await,
                        Some(&self.counters.retried),
                    )
                }
            }
        };
        if let (Ok(()), Some(counter)) = (&stored, counter) {
            Counters::bump(counter);
        }
        if let Err(error) = stored {
            // The lease runs out and the delivery is handed out again: at least once.
            tracing::error!(key = %job.key, %error, "could not record the outcome of a delivery");
        }
    }

    async fn attempt(&self, job: &Job) -> Result<(), Failure> {
        let event =
            crate::parse::parse(&job.body).map_err(|e| Failure::Permanent(e.to_string()))?;
        let name = crate::receiver::EventName::of(&event);
        let dispatched =
            tokio::time::timeout(self.options.handler_timeout, self.table.dispatch(event)).await;
        match dispatched {
            Ok(Dispatched::Handled { handler }) => {
                Counters::bump(&self.counters.handled);
                if let Some(hook) = &self.on_handled {
                    hook(&Handled {
                        key: &job.key,
                        event: &name,
                        handler,
                    });
                }
                Ok(())
            }
            Ok(Dispatched::NoHandler) => Ok(()),
            Ok(Dispatched::Invalid(error)) => Err(Failure::Permanent(error.to_string())),
            Ok(Dispatched::Failed(error)) => Err(Failure::Transient(error.report())),
            Err(_) => Err(Failure::Transient(format!(
                "handler timed out after {:?}",
                self.options.handler_timeout
            ))),
        }
    }
}

enum Failure {
    /// Retrying cannot help (the payload does not fit).
    Permanent(String),
    Transient(String),
}
