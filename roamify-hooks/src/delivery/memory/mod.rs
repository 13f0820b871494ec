//! The in-memory store of the queued mode: the store (here) and what it holds (`state`).

mod state;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dedupe::DEFAULT_DEDUPE_CAPACITY;
use super::filter::Filter;
use super::history::{Delivery, HistoryPage, Page};
use super::store::{
    Admin, DeadLetter, Enqueued, Incoming, Job, Queue, Settlement, StoreCounts, StoreFuture,
    StoreLimits,
};
pub(super) use state::State;
#[cfg(feature = "durable")]
pub(super) use state::fingerprint;

/// The default number of dead letters a [`MemoryStore`] keeps: 10 000.
pub const DEFAULT_DEAD_LETTER_CAPACITY: usize = 10_000;

/// Deliveries in memory: fast, bounded, and lost when the process exits (dead letters
/// included: replaying after a deploy needs a durable store).
///
/// Memory is bounded by three numbers: the queue's capacity ([`StoreLimits::capacity`]; a full
/// queue answers [`Enqueued::Full`], so the delivery is refused with 503 and Roamify retries);
/// the deduplication index ([`DEFAULT_DEDUPE_CAPACITY`] keys by default; at the bound the oldest
/// key is forgotten before its window ends); and the dead letters
/// ([`DEFAULT_DEAD_LETTER_CAPACITY`] by default; at the bound the oldest dead letter is dropped
/// and logged at ERROR with its key). Ordering marks ([`crate::ordering`]) are bounded by
/// [`DEFAULT_MARKS`](crate::ordering::DEFAULT_MARKS) streams, and the delivery history by [`StoreLimits::history`].
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Options of [`MemoryStore::with_options`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MemoryOptions {
    /// The dedupe window and the capacity.
    pub limits: StoreLimits,
    /// Keys remembered for deduplication at most (at the bound the oldest is forgotten before
    /// its window ends). Default [`DEFAULT_DEDUPE_CAPACITY`].
    pub dedupe_keys: Option<usize>,
    /// Dead letters kept at most (at the bound the oldest is dropped, logged at ERROR). Default
    /// [`DEFAULT_DEAD_LETTER_CAPACITY`].
    pub dead_letters: Option<usize>,
}

impl MemoryOptions {
    /// Sets [`MemoryOptions::limits`].
    #[must_use]
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`MemoryOptions::dedupe_keys`] (at least 1).
    #[must_use]
    pub fn dedupe_keys(mut self, keys: usize) -> Self {
        self.dedupe_keys = Some(keys.max(1));
        self
    }

    /// Sets [`MemoryOptions::dead_letters`] (at least 1).
    #[must_use]
    pub fn dead_letters(mut self, dead_letters: usize) -> Self {
        self.dead_letters = Some(dead_letters.max(1));
        self
    }
}

impl MemoryStore {
    /// An empty store with the default limits and bounds.
    #[must_use]
    pub fn new() -> Self {
        Self::with_options(MemoryOptions::default())
    }

    /// An empty store with `options`.
    #[must_use]
    pub fn with_options(options: MemoryOptions) -> Self {
        Self {
            state: Mutex::new(State::new(
                options.limits,
                options.dedupe_keys.unwrap_or(DEFAULT_DEDUPE_CAPACITY),
                options.dead_letters.unwrap_or(DEFAULT_DEAD_LETTER_CAPACITY),
            )),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
    {
        // A panic while the lock was held cannot leave the state half-changed in a way that
        // matters more than losing the process would: keep serving.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Box::pin(std::future::ready(Ok(f(&mut state))))
    }
}

impl Queue for MemoryStore {
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued> {
        self.with(|s| s.enqueue(delivery, Instant::now()))
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        self.with(|s| s.lease(max, visibility, Instant::now()))
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        self.with(|s| batch.iter().map(|one| s.settle(one)).collect())
    }

    fn limits(&self) -> StoreLimits {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .limits
    }
}

impl Admin for MemoryStore {
    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.with(|s| s.counts(Instant::now()))
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.with(|s| s.dead.iter().cloned().collect())
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.with(|s| s.replay(&key))
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.with(|s| s.discard(&key))
    }

    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        self.with(|s| s.history.search(&filter, page))
    }

    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        self.with(|s| s.history.get(&key))
    }

    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        self.with(|s| s.pauses.pause(kind))
    }

    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        self.with(|s| s.resume(&kind))
    }

    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        self.with(|s| s.pauses.paused())
    }
}
