//! The in-memory store of the queued mode.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::store::{DeadLetter, Enqueued, Job, Store, StoreError, StoreFuture};
use crate::time::UnixTime;

/// Deliveries in memory: fast, and lost when the process exits.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Due now, in arrival order.
    ready: VecDeque<Job>,
    /// Retries and expired leases, by the time they come due.
    later: BTreeMap<(Instant, u64), Job>,
    /// Leased: key → (deadline, job).
    leased: HashMap<String, (Instant, Job)>,
    dead: Vec<DeadLetter>,
    /// Keys enqueued, with when, for deduplication.
    seen: HashMap<String, Instant>,
    seen_order: VecDeque<(Instant, String)>,
    next_lease: u64,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError("memory store poisoned".to_owned()))?;
        Ok(f(&mut state))
    }
}

impl State {
    fn pending(&self) -> usize {
        self.ready.len() + self.later.len() + self.leased.len()
    }

    fn forget_older_than(&mut self, window: Duration, now: Instant) {
        while let Some((at, _)) = self.seen_order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if let Some((at, key)) = self.seen_order.pop_front()
                && self.seen.get(&key) == Some(&at)
            {
                self.seen.remove(&key);
            }
        }
    }

    fn next_lease(&mut self) -> u64 {
        self.next_lease += 1;
        self.next_lease
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
        let result = self.with(|s| {
            let now = Instant::now();
            s.forget_older_than(window, now);
            if s.seen.contains_key(&key) {
                return Enqueued::Duplicate;
            }
            if s.pending() >= capacity {
                return Enqueued::Full;
            }
            s.seen.insert(key.clone(), now);
            s.seen_order.push_back((now, key.clone()));
            s.ready.push_back(Job {
                key,
                body,
                attempts: 0,
                lease: 0,
            });
            Enqueued::Stored
        });
        Box::pin(std::future::ready(result))
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        let result = self.with(|s| {
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
            let mut out = Vec::new();
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
        });
        Box::pin(std::future::ready(result))
    }

    fn complete(&self, job: &Job) -> StoreFuture<'_, ()> {
        let result = self.with(|s| {
            if s.leased
                .get(&job.key)
                .is_some_and(|(_, j)| j.lease == job.lease)
            {
                s.leased.remove(&job.key);
            }
        });
        Box::pin(std::future::ready(result))
    }

    fn fail(&self, job: &Job, error: String, retry_after: Option<Duration>) -> StoreFuture<'_, ()> {
        let result = self.with(|s| {
            if s.leased
                .get(&job.key)
                .is_none_or(|(_, j)| j.lease != job.lease)
            {
                return;
            }
            let Some((_, mut stored)) = s.leased.remove(&job.key) else {
                return;
            };
            stored.attempts = job.attempts + 1;
            match retry_after {
                Some(delay) => {
                    let seq = s.next_lease();
                    s.later.insert((Instant::now() + delay, seq), stored);
                }
                None => s.dead.push(DeadLetter {
                    key: stored.key,
                    body: stored.body,
                    attempts: stored.attempts,
                    error,
                    dead_at: UnixTime::now(),
                }),
            }
        });
        Box::pin(std::future::ready(result))
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        Box::pin(std::future::ready(self.with(|s| s.dead.clone())))
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        let result = self.with(|s| {
            let Some(index) = s.dead.iter().position(|d| d.key == key) else {
                return false;
            };
            let dead = s.dead.remove(index);
            s.ready.push_back(Job {
                key: dead.key,
                body: dead.body,
                attempts: 0,
                lease: 0,
            });
            true
        });
        Box::pin(std::future::ready(result))
    }

    fn pending(&self) -> StoreFuture<'_, usize> {
        Box::pin(std::future::ready(self.with(|s| s.pending())))
    }
}
