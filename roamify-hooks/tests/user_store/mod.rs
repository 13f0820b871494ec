//! A minimal store, as a user would write one from the traits' docs: every delivery in one
//! `Vec` behind a mutex, found by scanning. Slow and unbounded in keys, but it keeps every
//! promise of the contract, which the conformance kit checks.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use roamify_hooks::delivery::{
    Admin, DeadLetter, Enqueued, Job, Queue, Resolution, Settlement, StoreCounts, StoreFuture,
    StoreLimits,
};
use roamify_hooks::events::UnixTime;

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Due at this time.
    Waiting(Instant),
    /// Leased under this token until this time.
    Leased(u64, Instant),
    Dead(String, UnixTime),
    Done,
}

#[derive(Debug)]
struct Row {
    key: String,
    body: Vec<u8>,
    attempts: u32,
    enqueued: Instant,
    state: State,
}

#[derive(Debug)]
pub(crate) struct VecStore {
    limits: StoreLimits,
    rows: Mutex<(Vec<Row>, u64)>,
}

impl VecStore {
    pub(crate) fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            rows: Mutex::new((Vec::new(), 0)),
        }
    }

    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Row>, &mut u64) -> T,
    ) -> StoreFuture<'_, T> {
        let mut guard = self.rows.lock().expect("not poisoned");
        let (rows, tokens) = &mut *guard;
        let answer = f(rows, tokens);
        Box::pin(std::future::ready(Ok(answer)))
    }
}

fn pending(row: &Row) -> bool {
    matches!(row.state, State::Waiting(_) | State::Leased(..))
}

impl Queue for VecStore {
    fn enqueue(&self, key: String, body: Vec<u8>) -> StoreFuture<'_, Enqueued> {
        let limits = self.limits;
        self.with(move |rows, _| {
            let now = Instant::now();
            let known = rows.iter().position(|r| r.key == key);
            if let Some(i) = known
                && now.duration_since(rows[i].enqueued) < limits.window
            {
                return Enqueued::Duplicate;
            }
            if rows.iter().filter(|r| pending(r)).count() >= limits.capacity {
                return Enqueued::Full;
            }
            if let Some(i) = known {
                if pending(&rows[i]) {
                    // An older delivery of the same event still waits: it runs once.
                    rows[i].enqueued = now;
                    return Enqueued::Stored;
                }
                rows.remove(i);
            }
            rows.push(Row {
                key,
                body,
                attempts: 0,
                enqueued: now,
                state: State::Waiting(now),
            });
            Enqueued::Stored
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        self.with(move |rows, tokens| {
            let now = Instant::now();
            let mut jobs = Vec::new();
            for row in rows.iter_mut() {
                if jobs.len() == max {
                    break;
                }
                let due = match row.state {
                    State::Waiting(at) | State::Leased(_, at) => at <= now,
                    _ => false,
                };
                if due {
                    *tokens += 1;
                    row.state = State::Leased(*tokens, now + visibility);
                    jobs.push(Job {
                        key: row.key.clone(),
                        body: row.body.clone(),
                        attempts: row.attempts,
                        lease: *tokens,
                    });
                }
            }
            jobs
        })
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        self.with(move |rows, _| {
            batch
                .into_iter()
                .map(|settlement| {
                    let Some(row) = rows.iter_mut().find(|r| {
                        r.key == settlement.key
                            && matches!(r.state, State::Leased(token, _) if token == settlement.lease)
                    }) else {
                        return false;
                    };
                    let now = Instant::now();
                    row.state = match settlement.resolution {
                        Resolution::Completed => {
                            row.body.clear();
                            State::Done
                        }
                        Resolution::Retry { after, .. } => {
                            row.attempts += 1;
                            State::Waiting(now + after)
                        }
                        Resolution::Dead { error } => {
                            row.attempts += 1;
                            State::Dead(error, UnixTime::now())
                        }
                        Resolution::Released => State::Waiting(now),
                    };
                    true
                })
                .collect()
        })
    }

    fn limits(&self) -> StoreLimits {
        self.limits
    }
}

impl Admin for VecStore {
    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.with(|rows, _| {
            let now = Instant::now();
            let count = |f: &dyn Fn(&State) -> bool| rows.iter().filter(|r| f(&r.state)).count();
            StoreCounts::new(
                count(&|s| matches!(s, State::Waiting(at) if *at <= now)),
                count(&|s| matches!(s, State::Leased(..))),
                count(&|s| matches!(s, State::Waiting(at) if *at > now)),
                count(&|s| matches!(s, State::Dead(..))),
            )
        })
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.with(|rows, _| {
            rows.iter()
                .filter_map(|r| match &r.state {
                    State::Dead(error, at) => Some(DeadLetter {
                        key: r.key.clone(),
                        body: r.body.clone(),
                        attempts: r.attempts,
                        error: error.clone(),
                        dead_at: *at,
                    }),
                    _ => None,
                })
                .collect()
        })
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.with(move |rows, _| {
            match rows
                .iter_mut()
                .find(|r| r.key == key && matches!(r.state, State::Dead(..)))
            {
                Some(row) => {
                    row.attempts = 0;
                    row.state = State::Waiting(Instant::now());
                    true
                }
                None => false,
            }
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.with(move |rows, _| {
            match rows
                .iter_mut()
                .find(|r| r.key == key && matches!(r.state, State::Dead(..)))
            {
                // The key stays known until its window ends.
                Some(row) => {
                    row.body.clear();
                    row.state = State::Done;
                    true
                }
                None => false,
            }
        })
    }
}
