//! Delivery modes: when the handler runs relative to the answer, and what survives a crash.
//!
//! - [`DeliveryMode::Inline`] (default): the handler runs before the answer; a failure answers
//!   500 so Roamify retries. Nothing is stored.
//! - `DeliveryMode::Queued` (feature `queue`): the verified, parsed delivery is queued in memory
//!   and acknowledged at once; workers run handlers with retries, timeouts and a dead-letter list.
//!   Events still queued when the process dies are lost (Roamify will not retry them), and so
//!   are the dead letters: replaying after a deploy needs the durable mode.
//! - `DeliveryMode::Durable` (feature `durable`): as queued, but the delivery is committed to an
//!   embedded SQLite database, its write-ahead log flushed to disk, before the 200; after a
//!   restart pending events resume. At-least-once: an event whose handler finished but whose
//!   completion was not yet recorded runs again.
//! - `DeliveryMode::Journal` (feature `durable`): the same guarantee, with the deliveries kept in
//!   memory and every change appended to a journal in a directory, flushed before the 200
//!   (`JournalStore`): several times the throughput of SQLite, for one process at a time.
//!
//! Every mode deduplicates: each delivery has an idempotency key ([`idempotency_key`]), and a key
//! seen within the window (24 h by default) is acknowledged without running handlers again.
//!
//! # Bounds
//!
//! Memory stays bounded whatever arrives. Inline mode's deduplication index and the in-memory
//! store's keep at most [`DEFAULT_DEDUPE_CAPACITY`] keys by default (at the bound the oldest key
//! is forgotten early: a redelivery of it would run again); the queue holds at most
//! [`QueueOptions::capacity`] deliveries (one more is answered 503); the in-memory dead letters
//! keep the newest 10 000 (dropping the oldest is logged at ERROR); the workers of a receiver
//! hold at most [`QueueOptions::concurrency`] + [`QueueOptions::batch`] deliveries at once. With
//! the in-memory store and the journal, each stored delivery's parsed event waits for its worker
//! (so the body is not parsed twice), at most [`QueueOptions::capacity`] of them: past that, a
//! worker parses the stored body.
//!
//! # Failures
//!
//! A store that fails answers new deliveries with 503 ([`Outcome::Unavailable`](crate::Outcome)
//! with the [`StoreError`] and its cause); workers back off and retry leasing and recording
//! outcomes until the store is back, so nothing acknowledged is lost. A receiver shutting down
//! answers [`Outcome::ShuttingDown`](crate::Outcome) (503 too), counted apart.

#[cfg(feature = "queue")]
pub mod backend;
mod dedupe;
#[cfg(feature = "queue")]
mod engine;
mod error;
#[cfg(feature = "queue")]
mod filter;
#[cfg(feature = "queue")]
mod handoff;
#[cfg(feature = "queue")]
mod history;
#[cfg(feature = "durable")]
mod journal;
#[cfg(feature = "queue")]
mod memory;
#[cfg(feature = "queue")]
mod pause;
#[cfg(feature = "durable")]
mod sched;
#[cfg(feature = "durable")]
mod sqlite;
#[cfg(feature = "queue")]
mod store;

use std::time::Duration;

use sha2::{Digest, Sha256};

pub use dedupe::DEFAULT_DEDUPE_CAPACITY;
pub(crate) use dedupe::Deduper;
#[cfg(feature = "queue")]
pub(crate) use engine::{Accepted, Backing, Engine};
pub use error::{StoreError, Unavailable};
#[cfg(feature = "queue")]
pub use filter::{Described, Filter, FilterError};
#[cfg(feature = "queue")]
pub(crate) use history::now_ms;
#[cfg(feature = "queue")]
pub use history::{
    Attempt, DEFAULT_HISTORY_AGE, DEFAULT_HISTORY_ENTRIES, Delivery, Fate, HISTORY_ATTEMPTS,
    HistoryLimits, HistoryPage, Page,
};
#[cfg(feature = "durable")]
pub use journal::{
    DEFAULT_DEAD_LETTER_BYTES, DEFAULT_PENDING_BYTES, DEFAULT_SEGMENT_SIZE, JournalDamaged,
    JournalInUse, JournalOptions, JournalStore, JournalView, Salvaged,
};
#[cfg(feature = "queue")]
pub use memory::{DEFAULT_DEAD_LETTER_CAPACITY, MemoryOptions, MemoryStore};
#[cfg(feature = "durable")]
pub use sqlite::{SqliteOptions, SqliteStore, TAKEOVER_EVERY};
#[cfg(feature = "queue")]
pub use store::{
    Admin, DeadLetter, Enqueued, Incoming, Job, Queue, Resolution, Settlement, Store, StoreCounts,
    StoreFuture, StoreLimits,
};

use crate::catalog::Event;

/// The default idempotency window: 24 hours.
pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How deliveries reach their handlers. See the [module docs](self).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum DeliveryMode {
    /// Run the handler before answering.
    #[default]
    Inline,
    /// Acknowledge at once; run handlers from an in-memory queue.
    #[cfg(feature = "queue")]
    Queued(QueueOptions),
    /// Commit to SQLite at `path` before acknowledging; run handlers from it.
    #[cfg(feature = "durable")]
    Durable {
        /// The database file (created if missing).
        path: std::path::PathBuf,
        /// Workers, retries and timeouts.
        options: QueueOptions,
    },
    /// Append to the journal in directory `dir` ([`JournalStore`]) and flush it before
    /// acknowledging; run handlers from memory. The fastest durable mode, for one process.
    #[cfg(feature = "durable")]
    Journal {
        /// The journal's directory (created if missing).
        dir: std::path::PathBuf,
        /// Workers, retries and timeouts.
        options: QueueOptions,
    },
}

/// What a receiver with a queue does: accept deliveries, run handlers, or both. Receivers
/// sharing a store (PostgreSQL) can be split so the two scale separately.
#[cfg(feature = "queue")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Accept and store deliveries, and run their handlers.
    #[default]
    Both,
    /// Accept and store deliveries; run no handlers (other receivers' workers do).
    IngestOnly,
    /// Run handlers of stored deliveries; accept none (each is answered 503, so Roamify retries
    /// it, and a load balancer should not route to this receiver).
    WorkerOnly,
}

/// Workers, capacity, retries and timeouts of the queued and durable modes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueueOptions {
    /// Deliveries waiting at most; one more is answered 503 (Roamify retries). Default 10 000.
    /// The capacity of the store the receiver opens (queued, durable and journal modes); a store
    /// given to `ReceiverBuilder::store` keeps the one it was opened with (`StoreLimits`).
    pub capacity: usize,
    /// Handlers running at once. Default 8.
    pub concurrency: usize,
    /// Deliveries leased, and outcomes recorded, per store round trip, at most. The workers of
    /// one receiver hold at most `concurrency + batch` deliveries at once, and lease again once
    /// at least half a batch of that room is free (so a backlog is leased in groups of half a
    /// batch or more, never job by job). Default 64.
    pub batch: usize,
    /// How often and how soon a failing handler is retried.
    pub retry: RetryPolicy,
    /// A handler running longer fails (and is retried). Default 60 s.
    pub handler_timeout: Duration,
    /// How long a leased delivery stays invisible to other workers before it is handed out
    /// again (a worker that died mid-handler). Default 5 min; keep it above `handler_timeout`.
    pub visibility_timeout: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            concurrency: 8,
            batch: 64,
            retry: RetryPolicy::default(),
            handler_timeout: Duration::from_secs(60),
            visibility_timeout: Duration::from_secs(300),
        }
    }
}

impl QueueOptions {
    /// Sets [`QueueOptions::capacity`].
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Sets [`QueueOptions::concurrency`].
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets [`QueueOptions::batch`].
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Sets [`QueueOptions::retry`].
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`QueueOptions::handler_timeout`].
    #[must_use]
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Sets [`QueueOptions::visibility_timeout`].
    #[must_use]
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }
}

/// Exponential backoff with full jitter: attempt `n` (from 1) waits a random time up to
/// `min(max_delay, base_delay × 2^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Runs at most, the first included; then the delivery goes to the dead letters. Default 8.
    pub max_attempts: u32,
    /// Default 1 s.
    pub base_delay: Duration,
    /// Default 10 min.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` runs with delays from `base_delay` up to `max_delay`.
    #[must_use]
    pub fn new(max_attempts: u32, base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            base_delay,
            max_delay: max_delay.max(base_delay),
        }
    }

    /// The delay before the run following failed run `attempt` (1 for the first run), jittered.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        #[cfg(feature = "queue")]
        {
            ceiling.mul_f64(fastrand::f64())
        }
        #[cfg(not(feature = "queue"))]
        {
            ceiling
        }
    }
}

/// A delivery's idempotency key: the envelope's `event_id` when it has one (refunds), else the
/// lowercase hex SHA-256 of the verified body.
#[must_use]
pub fn idempotency_key(event: &Event, body: &[u8]) -> String {
    key_from(event.event_id(), body)
}

/// [`idempotency_key`] from what it is made of: for a body that did not parse (no `event_id`),
/// or an event that has been handed to its handler.
pub(crate) fn key_from(event_id: Option<&str>, body: &[u8]) -> String {
    match event_id {
        Some(id) => id.to_owned(),
        None => faster_hex::hex_string(&Sha256::digest(body)),
    }
}

/// The in-memory deduplication index's fingerprint of a delivery: the same source as
/// [`idempotency_key`], hashed with xxh3-128 (seeded apart so an `event_id` never meets a body).
pub(crate) fn fingerprint(event: &Event, body: &[u8]) -> u128 {
    match event.event_id() {
        Some(id) => xxhash_rust::xxh3::xxh3_128_with_seed(id.as_bytes(), 1),
        None => xxhash_rust::xxh3::xxh3_128(body),
    }
}
