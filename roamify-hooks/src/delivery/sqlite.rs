//! The durable store: an embedded SQLite database in WAL mode.
//!
//! One thread owns the connection; callers send it commands and await the answer, so no
//! executor thread ever blocks on the disk. Enqueues that arrive together are committed in one
//! transaction (group commit), and a delivery is answered `Stored` only after its transaction
//! committed with `synchronous=FULL`, so it survives a crash of the process or of the machine.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::store::{DeadLetter, Enqueued, Job, Store, StoreError, StoreFuture};
use crate::time::UnixTime;

const READY: i64 = 0;
const LEASED: i64 = 1;
const DONE: i64 = 2;
const DEAD: i64 = 3;

/// Deliveries in a SQLite file: committed before they are acknowledged, resumed after a restart.
#[derive(Debug)]
pub struct SqliteStore {
    commands: mpsc::Sender<Command>,
    path: PathBuf,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One delivery to store, with what its caller waits for.
struct NewDelivery {
    key: String,
    body: Vec<u8>,
    window: Duration,
    capacity: usize,
    reply: Reply<Enqueued>,
}

enum Command {
    Enqueue(NewDelivery),
    Lease {
        max: usize,
        visibility: Duration,
        reply: Reply<Vec<Job>>,
    },
    Complete {
        key: String,
        lease: u64,
        reply: Reply<()>,
    },
    Fail {
        key: String,
        lease: u64,
        error: String,
        retry_after: Option<Duration>,
        reply: Reply<()>,
    },
    DeadLetters {
        reply: Reply<Vec<DeadLetter>>,
    },
    Replay {
        key: String,
        reply: Reply<bool>,
    },
    Pending {
        reply: Reply<usize>,
    },
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`. Deliveries leased by a previous process are
    /// made due again at once: that process is gone.
    ///
    /// # Errors
    /// When the file cannot be opened or set up.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn =
            Connection::open(&path).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS deliveries (
                 key TEXT PRIMARY KEY,
                 body BLOB NOT NULL,
                 state INTEGER NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 due_ms INTEGER NOT NULL,
                 lease INTEGER NOT NULL DEFAULT 0,
                 received_ms INTEGER NOT NULL,
                 error TEXT
             );
             CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, due_ms);",
        )
        .map_err(err)?;
        conn.execute(
            "UPDATE deliveries SET state = ?1, due_ms = ?2 WHERE state = ?3",
            params![READY, now_ms(), LEASED],
        )
        .map_err(err)?;
        let pending: i64 = conn
            .query_row(
                "SELECT count(*) FROM deliveries WHERE state IN (?1, ?2)",
                params![READY, LEASED],
                |r| r.get(0),
            )
            .map_err(err)?;
        let next_lease: i64 = conn
            .query_row("SELECT coalesce(max(lease), 0) FROM deliveries", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        let (commands, receiver) = mpsc::channel();
        let mut owner = Owner {
            conn,
            pending: usize::try_from(pending).unwrap_or(0),
            next_lease,
            purged_at: 0,
            window_ms: 86_400_000,
        };
        std::thread::Builder::new()
            .name("roamify-sqlite".to_owned())
            .spawn(move || owner.serve(&receiver))
            .map_err(err)?;
        Ok(Self { commands, path })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn ask<T: Send + 'static>(&self, make: impl FnOnce(Reply<T>) -> Command) -> StoreFuture<'_, T> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(make(reply));
        Box::pin(async move {
            sent.map_err(|_| StoreError("the SQLite thread stopped".to_owned()))?;
            answer
                .await
                .map_err(|_| StoreError("the SQLite thread stopped".to_owned()))?
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
        self.ask(|reply| {
            Command::Enqueue(NewDelivery {
                key,
                body,
                window,
                capacity,
                reply,
            })
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        self.ask(|reply| Command::Lease {
            max,
            visibility,
            reply,
        })
    }

    fn complete(&self, job: &Job) -> StoreFuture<'_, ()> {
        let (key, lease) = (job.key.clone(), job.lease);
        self.ask(|reply| Command::Complete { key, lease, reply })
    }

    fn fail(&self, job: &Job, error: String, retry_after: Option<Duration>) -> StoreFuture<'_, ()> {
        let (key, lease) = (job.key.clone(), job.lease);
        self.ask(|reply| Command::Fail {
            key,
            lease,
            error,
            retry_after,
            reply,
        })
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.ask(|reply| Command::DeadLetters { reply })
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.ask(|reply| Command::Replay { key, reply })
    }

    fn pending(&self) -> StoreFuture<'_, usize> {
        self.ask(|reply| Command::Pending { reply })
    }
}

/// The thread that owns the connection.
struct Owner {
    conn: Connection,
    /// Rows ready or leased; only this thread changes them.
    pending: usize,
    next_lease: i64,
    purged_at: i64,
    /// The deduplication window, from the latest enqueue: completed rows are kept that long.
    window_ms: i64,
}

impl Owner {
    fn serve(&mut self, commands: &mpsc::Receiver<Command>) {
        while let Ok(first) = commands.recv() {
            // Group commit: every enqueue waiting now goes into one transaction.
            let mut enqueues = Vec::new();
            let mut others = Vec::new();
            for command in std::iter::once(first).chain(commands.try_iter()) {
                match command {
                    Command::Enqueue(new) => enqueues.push(new),
                    other => others.push(other),
                }
            }
            if !enqueues.is_empty() {
                self.enqueue_all(enqueues);
            }
            for command in others {
                self.run(command);
            }
        }
    }

    fn enqueue_all(&mut self, batch: Vec<NewDelivery>) {
        let pending_before = self.pending;
        let result = (|| -> Result<Vec<(Reply<Enqueued>, Enqueued)>, rusqlite::Error> {
            let tx = self.conn.transaction()?;
            let mut answers = Vec::with_capacity(batch.len());
            let now = now_ms();
            for NewDelivery {
                key,
                body,
                window,
                capacity,
                reply,
            } in batch
            {
                self.window_ms = ms(window);
                let received: Option<(i64, i64)> = tx
                    .query_row(
                        "SELECT received_ms, state FROM deliveries WHERE key = ?1",
                        params![key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let answer = match received {
                    Some((at, _)) if now - at < ms(window) => Enqueued::Duplicate,
                    _ if self.pending >= capacity => Enqueued::Full,
                    Some((_, state)) => {
                        // Seen before the window: a new delivery of an old event.
                        tx.execute(
                            "UPDATE deliveries SET body = ?2, state = ?3, attempts = 0, due_ms = ?4, received_ms = ?4, error = NULL WHERE key = ?1",
                            params![key, body, READY, now],
                        )?;
                        if state != READY && state != LEASED {
                            self.pending += 1;
                        }
                        Enqueued::Stored
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO deliveries (key, body, state, due_ms, received_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                            params![key, body, READY, now],
                        )?;
                        self.pending += 1;
                        Enqueued::Stored
                    }
                };
                answers.push((reply, answer));
            }
            tx.commit()?;
            Ok(answers)
        })();
        match result {
            Ok(answers) => {
                for (reply, answer) in answers {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                // Nothing was committed: every caller answers 503 and Roamify retries.
                self.pending = pending_before;
                tracing::error!(error = %e, "SQLite enqueue failed");
            }
        }
    }

    fn run(&mut self, command: Command) {
        match command {
            Command::Enqueue(new) => self.enqueue_all(vec![new]),
            Command::Lease {
                max,
                visibility,
                reply,
            } => {
                let _ = reply.send(self.lease(max, visibility).map_err(err));
            }
            Command::Complete { key, lease, reply } => {
                let result = self
                    .conn
                    .execute(
                        "UPDATE deliveries SET state = ?3, body = x'' WHERE key = ?1 AND lease = ?2 AND state = ?4",
                        params![key, i64::try_from(lease).unwrap_or(-1), DONE, LEASED],
                    )
                    .map_err(err);
                if result == Ok(1) {
                    self.pending = self.pending.saturating_sub(1);
                }
                let _ = reply.send(result.map(|_| ()));
            }
            Command::Fail {
                key,
                lease,
                error,
                retry_after,
                reply,
            } => {
                let lease = i64::try_from(lease).unwrap_or(-1);
                let result = match retry_after {
                    Some(delay) => self.conn.execute(
                        "UPDATE deliveries SET state = ?3, attempts = attempts + 1, due_ms = ?4, error = ?5 WHERE key = ?1 AND lease = ?2 AND state = ?6",
                        params![key, lease, READY, now_ms().saturating_add(ms(delay)), error, LEASED],
                    ),
                    None => self.conn.execute(
                        "UPDATE deliveries SET state = ?3, attempts = attempts + 1, due_ms = ?4, error = ?5 WHERE key = ?1 AND lease = ?2 AND state = ?6",
                        params![key, lease, DEAD, now_ms(), error, LEASED],
                    ),
                }
                .map_err(err);
                if retry_after.is_none() && result == Ok(1) {
                    self.pending = self.pending.saturating_sub(1);
                }
                let _ = reply.send(result.map(|_| ()));
            }
            Command::DeadLetters { reply } => {
                let _ = reply.send(self.dead_letters().map_err(err));
            }
            Command::Replay { key, reply } => {
                let result = self
                    .conn
                    .execute(
                        "UPDATE deliveries SET state = ?2, attempts = 0, due_ms = ?3 WHERE key = ?1 AND state = ?4",
                        params![key, READY, now_ms(), DEAD],
                    )
                    .map_err(err);
                if result == Ok(1) {
                    self.pending += 1;
                }
                let _ = reply.send(result.map(|n| n == 1));
            }
            Command::Pending { reply } => {
                let _ = reply.send(Ok(self.pending));
            }
        }
    }

    fn lease(&mut self, max: usize, visibility: Duration) -> Result<Vec<Job>, rusqlite::Error> {
        let now = now_ms();
        self.purge_done(now)?;
        let tx = self.conn.transaction()?;
        let mut jobs = Vec::new();
        {
            let mut due = tx.prepare(
                "SELECT key, body, attempts FROM deliveries WHERE state IN (?1, ?2) AND due_ms <= ?3 ORDER BY due_ms LIMIT ?4",
            )?;
            let rows = due.query_map(
                params![READY, LEASED, now, i64::try_from(max).unwrap_or(1)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                },
            )?;
            for row in rows {
                let (key, body, attempts) = row?;
                self.next_lease += 1;
                jobs.push(Job {
                    key,
                    body,
                    attempts,
                    lease: u64::try_from(self.next_lease).unwrap_or(0),
                });
            }
        }
        for job in &jobs {
            tx.execute(
                "UPDATE deliveries SET state = ?2, lease = ?3, due_ms = ?4 WHERE key = ?1",
                params![
                    job.key,
                    LEASED,
                    i64::try_from(job.lease).unwrap_or(-1),
                    now.saturating_add(ms(visibility))
                ],
            )?;
        }
        tx.commit()?;
        Ok(jobs)
    }

    /// Completed rows are kept (without their body) for deduplication; drop those older than the
    /// window, at most once a minute.
    fn purge_done(&mut self, now: i64) -> Result<(), rusqlite::Error> {
        if now - self.purged_at < 60_000 {
            return Ok(());
        }
        self.purged_at = now;
        self.conn.execute(
            "DELETE FROM deliveries WHERE state = ?1 AND received_ms < ?2",
            params![DONE, now - self.window_ms],
        )?;
        Ok(())
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>, rusqlite::Error> {
        let mut query = self.conn.prepare(
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
}
