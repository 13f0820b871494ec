//! What the in-memory store holds ([`State`]): also the in-memory side of the journal.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::super::dedupe::{PrehashedMap, Recent};
use super::super::filter::Described;
use super::super::history::{HistoryLog, now_ms};
use super::super::pause::Pauses;
use super::super::store::{
    DeadLetter, Enqueued, Incoming, Job, Resolution, Settlement, StoreCounts, StoreLimits,
};
use crate::ordering::{DEFAULT_MARKS, MarkIndex, Order};
use crate::time::UnixTime;

/// What a [`MemoryStore`] holds; also the in-memory side of the journal store, which records
/// each change it makes.
#[derive(Debug)]
pub(in crate::delivery) struct State {
    /// Due now, in arrival order.
    pub(in crate::delivery) ready: VecDeque<Job>,
    /// Retries, by the time they come due.
    pub(in crate::delivery) later: BTreeMap<(Instant, u64), Job>,
    /// Leased: lease number → (deadline, job). Keyed by the lease, which is unique and cheap to
    /// hash, rather than by the job's key, which would be copied once more per lease.
    pub(in crate::delivery) leased: PrehashedMap<u64, (Instant, Job)>,
    pub(in crate::delivery) dead: VecDeque<DeadLetter>,
    dead_capacity: usize,
    /// Bytes of the pending deliveries' bodies, and the bound a new one may not cross.
    pending_bytes: usize,
    max_pending_bytes: usize,
    /// Bytes of the dead letters' bodies, and their bound (the oldest dropped to stay within).
    dead_bytes: usize,
    max_dead_bytes: usize,
    /// Keys enqueued, by fingerprint, for deduplication.
    pub(in crate::delivery) seen: Recent,
    /// The newest timestamp leased to run, per ordered stream.
    pub(in crate::delivery) marks: MarkIndex,
    /// Serial streams with a delivery pending (ready, leased or retrying): the deliveries of the
    /// stream that wait behind it, in arrival order.
    pub(in crate::delivery) gates: HashMap<String, VecDeque<Job>>,
    /// Deliveries waiting in `gates`.
    parked: usize,
    next_lease: u64,
    pub(in crate::delivery) limits: StoreLimits,
    /// What became of each delivery (in memory, also for the journal).
    pub(in crate::delivery) history: HistoryLog,
    /// Kinds paused, and the deliveries they hold.
    pub(in crate::delivery) pauses: Pauses,
}

pub(in crate::delivery) fn fingerprint(key: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key.as_bytes())
}

impl State {
    /// Empty, with `limits`, remembering at most `dedupe_keys` keys and keeping at most
    /// `dead_letters` dead letters (each at least 1).
    pub(in crate::delivery) fn new(
        limits: StoreLimits,
        dedupe_keys: usize,
        dead_letters: usize,
    ) -> Self {
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
            pauses: Pauses::default(),
        }
    }

    /// Bounds the bytes of the pending bodies (a delivery that would cross it is
    /// [`Enqueued::Full`], unless nothing is pending) and of the dead letters' (the oldest
    /// dropped to stay within).
    #[cfg(feature = "durable")]
    pub(in crate::delivery) fn with_byte_bounds(mut self, pending: usize, dead: usize) -> Self {
        self.max_pending_bytes = pending;
        self.max_dead_bytes = dead;
        self
    }

    /// A pending job put back by a recovery.
    #[cfg(feature = "durable")]
    pub(in crate::delivery) fn restore(&mut self, job: Job, due: Option<Instant>) {
        let body = &job.body;
        self.history
            .stored(&job.key, || Described::of(body), now_ms());
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

    pub(in crate::delivery) fn pending(&self) -> usize {
        self.ready.len() + self.later.len() + self.leased.len() + self.parked + self.pauses.held()
    }

    /// How long a mark is kept after it last moved: the dedupe window (24 h when there is none).
    pub(in crate::delivery) fn mark_retention(&self) -> Duration {
        if self.limits.window.is_zero() {
            super::super::DEFAULT_IDEMPOTENCY_WINDOW
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
    pub(in crate::delivery) fn newest(&self, gate: Option<&str>) -> Option<&Job> {
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

    pub(in crate::delivery) fn next_lease(&mut self) -> u64 {
        self.next_lease += 1;
        self.next_lease
    }

    pub(in crate::delivery) fn settle(&mut self, settlement: &Settlement) -> bool {
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
    pub(in crate::delivery) fn bury(&mut self, dead: DeadLetter) {
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
    pub(in crate::delivery) fn enqueue(&mut self, delivery: Incoming, now: Instant) -> Enqueued {
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
        let Incoming {
            key,
            body,
            order,
            about,
        } = delivery;
        self.history.stored(
            &key,
            || about.unwrap_or_else(|| Described::of(&body)),
            now_ms(),
        );
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
    pub(in crate::delivery) fn lease(
        &mut self,
        max: usize,
        visibility: Duration,
        now: Instant,
    ) -> Vec<Job> {
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
            let Some(job) = self.ready.pop_front() else {
                break;
            };
            let Some(mut job) = self.pauses.pass(job) else {
                continue;
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
    pub(in crate::delivery) fn take_dead(&mut self, key: &str) -> Option<DeadLetter> {
        let index = self.dead.iter().position(|d| d.key == key)?;
        let dead = self.dead.remove(index)?;
        self.dead_bytes -= dead.body.len();
        Some(dead)
    }

    /// [`Admin::replay`].
    pub(in crate::delivery) fn replay(&mut self, key: &str) -> bool {
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
    pub(in crate::delivery) fn discard(&mut self, key: &str) -> bool {
        let discarded = self.take_dead(key).is_some();
        if discarded {
            self.history.discarded(key);
        }
        discarded
    }

    /// [`Admin::resume`]: the kind's held deliveries are due again, first.
    pub(in crate::delivery) fn resume(&mut self, kind: &str) -> bool {
        let Some(released) = self.pauses.resume(kind) else {
            return false;
        };
        for job in released.into_iter().rev() {
            self.ready.push_front(job);
        }
        true
    }

    /// [`Admin::counts`] at `now`.
    pub(in crate::delivery) fn counts(&self, now: Instant) -> StoreCounts {
        let due = self.later.range(..(now, u64::MAX)).count();
        StoreCounts {
            ready: self.ready.len() + due + self.parked + self.pauses.held(),
            leased: self.leased.len(),
            retrying: self.later.len() - due,
            dead: self.dead.len(),
        }
    }
}
