//! When stores delete what they no longer need (finished rows, expired dedupe keys): in bounded
//! batches, again at once while batches come back full, otherwise once a second.

use std::sync::atomic::{AtomicI64, Ordering};

/// Rows deleted per purge pass, at most.
pub(crate) const PURGE_BATCH: i64 = 1000;
/// The pause after a pass that found less than a full batch, in milliseconds.
const PURGE_EVERY_MS: i64 = 1000;

/// Paces purge passes; shared by the threads or tasks of one store.
#[derive(Debug, Default)]
pub(crate) struct PurgePacer {
    /// When the next pass may run, in milliseconds since the Unix epoch.
    next: AtomicI64,
}

impl PurgePacer {
    /// Whether a pass is due at `now` (milliseconds since the Unix epoch).
    pub(crate) fn due(&self, now: i64) -> bool {
        now >= self.next.load(Ordering::Relaxed)
    }

    /// Records a pass at `now` that deleted `purged` rows: a full batch means more is waiting,
    /// so the next pass may run at once.
    pub(crate) fn ran(&self, now: i64, purged: u64) {
        let full = i64::try_from(purged).unwrap_or(i64::MAX) >= PURGE_BATCH;
        let next = if full { now } else { now + PURGE_EVERY_MS };
        self.next.store(next, Ordering::Relaxed);
    }
}
