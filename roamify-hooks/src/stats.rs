//! What a receiver has done since it was built: counters moved by the request path and the
//! workers, read as a [`Stats`] snapshot.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of what the receiver did, since it was built.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) handled: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) deduplicated: AtomicU64,
    pub(crate) refused_full: AtomicU64,
    pub(crate) refused_unavailable: AtomicU64,
    pub(crate) refused_shutting_down: AtomicU64,
    pub(crate) refused_bad_signature: AtomicU64,
    pub(crate) refused_malformed: AtomicU64,
    pub(crate) refused_too_old: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            handled: get(&self.handled),
            queued: get(&self.queued),
            in_flight: get(&self.in_flight),
            retried: get(&self.retried),
            dead_lettered: get(&self.dead_lettered),
            stale: get(&self.stale),
            deduplicated: get(&self.deduplicated),
            refused_full: get(&self.refused_full),
            refused_unavailable: get(&self.refused_unavailable),
            refused_shutting_down: get(&self.refused_shutting_down),
            refused_bad_signature: get(&self.refused_bad_signature),
            refused_malformed: get(&self.refused_malformed),
            refused_too_old: get(&self.refused_too_old),
        }
    }
}

/// A snapshot of the receiver's counters ([`Receiver::stats`](crate::receiver::Receiver::stats)): what
/// this receiver did since it was built, in this process. What a store holds now (dead letters,
/// pending deliveries, also after a restart) is `Receiver::counts`, read from the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Handler runs that succeeded.
    pub handled: u64,
    /// Deliveries accepted into the queue or store (queued and durable modes).
    pub queued: u64,
    /// Handlers running now.
    pub in_flight: u64,
    /// Failed runs scheduled again.
    pub retried: u64,
    /// Deliveries this receiver moved to the dead letters (not how many are stored now).
    pub dead_lettered: u64,
    /// Deliveries acknowledged without running because a newer one of their stream had already
    /// started ([`crate::ordering`]).
    pub stale: u64,
    /// Duplicates acknowledged without running handlers.
    pub deduplicated: u64,
    /// Deliveries answered 503 because the queue was full.
    pub refused_full: u64,
    /// Deliveries answered 503 because the store failed.
    pub refused_unavailable: u64,
    /// Deliveries answered 503 because the receiver was shutting down.
    pub refused_shutting_down: u64,
    /// Requests answered 401: no signature matched (anyone can send these; they are counted
    /// here and in metrics, and only the first few of each interval are logged).
    pub refused_bad_signature: u64,
    /// Signed deliveries answered 400 because they are not a Roamify event, or their payload
    /// does not fit its handler.
    pub refused_malformed: u64,
    /// Signed deliveries answered 400 because they were older than the maximum age.
    pub refused_too_old: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handled={} queued={} in_flight={} retried={} dead_lettered={} stale={} deduplicated={} refused_full={} refused_unavailable={} refused_shutting_down={} refused_bad_signature={} refused_malformed={} refused_too_old={}",
            self.handled,
            self.queued,
            self.in_flight,
            self.retried,
            self.dead_lettered,
            self.stale,
            self.deduplicated,
            self.refused_full,
            self.refused_unavailable,
            self.refused_shutting_down,
            self.refused_bad_signature,
            self.refused_malformed,
            self.refused_too_old
        )
    }
}
