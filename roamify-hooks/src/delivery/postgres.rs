//! A store shared by every receiver that uses one PostgreSQL database.
//!
//! Tables live in a schema of their own (`roamify` by default), created and migrated by
//! [`PgStore::connect`] under an advisory lock, so receivers starting together migrate once:
//!
//! - `keys(key text primary key, expires_at timestamptz)`: deduplication. A key is a duplicate
//!   while `expires_at` is in the future, whatever became of its job; expired keys are deleted
//!   in bounded batches.
//! - `jobs(key text primary key, body bytea, state smallint, attempts int, visible_at
//!   timestamptz, lease bigint, error text, received_at timestamptz, dead_at timestamptz)` with
//!   `state` 0 waiting or leased (a lease is `visible_at` in the future), 2 dead. A completed job
//!   is deleted in the transaction that records it.
//! - `lease_seq`: the fencing tokens.
//! - `pending(slot, n)`: the count of waiting and leased jobs, spread over 16 rows (its sum),
//!   changed in the transactions that change it: the capacity check reads 16 rows instead of
//!   counting the queue.
//!
//! Every operation holds one connection from a pool, and runs on a Tokio runtime the store owns,
//! so the store can be called from any executor.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::StoreError;
use super::purge::{PURGE_BATCH, PurgePacer};
use super::runtime::StoreRuntime;
use super::store::{
    DeadLetter, Enqueued, Job, Resolution, Settlement, Store, StoreCounts, StoreFuture,
};
use crate::time::UnixTime;

/// The schema version this release writes.
const SCHEMA_VERSION: i32 = 1;

/// Options of [`PgStore::connect`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgOptions {
    /// The schema holding the store's tables (created if missing): letters, digits and `_`,
    /// starting with a letter or `_`. Default `roamify`.
    ///
    /// Give each application its own: every receiver using one schema shares one queue
    /// (deduplication keys, deliveries, dead letters), whatever program it is, and the default
    /// is the same for every receiver that keeps it.
    pub schema: String,
    /// Connections in the pool, at most. Default 16.
    pub pool_size: usize,
    /// How long an operation waits for a connection (or to open one) before it fails with a
    /// [`StoreError`] (a delivery is then answered 503). Default 5 s.
    pub timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "roamify".to_owned(),
            pool_size: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

impl PgOptions {
    /// Sets [`PgOptions::schema`].
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets [`PgOptions::pool_size`].
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Sets [`PgOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Deliveries in PostgreSQL, shared by every receiver using the same database and schema:
/// deduplication, capacity, leases and dead letters hold across all of them.
///
/// - `enqueue` is one transaction: the dedupe mark (a window, not a bare unique key), the
///   capacity check and the stored body commit together or not at all; `Stored` is returned
///   after the commit (with PostgreSQL's default `synchronous_commit = on`, it survives a crash
///   of the database server).
/// - `lease` takes due jobs with `FOR UPDATE SKIP LOCKED`, so receivers never wait on each
///   other, and gives each a fresh fencing token; settling under a stale token does nothing.
/// - The capacity is counted over pending jobs at enqueue time; receivers enqueueing at the
///   same moment may each see room for one more, so it can be passed by as many.
///
/// When the database cannot be reached, every operation fails with a [`StoreError`] after
/// [`PgOptions::timeout`]: new deliveries are answered 503 and workers back off; the pool opens
/// new connections once the database is back.
pub struct PgStore {
    pool: Pool,
    sql: Arc<Sql>,
    purge: Arc<PurgePacer>,
    runtime: StoreRuntime,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.sql.schema)
            .finish_non_exhaustive()
    }
}

/// The statements, with the schema name in them.
struct Sql {
    schema: String,
    mark: String,
    insert_job: String,
    add_pending: String,
    lease: String,
    complete: String,
    retry: String,
    dead: String,
    release: String,
    dead_letters: String,
    replay: String,
    pending: String,
    purge: String,
    counts: String,
    discard: String,
}

impl Sql {
    fn new(schema: &str) -> Self {
        let s = schema;
        Self {
            schema: s.to_owned(),
            mark: format!(
                "INSERT INTO {s}.keys (key, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
                 ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE {s}.keys.expires_at <= now() RETURNING 1"
            ),
            // A dead job of the same key (its window ended) is replaced; a job still pending is
            // left as it is (it runs anyway), and nothing is counted for it.
            insert_job: format!(
                "INSERT INTO {s}.jobs (key, body, state, visible_at, received_at)
                 VALUES ($1, $2, 0, now(), now())
                 ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body, state = 0, attempts = 0,
                     visible_at = now(), lease = 0, error = NULL, received_at = now(), dead_at = NULL
                 WHERE {s}.jobs.state = 2"
            ),
            add_pending: format!("UPDATE {s}.pending SET n = n + $2 WHERE slot = $1"),
            lease: format!(
                "UPDATE {s}.jobs j SET lease = nextval('{s}.lease_seq'),
                     visible_at = now() + $2 * interval '1 millisecond'
                 FROM (SELECT key FROM {s}.jobs WHERE state = 0 AND visible_at <= now()
                       ORDER BY visible_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
                 WHERE j.key = due.key
                 RETURNING j.key, j.body, j.attempts, j.lease"
            ),
            complete: format!(
                "DELETE FROM {s}.jobs j USING unnest($1::text[], $2::bigint[]) AS done(key, lease)
                 WHERE j.key = done.key AND j.lease = done.lease AND j.state = 0
                 RETURNING j.key, j.lease"
            ),
            retry: format!(
                "UPDATE {s}.jobs SET attempts = attempts + 1, error = $3,
                     visible_at = now() + $4 * interval '1 millisecond', lease = 0
                 WHERE key = $1 AND lease = $2 AND state = 0"
            ),
            dead: format!(
                "UPDATE {s}.jobs SET state = 2, attempts = attempts + 1, error = $3, dead_at = now(), lease = 0
                 WHERE key = $1 AND lease = $2 AND state = 0"
            ),
            release: format!(
                "UPDATE {s}.jobs SET visible_at = now(), lease = 0
                 WHERE key = $1 AND lease = $2 AND state = 0"
            ),
            dead_letters: format!(
                "SELECT key, body, attempts, coalesce(error, ''), extract(epoch FROM dead_at)::bigint
                 FROM {s}.jobs WHERE state = 2 ORDER BY dead_at"
            ),
            replay: format!(
                "UPDATE {s}.jobs SET state = 0, attempts = 0, visible_at = now(), lease = 0, dead_at = NULL
                 WHERE key = $1 AND state = 2"
            ),
            pending: format!("SELECT coalesce(sum(n), 0)::bigint FROM {s}.pending"),
            purge: format!(
                "DELETE FROM {s}.keys WHERE ctid IN
                     (SELECT ctid FROM {s}.keys WHERE expires_at < now() LIMIT $1)"
            ),
            // A leased job has a lease token; a retry or a release clears it.
            counts: format!(
                "SELECT count(*) FILTER (WHERE state = 0 AND lease = 0 AND visible_at <= now()),
                        count(*) FILTER (WHERE state = 0 AND lease <> 0),
                        count(*) FILTER (WHERE state = 0 AND lease = 0 AND visible_at > now()),
                        count(*) FILTER (WHERE state = 2)
                 FROM {s}.jobs"
            ),
            // The dedupe mark lives in `keys`, untouched.
            discard: format!("DELETE FROM {s}.jobs WHERE key = $1 AND state = 2"),
        }
    }
}

fn backend(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::backend(operation, e)
}

fn pool_error(operation: &'static str) -> impl Fn(deadpool_postgres::PoolError) -> StoreError {
    move |e| StoreError::backend(operation, e)
}

fn ms(d: Duration) -> f64 {
    // Milliseconds as a float: PostgreSQL multiplies an interval by it exactly enough.
    d.as_secs_f64() * 1000.0
}

fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && schema.len() <= 63
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`),
    /// creates or migrates the store's schema, and returns the store.
    ///
    /// # Errors
    /// When the URL or the options are invalid, the database cannot be reached, or its schema
    /// was written by a newer release.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        if !valid_schema(&options.schema) {
            return Err(StoreError::backend(
                "connect",
                format!(
                    "invalid schema name {:?}: use letters, digits and `_`",
                    options.schema
                ),
            ));
        }
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::backend("parse the database URL", e))?;
        let runtime = StoreRuntime::start("roamify-postgres")?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| StoreError::backend("build the connection pool", e))?;
        let store = Self {
            pool,
            sql: Arc::new(Sql::new(&options.schema)),
            purge: Arc::new(PurgePacer::default()),
            runtime,
        };
        let schema = options.schema.clone();
        store
            .run(move |pool, _| async move { migrate(&pool, &schema).await })
            .await?;
        Ok(store)
    }

    /// The schema holding the store's tables.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// Runs `work` on the store's runtime with the pool and the statements.
    fn run<T, F, Fut>(&self, work: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(Pool, Arc<Sql>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.runtime.run(
            "run a PostgreSQL operation",
            work(self.pool.clone(), Arc::clone(&self.sql)),
        )
    }
}

/// Rows of the sharded pending count: each change goes to one row picked at random, so
/// concurrent transactions rarely wait on each other's row lock, and the count is their sum.
const PENDING_SLOTS: i32 = 16;

/// Adds `delta` to the pending count, inside the caller's transaction.
async fn add_pending(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &Sql,
    delta: i64,
) -> Result<(), tokio_postgres::Error> {
    let slot = i32::try_from(fastrand::u32(..PENDING_SLOTS.unsigned_abs())).unwrap_or(0);
    let add = tx.prepare_cached(&sql.add_pending).await?;
    tx.execute(&add, &[&slot, &delta]).await.map(drop)
}

async fn migrate(pool: &Pool, schema: &str) -> Result<(), StoreError> {
    let fail = backend("migrate the schema");
    let mut client = pool.get().await.map_err(pool_error("connect"))?;
    let tx = client.transaction().await.map_err(&fail)?;
    // One migration at a time across every receiver, released at commit.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('roamify_hooks:' || $1))",
        &[&schema],
    )
    .await
    .map_err(&fail)?;
    let s = schema;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer NOT NULL);"
    ))
    .await
    .map_err(&fail)?;
    let version: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {s}.schema_version"),
            &[],
        )
        .await
        .map_err(&fail)?
        .get(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::backend(
            "migrate the schema",
            format!("schema {s} has version {version}, newer than this release's {SCHEMA_VERSION}"),
        ));
    }
    if version < 1 {
        tx.batch_execute(&format!(
            "CREATE TABLE {s}.keys (
                 key text PRIMARY KEY,
                 expires_at timestamptz NOT NULL
             );
             CREATE INDEX keys_expiry ON {s}.keys (expires_at);
             CREATE TABLE {s}.jobs (
                 key text PRIMARY KEY,
                 body bytea NOT NULL,
                 state smallint NOT NULL,
                 attempts integer NOT NULL DEFAULT 0,
                 visible_at timestamptz NOT NULL,
                 lease bigint NOT NULL DEFAULT 0,
                 error text,
                 received_at timestamptz NOT NULL,
                 dead_at timestamptz
             );
             CREATE INDEX jobs_due ON {s}.jobs (visible_at) WHERE state = 0;
             CREATE INDEX jobs_dead ON {s}.jobs (dead_at) WHERE state = 2;
             CREATE SEQUENCE {s}.lease_seq;
             CREATE TABLE {s}.pending (slot integer PRIMARY KEY, n bigint NOT NULL);
             INSERT INTO {s}.pending SELECT slot, 0 FROM generate_series(0, {last}) slot;
             INSERT INTO {s}.schema_version (version) VALUES (1);",
            last = PENDING_SLOTS - 1
        ))
        .await
        .map_err(&fail)?;
    }
    tx.commit().await.map_err(&fail)
}

impl Store for PgStore {
    fn enqueue(
        &self,
        key: String,
        body: Vec<u8>,
        window: Duration,
        capacity: usize,
    ) -> StoreFuture<'_, Enqueued> {
        self.run(move |pool, sql| async move {
            let fail = backend("enqueue");
            let mut client = pool.get().await.map_err(pool_error("enqueue"))?;
            let tx = client.transaction().await.map_err(&fail)?;
            let mark = tx.prepare_cached(&sql.mark).await.map_err(&fail)?;
            let marked = tx
                .query_opt(&mark, &[&key, &ms(window)])
                .await
                .map_err(&fail)?;
            if marked.is_none() {
                // Nothing was written: the transaction ends with the connection's return.
                return Ok(Enqueued::Duplicate);
            }
            let cap = i64::try_from(capacity).unwrap_or(i64::MAX);
            let count = tx.prepare_cached(&sql.pending).await.map_err(&fail)?;
            let pending: i64 = tx.query_one(&count, &[]).await.map_err(&fail)?.get(0);
            if pending >= cap {
                tx.rollback().await.map_err(&fail)?;
                return Ok(Enqueued::Full);
            }
            let insert = tx.prepare_cached(&sql.insert_job).await.map_err(&fail)?;
            if tx.execute(&insert, &[&key, &body]).await.map_err(&fail)? == 1 {
                add_pending(&tx, &sql, 1).await.map_err(&fail)?;
            }
            tx.commit().await.map_err(&fail)?;
            Ok(Enqueued::Stored)
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        let pacer = Arc::clone(&self.purge);
        self.run(move |pool, sql| async move {
            let fail = backend("lease");
            let client = pool.get().await.map_err(pool_error("lease"))?;
            let now = super::unix_millis();
            if pacer.due(now) {
                let purge = client.prepare_cached(&sql.purge).await.map_err(&fail)?;
                let purged = client
                    .execute(&purge, &[&PURGE_BATCH])
                    .await
                    .map_err(backend("purge expired keys"))?;
                pacer.ran(now, purged);
            }
            let lease = client.prepare_cached(&sql.lease).await.map_err(&fail)?;
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            let rows = client
                .query(&lease, &[&max, &ms(visibility)])
                .await
                .map_err(&fail)?;
            Ok(rows
                .into_iter()
                .map(|row| Job {
                    key: row.get(0),
                    body: row.get(1),
                    attempts: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                    lease: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                })
                .collect())
        })
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        self.run(move |pool, sql| async move {
            let fail = backend("settle");
            let mut client = pool.get().await.map_err(pool_error("settle"))?;
            let tx = client.transaction().await.map_err(&fail)?;
            let mut applied = vec![false; batch.len()];
            let mut finished = 0;
            // Completions, the common case, in one statement; failures one by one.
            let mut done_keys = Vec::new();
            let mut done_leases = Vec::new();
            let mut done_at = std::collections::HashMap::new();
            for (
                i,
                Settlement {
                    key,
                    lease,
                    resolution,
                },
            ) in batch.into_iter().enumerate()
            {
                let lease = i64::try_from(lease).unwrap_or(-1);
                let changed = match resolution {
                    Resolution::Completed => {
                        done_at.insert((key.clone(), lease), i);
                        done_keys.push(key);
                        done_leases.push(lease);
                        continue;
                    }
                    Resolution::Retry { after, error } => {
                        let s = tx.prepare_cached(&sql.retry).await.map_err(&fail)?;
                        tx.execute(&s, &[&key, &lease, &error, &ms(after)]).await
                    }
                    Resolution::Dead { error } => {
                        let s = tx.prepare_cached(&sql.dead).await.map_err(&fail)?;
                        let changed = tx.execute(&s, &[&key, &lease, &error]).await;
                        if matches!(changed, Ok(1)) {
                            finished += 1;
                        }
                        changed
                    }
                    Resolution::Released => {
                        let s = tx.prepare_cached(&sql.release).await.map_err(&fail)?;
                        tx.execute(&s, &[&key, &lease]).await
                    }
                }
                .map_err(&fail)?;
                applied[i] = changed == 1;
            }
            if !done_keys.is_empty() {
                let s = tx.prepare_cached(&sql.complete).await.map_err(&fail)?;
                for row in tx
                    .query(&s, &[&done_keys, &done_leases])
                    .await
                    .map_err(&fail)?
                {
                    let key: String = row.get(0);
                    let lease: i64 = row.get(1);
                    if let Some(&i) = done_at.get(&(key, lease)) {
                        applied[i] = true;
                        finished += 1;
                    }
                }
            }
            if finished > 0 {
                add_pending(&tx, &sql, -finished).await.map_err(&fail)?;
            }
            tx.commit().await.map_err(&fail)?;
            Ok(applied)
        })
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.run(move |pool, sql| async move {
            let fail = backend("list dead letters");
            let client = pool.get().await.map_err(pool_error("list dead letters"))?;
            let rows = client.query(&sql.dead_letters, &[]).await.map_err(&fail)?;
            Ok(rows
                .into_iter()
                .map(|row| DeadLetter {
                    key: row.get(0),
                    body: row.get(1),
                    attempts: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                    error: row.get(3),
                    dead_at: UnixTime::from_secs(row.get::<_, i64>(4)),
                })
                .collect())
        })
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.run(move |pool, sql| async move {
            let fail = backend("replay");
            let mut client = pool.get().await.map_err(pool_error("replay"))?;
            let tx = client.transaction().await.map_err(&fail)?;
            let replayed = tx.execute(&sql.replay, &[&key]).await.map_err(&fail)? == 1;
            if replayed {
                add_pending(&tx, &sql, 1).await.map_err(&fail)?;
            }
            tx.commit().await.map_err(&fail)?;
            Ok(replayed)
        })
    }

    fn pending(&self) -> StoreFuture<'_, usize> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("count pending"))?;
            let count: i64 = client
                .query_one(&sql.pending, &[])
                .await
                .map_err(backend("count pending"))?
                .get(0);
            Ok(usize::try_from(count).unwrap_or(0))
        })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("count deliveries"))?;
            let row = client
                .query_one(&sql.counts, &[])
                .await
                .map_err(backend("count deliveries"))?;
            let n = |i: usize| usize::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            Ok(StoreCounts {
                ready: n(0),
                leased: n(1),
                retrying: n(2),
                dead: n(3),
            })
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("discard"))?;
            let deleted = client
                .execute(&sql.discard, &[&key])
                .await
                .map_err(backend("discard"))?;
            Ok(deleted == 1)
        })
    }
}
