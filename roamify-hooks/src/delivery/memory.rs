//! The in-memory store of the queued mode.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dedupe::{DEFAULT_DEDUPE_CAPACITY, PrehashedMap, Recent};
use super::filter::Filter;
use super::history::{Delivery, HistoryLog, HistoryPage, Page, now_ms};
use super::store::{
    Admin, DeadLetter, Enqueued, Incoming, Job, Queue, Resolution, Settlement, StoreCounts,
    StoreFuture, StoreLimits,
};
use crate::ordering::{DEFAULT_MARKS, MarkIndex, Order};
use crate::time::UnixTime;

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
/// [`DEFAULT_MARKS`] streams, and the delivery history by [`StoreLimits::history`].
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

/// What a [`MemoryStore`] holds; also the in-memory side of the journal store, which records
/// each change it makes.
#[derive(Debug)]
pub(super) struct State {
    /// Due now, in arrival order.
    pub(super) ready: VecDeque<Job>,
    /// Retries, by the time they come due.
    pub(super) later: BTreeMap<(Instant, u64), Job>,
    /// Leased: lease number → (deadline, job). Keyed by the lease, which is unique and cheap to
    /// hash, rather than by the job's key, which would be copied once more per lease.
    pub(super) leased: PrehashedMap<u64, (Instant, Job)>,
    pub(super) dead: VecDeque<DeadLetter>,
    dead_capacity: usize,
    /// Bytes of the pending deliveries' bodies, and the bound a new one may not cross.
    pending_bytes: usize,
    max_pending_bytes: usize,
    /// Bytes of the dead letters' bodies, and their bound (the oldest dropped to stay within).
    dead_bytes: usize,
    max_dead_bytes: usize,
    /// Keys enqueued, by fingerprint, for deduplication.
    pub(super) seen: Recent,
    /// The newest timestamp leased to run, per ordered stream.
    pub(super) marks: MarkIndex,
    /// Serial streams with a delivery pending (ready, leased or retrying): the deliveries of the
    /// stream that wait behind it, in arrival order.
    pub(super) gates: HashMap<String, VecDeque<Job>>,
    /// Deliveries waiting in `gates`.
    parked: usize,
    next_lease: u64,
    pub(super) limits: StoreLimits,
    /// What became of each delivery (in memory, also for the journal).
    pub(super) history: HistoryLog,
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

pub(super) fn fingerprint(key: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key.as_bytes())
}

impl State {
    /// Empty, with `limits`, remembering at most `dedupe_keys` keys and keeping at most
    /// `dead_letters` dead letters (each at least 1).
    pub(super) fn new(limits: StoreLimits, dedupe_keys: usize, dead_letters: usize) -> Self {
        Self {
            ready: VecDeque::new(),
            later: BTreeMap::new(),
            leased: PrehashedMap::default(),
            dead: VecDeque::new(),
            dead_capacity: dead_letters.max(1),
            pending_bytes: 0,
            max_pending_bytes: usize::MAX,
            dead_bytes: 0,
            max_dead_bytes: usize::MAX,
            seen: Recent::new(dedupe_keys),
            marks: MarkIndex::new(DEFAULT_MARKS),
            gates: HashMap::new(),
            parked: 0,
            next_lease: 0,
            limits,
            history: HistoryLog::new(limits.history),
        }
    }

    /// Bounds the bytes of the pending bodies (a delivery that would cross it is
    /// [`Enqueued::Full`], unless nothing is pending) and of the dead letters' (the oldest
    /// dropped to stay within).
    #[cfg(feature = "durable")]
    pub(super) fn with_byte_bounds(mut self, pending: usize, dead: usize) -> Self {
        self.max_pending_bytes = pending;
        self.max_dead_bytes = dead;
        self
    }

    /// A pending job put back by a recovery.
    #[cfg(feature = "durable")]
    pub(super) fn restore(&mut self, job: Job, due: Option<Instant>) {
        let body = &job.body;
        self.history
            .stored(&job.key, || super::filter::Described::of(body), now_ms());
        self.pending_bytes += job.body.len();
        let Some(job) = self.through_gate(job) else {
            return;
        };
        match due {
            None => self.ready.push_back(job),
            Some(due) => {
                let seq = self.next_lease();
                self.later.insert((due, seq), job);
            }
        }
    }

    pub(super) fn pending(&self) -> usize {
        self.ready.len() + self.later.len() + self.leased.len() + self.parked
    }

    /// How long a mark is kept after it last moved: the dedupe window (24 h when there is none).
    pub(super) fn mark_retention(&self) -> Duration {
        if self.limits.window.is_zero() {
            super::DEFAULT_IDEMPOTENCY_WINDOW
        } else {
            self.limits.window
        }
    }

    /// A new pending job of a serial stream waits behind the stream's pending one, if any (then
    /// `None`); any other job passes.
    fn through_gate(&mut self, job: Job) -> Option<Job> {
        let Some(order) = job.order.as_ref().filter(|o| o.serial) else {
            return Some(job);
        };
        if let Some(waiting) = self.gates.get_mut(&order.stream) {
            waiting.push_back(job);
            self.parked += 1;
            return None;
        }
        self.gates.insert(order.stream.clone(), VecDeque::new());
        Some(job)
    }

    /// The job the last [`enqueue`](Self::enqueue) stored: behind `gate`'s pending job (the
    /// stream of a serial delivery), or at the end of the ready queue.
    #[cfg(feature = "durable")]
    pub(super) fn newest(&self, gate: Option<&str>) -> Option<&Job> {
        gate.and_then(|stream| self.gates.get(stream))
            .and_then(VecDeque::back)
            .or_else(|| self.ready.back())
    }

    /// A serial job is finished for good: the next delivery of its stream becomes due.
    fn open_gate(&mut self, order: Option<&Order>) {
        let Some(order) = order.filter(|o| o.serial) else {
            return;
        };
        let Some(waiting) = self.gates.get_mut(&order.stream) else {
            return;
        };
        match waiting.pop_front() {
            Some(next) => {
                self.parked -= 1;
                self.ready.push_back(next);
            }
            None => {
                self.gates.remove(&order.stream);
            }
        }
    }

    pub(super) fn next_lease(&mut self) -> u64 {
        self.next_lease += 1;
        self.next_lease
    }

    pub(super) fn settle(&mut self, settlement: &Settlement) -> bool {
        // A lease that ran out and was given again has a new number: the old one settles nothing.
        // Taken out at once (one lookup), and put back in the rare case it is another key's.
        let Some((deadline, mut job)) = self.leased.remove(&settlement.lease) else {
            return false;
        };
        if job.key != settlement.key {
            self.leased.insert(settlement.lease, (deadline, job));
            return false;
        }
        if settlement.resolution == Resolution::Released {
            self.ready.push_front(job);
            return true;
        }
        if settlement.resolution != Resolution::Stale {
            job.attempts += 1;
        }
        if settlement.resolution.is_final() {
            self.pending_bytes = self.pending_bytes.saturating_sub(job.body.len());
            self.open_gate(job.order.as_ref());
        }
        self.history.settled(settlement);
        match &settlement.resolution {
            Resolution::Completed | Resolution::Released | Resolution::Stale => {}
            Resolution::Retry { after, .. } => {
                let seq = self.next_lease();
                self.later.insert((Instant::now() + *after, seq), job);
            }
            Resolution::Dead { error } => self.bury(DeadLetter {
                key: job.key,
                body: job.body,
                attempts: job.attempts,
                error: error.clone(),
                dead_at: UnixTime::now(),
                order: job.order,
            }),
        }
        true
    }

    /// Keeps a dead letter, dropping the oldest (logged at ERROR) at the bounds.
    pub(super) fn bury(&mut self, dead: DeadLetter) {
        while (self.dead.len() >= self.dead_capacity
            || self.dead_bytes + dead.body.len() > self.max_dead_bytes)
            && let Some(dropped) = self.dead.pop_front()
        {
            self.dead_bytes -= dropped.body.len();
            tracing::error!(
                key = %dropped.key,
                capacity = self.dead_capacity,
                bytes = self.max_dead_bytes,
                "the dead letters are full: dropped the oldest"
            );
        }
        self.dead_bytes += dead.body.len();
        self.dead.push_back(dead);
    }

    /// [`Queue::enqueue`] at `now`.
    pub(super) fn enqueue(&mut self, delivery: Incoming, now: Instant) -> Enqueued {
        let StoreLimits {
            window, capacity, ..
        } = self.limits;
        let print = fingerprint(&delivery.key);
        if self.seen.contains(print, window, now) {
            self.history.update(&delivery.key, |d| d.duplicates += 1);
            return Enqueued::Duplicate;
        }
        if self.pending() >= capacity
            || (self.pending() > 0
                && self.pending_bytes.saturating_add(delivery.body.len()) > self.max_pending_bytes)
        {
            return Enqueued::Full;
        }
        self.history
            .stored(&delivery.key, || delivery.described(), now_ms());
        let Incoming {
            key, body, order, ..
        } = delivery;
        self.pending_bytes += body.len();
        if !window.is_zero() {
            self.seen.insert(print, now);
        }
        let job = Job {
            key,
            body,
            attempts: 0,
            lease: 0,
            order,
            stale: None,
        };
        if let Some(job) = self.through_gate(job) {
            self.ready.push_back(job);
        }
        Enqueued::Stored
    }

    /// [`Queue::lease`] at `now`.
    pub(super) fn lease(&mut self, max: usize, visibility: Duration, now: Instant) -> Vec<Job> {
        // Leases whose worker never answered come due again.
        let expired: Vec<u64> = self
            .leased
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(lease, _)| *lease)
            .collect();
        for lease in expired {
            if let Some((_, job)) = self.leased.remove(&lease) {
                self.ready.push_back(job);
            }
        }
        while let Some(entry) = self.later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let job = entry.remove();
            self.ready.push_back(job);
        }
        let mut out = Vec::with_capacity(max.min(self.ready.len()));
        let retention = self.mark_retention();
        while out.len() < max {
            let Some(mut job) = self.ready.pop_front() else {
                break;
            };
            job.stale = job
                .order
                .as_ref()
                .and_then(|o| self.marks.advance(&o.stream, o.at, retention, now));
            job.lease = self.next_lease();
            self.leased
                .insert(job.lease, (now + visibility, job.clone()));
            out.push(job);
        }
        out
    }

    /// Removes the dead letter `key`, if there is one.
    pub(super) fn take_dead(&mut self, key: &str) -> Option<DeadLetter> {
        let index = self.dead.iter().position(|d| d.key == key)?;
        let dead = self.dead.remove(index)?;
        self.dead_bytes -= dead.body.len();
        Some(dead)
    }

    /// [`Admin::replay`].
    pub(super) fn replay(&mut self, key: &str) -> bool {
        let Some(dead) = self.take_dead(key) else {
            return false;
        };
        self.history.replayed(key);
        self.pending_bytes += dead.body.len();
        let job = Job {
            key: dead.key,
            body: dead.body,
            attempts: 0,
            lease: 0,
            order: dead.order,
            stale: None,
        };
        if let Some(job) = self.through_gate(job) {
            self.ready.push_back(job);
        }
        true
    }

    /// [`Admin::discard`]: the key stays in the dedupe index, which forgets it on its own.
    pub(super) fn discard(&mut self, key: &str) -> bool {
        let discarded = self.take_dead(key).is_some();
        if discarded {
            self.history.discarded(key);
        }
        discarded
    }

    /// [`Admin::counts`] at `now`.
    pub(super) fn counts(&self, now: Instant) -> StoreCounts {
        let due = self.later.range(..(now, u64::MAX)).count();
        StoreCounts {
            ready: self.ready.len() + due + self.parked,
            leased: self.leased.len(),
            retrying: self.later.len() - due,
            dead: self.dead.len(),
        }
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
}
