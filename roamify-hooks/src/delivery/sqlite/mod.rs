//! The durable store: an embedded SQLite database in WAL mode.
//!
//! One thread owns the connection; callers send it commands and await the answer, so no
//! executor thread ever blocks on the disk. Every command waiting when the thread looks —
//! enqueues, leases, settlements — runs in one `BEGIN IMMEDIATE` transaction (group commit), and
//! no caller hears back before that transaction committed with `synchronous=FULL`: a delivery
//! answered `Stored` survives a crash of the process or of the machine, and a lease or an outcome
//! is never reported that the file does not hold. When the transaction fails, every command in it
//! gets the same error and nothing of it is kept — except when the file is full (its
//! [`max_size`](SqliteOptions::max_size), or the disk): then each command runs again on its own,
//! so outcomes, which free room, are still recorded while deliveries that need room are refused.
//!
//! Several processes on one machine may share the file: the pending count and the lease tokens
//! live in the database (table `roamify_meta`), each transaction holds SQLite's write lock.
//! Each open store is a *holder*: it holds an OS lock on a file of its own beside the database
//! while it lives, and records its id on every row it leases. The leases of a holder whose lock
//! is free (its process is gone, however it ended) are taken back by the next store that opens
//! the file and by every live one within [`TAKEOVER_EVERY`], without waiting for their visibility
//! timeout (`holders`).
//!
//! Files: `owner` runs transactions on the connection's thread, `rows` holds the statements and
//! the one mapping of row states to numbers, `schema` creates and migrates, `sync` makes commits
//! durable, `holders` finds the holders that are gone.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

mod history;
mod holders;
mod order;
mod owner;
mod rows;
mod schema;
mod sync;

pub use holders::TAKEOVER_EVERY;

use super::StoreError;
use super::backend::PurgePacer;
use super::filter::Filter;
use super::history::{Delivery, HistoryPage, Page};
use super::store::{
    Admin, DeadLetter, Enqueued, Incoming, Job, Queue, Settlement, StoreCounts, StoreFuture,
    StoreLimits,
};
use owner::Owner;

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The dedupe window and the capacity.
    pub limits: StoreLimits,
    /// How long a transaction waits for another process's lock on the file before it fails
    /// (deliveries waiting on it are then answered 503, and workers retry). Default 10 s.
    pub busy_timeout: Duration,
    /// The most the database file may grow to, in bytes (SQLite's `max_page_count`, rounded down
    /// to whole pages; never below the file's size when it is opened). At the bound, new
    /// deliveries are answered 503 with SQLite's "database or disk is full" while workers go on
    /// running and settling what is stored. Room comes back as finished deliveries drop their
    /// bodies (at once for a body too large to share its row's page, which then spills to pages
    /// of its own) and as keys past their dedupe window are purged; deliveries are then accepted
    /// again. A finished delivery keeps about 300 bytes (its key, twice, and its row) for the
    /// window: size the bound for a window's traffic plus what may be pending. The write-ahead
    /// log beside the file is bounded apart (checkpointed at 16 MiB, truncated to 64 MiB).
    /// Default: none, the disk's own size.
    pub max_size: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            limits: StoreLimits::default(),
            busy_timeout: Duration::from_secs(10),
            max_size: None,
        }
    }
}

impl SqliteOptions {
    /// Sets [`SqliteOptions::limits`].
    #[must_use]
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`SqliteOptions::busy_timeout`].
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets [`SqliteOptions::max_size`], in bytes.
    #[must_use]
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }
}

/// Deliveries in a SQLite file: committed before they are acknowledged, resumed after a restart.
///
/// The schema (created and migrated by [`open`](Self::open), version in `PRAGMA user_version`):
/// `deliveries(key TEXT PRIMARY KEY, body BLOB, state INTEGER, attempts INTEGER, due_ms INTEGER,
/// lease INTEGER, received_ms INTEGER, error TEXT, expires_ms INTEGER, holder INTEGER)` with
/// `state` 0 ready, 1 leased, 2 done, 3 dead; `due_ms` is when a ready row is due, when a lease
/// ends, when a done row may be purged, or when a row died; `holder` the id of the store that
/// leased it. Done rows keep their key (not their body) until the deduplication window ends, then
/// are deleted in bounded batches.
///
/// Beside the file, the directory `<file>.holders` holds one locked file per open store.
///
/// It runs two threads of its own: one owns the connection (`roamify-sqlite`), one flushes the
/// write-ahead log (`roamify-sqlite-flush`). On Linux (glibc) both run under `SCHED_BATCH`: same
/// nice value and share of CPU time, but their wake-ups do not preempt the thread serving HTTP.
#[derive(Debug)]
pub struct SqliteStore {
    commands: mpsc::Sender<Command>,
    /// The connection's thread, joined on drop (so the file and its holder lock are released
    /// when the store is dropped).
    owner: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    limits: StoreLimits,
}

/// What one command asks of the owner thread.
enum Op {
    Enqueue(Incoming),
    Lease { max: usize, visibility: Duration },
    Settle(Vec<Settlement>),
    DeadLetters,
    Replay(String),
    Counts,
    Discard(String),
    History(Filter, Page),
    Delivery(String),
    Pause(String),
    Resume(String),
    Paused,
}

impl Op {
    /// Whether the op is answered only once its commit is on disk: what the answer promises
    /// must survive a power cut (a stored delivery, a replayed dead letter).
    fn answered_when_flushed(&self) -> bool {
        matches!(
            self,
            Self::Enqueue(_) | Self::Replay(_) | Self::Pause(_) | Self::Resume(_)
        )
    }
}

/// What one command gets back.
enum Answer {
    Enqueued(Enqueued),
    Jobs(Vec<Job>),
    Settled(Vec<bool>),
    Dead(Vec<DeadLetter>),
    Replayed(bool),
    Counts(StoreCounts),
    Discarded(bool),
    History(HistoryPage),
    Delivery(Option<Delivery>),
    Changed(bool),
    Paused(Vec<String>),
}

type Reply = Box<dyn FnOnce(Result<Answer, StoreError>) + Send>;

struct Command {
    op: Op,
    reply: Reply,
}

pub(super) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn backend(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(operation, e)
}

/// Whether a transaction failed because the file reached its size bound (or the disk is full):
/// SQLite's `SQLITE_FULL`, which this module wrapped (through `backend`) as the error's source.
fn is_full(error: &StoreError) -> bool {
    matches!(error, StoreError::Backend { source, .. }
        if source
            .downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            == Some(rusqlite::ErrorCode::DiskFull))
}

/// Bounds the database file to `bytes` (whole pages, at least its current size).
fn limit_size(conn: &Connection, bytes: u64) -> Result<(), StoreError> {
    let fail = backend("limit the database's size");
    let page_size: i64 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .map_err(&fail)?;
    let pages = i64::try_from(bytes).unwrap_or(i64::MAX) / page_size.max(1);
    conn.pragma_update_and_check(None, "max_page_count", pages.max(1), |r| r.get::<_, i64>(0))
        .map_err(fail)?;
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, creating or migrating its schema.
    ///
    /// Deliveries leased by a process that is gone are due again at once; those leased by a live
    /// process stay leased until it settles them or their visibility timeout passes.
    ///
    /// # Errors
    /// When the file cannot be opened or set up, or was written by a newer release.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`open`](Self::open) with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(|e| {
            StoreError::backend("open the database", format!("{}: {e}", path.display()))
        })?;
        // Commits do not fsync here: the flusher thread makes the WAL durable before any
        // delivery is answered "stored" (see `sync`), `synchronous=FULL`'s guarantee without
        // its stall. The WAL is checkpointed by the owner once it holds 4096 pages (16 MiB), so
        // it stays bounded under sustained load; a larger WAL means fewer copies of hot pages.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA wal_autocheckpoint = 4096;
             PRAGMA journal_size_limit = 67108864;
             PRAGMA busy_timeout = 10000;",
        )
        .map_err(backend("set up the database"))?;
        schema::migrate(&mut conn)?;
        if let Some(bytes) = options.max_size {
            limit_size(&conn, bytes)?;
        }
        // Every statement the owner runs stays prepared (rusqlite's default cache holds 16).
        conn.set_prepared_statement_cache_capacity(64);
        let holder = holders::Holder::register(&path)?;
        let committed = sync::start(&path)?;
        let (commands, receiver) = mpsc::channel();
        conn.busy_timeout(options.busy_timeout)
            .map_err(backend("set up the database"))?;
        let mut owner = Owner {
            conn,
            purge: PurgePacer::default(),
            committed,
            limits: options.limits,
            holder,
            taken_back: Vec::new(),
        };
        owner.take_back()?;
        let owner =
            crate::delivery::sched::spawn_writer("roamify-sqlite", move || owner.serve(&receiver))
                .map_err(|e| StoreError::backend("start the SQLite threads", e))?;
        Ok(Self {
            commands,
            owner: Some(owner),
            path,
            limits: options.limits,
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn ask<T: Send + 'static>(&self, op: Op, pick: fn(Answer) -> Option<T>) -> StoreFuture<'_, T> {
        let (sender, answer) = oneshot::channel();
        let reply: Reply = Box::new(move |result| {
            let _ = sender.send(result.map(pick));
        });
        let sent = self.commands.send(Command { op, reply });
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            match answer.await.map_err(|_| StoreError::Closed)?? {
                Some(value) => Ok(value),
                None => Err(StoreError::backend(
                    "answer",
                    "the SQLite thread answered another command",
                )),
            }
        })
    }
}

impl Drop for SqliteStore {
    /// Stops the connection's thread once it has answered every command sent before.
    fn drop(&mut self) {
        drop(std::mem::replace(&mut self.commands, mpsc::channel().0));
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}

impl Queue for SqliteStore {
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued> {
        self.ask(Op::Enqueue(delivery), |a| match a {
            Answer::Enqueued(e) => Some(e),
            _ => None,
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        self.ask(Op::Lease { max, visibility }, |a| match a {
            Answer::Jobs(jobs) => Some(jobs),
            _ => None,
        })
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        self.ask(Op::Settle(batch), |a| match a {
            Answer::Settled(applied) => Some(applied),
            _ => None,
        })
    }

    fn limits(&self) -> StoreLimits {
        self.limits
    }
}

impl Admin for SqliteStore {
    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.ask(Op::Counts, |a| match a {
            Answer::Counts(counts) => Some(counts),
            _ => None,
        })
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.ask(Op::DeadLetters, |a| match a {
            Answer::Dead(dead) => Some(dead),
            _ => None,
        })
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.ask(Op::Replay(key), |a| match a {
            Answer::Replayed(done) => Some(done),
            _ => None,
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.ask(Op::Discard(key), |a| match a {
            Answer::Discarded(done) => Some(done),
            _ => None,
        })
    }

    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        self.ask(Op::History(filter, page), |a| match a {
            Answer::History(found) => Some(found),
            _ => None,
        })
    }

    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        self.ask(Op::Delivery(key), |a| match a {
            Answer::Delivery(found) => Some(found),
            _ => None,
        })
    }

    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        self.ask(Op::Pause(kind), |a| match a {
            Answer::Changed(changed) => Some(changed),
            _ => None,
        })
    }

    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        self.ask(Op::Resume(kind), |a| match a {
            Answer::Changed(changed) => Some(changed),
            _ => None,
        })
    }

    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        self.ask(Op::Paused, |a| match a {
            Answer::Paused(kinds) => Some(kinds),
            _ => None,
        })
    }
}
