//! Where queued deliveries wait: the [`Store`] trait, with leases and visibility timeouts.
//!
//! A store keeps verified bodies by idempotency key. Workers *lease* due deliveries; a lease
//! hides a delivery from other workers until it is completed, failed, or its visibility
//! timeout passes (its worker died), when it is handed out again. The trait speaks only of keys,
//! bytes and durations, so a store shared by several receivers (Redis Streams with consumer
//! groups: `XADD`/`XREADGROUP`/`XACK`/`XAUTOCLAIM`, a `SET NX EX` key for deduplication) fits it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::time::UnixTime;

/// What store operations return.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store failed; the delivery is answered 503 (Roamify retries) or the worker tries again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery store: {0}")]
pub struct StoreError(pub String);

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
    /// The lease token; completing or failing a job whose lease has moved on does nothing.
    pub lease: u64,
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

/// A place for queued deliveries, with leases and visibility timeouts.
///
/// A store keeps verified bodies by idempotency key. Workers *lease* due deliveries; a lease
/// hides a delivery from other workers until it is completed, failed, or its visibility timeout
/// passes (its worker died), when it is handed out again. The trait speaks only of keys, bytes
/// and durations, so a store shared by several receivers fits it — Redis Streams with a
/// consumer group (`XADD` / `XREADGROUP` / `XACK`, `XAUTOCLAIM` for expired leases, a
/// `SET NX EX` key per delivery for deduplication). Built-in: [`MemoryStore`](super::MemoryStore)
/// and, with the `durable` feature, `SqliteStore`.
pub trait Store: Send + Sync + 'static {
    /// Adds a verified delivery, unless `key` was enqueued within `window` (then
    /// [`Enqueued::Duplicate`]) or `capacity` deliveries are pending ([`Enqueued::Full`]).
    /// When it returns [`Enqueued::Stored`] the delivery must survive what the store promises
    /// to survive (for a durable store: a crash).
    fn enqueue(
        &self,
        key: String,
        body: Vec<u8>,
        window: Duration,
        capacity: usize,
    ) -> StoreFuture<'_, Enqueued>;

    /// Leases up to `max` due deliveries for `visibility`.
    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>>;

    /// The job's handler succeeded: never run it again (its key stays known for the window).
    fn complete(&self, job: &Job) -> StoreFuture<'_, ()>;

    /// The job's handler failed: run it again after `retry_after`, or, when `None`, move it to
    /// the dead letters with `error`.
    fn fail(&self, job: &Job, error: String, retry_after: Option<Duration>) -> StoreFuture<'_, ()>;

    /// The dead letters, oldest first.
    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>>;

    /// Moves a dead letter back to the queue with its attempts reset; `false` if no dead letter
    /// has that key.
    fn replay(&self, key: String) -> StoreFuture<'_, bool>;

    /// Deliveries waiting or leased.
    fn pending(&self) -> StoreFuture<'_, usize>;
}
