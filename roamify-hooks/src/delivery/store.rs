//! Where queued deliveries wait: the [`Store`] trait, with leases, fencing and batches.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::error::StoreError;
use crate::time::UnixTime;

/// What store operations return.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The result of [`Store::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enqueued {
    /// Stored: acknowledge it.
    Stored,
    /// The key was enqueued within the window: acknowledge it, run nothing.
    Duplicate,
    /// The store holds `capacity` pending deliveries: answer 503.
    Full,
}

/// A leased delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its idempotency key.
    pub key: String,
    /// The verified body, exactly as received.
    pub body: Vec<u8>,
    /// Runs before this one.
    pub attempts: u32,
    /// The lease token (fencing): settling a job whose lease has moved on does nothing.
    pub lease: u64,
}

/// What became of one leased job, for [`Store::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The job's key.
    pub key: String,
    /// The lease it was run under.
    pub lease: u64,
    /// What to record.
    pub resolution: Resolution,
}

impl Settlement {
    /// Settles `job` (under its current lease) with `resolution`.
    #[must_use]
    pub fn new(job: &Job, resolution: Resolution) -> Self {
        Self {
            key: job.key.clone(),
            lease: job.lease,
            resolution,
        }
    }
}

/// How a job's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The handler succeeded: never run it again (its key stays known for the window).
    Completed,
    /// The handler failed: count the attempt and run it again after `after`.
    Retry {
        /// The delay before the job is due again.
        after: Duration,
        /// The failure, kept as the job's last error.
        error: String,
    },
    /// The handler failed for good: count the attempt and move the job to the dead letters.
    Dead {
        /// The failure, kept with the dead letter.
        error: String,
    },
    /// The job was not run (the receiver is shutting down): due again now, the attempt not
    /// counted, so another worker or the next start takes it without waiting for the visibility
    /// timeout.
    Released,
}

/// A delivery whose handler failed every allowed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its idempotency key (pass it to `replay`).
    pub key: String,
    /// The verified body.
    pub body: Vec<u8>,
    /// Runs made.
    pub attempts: u32,
    /// The last failure.
    pub error: String,
    /// When it was given up.
    pub dead_at: UnixTime,
}

/// A place for queued deliveries, with leases, visibility timeouts and fencing.
///
/// A store keeps verified bodies by idempotency key. Workers *lease* due deliveries in batches;
/// a lease hides a delivery from other workers until it is settled or its visibility timeout
/// passes (its worker died), when any worker may take it again under a new lease token.
/// Settling under a lease that has moved on does nothing, so a slow worker presumed dead cannot
/// record the outcome of a job another worker re-took.
///
/// What every store promises (the conformance tests check each built-in store):
/// - [`enqueue`](Store::enqueue) is atomic: the dedupe mark, the capacity check and the stored
///   body happen together or not at all, and [`Enqueued::Stored`] is returned only once the
///   delivery survives what the store promises to survive.
/// - A key stays known for the dedupe window after it was enqueued, whatever became of its job.
/// - Retries come due after their delay; dead letters keep body, attempts, last error and time;
///   replay moves one back with its attempts reset.
///
/// - Dead letters stay until replayed or discarded; [`discard`](Store::discard) forgets the
///   body, not the key, which stays known until its dedupe window ends.
///
/// The trait speaks only of keys, bytes and durations, so stores shared by several receivers
/// fit it. Built-in: [`MemoryStore`](super::MemoryStore) and, with their features,
/// `SqliteStore` and `JournalStore` (`durable`), `PgStore` and `RedisStore`.
pub trait Store: Send + Sync + 'static {
    /// Adds a verified delivery, unless `key` was enqueued within `window` (then
    /// [`Enqueued::Duplicate`]) or `capacity` deliveries are pending ([`Enqueued::Full`]).
    fn enqueue(
        &self,
        key: String,
        body: Vec<u8>,
        window: Duration,
        capacity: usize,
    ) -> StoreFuture<'_, Enqueued>;

    /// Leases up to `max` due deliveries (new, retries come due, or leases whose visibility
    /// timeout passed) for `visibility`, each under a fresh lease token.
    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>>;

    /// Records the outcome of several runs at once. Returns, in order, whether each was
    /// recorded: `false` when its lease had moved on (the job was re-taken, or settled already).
    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>>;

    /// The dead letters, oldest first.
    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>>;

    /// Moves a dead letter back to the queue with its attempts reset; `false` if no dead letter
    /// has that key.
    fn replay(&self, key: String) -> StoreFuture<'_, bool>;

    /// Deliveries waiting or leased.
    fn pending(&self) -> StoreFuture<'_, usize>;

    /// What the store holds, by state, read from the store itself (so it is right after a
    /// restart, and across every receiver sharing the store).
    fn counts(&self) -> StoreFuture<'_, StoreCounts>;

    /// Deletes a dead letter; `false` if no dead letter has that key. Its key stays known until
    /// its dedupe window ends, so a late redelivery is still acknowledged as a duplicate.
    fn discard(&self, key: String) -> StoreFuture<'_, bool>;

    /// Replays every dead letter; returns how many went back to the queue.
    fn replay_all(&self) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let mut replayed = 0;
            for dead in self.dead_letters().await? {
                replayed += usize::from(self.replay(dead.key).await?);
            }
            Ok(replayed)
        })
    }

    /// Discards every dead letter; returns how many were deleted.
    fn discard_all(&self) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let mut discarded = 0;
            for dead in self.dead_letters().await? {
                discarded += usize::from(self.discard(dead.key).await?);
            }
            Ok(discarded)
        })
    }
}

/// What a store holds, by state: see [`Store::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreCounts {
    /// Due now, waiting for a worker.
    pub ready: usize,
    /// Leased by a worker (running, or held by a worker that died, until its visibility
    /// timeout passes).
    pub leased: usize,
    /// Failed, waiting for their retry delay.
    pub retrying: usize,
    /// Dead letters, kept until replayed or discarded.
    pub dead: usize,
}

impl StoreCounts {
    /// Deliveries not finished: ready, leased or retrying (what the queue capacity counts).
    #[must_use]
    pub fn pending(&self) -> usize {
        self.ready + self.leased + self.retrying
    }
}

impl std::fmt::Display for StoreCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pending={} (ready={} leased={} retrying={}) dead={}",
            self.pending(),
            self.ready,
            self.leased,
            self.retrying,
            self.dead
        )
    }
}
