//! Where queued deliveries wait: the store contract, its workers' side ([`Queue`]) and its
//! operators' side ([`Admin`]), with leases, fencing and batches.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::error::StoreError;
use super::filter::{Described, Filter};
use super::history::{Attempt, Delivery, Fate, HistoryLimits, HistoryPage, Page};
use crate::ordering::Order;
use crate::time::UnixTime;

/// What store operations return.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The result of [`Queue::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enqueued {
    /// Stored: acknowledge it.
    Stored,
    /// The key was enqueued within the window: acknowledge it, run nothing.
    Duplicate,
    /// The store holds `capacity` pending deliveries: answer 503.
    Full,
}

/// A verified delivery to store: what [`Queue::enqueue`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Incoming {
    /// Its idempotency key.
    pub key: String,
    /// The verified body, exactly as received.
    pub body: Vec<u8>,
    /// Its place in its stream, when its kind is ordered ([`crate::ordering`]).
    pub order: Option<Order>,
    /// Its names and eSIM, for the history, as the receiver parsed them (`None`: a store that
    /// keeps history reads them from the body, [`Described::of`]).
    pub about: Option<Described>,
}

impl Incoming {
    /// A delivery with no order.
    #[must_use]
    pub fn new(key: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            body: body.into(),
            order: None,
            about: None,
        }
    }

    /// Sets [`Incoming::about`].
    #[must_use]
    pub fn about(mut self, about: Described) -> Self {
        self.about = Some(about);
        self
    }

    /// What the delivery is: [`Incoming::about`] (borrowed), or read from its body.
    #[must_use]
    pub fn described(&self) -> std::borrow::Cow<'_, Described> {
        match &self.about {
            Some(about) => std::borrow::Cow::Borrowed(about),
            None => std::borrow::Cow::Owned(Described::of(&self.body)),
        }
    }

    /// Sets [`Incoming::order`].
    #[must_use]
    pub fn ordered(mut self, order: Option<Order>) -> Self {
        self.order = order;
        self
    }
}

/// A leased delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its idempotency key.
    pub key: String,
    /// The verified body, exactly as received.
    pub body: Vec<u8>,
    /// Runs before this one.
    pub attempts: u32,
    /// The lease token (fencing): settling a job whose lease has moved on does nothing.
    pub lease: u64,
    /// Its place in its stream, as enqueued.
    pub order: Option<Order>,
    /// Set by [`Queue::lease`] when the delivery is *stale*: the newest timestamp already
    /// started for its stream, which is newer than its own. It must not run: settle it with
    /// [`Resolution::Stale`].
    pub stale: Option<i64>,
}

/// What became of one leased job, for [`Queue::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The job's key.
    pub key: String,
    /// The lease it was run under.
    pub lease: u64,
    /// What to record.
    pub resolution: Resolution,
    /// When the run started (unix milliseconds) and how long it took (milliseconds), for the
    /// history; `None` when it was not run (released, stale) or not timed.
    pub ran: Option<(i64, u64)>,
}

impl Settlement {
    /// Settles `job` (under its current lease) with `resolution`.
    #[must_use]
    pub fn new(job: &Job, resolution: Resolution) -> Self {
        Self {
            key: job.key.clone(),
            lease: job.lease,
            resolution,
            ran: None,
        }
    }

    /// Sets [`Settlement::ran`]: started at `at_ms` (unix milliseconds), ran `took_ms`.
    #[must_use]
    pub fn ran(mut self, at_ms: i64, took_ms: u64) -> Self {
        self.ran = Some((at_ms, took_ms));
        self
    }

    /// The history's record of this settlement: the attempt it made, if it ran, and the fate it
    /// leads to (`None` for a release, which changes nothing).
    #[must_use]
    pub fn history(&self) -> (Option<Attempt>, Option<Fate>) {
        let (fate, error) = match &self.resolution {
            Resolution::Completed => (Fate::Handled, None),
            Resolution::Retry { error, .. } => (Fate::Retrying, Some(error.clone())),
            Resolution::Dead { error } => (Fate::Dead, Some(error.clone())),
            Resolution::Stale => (Fate::Stale, None),
            Resolution::Released => return (None, None),
        };
        let attempt = match (self.ran, &self.resolution) {
            (_, Resolution::Stale) => None,
            (Some((at_ms, took_ms)), _) => Some(Attempt::new(at_ms, took_ms, error)),
            (None, _) => Some(Attempt::new(super::now_ms(), 0, error)),
        };
        (attempt, Some(fate))
    }
}

/// How a job's run ended. Exhaustive: a store records each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The handler succeeded: never run it again (its key stays known for the window).
    Completed,
    /// The handler failed: count the attempt and run it again after `after`.
    Retry {
        /// The delay before the job is due again.
        after: Duration,
        /// The failure, kept as the job's last error.
        error: String,
    },
    /// The handler failed for good: count the attempt and move the job to the dead letters.
    Dead {
        /// The failure, kept with the dead letter.
        error: String,
    },
    /// The job was not run (the receiver is shutting down): due again now, the attempt not
    /// counted, so another worker or the next start takes it without waiting for the visibility
    /// timeout.
    Released,
    /// The job was not run because [`Queue::lease`] judged it stale ([`Job::stale`]): final,
    /// like [`Resolution::Completed`] (its key stays known for the window; for a serial stream,
    /// the next delivery may be leased).
    Stale,
}

impl Resolution {
    /// Whether the job is finished for good: completed, dead or stale. A serial stream's next
    /// delivery may be leased only once the one before it is finished.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Dead { .. } | Self::Stale)
    }
}

/// A delivery whose handler failed every allowed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its idempotency key (pass it to `replay`).
    pub key: String,
    /// The verified body.
    pub body: Vec<u8>,
    /// Runs made.
    pub attempts: u32,
    /// The last failure.
    pub error: String,
    /// When it was given up.
    pub dead_at: UnixTime,
    /// Its place in its stream, kept for a replay.
    pub order: Option<Order>,
}

/// How much a store keeps, given once when it is opened: the dedupe window and the capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreLimits {
    /// A key stays known this long after its delivery was enqueued, whatever became of it: a
    /// redelivery within it is a duplicate. Default 24 h ([`DEFAULT_IDEMPOTENCY_WINDOW`]).
    ///
    /// [`DEFAULT_IDEMPOTENCY_WINDOW`]: super::DEFAULT_IDEMPOTENCY_WINDOW
    pub window: Duration,
    /// Pending deliveries (ready, leased or retrying) at most; one more is [`Enqueued::Full`].
    /// Default 10 000.
    pub capacity: usize,
    /// The delivery history kept ([`HistoryLimits`]): by default the newest 20 000 deliveries
    /// of the last 7 days.
    pub history: HistoryLimits,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            window: super::DEFAULT_IDEMPOTENCY_WINDOW,
            capacity: 10_000,
            history: HistoryLimits::default(),
        }
    }
}

impl StoreLimits {
    /// Sets [`StoreLimits::window`].
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets [`StoreLimits::capacity`] (at least 1).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Sets [`StoreLimits::history`] ([`HistoryLimits::off`] keeps none).
    #[must_use]
    pub fn history(mut self, history: HistoryLimits) -> Self {
        self.history = history;
        self
    }
}

/// The workers' side of a store: queue deliveries, lease them, record how their runs ended.
///
/// A store keeps verified bodies by idempotency key. Workers *lease* due deliveries in batches;
/// a lease hides a delivery from other workers until it is settled or its visibility timeout
/// passes (a worker alive but stuck), when any worker may take it again under a new lease token.
/// A store that can tell a *dead* holder (its process is gone) takes its leases back at once,
/// without waiting for the timeout. Settling under a lease that has moved on does nothing, so a
/// slow worker presumed dead cannot record the outcome of a job another worker re-took.
///
/// What every store promises (the [conformance kit](crate::testing::conformance) checks it, for
/// each built-in store and for yours):
/// - [`enqueue`](Queue::enqueue) is atomic: the dedupe mark, the capacity check and the stored
///   body happen together or not at all, and [`Enqueued::Stored`] is returned only once the
///   delivery survives what the store promises to survive.
/// - A key stays known for the dedupe window ([`StoreLimits::window`]) after it was enqueued,
///   whatever became of its job.
/// - Retries come due after their delay; dead letters keep body, attempts, last error and time.
/// - A delivery of a kind paused with [`Admin::pause`] is not leased until the kind is resumed
///   (it stays stored and counted as ready).
/// - **Ordering** ([`crate::ordering`]), for deliveries enqueued with an [`Order`]: `lease`
///   compares each one's timestamp with its stream's *mark* (the newest timestamp leased to run)
///   and, atomically with the lease, either moves the mark forward (equal timestamps both run)
///   or hands the job out with [`Job::stale`] set, to be settled [`Resolution::Stale`] without
///   running. The mark is shared by everyone using the store and never moves back; it is kept
///   for the dedupe window after it last moved. For a **serial** order, a stream's delivery is
///   leased only while no other delivery of that stream is leased or waiting for a retry (the
///   *gate*): it opens when that one is settled for good ([`Resolution::is_final`]), or is taken
///   back from a holder that died or whose lease timed out.
///
/// The trait speaks only of keys, bytes and durations, so stores shared by several receivers
/// fit it. A receiver needs both sides: see [`Store`].
pub trait Queue: Send + Sync + 'static {
    /// Adds a verified delivery, unless its key was enqueued within the store's window (then
    /// [`Enqueued::Duplicate`]) or the store holds its capacity of pending deliveries
    /// ([`Enqueued::Full`]).
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued>;

    /// Leases up to `max` due deliveries (new, retries come due, leases whose visibility
    /// timeout passed, or held by a process that is gone) for `visibility`, each under a fresh
    /// lease token; ordered ones are judged against their stream's mark and gate (see above).
    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>>;

    /// Records the outcome of several runs at once. Returns, in order, whether each was
    /// recorded: `false` when its lease had moved on (the job was re-taken, or settled already).
    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>>;

    /// The window and capacity the store was opened with.
    fn limits(&self) -> StoreLimits;
}

/// The operators' side of a store: what it holds, its dead letters, replay and discard, and
/// the delivery history.
///
/// - The **history** keeps every delivery the store took, within [`StoreLimits::history`]: its
///   names and eSIM ([`Incoming::about`]), when it arrived and finished, each run with its time,
///   duration and error ([`Settlement::ran`]), where it is ([`Fate`]), and how many duplicates of
///   it were acknowledged. [`enqueue`](Queue::enqueue), [`settle`](Queue::settle),
///   [`replay`](Admin::replay) and [`discard`](Admin::discard) write it, with the change they
///   make.
/// - [`counts`](Admin::counts) are read from the store itself, so they are right after a restart
///   and across every receiver sharing the store.
/// - Dead letters stay until replayed or discarded; [`replay`](Admin::replay) moves one back to
///   the queue with its attempts reset; [`discard`](Admin::discard) forgets the body, not the
///   key, which stays known until its dedupe window ends.
pub trait Admin: Send + Sync + 'static {
    /// What the store holds, by state.
    fn counts(&self) -> StoreFuture<'_, StoreCounts>;

    /// The dead letters, oldest first.
    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>>;

    /// Moves a dead letter back to the queue with its attempts reset; `false` if no dead letter
    /// has that key.
    fn replay(&self, key: String) -> StoreFuture<'_, bool>;

    /// Deletes a dead letter; `false` if no dead letter has that key. Its key stays known until
    /// its dedupe window ends, so a late redelivery is still acknowledged as a duplicate.
    fn discard(&self, key: String) -> StoreFuture<'_, bool>;

    /// The deliveries of the history ([`StoreLimits::history`]) that match `filter`, the newest
    /// first, one page of them. A store that keeps no history answers an empty page (the
    /// default).
    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        let _ = (filter, page);
        Box::pin(std::future::ready(Ok(HistoryPage::default())))
    }

    /// The delivery `key` as the history holds it (`None`: not kept, or no history; the
    /// default).
    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        let _ = key;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Pauses the deliveries of `kind` (`category.kind`, as [`Described::name`] spells it):
    /// they are still stored, and acknowledged, but [`Queue::lease`] hands none out until it is
    /// resumed, for every receiver using the store. `false` when it was paused already. A
    /// store that cannot pause answers an error (the default).
    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        let _ = kind;
        Box::pin(std::future::ready(Err(StoreError::backend(
            "pause",
            "this store cannot pause deliveries",
        ))))
    }

    /// Resumes the deliveries of `kind`; `false` when it was not paused. The default, for a
    /// store that cannot pause, answers an error.
    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        let _ = kind;
        Box::pin(std::future::ready(Err(StoreError::backend(
            "resume",
            "this store cannot pause deliveries",
        ))))
    }

    /// The kinds paused, sorted (none by default).
    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// Replays every dead letter; returns how many went back to the queue.
    fn replay_all(&self) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let mut replayed = 0;
            for dead in self.dead_letters().await? {
                replayed += usize::from(self.replay(dead.key).await?);
            }
            Ok(replayed)
        })
    }

    /// Discards every dead letter; returns how many were deleted.
    fn discard_all(&self) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let mut discarded = 0;
            for dead in self.dead_letters().await? {
                discarded += usize::from(self.discard(dead.key).await?);
            }
            Ok(discarded)
        })
    }
}

/// A complete store: both sides, [`Queue`] for the workers and [`Admin`] for operators.
/// Implemented for every type that implements the two; a receiver takes an `Arc<dyn Store>`.
///
/// Built-in: [`MemoryStore`](super::MemoryStore) and, with the feature `durable`, `SqliteStore`
/// and `JournalStore`; `PgStore` in the crate `roamify-hooks-postgres`, `RedisStore` in
/// `roamify-hooks-redis`.
pub trait Store: Queue + Admin {}

impl<T: Queue + Admin> Store for T {}

/// What a store holds, by state: see [`Admin::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreCounts {
    /// Due now, waiting for a worker.
    pub ready: usize,
    /// Leased by a worker (running, or held by a worker that died, until its visibility
    /// timeout passes).
    pub leased: usize,
    /// Failed, waiting for their retry delay.
    pub retrying: usize,
    /// Dead letters, kept until replayed or discarded.
    pub dead: usize,
}

impl StoreCounts {
    /// Counts of each state, as a store read them.
    #[must_use]
    pub fn new(ready: usize, leased: usize, retrying: usize, dead: usize) -> Self {
        Self {
            ready,
            leased,
            retrying,
            dead,
        }
    }

    /// Deliveries not finished: ready, leased or retrying (what the queue capacity counts).
    #[must_use]
    pub fn pending(&self) -> usize {
        self.ready + self.leased + self.retrying
    }
}

impl std::fmt::Display for StoreCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pending={} (ready={} leased={} retrying={}) dead={}",
            self.pending(),
            self.ready,
            self.leased,
            self.retrying,
            self.dead
        )
    }
}
