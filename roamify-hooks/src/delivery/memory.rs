//! The in-memory store of the queued mode.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dedupe::{DEFAULT_DEDUPE_CAPACITY, Recent};
use super::store::{
    DeadLetter, Enqueued, Job, Resolution, Settlement, Store, StoreCounts, StoreFuture,
};
use crate::time::UnixTime;

/// The default number of dead letters a [`MemoryStore`] keeps: 10 000.
pub const DEFAULT_DEAD_LETTER_CAPACITY: usize = 10_000;

/// Deliveries in memory: fast, bounded, and lost when the process exits (dead letters
/// included: replaying after a deploy needs a durable store).
///
/// Memory is bounded by three numbers: the queue's capacity (given with each enqueue; a full
/// queue answers [`Enqueued::Full`], so the delivery is refused with 503 and Roamify retries);
/// the deduplication index ([`DEFAULT_DEDUPE_CAPACITY`] keys by default; at the bound the oldest
/// key is forgotten before its window ends); and the dead letters
/// ([`DEFAULT_DEAD_LETTER_CAPACITY`] by default; at the bound the oldest dead letter is dropped
/// and logged at ERROR with its key).
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug)]
struct State {
    /// Due now, in arrival order.
    ready: VecDeque<Job>,
    /// Retries, by the time they come due.
    later: BTreeMap<(Instant, u64), Job>,
    /// Leased: key → (deadline, job).
    leased: HashMap<String, (Instant, Job)>,
    dead: VecDeque<DeadLetter>,
    dead_capacity: usize,
    /// Keys enqueued, by fingerprint, for deduplication.
    seen: Recent,
    next_lease: u64,
}

impl MemoryStore {
    /// An empty store with the default bounds.
    #[must_use]
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_DEDUPE_CAPACITY, DEFAULT_DEAD_LETTER_CAPACITY)
    }

    /// An empty store remembering at most `dedupe_keys` keys for deduplication and keeping at
    /// most `dead_letters` dead letters (each at least 1).
    #[must_use]
    pub fn with_limits(dedupe_keys: usize, dead_letters: usize) -> Self {
        Self {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                later: BTreeMap::new(),
                leased: HashMap::new(),
                dead: VecDeque::new(),
                dead_capacity: dead_letters.max(1),
                seen: Recent::new(dedupe_keys),
                next_lease: 0,
            }),
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

fn fingerprint(key: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key.as_bytes())
}

impl State {
    fn pending(&self) -> usize {
        self.ready.len() + self.later.len() + self.leased.len()
    }

    fn next_lease(&mut self) -> u64 {
        self.next_lease += 1;
        self.next_lease
    }

    fn settle(&mut self, settlement: Settlement) -> bool {
        if self
            .leased
            .get(&settlement.key)
            .is_none_or(|(_, j)| j.lease != settlement.lease)
        {
            return false;
        }
        let Some((_, mut job)) = self.leased.remove(&settlement.key) else {
            return false;
        };
        if settlement.resolution == Resolution::Released {
            self.ready.push_front(job);
            return true;
        }
        job.attempts += 1;
        match settlement.resolution {
            Resolution::Completed | Resolution::Released => {}
            Resolution::Retry { after, .. } => {
                let seq = self.next_lease();
                self.later.insert((Instant::now() + after, seq), job);
            }
            Resolution::Dead { error } => {
                if self.dead.len() >= self.dead_capacity
                    && let Some(dropped) = self.dead.pop_front()
                {
                    tracing::error!(
                        key = %dropped.key,
                        capacity = self.dead_capacity,
                        "the in-memory dead letters are full: dropped the oldest"
                    );
                }
                self.dead.push_back(DeadLetter {
                    key: job.key,
                    body: job.body,
                    attempts: job.attempts,
                    error,
                    dead_at: UnixTime::now(),
                });
            }
        }
        true
    }
}

impl Store for MemoryStore {
    fn enqueue(
        &self,
        key: String,
        body: Vec<u8>,
        window: Duration,
        capacity: usize,
    ) -> StoreFuture<'_, Enqueued> {
        self.with(|s| {
            let now = Instant::now();
            let print = fingerprint(&key);
            if s.seen.contains(print, window, now) {
                return Enqueued::Duplicate;
            }
            if s.pending() >= capacity {
                return Enqueued::Full;
            }
            if !window.is_zero() {
                s.seen.insert(print, now);
            }
            s.ready.push_back(Job {
                key,
                body,
                attempts: 0,
                lease: 0,
            });
            Enqueued::Stored
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        self.with(|s| {
            let now = Instant::now();
            // Leases whose worker never answered come due again.
            let expired: Vec<String> = s
                .leased
                .iter()
                .filter(|(_, (deadline, _))| *deadline <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for key in expired {
                if let Some((_, job)) = s.leased.remove(&key) {
                    s.ready.push_back(job);
                }
            }
            while let Some(entry) = s.later.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let job = entry.remove();
                s.ready.push_back(job);
            }
            let mut out = Vec::with_capacity(max.min(s.ready.len()));
            while out.len() < max {
                let Some(mut job) = s.ready.pop_front() else {
                    break;
                };
                job.lease = s.next_lease();
                s.leased
                    .insert(job.key.clone(), (now + visibility, job.clone()));
                out.push(job);
            }
            out
        })
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        self.with(|s| batch.into_iter().map(|one| s.settle(one)).collect())
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.with(|s| s.dead.iter().cloned().collect())
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.with(|s| {
            let Some(index) = s.dead.iter().position(|d| d.key == key) else {
                return false;
            };
            let Some(dead) = s.dead.remove(index) else {
                return false;
            };
            s.ready.push_back(Job {
                key: dead.key,
                body: dead.body,
                attempts: 0,
                lease: 0,
            });
            true
        })
    }

    fn pending(&self) -> StoreFuture<'_, usize> {
        self.with(|s| s.pending())
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.with(|s| {
            let now = Instant::now();
            let due = s.later.range(..(now, u64::MAX)).count();
            StoreCounts {
                ready: s.ready.len() + due,
                leased: s.leased.len(),
                retrying: s.later.len() - due,
                dead: s.dead.len(),
            }
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        // The key stays in the dedupe index, which forgets it on its own.
        self.with(|s| match s.dead.iter().position(|d| d.key == key) {
            Some(index) => s.dead.remove(index).is_some(),
            None => false,
        })
    }
}
