//! A store shared by every receiver that uses one Redis (or Valkey) server, on Redis Streams.
//!
//! Keys, all under one hash tag so every script also runs on Redis Cluster (`{roamify}` by
//! default, [`RedisOptions::name`]):
//!
//! - `{roamify}:stream`, a stream with the consumer group `workers`: one entry (`k` = the
//!   delivery's key) per queued job. Each receiver process reads it as its own consumer.
//! - `{roamify}:job:<key>`, a hash per job: `body`, `attempts`, `state` (`ready`, `leased`,
//!   `scheduled` for a retry waiting for its time, `dead`), `lease` (the fencing token),
//!   `entry` (its current stream entry), `error`, `received`, `dead_at` (ms). Deleted when the
//!   job completes.
//! - `{roamify}:dk:<key>`: the dedupe mark, expiring with the window (`PX`), whatever became of
//!   the job.
//! - `{roamify}:live` (set of pending keys: the capacity count), `{roamify}:sched` (sorted set
//!   of retries by due time), `{roamify}:leases` (sorted set of leased keys by the end of their
//!   lease), `{roamify}:dead` (sorted set of dead letters by time), `{roamify}:lease_seq`
//!   (fencing tokens).
//!
//! Every operation that touches several keys is one Lua script, atomic on the server:
//! enqueue (dedupe mark, capacity check, job and stream entry together); lease (due retries
//! back to the stream, then leases whose end passed, each entry moved to this consumer with
//! `XCLAIM`, then `XREADGROUP` of new entries; each job gets a new token and a lease end);
//! settle (checked against the token before `XACK`: a stale worker changes nothing). Finished
//! entries are acknowledged and deleted (`XACK` + `XDEL`); the stream is never trimmed with
//! `MAXLEN`, which would not touch the pending list. Times are Redis's (`TIME`), one clock for
//! every receiver.
//!
//! Expired leases are found through their recorded end rather than with `XAUTOCLAIM`'s idle
//! time: a lease's visibility timeout is the one its taker asked for, while `XAUTOCLAIM` would
//! apply the *claimer's* timeout to every entry and scan the pending list on each call; the
//! sorted set answers exactly, in O(log n) per expired lease.
//!
//! What "stored" survives is Redis's configuration: see [`RedisStore`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use roamify_hooks::delivery::backend::StoreRuntime;
use roamify_hooks::delivery::{StoreError, StoreFuture, StoreLimits};

mod history;
mod holders;
mod queue;

pub use holders::{HEARTBEAT_EVERY, HOLDER_TIMEOUT};

/// The consumer group every receiver joins.
const GROUP: &str = "workers";
/// How often a process removes consumers that stopped.
pub(crate) const FORGET_EVERY_MS: i64 = 60_000;

/// Options of [`RedisStore::connect`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The dedupe window and the capacity (shared by every receiver using the name: give them
    /// all the same).
    pub limits: StoreLimits,
    /// The hash tag of every key (`{name}:stream`, …): receivers sharing a name share the
    /// queue. Letters, digits, `_`, `-`, `.` and `:`. Default `roamify`.
    ///
    /// Give each application its own: every receiver using one name shares one queue, whatever
    /// program it is, and the default is the same for every receiver that keeps it.
    pub name: String,
    /// The application that owns the name: recorded under it (`{name}:owner`) by the first
    /// store that connects, and checked by every later one, which fails to connect when the
    /// name belongs to another application (keys with deliveries and no recorded owner, written
    /// by an earlier release, are adopted, logged at WARN). `None` (default; operator tools)
    /// checks and records nothing.
    pub owner: Option<String>,
    /// How long an operation waits for Redis (to connect, or to answer) before it fails with a
    /// [`StoreError`] (a delivery is then answered 503). Default 5 s.
    pub timeout: Duration,
    /// How long a consumer of the group (another receiver process) must have been idle, holding
    /// no lease, before it is removed as stopped. Checked at most once a minute. Default 10 min.
    pub forget_idle: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            limits: StoreLimits::default(),
            name: "roamify".to_owned(),
            owner: None,
            timeout: Duration::from_secs(5),
            forget_idle: Duration::from_secs(600),
        }
    }
}

impl RedisOptions {
    /// Sets [`RedisOptions::limits`].
    #[must_use]
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`RedisOptions::name`].
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`RedisOptions::owner`].
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets [`RedisOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`RedisOptions::forget_idle`].
    #[must_use]
    pub fn forget_idle(mut self, idle: Duration) -> Self {
        self.forget_idle = idle;
        self
    }
}

/// Deliveries in Redis Streams, shared by every receiver using the same server and
/// [`RedisOptions::name`]: deduplication, capacity, leases and dead letters hold across all.
///
/// - `enqueue` is one script: the dedupe mark, the capacity check and the job are written
///   together or not at all, and `Stored` is answered once Redis executed it.
/// - `lease` hands each job a fresh fencing token; settling under a stale token does nothing.
///   When a lease's visibility timeout passed, any receiver takes the job over.
/// - Each process is its own consumer of the group (`<host>-<pid>-<random>`); consumers of
///   stopped processes are removed once they hold nothing and were idle for
///   [`RedisOptions::forget_idle`] (10 minutes by default). After a
///   Redis restart without persistence the group is created again, not looped on.
///
/// # What "stored" survives
///
/// Redis answers before its data reaches the disk unless configured otherwise:
///
/// - `appendonly yes` with `appendfsync always`: a stored delivery survives a crash of Redis
///   and of its machine (each write is fsynced before the answer; slower).
/// - `appendonly yes` with `appendfsync everysec` (Redis's default when AOF is on): a crash of
///   the machine may lose the last second of acknowledged deliveries.
/// - No persistence (`save ""`, `appendonly no`): a restart of Redis loses every pending
///   delivery. A crash of a *receiver* never loses anything: its leases are taken over.
/// - Replicas: `WAIT`/`WAITAOF` (Redis 7.2+) after each write would be needed to survive the
///   loss of the primary; this store does not issue them.
///
/// When Redis cannot be reached, every operation fails with a [`StoreError`] after
/// [`RedisOptions::timeout`]: new deliveries are answered 503 and workers back off; the
/// connection is re-established once Redis is back.
pub struct RedisStore {
    pub(crate) connection: ConnectionManager,
    pub(crate) shared: Arc<Shared>,
    pub(crate) runtime: StoreRuntime,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("name", &self.shared.name)
            .field("consumer", &self.shared.consumer)
            .finish_non_exhaustive()
    }
}

/// What every operation needs besides the connection.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) keys: [String; 6],
    pub(crate) limits: StoreLimits,
    pub(crate) prefix: String,
    pub(crate) consumer: String,
    pub(crate) scripts: Scripts,
    /// When this process next removes stopped consumers (process-local time, ms).
    pub(crate) forget_at: Mutex<i64>,
    /// [`RedisOptions::forget_idle`], in ms.
    pub(crate) forget_idle: u64,
}

pub(crate) struct Scripts {
    pub(crate) enqueue: Script,
    pub(crate) lease: Script,
    pub(crate) settle: Script,
    pub(crate) dead_letters: Script,
    pub(crate) replay: Script,
    pub(crate) forget: Script,
    pub(crate) counts: Script,
    pub(crate) discard: Script,
    pub(crate) heartbeat: Script,
    pub(crate) owner: Script,
    pub(crate) pause: Script,
    pub(crate) resume: Script,
}

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

fn backend(operation: &'static str) -> impl Fn(RedisError) -> StoreError {
    move |e| StoreError::backend(operation, e)
}

/// How long a stream's mark is kept after it last moved: the dedupe window (24 h without one),
/// in milliseconds (at least 1, as `PX` takes).
fn retention_ms(limits: StoreLimits) -> u64 {
    let window = if limits.window.is_zero() {
        roamify_hooks::delivery::DEFAULT_IDEMPOTENCY_WINDOW
    } else {
        limits.window
    };
    ms(window).max(1)
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// A name no other process uses: host, process id and a random suffix.
fn consumer_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

impl RedisStore {
    /// Connects to Redis at `url` (`redis://[user:password@]host:port/db`, or `rediss://` with
    /// TLS when the `redis` crate is built with it), creates the consumer group if missing, and
    /// returns the store.
    ///
    /// # Errors
    /// When the URL or the options are invalid, or Redis cannot be reached.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        if !valid_name(&options.name) {
            return Err(StoreError::backend(
                "connect",
                format!(
                    "invalid store name {:?}: use letters, digits, `_`, `-`, `.` and `:`",
                    options.name
                ),
            ));
        }
        let client = redis::Client::open(url).map_err(backend("parse the Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let runtime = StoreRuntime::start("roamify-redis")?;
        // The connection's driver task is spawned where it is made: on the store's runtime.
        let connection = runtime
            .run("connect to Redis", async move {
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(backend("connect"))
            })
            .await?;
        let options_owner = options.owner.clone();
        let tag = format!("{{{}}}", options.name);
        let shared = Arc::new(Shared {
            keys: ["stream", "live", "sched", "dead", "lease_seq", "leases"]
                .map(|k| format!("{tag}:{k}")),
            limits: options.limits,
            prefix: format!("{tag}:"),
            name: options.name,
            consumer: consumer_name(),
            scripts: Scripts {
                enqueue: script(include_str!("lua/enqueue.lua")),
                lease: script(include_str!("lua/lease.lua")),
                settle: script(include_str!("lua/settle.lua")),
                dead_letters: script(include_str!("lua/dead_letters.lua")),
                replay: script(include_str!("lua/replay.lua")),
                forget: script(include_str!("lua/forget.lua")),
                counts: script(include_str!("lua/counts.lua")),
                discard: script(include_str!("lua/discard.lua")),
                heartbeat: script(include_str!("lua/heartbeat.lua")),
                owner: script(include_str!("lua/owner.lua")),
                pause: script(include_str!("lua/pause.lua")),
                resume: script(include_str!("lua/resume.lua")),
            },
            forget_at: Mutex::new(0),
            forget_idle: ms(options.forget_idle),
        });
        let store = Self {
            connection,
            shared,
            runtime,
        };
        // Fails now, with the cause, rather than at the first delivery; takes back the leases
        // of consumers that are gone before this one leases anything.
        if let Some(owner) = &options_owner {
            store.claim(owner).await?;
        }
        store.beat().await?;
        let beating = Arc::clone(&store.shared);
        let connection = store.connection.clone();
        store
            .runtime
            .spawn(holders::keep_beating(connection, beating));
        Ok(store)
    }

    /// The name in every key's hash tag.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// This process's consumer name in the group.
    #[must_use]
    pub fn consumer(&self) -> &str {
        &self.shared.consumer
    }

    /// Checks that `owner` owns the name, recording it when nobody does.
    async fn claim(&self, owner: &str) -> Result<(), StoreError> {
        let me = owner.to_owned();
        let (recorded, adopted): (String, i64) = self
            .invoke(
                "check the name's owner",
                |s| &s.owner,
                move |i| {
                    i.arg(me);
                },
            )
            .await?;
        if recorded != owner {
            return Err(StoreError::backend(
                "connect",
                format!(
                    "the Redis name {:?} belongs to the application {recorded:?}, not to \
                     {owner:?}: give each application a name of its own (RedisOptions::name, \
                     REDIS_NAME in the examples)",
                    self.shared.name
                ),
            ));
        }
        if adopted == 1 {
            tracing::warn!(
                target: "roamify_hooks",
                name = %self.shared.name,
                owner,
                "adopted the Redis name {}, which held deliveries but recorded no owner: it now belongs to {owner:?}",
                self.shared.name
            );
        }
        Ok(())
    }

    /// One heartbeat: see [`holders`].
    fn beat(&self) -> StoreFuture<'_, u64> {
        let connection = self.connection.clone();
        let shared = Arc::clone(&self.shared);
        self.runtime
            .run("record a heartbeat", holders::beat(connection, shared))
    }

    /// Runs one script with the store's keys and leading arguments, then `args`.
    fn invoke<T, A>(
        &self,
        operation: &'static str,
        pick: fn(&Scripts) -> &Script,
        args: A,
    ) -> StoreFuture<'_, T>
    where
        T: redis::FromRedisValue + Send + 'static,
        A: FnOnce(&mut redis::ScriptInvocation<'_>) + Send + 'static,
    {
        let connection = self.connection.clone();
        let shared = Arc::clone(&self.shared);
        self.runtime
            .run(operation, invoke(connection, shared, operation, pick, args))
    }
}

/// Runs one script with the store's keys and leading arguments, then `args`.
async fn invoke<T, A>(
    mut connection: ConnectionManager,
    shared: Arc<Shared>,
    operation: &'static str,
    pick: fn(&Scripts) -> &Script,
    args: A,
) -> Result<T, StoreError>
where
    T: redis::FromRedisValue + Send + 'static,
    A: FnOnce(&mut redis::ScriptInvocation<'_>) + Send + 'static,
{
    let mut invocation = pick(&shared.scripts).prepare_invoke();
    for key in &shared.keys {
        invocation.key(key);
    }
    invocation.arg(&shared.prefix).arg(GROUP);
    args(&mut invocation);
    invocation
        .invoke_async(&mut connection)
        .await
        .map_err(backend(operation))
}
