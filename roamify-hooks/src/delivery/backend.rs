//! What store crates share: the runtime a network store owns, the pacing of purges, the clock.
//!
//! `roamify-hooks-postgres` and `roamify-hooks-redis` are built on these; a store of your own
//! may use them too.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};

use super::StoreError;
use super::store::StoreFuture;

/// The Tokio runtime a network store owns: one worker thread.
///
/// Every operation of such a store runs as a task on this runtime, so the store can be called
/// from any executor (actix's single-threaded workers, the receiver's workers, a test's) and its
/// connections — whose driver tasks live here — never depend on another runtime staying alive.
/// Dropping it stops every task of the store (its connections, its heartbeat) at once, without
/// blocking.
#[derive(Debug)]
pub struct StoreRuntime(Option<tokio::runtime::Runtime>);

impl StoreRuntime {
    /// One worker thread named `thread_name`: a network store waits on I/O, it does not compute.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(thread_name: &'static str) -> Result<Self, StoreError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
            .map_err(|e| StoreError::backend("start the store's runtime", e))
    }

    /// Runs `work` on the runtime; `what` names the operation if its task fails.
    pub fn run<T, Fut>(&self, what: &'static str, work: Fut) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let Some(runtime) = &self.0 else {
            return Box::pin(std::future::ready(Err(StoreError::Closed)));
        };
        let task = runtime.spawn(work);
        Box::pin(async move { task.await.map_err(|e| StoreError::backend(what, e))? })
    }

    /// Spawns a task that runs until the runtime is dropped (a heartbeat, say); its end is not
    /// awaited. Does nothing once the runtime is stopped.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.0 {
            drop(runtime.spawn(work));
        }
    }
}

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks; a store may be dropped inside async code.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Rows deleted per purge pass, at most.
pub const PURGE_BATCH: i64 = 1000;
/// The pause after a pass that found less than a full batch, in milliseconds.
const PURGE_EVERY_MS: i64 = 1000;

/// When a store deletes what it no longer needs (finished rows, expired dedupe keys): in
/// bounded batches of [`PURGE_BATCH`], again at once while batches come back full, otherwise
/// once a second. Shared by the threads or tasks of one store.
#[derive(Debug, Default)]
pub struct PurgePacer {
    /// When the next pass may run, in milliseconds since the Unix epoch.
    next: AtomicI64,
}

impl PurgePacer {
    /// Whether a pass is due at `now` (milliseconds since the Unix epoch).
    pub fn due(&self, now: i64) -> bool {
        now >= self.next.load(Ordering::Relaxed)
    }

    /// Records a pass at `now` that deleted `purged` rows: a full batch means more is waiting,
    /// so the next pass may run at once.
    pub fn ran(&self, now: i64, purged: u64) {
        let full = i64::try_from(purged).unwrap_or(i64::MAX) >= PURGE_BATCH;
        let next = if full { now } else { now + PURGE_EVERY_MS };
        self.next.store(next, Ordering::Relaxed);
    }
}

/// Calls `beat` every `every` until the task is dropped (with the runtime that runs it): the
/// heartbeat of a network store, which records that its holder is alive and takes back the
/// leases of holders that are gone. `beat` returns how many deliveries it took back, logged at
/// WARN; its failures are logged at WARN and the next beat is tried as usual. `backend` names
/// the server in the lines (`PostgreSQL`, `Redis`).
pub async fn keep_beating<F, Fut>(every: std::time::Duration, backend: &'static str, mut beat: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the store beat once when it connected.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match beat().await {
            Ok(0) => {}
            Ok(taken) => tracing::warn!(
                target: crate::logs::TARGET,
                deliveries = taken,
                backend,
                "took back the leases of a receiver that stopped beating: due again now"
            ),
            Err(error) => tracing::warn!(
                target: crate::logs::TARGET,
                error = %error.report(),
                backend,
                "could not record this receiver's heartbeat"
            ),
        }
    }
}

/// Milliseconds since the Unix epoch (0 before it), for stores that keep times as numbers.
#[must_use]
pub fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
