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
//! live in the database (table `roamify_meta`), each transaction holds SQLite's write lock, and a
//! process that starts takes over only the leases whose visibility timeout has passed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

mod schema;
mod sync;

use super::StoreError;
use super::purge::{PURGE_BATCH, PurgePacer};
use super::store::{
    DeadLetter, Enqueued, Job, Resolution, Settlement, Store, StoreCounts, StoreFuture,
};
use crate::time::UnixTime;

/// Row states of the `deliveries` table.
const READY: i64 = 0;
const LEASED: i64 = 1;
const DONE: i64 = 2;
const DEAD: i64 = 3;

/// Commands run in one transaction, at most.
const MAX_GROUP: usize = 4096;

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
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
            busy_timeout: Duration::from_secs(10),
            max_size: None,
        }
    }
}

impl SqliteOptions {
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
/// lease INTEGER, received_ms INTEGER, error TEXT, expires_ms INTEGER)` with `state` 0 ready, 1
/// leased, 2 done, 3 dead; `due_ms` is when a ready row is due, when a lease ends, when a done
/// row may be purged, or when a row died. Done rows keep their key (not their body) until the
/// deduplication window ends, then are deleted in bounded batches.
///
/// It runs two threads of its own: one owns the connection (`roamify-sqlite`), one flushes the
/// write-ahead log (`roamify-sqlite-flush`). On Linux (glibc) both run under `SCHED_BATCH`: same
/// nice value and share of CPU time, but their wake-ups do not preempt the thread serving HTTP.
#[derive(Debug)]
pub struct SqliteStore {
    commands: mpsc::Sender<Command>,
    path: PathBuf,
}

/// What one command asks of the owner thread.
enum Op {
    Enqueue {
        key: String,
        body: Vec<u8>,
        window: Duration,
        capacity: usize,
    },
    Lease {
        max: usize,
        visibility: Duration,
    },
    Settle(Vec<Settlement>),
    DeadLetters,
    Replay(String),
    Pending,
    Counts,
    Discard(String),
}

impl Op {
    /// Whether the op is answered only once its commit is on disk: what the answer promises
    /// must survive a power cut (a stored delivery, a replayed dead letter).
    fn answered_when_flushed(&self) -> bool {
        matches!(self, Self::Enqueue { .. } | Self::Replay(_))
    }
}

/// What one command gets back.
enum Answer {
    Enqueued(Enqueued),
    Jobs(Vec<Job>),
    Settled(Vec<bool>),
    Dead(Vec<DeadLetter>),
    Replayed(bool),
    Pending(usize),
    Counts(StoreCounts),
    Discarded(bool),
}

type Reply = Box<dyn FnOnce(Result<Answer, StoreError>) + Send>;

struct Command {
    op: Op,
    reply: Reply,
}

fn ms(d: Duration) -> i64 {
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
    /// Deliveries leased by another process (alive, or dead) stay leased until their visibility
    /// timeout passes; then any process sharing the file takes them over.
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
        let committed = sync::start(&path)?;
        let (commands, receiver) = mpsc::channel();
        conn.busy_timeout(options.busy_timeout)
            .map_err(backend("set up the database"))?;
        let mut owner = Owner {
            conn,
            purge: PurgePacer::default(),
            committed,
        };
        crate::delivery::sched::spawn_writer("roamify-sqlite", move || owner.serve(&receiver))
            .map_err(|e| StoreError::backend("start the SQLite threads", e))?;
        Ok(Self { commands, path })
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

impl Store for SqliteStore {
    fn enqueue(
        &self,
        key: String,
        body: Vec<u8>,
        window: Duration,
        capacity: usize,
    ) -> StoreFuture<'_, Enqueued> {
        self.ask(
            Op::Enqueue {
                key,
                body,
                window,
                capacity,
            },
            |a| match a {
                Answer::Enqueued(e) => Some(e),
                _ => None,
            },
        )
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

    fn pending(&self) -> StoreFuture<'_, usize> {
        self.ask(Op::Pending, |a| match a {
            Answer::Pending(n) => Some(n),
            _ => None,
        })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.ask(Op::Counts, |a| match a {
            Answer::Counts(counts) => Some(counts),
            _ => None,
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.ask(Op::Discard(key), |a| match a {
            Answer::Discarded(done) => Some(done),
            _ => None,
        })
    }
}

/// The thread that owns the connection.
struct Owner {
    conn: Connection,
    purge: PurgePacer,
    /// Committed answers, on their way to the flusher.
    committed: mpsc::Sender<sync::Committed>,
}

/// The shared counters, read at the start of a transaction and written back at its end.
struct Meta {
    pending: i64,
    next_lease: i64,
}

impl Owner {
    fn serve(&mut self, commands: &mpsc::Receiver<Command>) {
        while let Ok(first) = commands.recv() {
            let mut group = vec![first];
            group.extend(commands.try_iter().take(MAX_GROUP - 1));
            let (ops, replies): (Vec<Op>, Vec<Reply>) =
                group.into_iter().map(|c| (c.op, c.reply)).unzip();
            match self.run_group(&ops) {
                // A full file fails what needs more room, not what frees or only reads it: each
                // command runs again on its own, so workers still record their outcomes (and free
                // space) while new deliveries are refused.
                Err(error) if ops.len() > 1 && is_full(&error) => {
                    let mut refused = 0_usize;
                    for (op, reply) in ops.iter().zip(replies) {
                        let result = self.run_group(std::slice::from_ref(op));
                        refused += usize::from(result.is_err());
                        self.answer(vec![reply], std::slice::from_ref(op), result);
                    }
                    // One line per group, not per command: a full file refuses every delivery.
                    tracing::error!(error = %error.report(), commands = ops.len(), refused, "the SQLite file is full: its commands ran one by one, those needing room were refused");
                }
                Err(error) => {
                    tracing::error!(error = %error.report(), commands = ops.len(), "SQLite transaction failed; nothing of it was kept");
                    self.answer(replies, &ops, Err(error));
                }
                Ok(answers) => self.answer(replies, &ops, Ok(answers)),
            }
        }
    }

    /// Answers the commands of one transaction: on success each with its own answer (a stored
    /// delivery only once the flusher made it durable), on failure all with its error (logged by
    /// the caller).
    fn answer(&self, replies: Vec<Reply>, ops: &[Op], result: Result<Vec<Answer>, StoreError>) {
        match result {
            Ok(answers) => {
                let mut to_flush = Vec::new();
                for ((reply, answer), op) in replies.into_iter().zip(answers).zip(ops) {
                    if op.answered_when_flushed() {
                        to_flush.push((reply, answer));
                    } else {
                        reply(Ok(answer));
                    }
                }
                if !to_flush.is_empty()
                    && let Err(mpsc::SendError(lost)) = self.committed.send(to_flush)
                {
                    for (reply, _) in lost {
                        reply(Err(StoreError::Closed));
                    }
                }
            }
            Err(error) => {
                for reply in replies {
                    reply(Err(error.clone()));
                }
            }
        }
    }

    /// Runs every op in one transaction; answers only once it committed.
    fn run_group(&mut self, ops: &[Op]) -> Result<Vec<Answer>, StoreError> {
        let conn = &self.conn;
        // Statements are prepared once and cached: parsing SQL would cost more than running it.
        conn.prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(backend("begin a transaction"))?;
        let result = self.in_transaction(ops);
        let conn = &self.conn;
        match result {
            Ok(answers) => match conn
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]))
            {
                Ok(_) => Ok(answers),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(StoreError::backend("commit", e))
                }
            },
            Err(error) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(error)
            }
        }
    }

    fn in_transaction(&mut self, ops: &[Op]) -> Result<Vec<Answer>, StoreError> {
        let now = super::unix_millis();
        let tx = &self.conn;
        let mut meta = tx
            .prepare_cached("SELECT pending, next_lease FROM roamify_meta WHERE id = 1")
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok(Meta {
                        pending: r.get(0)?,
                        next_lease: r.get(1)?,
                    })
                })
            })
            .map_err(backend("read the counters"))?;
        let before = (meta.pending, meta.next_lease);
        let mut answers = Vec::with_capacity(ops.len());
        for op in ops {
            answers.push(run(tx, &mut meta, op, now)?);
        }
        if self.purge.due(now) {
            let purged = tx
                .prepare_cached(
                    "DELETE FROM deliveries WHERE rowid IN
                         (SELECT rowid FROM deliveries WHERE state = ?1 AND due_ms < ?2 LIMIT ?3)",
                )
                .and_then(|mut s| s.execute(params![DONE, now, PURGE_BATCH]))
                .map_err(backend("purge finished deliveries"))?;
            self.purge
                .ran(now, u64::try_from(purged).unwrap_or(u64::MAX));
        }
        if (meta.pending, meta.next_lease) != before {
            tx.prepare_cached("UPDATE roamify_meta SET pending = ?1, next_lease = ?2 WHERE id = 1")
                .and_then(|mut s| s.execute(params![meta.pending, meta.next_lease]))
                .map_err(backend("write the counters"))?;
        }
        Ok(answers)
    }
}

fn run(tx: &Connection, meta: &mut Meta, op: &Op, now: i64) -> Result<Answer, StoreError> {
    Ok(match op {
        Op::Enqueue {
            key,
            body,
            window,
            capacity,
        } => Answer::Enqueued(
            enqueue(tx, meta, key, body, *window, *capacity, now).map_err(backend("enqueue"))?,
        ),
        Op::Lease { max, visibility } => {
            Answer::Jobs(lease(tx, meta, *max, *visibility, now).map_err(backend("lease"))?)
        }
        Op::Settle(batch) => Answer::Settled(
            batch
                .iter()
                .map(|one| settle(tx, meta, one, now))
                .collect::<Result<_, _>>()
                .map_err(backend("settle"))?,
        ),
        Op::DeadLetters => Answer::Dead(dead_letters(tx).map_err(backend("list dead letters"))?),
        Op::Replay(key) => {
            let replayed = tx
                .prepare_cached(
                    "UPDATE deliveries SET state = ?2, attempts = 0, due_ms = ?3, lease = 0 WHERE key = ?1 AND state = ?4",
                )
                .and_then(|mut s| s.execute(params![key, READY, now, DEAD]))
                .map_err(backend("replay"))?
                == 1;
            if replayed {
                meta.pending += 1;
            }
            Answer::Replayed(replayed)
        }
        Op::Pending => Answer::Pending(usize::try_from(meta.pending).unwrap_or(0)),
        Op::Counts => Answer::Counts(counts(tx, now).map_err(backend("count deliveries"))?),
        Op::Discard(key) => Answer::Discarded(
            // Done, without its body: the key stays known until its window ends, then the row
            // is purged like any finished delivery.
            tx.prepare_cached(
                "UPDATE deliveries SET state = ?2, body = x'', error = NULL, lease = 0, due_ms = max(expires_ms, ?4) WHERE key = ?1 AND state = ?3",
            )
            .and_then(|mut s| s.execute(params![key, DONE, DEAD, now]))
            .map_err(backend("discard"))?
                == 1,
        ),
    })
}

fn counts(tx: &Connection, now: i64) -> Result<StoreCounts, rusqlite::Error> {
    let mut counts = StoreCounts::default();
    let mut query = tx.prepare_cached(
        "SELECT state, due_ms > ?1, count(*) FROM deliveries WHERE state IN (?2, ?3, ?4) GROUP BY 1, 2",
    )?;
    let rows = query.query_map(params![now, READY, LEASED, DEAD], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (state, later, n) = row?;
        let n = usize::try_from(n).unwrap_or(0);
        match (state, later) {
            (READY, false) => counts.ready += n,
            (READY, true) => counts.retrying += n,
            (LEASED, _) => counts.leased += n,
            _ => counts.dead += n,
        }
    }
    Ok(counts)
}

fn enqueue(
    tx: &Connection,
    meta: &mut Meta,
    key: &str,
    body: &[u8],
    window: Duration,
    capacity: usize,
    now: i64,
) -> Result<Enqueued, rusqlite::Error> {
    let known: Option<(i64, i64)> = tx
        .prepare_cached("SELECT expires_ms, state FROM deliveries WHERE key = ?1")?
        .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let expires = now.saturating_add(ms(window));
    Ok(match known {
        Some((until, _)) if now < until => Enqueued::Duplicate,
        _ if usize::try_from(meta.pending).unwrap_or(0) >= capacity => Enqueued::Full,
        Some((_, state)) => {
            // Known before the window: a new delivery of an old event.
            tx.prepare_cached(
                "UPDATE deliveries SET body = ?2, state = ?3, attempts = 0, due_ms = ?4, received_ms = ?4, error = NULL, lease = 0, expires_ms = ?5 WHERE key = ?1",
            )?
            .execute(params![key, body, READY, now, expires])?;
            if state != READY && state != LEASED {
                meta.pending += 1;
            }
            Enqueued::Stored
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO deliveries (key, body, state, due_ms, received_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            )?
            .execute(params![key, body, READY, now, expires])?;
            meta.pending += 1;
            Enqueued::Stored
        }
    })
}

/// The query of due rows in `state` (READY or LEASED). The state is written in, and the limit
/// cast: SQLite (whose bundled build enables STAT4) plans with the values bound to a `LIMIT ?`
/// or an indexed column's `?` and re-prepares the statement whenever they change — as the
/// number of free worker slots does on every lease — which cost a full SQL parse per lease.
fn due_query(state: i64) -> &'static str {
    if state == READY {
        "SELECT rowid, key, body, attempts FROM deliveries WHERE state = 0 AND due_ms <= ?1 ORDER BY due_ms LIMIT CAST(?2 AS INTEGER)"
    } else {
        "SELECT rowid, key, body, attempts FROM deliveries WHERE state = 1 AND due_ms <= ?1 ORDER BY due_ms LIMIT CAST(?2 AS INTEGER)"
    }
}

/// Due ready rows first, then leases whose visibility timeout passed; each query walks the
/// `(state, due_ms)` index in order, so nothing is sorted.
fn lease(
    tx: &Connection,
    meta: &mut Meta,
    max: usize,
    visibility: Duration,
    now: i64,
) -> Result<Vec<Job>, rusqlite::Error> {
    let mut found: Vec<(i64, Job)> = Vec::new();
    for state in [READY, LEASED] {
        let room = max.saturating_sub(found.len());
        if room == 0 {
            break;
        }
        let mut due = tx.prepare_cached(due_query(state))?;
        let rows = due.query_map(params![now, i64::try_from(room).unwrap_or(i64::MAX)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Job {
                    key: r.get(1)?,
                    body: r.get(2)?,
                    attempts: r.get(3)?,
                    lease: 0,
                },
            ))
        })?;
        for row in rows {
            found.push(row?);
        }
    }
    let until = now.saturating_add(ms(visibility));
    let mut take = tx.prepare_cached(
        "UPDATE deliveries SET state = ?2, lease = ?3, due_ms = ?4 WHERE rowid = ?1",
    )?;
    let mut jobs = Vec::with_capacity(found.len());
    for (rowid, mut job) in found {
        meta.next_lease += 1;
        take.execute(params![rowid, LEASED, meta.next_lease, until])?;
        job.lease = u64::try_from(meta.next_lease).unwrap_or(0);
        jobs.push(job);
    }
    Ok(jobs)
}

fn settle(
    tx: &Connection,
    meta: &mut Meta,
    settlement: &Settlement,
    now: i64,
) -> Result<bool, rusqlite::Error> {
    let Settlement {
        key,
        lease,
        resolution,
    } = settlement;
    let lease = i64::try_from(*lease).unwrap_or(-1);
    let leaves_queue = matches!(resolution, Resolution::Completed | Resolution::Dead { .. });
    let changed = match resolution {
        Resolution::Completed => tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, body = x'', attempts = attempts + 1, due_ms = expires_ms, error = NULL WHERE key = ?1 AND lease = ?2 AND state = ?4",
            )?
            .execute(params![key, lease, DONE, LEASED])?,
        Resolution::Retry { after, error } => tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, attempts = attempts + 1, due_ms = ?4, error = ?5 WHERE key = ?1 AND lease = ?2 AND state = ?6",
            )?
            .execute(params![key, lease, READY, now.saturating_add(ms(*after)), error, LEASED])?,
        Resolution::Dead { error } => tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, attempts = attempts + 1, due_ms = ?4, error = ?5 WHERE key = ?1 AND lease = ?2 AND state = ?6",
            )?
            .execute(params![key, lease, DEAD, now, error, LEASED])?,
        Resolution::Released => tx
            .prepare_cached(
                "UPDATE deliveries SET state = ?3, due_ms = ?4 WHERE key = ?1 AND lease = ?2 AND state = ?5",
            )?
            .execute(params![key, lease, READY, now, LEASED])?,
    };
    let applied = changed == 1;
    if applied && leaves_queue {
        meta.pending -= 1;
    }
    Ok(applied)
}

fn dead_letters(tx: &Connection) -> Result<Vec<DeadLetter>, rusqlite::Error> {
    let mut query = tx.prepare_cached(
        "SELECT key, body, attempts, coalesce(error, ''), due_ms FROM deliveries WHERE state = ?1 ORDER BY due_ms",
    )?;
    let rows = query.query_map(params![DEAD], |r| {
        Ok(DeadLetter {
            key: r.get(0)?,
            body: r.get(1)?,
            attempts: r.get(2)?,
            error: r.get(3)?,
            dead_at: UnixTime::from_secs(r.get::<_, i64>(4)? / 1000),
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leasing with a different number of free slots each time runs the same prepared query; it
    /// is never parsed again.
    #[test]
    fn the_lease_query_is_not_re_prepared_when_its_limit_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("q.sqlite")).unwrap();
        schema::migrate(&mut conn).unwrap();
        let mut meta = Meta {
            pending: 0,
            next_lease: 0,
        };
        for (n, max) in [3_usize, 1, 7, 2, 64].into_iter().enumerate() {
            let now = i64::try_from(n).unwrap() * 1000;
            let key = format!("k{n}");
            enqueue(
                &conn,
                &mut meta,
                &key,
                b"{}",
                Duration::from_secs(60),
                100,
                now,
            )
            .unwrap();
            lease(&conn, &mut meta, max, Duration::from_secs(30), now).unwrap();
        }
        for state in [READY, LEASED] {
            let statement = conn.prepare_cached(due_query(state)).unwrap();
            assert!(statement.get_status(rusqlite::StatementStatus::Run) > 0);
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "state {state}"
            );
        }
    }
}
