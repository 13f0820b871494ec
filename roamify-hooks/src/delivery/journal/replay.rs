//! Rebuilding the store's state from the records of a segment, in order.

use std::collections::HashMap;

use super::frame::{self, Placed, Record};
use super::{Clocks, JournalOptions};
use crate::delivery::memory::{State, fingerprint};
use crate::delivery::store::{DeadLetter, Job};
use crate::ordering::Order;
use crate::time::UnixTime;

fn order(placed: Option<Placed<'_>>) -> Option<Order> {
    placed.map(|(stream, at, serial)| Order::new(stream, at, serial))
}

/// A pending job while replaying: in arrival order, due at `due_ms` (0: now).
struct Pending {
    order: u64,
    job: Job,
    due_ms: i64,
}

pub(super) struct Replay {
    /// Records of several segments are merged (salvage): a dead letter or a pending job
    /// replaces a dead letter of the same key.
    pub(super) merge: bool,
    state: State,
    pending: HashMap<String, Pending>,
    next: u64,
    clocks: Clocks,
}

impl Replay {
    pub(super) fn new(options: &JournalOptions) -> Self {
        Self {
            merge: false,
            state: options.state(),
            pending: HashMap::new(),
            next: 0,
            clocks: Clocks::now(),
        }
    }

    fn pend(&mut self, key: &str, body: Vec<u8>, attempts: u32, due_ms: i64, order: Option<Order>) {
        self.next += 1;
        let job = Job {
            key: key.to_owned(),
            body,
            attempts,
            lease: 0,
            order,
            stale: None,
        };
        let pending = Pending {
            order: self.next,
            job,
            due_ms,
        };
        self.pending.insert(key.to_owned(), pending);
    }

    pub(super) fn apply(&mut self, record: Record<'_>) {
        match record {
            Record::Seen { entries } => {
                for (print, at) in frame::seen_entries(entries) {
                    self.state.seen.insert(print, self.clocks.to_instant(at));
                }
            }
            Record::Enqueued {
                key,
                received_ms,
                body,
                order: placed,
            } => {
                let at = self.clocks.to_instant(received_ms);
                self.state.seen.insert(fingerprint(key), at);
                self.pend(key, body.to_vec(), 0, 0, order(placed));
            }
            Record::Mark {
                stream,
                at,
                moved_ms,
            } => {
                let moved = self.clocks.to_instant(moved_ms);
                self.state.marks.put(stream, at, moved);
            }
            Record::Job {
                key,
                body,
                attempts,
                due_ms,
                order: placed,
            } => {
                if self.merge {
                    self.state.take_dead(key);
                }
                self.pend(key, body.to_vec(), attempts, due_ms, order(placed));
            }
            Record::DeadLetter {
                key,
                body,
                attempts,
                dead_at,
                error,
                order: placed,
            } => {
                if self.merge {
                    self.state.take_dead(key);
                    self.pending.remove(key);
                }
                self.state.bury(DeadLetter {
                    key: key.to_owned(),
                    body: body.to_vec(),
                    attempts,
                    error: error.to_owned(),
                    dead_at: UnixTime::from_secs(dead_at),
                    order: order(placed),
                });
            }
            Record::Completed { key } => {
                self.pending.remove(key);
            }
            Record::Retry { key, due_ms } => {
                if let Some(pending) = self.pending.get_mut(key) {
                    pending.job.attempts += 1;
                    pending.due_ms = due_ms;
                }
            }
            Record::Dead {
                key,
                dead_at,
                error,
            } => {
                if let Some(Pending { job, .. }) = self.pending.remove(key) {
                    self.state.bury(DeadLetter {
                        key: job.key,
                        body: job.body,
                        attempts: job.attempts + 1,
                        error: error.to_owned(),
                        dead_at: UnixTime::from_secs(dead_at),
                        order: job.order,
                    });
                }
            }
            Record::Replayed { key } => {
                if let Some(dead) = self.state.take_dead(key) {
                    self.pend(key, dead.body, 0, 0, dead.order);
                }
            }
            Record::Discarded { key } => {
                self.state.discard(key);
            }
            Record::SnapshotEnd | Record::Batch { .. } => {}
        }
    }

    /// The state: pending jobs in arrival order, due now or at their retry time.
    pub(super) fn finish(mut self) -> State {
        let mut pending: Vec<Pending> = self.pending.into_values().collect();
        pending.sort_by_key(|p| p.order);
        for Pending { job, due_ms, .. } in pending {
            let due = (due_ms > self.clocks.unix_ms).then(|| self.clocks.to_instant(due_ms));
            self.state.restore(job, due);
        }
        self.state
    }
}
