//! A minimal store, as a user would write one from the traits' docs: every delivery in one
//! `Vec` behind a mutex, found by scanning. Slow and unbounded in keys (and in ordering marks),
//! but it keeps every promise of the contract, which the conformance kit checks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use roamify_hooks::delivery::{
    Admin, DeadLetter, Enqueued, Incoming, Job, Queue, Resolution, Settlement, StoreCounts,
    StoreFuture, StoreLimits,
};
use roamify_hooks::events::UnixTime;
use roamify_hooks::ordering::Order;

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
    order: Option<Order>,
    /// Leased at least once since it was enqueued or replayed: for a serial stream, the one
    /// whose turn it is until it is finished.
    started: bool,
    /// Arrival order (enqueue or replay), for a serial stream's turns.
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    rows: Vec<Row>,
    tokens: u64,
    seq: u64,
    /// The newest timestamp leased to run, per stream.
    marks: HashMap<String, i64>,
}

#[derive(Debug)]
pub(crate) struct VecStore {
    limits: StoreLimits,
    inner: Mutex<Inner>,
}

impl VecStore {
    pub(crate) fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Inner) -> T) -> StoreFuture<'_, T> {
        let mut guard = self.inner.lock().expect("not poisoned");
        let answer = f(&mut guard);
        Box::pin(std::future::ready(Ok(answer)))
    }
}

fn pending(row: &Row) -> bool {
    matches!(row.state, State::Waiting(_) | State::Leased(..))
}

fn serial_stream(row: &Row) -> Option<&str> {
    row.order
        .as_ref()
        .filter(|o| o.serial)
        .map(|o| o.stream.as_str())
}

/// Whether row `i` may be leased as far as its serial stream goes: no other pending delivery of
/// the stream has started, and none arrived before it.
fn its_turn(rows: &[Row], i: usize) -> bool {
    let Some(stream) = serial_stream(&rows[i]) else {
        return true;
    };
    rows.iter().enumerate().all(|(j, other)| {
        j == i
            || !pending(other)
            || serial_stream(other) != Some(stream)
            || (!other.started && other.seq > rows[i].seq)
    })
}

impl Queue for VecStore {
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued> {
        let limits = self.limits;
        self.with(move |inner| {
            let Incoming {
                key, body, order, ..
            } = delivery;
            let rows = &mut inner.rows;
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
            inner.seq += 1;
            rows.push(Row {
                key,
                body,
                attempts: 0,
                enqueued: now,
                state: State::Waiting(now),
                order,
                started: false,
                seq: inner.seq,
            });
            Enqueued::Stored
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        self.with(move |inner| {
            let now = Instant::now();
            let mut jobs = Vec::new();
            for i in 0..inner.rows.len() {
                if jobs.len() == max {
                    break;
                }
                let due = match inner.rows[i].state {
                    State::Waiting(at) | State::Leased(_, at) => at <= now,
                    _ => false,
                };
                if !due || !its_turn(&inner.rows, i) {
                    continue;
                }
                inner.tokens += 1;
                let row = &mut inner.rows[i];
                row.state = State::Leased(inner.tokens, now + visibility);
                row.started = true;
                // The mark moves forward only; an older delivery is handed out as stale.
                let stale = row.order.as_ref().and_then(|order| {
                    let mark = inner.marks.entry(order.stream.clone()).or_insert(order.at);
                    if *mark > order.at {
                        return Some(*mark);
                    }
                    *mark = order.at;
                    None
                });
                jobs.push(Job {
                    key: row.key.clone(),
                    body: row.body.clone(),
                    attempts: row.attempts,
                    lease: inner.tokens,
                    order: row.order.clone(),
                    stale,
                });
            }
            jobs
        })
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        self.with(move |inner| {
            let rows = &mut inner.rows;
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
                        Resolution::Completed | Resolution::Stale => {
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
        self.with(|inner| {
            let rows = &inner.rows;
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
        self.with(|inner| {
            inner
                .rows
                .iter()
                .filter_map(|r| match &r.state {
                    State::Dead(error, at) => Some(DeadLetter {
                        key: r.key.clone(),
                        body: r.body.clone(),
                        attempts: r.attempts,
                        error: error.clone(),
                        dead_at: *at,
                        order: r.order.clone(),
                    }),
                    _ => None,
                })
                .collect()
        })
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.with(move |inner| {
            inner.seq += 1;
            let seq = inner.seq;
            match inner
                .rows
                .iter_mut()
                .find(|r| r.key == key && matches!(r.state, State::Dead(..)))
            {
                Some(row) => {
                    row.attempts = 0;
                    row.state = State::Waiting(Instant::now());
                    row.started = false;
                    row.seq = seq;
                    true
                }
                None => false,
            }
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.with(move |inner| {
            match inner
                .rows
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
