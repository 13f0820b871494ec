//! The fetcher, the runners and the settler of one engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Mutex, Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use super::{BACKOFF_MAX, BACKOFF_MIN, Finished, GATHER, IDLE_POLL, Leased, Shared};
use crate::catalog::EventName;
use crate::delivery::QueueOptions;
use crate::delivery::handoff::Handoff;
use crate::delivery::store::{Job, Resolution, Settlement, Store};
use crate::dispatch::Dispatch;
use crate::run::{Ran, Runner};
use crate::stats::Counters;

pub(super) struct Worker<D> {
    store: Arc<dyn Store>,
    runner: Runner<D>,
    options: QueueOptions,
    pub(super) shared: Arc<Shared>,
    settle: mpsc::UnboundedSender<Finished>,
}

impl<D: Dispatch> Worker<D> {
    /// A worker running `table`'s handlers, with the state it shares with the engine; finished
    /// runs arrive on the receiver returned beside it (for the settler).
    pub(super) fn new(
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
    pub(super) async fn fetch(
        self: Arc<Self>,
        slots: Arc<Semaphore>,
        queue: mpsc::UnboundedSender<Leased>,
    ) {
        let mut backoff = BACKOFF_MIN;
        #[cfg(feature = "metrics")]
        let mut sampled: Option<std::time::Instant> = None;
        while !self.shared.closed.load(Ordering::Acquire) {
            #[cfg(feature = "metrics")]
            if sampled.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1)) {
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
    pub(super) async fn runner(
        self: Arc<Self>,
        leased: Arc<Mutex<mpsc::UnboundedReceiver<Leased>>>,
    ) {
        loop {
            // The lock is held only while waiting for the next job, not while running it.
            let next = leased.lock().await.recv().await;
            let Some((job, slot)) = next else {
                return;
            };
            self.run(job, slot).await;
        }
    }

    pub(super) async fn run(&self, job: Job, slot: OwnedSemaphorePermit) {
        let mut name = None;
        let mut ran_at = None;
        let resolution = if self.shared.closed.load(Ordering::Acquire) {
            // Shutting down: hand the job back without running it.
            Resolution::Released
        } else if let (Some(newest), Some(order)) = (job.stale, &job.order) {
            // Judged stale by the lease: never run. Its event, if this process parsed it, is
            // taken out of the handoff for its name.
            let handed = self.shared.handoff.as_ref().and_then(|h| h.take(&job.body));
            name = handed
                .or_else(|| crate::parse::parse(&job.body).ok())
                .map(|event| EventName::of(&event));
            stale(&job.key, order, newest, name.as_ref());
            Resolution::Stale
        } else {
            Counters::bump(&self.shared.counters.in_flight);
            crate::meter::in_flight(true);
            let started = (crate::delivery::now_ms(), std::time::Instant::now());
            let (ran_name, ran) = self.attempt(&job).await;
            ran_at = Some(started);
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
                ran: ran_at.map(|(at_ms, started)| {
                    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    (at_ms, took)
                }),
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
pub(super) async fn settler(
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
        Resolution::Stale => {
            crate::meter::job("stale");
            Counters::bump(&counters.stale);
        }
        Resolution::Released => {}
    }
}

/// Logs a delivery judged stale: its stream, its timestamp and the newer one already started.
fn stale(key: &str, order: &crate::ordering::Order, newest: i64, name: Option<&EventName>) {
    let (category, kind) = name.map_or(("", ""), |name| (name.category(), name.kind()));
    tracing::info!(
        target: crate::logs::TARGET,
        %category,
        %kind,
        %key,
        stream = %order.stream,
        timestamp = order.at,
        newer = newest,
        "stale delivery acknowledged, not run: a newer one of its stream already started"
    );
}
