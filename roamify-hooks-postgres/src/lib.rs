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
//! - `holders(id bigint primary key, seen_at timestamptz)`: each connected store's heartbeat,
//!   every [`HEARTBEAT_EVERY`]; `jobs.holder` names the store that leased a job. A holder not
//!   seen for [`HOLDER_TIMEOUT`] is gone (its process was killed, or lost the database): the
//!   next heartbeat of any live store deletes it and makes its leases due at once, without
//!   waiting for their visibility timeout.
//!
//! Every operation holds one connection from a pool, and runs on a Tokio runtime the store owns
//! (one thread: `roamify_hooks::delivery::backend::StoreRuntime`), so the store can be called
//! from any executor.
//!
//! ```no_run
//! use std::sync::Arc;
//! use roamify_hooks::delivery::{QueueOptions, StoreLimits};
//! use roamify_hooks_postgres::{PgOptions, PgStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PgStore::connect(
//!     "postgres://app@127.0.0.1/app",
//!     PgOptions::default().schema("esim_webhooks").limits(StoreLimits::default()),
//! )
//! .await?;
//! let receiver = roamify_hooks::Receiver::builder()
//!     .secret(roamify_hooks::Secret::new("whsec_…")?)
//!     .store(Arc::new(store), QueueOptions::default())
//!     .build(roamify_hooks::handlers![])?;
//! # drop(receiver);
//! # Ok(())
//! # }
//! ```

mod admin;
mod history;
mod holders;
mod order;
mod schema;
mod sql;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use roamify_hooks::delivery::backend::{PurgePacer, StoreRuntime, unix_millis};
use roamify_hooks::delivery::{
    Described, Enqueued, Incoming, Job, Queue, Resolution, Settlement, StoreError, StoreFuture,
    StoreLimits,
};
use roamify_hooks::ordering::Order;

pub use holders::{HEARTBEAT_EVERY, HOLDER_TIMEOUT};
use sql::{Sql, add_pending};

/// Options of [`PgStore::connect`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgOptions {
    /// The dedupe window and the capacity (shared by every receiver using the schema: give
    /// them all the same).
    pub limits: StoreLimits,
    /// The schema holding the store's tables (created if missing): letters, digits and `_`,
    /// starting with a letter or `_`. Default `roamify`.
    ///
    /// Give each application its own: every receiver using one schema shares one queue
    /// (deduplication keys, deliveries, dead letters), whatever program it is, and the default
    /// is the same for every receiver that keeps it.
    pub schema: String,
    /// The application that owns the schema: recorded there by the first store that connects,
    /// and checked by every later one, which fails to connect when the schema belongs to another
    /// application (a schema with deliveries and no recorded owner, written by an earlier release, is
    /// adopted, logged at WARN). `None` (default; operator tools) checks and records nothing.
    pub owner: Option<String>,
    /// Connections in the pool, at most. Default 16.
    pub pool_size: usize,
    /// How long an operation waits for a connection (or to open one) before it fails with a
    /// [`StoreError`] (a delivery is then answered 503). Default 5 s.
    pub timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            limits: StoreLimits::default(),
            schema: "roamify".to_owned(),
            owner: None,
            pool_size: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

impl PgOptions {
    /// Sets [`PgOptions::limits`].
    #[must_use]
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`PgOptions::schema`].
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets [`PgOptions::owner`].
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
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
    limits: StoreLimits,
    /// This store's id in `holders`, recorded on the jobs it leases.
    holder: i64,
    runtime: StoreRuntime,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.sql.schema)
            .finish_non_exhaustive()
    }
}

pub(crate) fn backend(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::backend(operation, e)
}

pub(crate) fn pool_error(
    operation: &'static str,
) -> impl Fn(deadpool_postgres::PoolError) -> StoreError {
    move |e| StoreError::backend(operation, e)
}

fn ms(d: Duration) -> f64 {
    // Milliseconds as a float: PostgreSQL multiplies an interval by it exactly enough.
    d.as_secs_f64() * 1000.0
}

/// How long a stream's mark is kept after it last moved: the dedupe window (24 h without one),
/// in milliseconds.
fn retention_ms(limits: StoreLimits) -> i64 {
    let window = if limits.window.is_zero() {
        roamify_hooks::delivery::DEFAULT_IDEMPOTENCY_WINDOW
    } else {
        limits.window
    };
    i64::try_from(window.as_millis()).unwrap_or(i64::MAX)
}

/// The order in a row's `stream`, `at`, `serial` columns, from column `first`.
fn order_of(row: &tokio_postgres::Row, first: usize) -> Option<Order> {
    let stream: Option<String> = row.get(first);
    stream.map(|stream| Order::new(stream, row.get(first + 1), row.get(first + 2)))
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
            limits: options.limits,
            holder: holders::new_id(),
            runtime,
        };
        let schema = options.schema.clone();
        let owner = options.owner.clone();
        store
            .run(move |pool, _| async move {
                schema::migrate(&pool, &schema, owner.as_deref()).await
            })
            .await?;
        // The first heartbeat before any lease, so no lease of this store is ever taken for a
        // gone holder's; then one every HEARTBEAT_EVERY.
        let holder = store.holder;
        store
            .run(move |pool, sql| async move { holders::beat(&pool, &sql, holder).await })
            .await?;
        store.runtime.spawn(holders::keep_beating(
            store.pool.clone(),
            Arc::clone(&store.sql),
            holder,
        ));
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

impl Queue for PgStore {
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued> {
        let (window, capacity) = (self.limits.window, self.limits.capacity);
        let history = self.limits.history;
        self.run(move |pool, sql| async move {
            let Incoming {
                key,
                body,
                order,
                about,
                ..
            } = delivery;
            let about = about.unwrap_or_else(|| Described::of(&body));
            let kind = about.name();
            let fail = backend("enqueue");
            let mut client = pool.get().await.map_err(pool_error("enqueue"))?;
            let tx = client.transaction().await.map_err(&fail)?;
            let mark = tx.prepare_cached(&sql.mark).await.map_err(&fail)?;
            let marked = tx
                .query_opt(&mark, &[&key, &ms(window)])
                .await
                .map_err(&fail)?;
            if marked.is_none() {
                if history.is_on() {
                    sql.history.duplicate(&tx, &key).await.map_err(&fail)?;
                    tx.commit().await.map_err(&fail)?;
                }
                // Otherwise nothing was written: the transaction ends with the connection's
                // return.
                return Ok(Enqueued::Duplicate);
            }
            let cap = i64::try_from(capacity).unwrap_or(i64::MAX);
            let count = tx.prepare_cached(&sql.pending).await.map_err(&fail)?;
            let pending: i64 = tx.query_one(&count, &[]).await.map_err(&fail)?.get(0);
            if pending >= cap {
                tx.rollback().await.map_err(&fail)?;
                return Ok(Enqueued::Full);
            }
            let (stream, at, serial) = order.as_ref().map_or((None, 0, false), |o| {
                (Some(o.stream.as_str()), o.at, o.serial)
            });
            if serial && let Some(stream) = stream {
                let streams = std::iter::once(stream.to_owned()).collect();
                order::lock_streams(&tx, &sql, &streams)
                    .await
                    .map_err(&fail)?;
            }
            let insert = tx.prepare_cached(&sql.insert_job).await.map_err(&fail)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                [&key, &body, &stream, &at, &serial, &kind];
            if tx.execute(&insert, &params).await.map_err(&fail)? == 1 {
                add_pending(&tx, &sql, 1).await.map_err(&fail)?;
            }
            if history.is_on() {
                sql.history
                    .stored(&tx, &key, &about, history)
                    .await
                    .map_err(&fail)?;
            }
            tx.commit().await.map_err(&fail)?;
            Ok(Enqueued::Stored)
        })
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        let pacer = Arc::clone(&self.purge);
        let holder = self.holder;
        let retention = retention_ms(self.limits);
        let history = self.limits.history;
        self.run(move |pool, sql| async move {
            let fail = backend("lease");
            let client = pool.get().await.map_err(pool_error("lease"))?;
            let now = unix_millis();
            if pacer.due(now) {
                let purged = sql::purge(&client, &sql, retention, history).await?;
                pacer.ran(now, purged);
            }
            let lease = client.prepare_cached(&sql.lease).await.map_err(&fail)?;
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            let rows = client
                .query(&lease, &[&max, &ms(visibility), &holder])
                .await
                .map_err(&fail)?;
            let mut jobs: Vec<Job> = rows
                .into_iter()
                .map(|row| Job {
                    key: row.get(0),
                    body: row.get(1),
                    attempts: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                    lease: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                    order: order_of(&row, 4),
                    stale: None,
                })
                .collect();
            // Marks move once the jobs are leased and before any runs: a crash in between
            // leaves the jobs to their lease, and they are judged again when leased again.
            order::advance(&client, &sql, &mut jobs, retention)
                .await
                .map_err(&fail)?;
            Ok(jobs)
        })
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        let history = self.limits.history.is_on();
        self.run(move |pool, sql| async move {
            // Kept for the history, which records those applied.
            let kept = if history { batch.clone() } else { Vec::new() };
            let fail = backend("settle");
            let mut client = pool.get().await.map_err(pool_error("settle"))?;
            let tx = client.transaction().await.map_err(&fail)?;
            let mut applied = vec![false; batch.len()];
            let mut finished = 0;
            // Completions, the common case, in one statement; failures one by one.
            let mut done_keys = Vec::new();
            let mut done_leases = Vec::new();
            let mut done_at = std::collections::HashMap::new();
            // Serial streams whose pending job this batch finishes.
            let mut gates = std::collections::BTreeSet::new();
            for (
                i,
                Settlement {
                    key,
                    lease,
                    resolution,
                    ..
                },
            ) in batch.into_iter().enumerate()
            {
                let lease = i64::try_from(lease).unwrap_or(-1);
                let changed = match resolution {
                    // A stale job leaves as a completed one does.
                    Resolution::Completed | Resolution::Stale => {
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
                        let dead = tx.query_opt(&s, &[&key, &lease, &error]).await;
                        if let Ok(Some(row)) = &dead {
                            finished += 1;
                            gates.extend(row.get::<_, Option<String>>(0));
                        }
                        dead.map(|row| u64::from(row.is_some()))
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
                        gates.extend(row.get::<_, Option<String>>(2));
                    }
                }
            }
            order::open_gates(&tx, &sql, &gates).await.map_err(&fail)?;
            if history {
                let recorded: Vec<&Settlement> = kept
                    .iter()
                    .zip(&applied)
                    .filter_map(|(one, applied)| applied.then_some(one))
                    .collect();
                sql.history.settled(&tx, &recorded).await.map_err(&fail)?;
            }
            if finished > 0 {
                add_pending(&tx, &sql, -finished).await.map_err(&fail)?;
            }
            tx.commit().await.map_err(&fail)?;
            Ok(applied)
        })
    }

    fn limits(&self) -> StoreLimits {
        self.limits
    }
}
