//! Any delivery store of the workspace, opened from one URL: `durable:<path>` (SQLite),
//! `journal:<dir>`, `postgres://…` or `redis://…` — the configuration the example servers read
//! from `ROAMIFY_DELIVERY` and the `roamify-hooks` command reads from `--store`, for applications
//! that want the same.
//!
//! ```no_run
//! use roamify_hooks_stores::{StoreConfig, StoreUrl};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url: StoreUrl = std::env::var("ROAMIFY_DELIVERY")?.parse()?;
//! let store = StoreConfig::new(url).owner("esim-reseller").open().await?;
//! let receiver = roamify_hooks::Receiver::builder()
//!     .secret(roamify_hooks::Secret::from_env()?)
//!     .store(store, roamify_hooks::delivery::QueueOptions::default())
//!     .build(roamify_hooks::handlers![])?;
//! # drop(receiver);
//! # Ok(())
//! # }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use roamify_hooks::delivery::{
    Admin, DeadLetter, Delivery, Filter, HistoryPage, JournalInUse, JournalOptions, JournalStore,
    JournalView, Page, SqliteOptions, SqliteStore, Store, StoreCounts, StoreError, StoreFuture,
    StoreLimits,
};
use roamify_hooks_postgres::{PgOptions, PgStore};
use roamify_hooks_redis::{RedisOptions, RedisStore};

/// Where deliveries are stored, parsed from a URL: `durable:<path>`, `journal:<dir>`, `postgres://…` or
/// `redis://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// A SQLite file (`durable:<path>`).
    Sqlite(PathBuf),
    /// A journal directory (`journal:<dir>`): read at any time, changed (replay, discard) only
    /// while no server holds it.
    Journal(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`).
    Postgres(String),
    /// A Redis server (`redis://…` or `rediss://…`).
    Redis(String),
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names no store this crate can open.
    #[error(
        "{0:?} is not a store URL: use durable:<path>, journal:<dir>, postgres://… or redis://… (the server's ROAMIFY_DELIVERY)"
    )]
    Invalid(String),
    /// An in-memory mode: its deliveries live in the server process only.
    #[error(
        "{0:?} keeps deliveries in the server's memory; nothing outside the process can see them (use a durable store to inspect and replay)"
    )]
    InMemory(String),
    /// The SQLite file or the journal's directory does not exist (opening would create an empty
    /// one).
    #[error("no database at {}", .0.display())]
    Missing(PathBuf),
    /// A journal held by a running server: replay and discard change the journal, which only
    /// the one process holding its directory can do.
    #[error(
        "cannot change the journal at {}: stop its server first, or reach it through its admin API with --server (stats and dead-letters list/show read it while it runs)", .dir.display()
    )]
    JournalHeld {
        /// The journal's directory.
        dir: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: StoreError,
    },
    /// The store failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl std::str::FromStr for StoreUrl {
    type Err = OpenError;

    fn from_str(url: &str) -> Result<Self, OpenError> {
        match url.split_once(':') {
            Some(("durable", path)) if !path.is_empty() => Ok(Self::Sqlite(path.into())),
            Some(("journal", dir)) if !dir.is_empty() => Ok(Self::Journal(dir.into())),
            Some(("postgres" | "postgresql", _)) => Ok(Self::Postgres(url.to_owned())),
            Some(("redis" | "rediss", _)) => Ok(Self::Redis(url.to_owned())),
            None if url == "inline" || url == "queued" => Err(OpenError::InMemory(url.to_owned())),
            _ => Err(OpenError::Invalid(url.to_owned())),
        }
    }
}

/// How to open a store: its URL, and the names that select one store among several on a
/// shared server. Build one with [`StoreConfig::new`] and the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreConfig {
    /// Where.
    pub url: StoreUrl,
    /// PostgreSQL: the schema of the store's tables (the server's `PG_SCHEMA`).
    pub pg_schema: String,
    /// Redis: the hash tag of the store's keys (the server's `REDIS_NAME`).
    pub redis_name: String,
    /// The dedupe window and capacity the store is opened with: a server gives its own; the
    /// operator commands, which never enqueue, the defaults.
    pub limits: StoreLimits,
    /// PostgreSQL and Redis: the application that owns the schema or name, recorded there on
    /// first use and checked at every start (`PgOptions::owner`, `RedisOptions::owner`); `None`
    /// (operator tools) checks and records nothing.
    pub owner: Option<String>,
}

impl StoreConfig {
    /// The store at `url`, with the default schema and name (`roamify`), limits and no owner.
    #[must_use]
    pub fn new(url: StoreUrl) -> Self {
        Self {
            url,
            pg_schema: "roamify".to_owned(),
            redis_name: "roamify".to_owned(),
            limits: StoreLimits::default(),
            owner: None,
        }
    }

    /// Sets [`StoreConfig::pg_schema`].
    #[must_use]
    pub fn pg_schema(mut self, schema: impl Into<String>) -> Self {
        self.pg_schema = schema.into();
        self
    }

    /// Sets [`StoreConfig::redis_name`].
    #[must_use]
    pub fn redis_name(mut self, name: impl Into<String>) -> Self {
        self.redis_name = name.into();
        self
    }

    /// Sets [`StoreConfig::limits`].
    #[must_use]
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`StoreConfig::owner`].
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Opens the store, to change it. A SQLite file or a journal must exist already; a journal
    /// opens only while no server holds it (its directory's lock). To read, see
    /// [`read`](Self::read).
    ///
    /// # Errors
    /// When the file is missing, or the store cannot be opened or reached.
    pub async fn open(&self) -> Result<Arc<dyn Store>, OpenError> {
        Ok(match &self.url {
            StoreUrl::Sqlite(path) => {
                if !path.is_file() {
                    return Err(OpenError::Missing(path.clone()));
                }
                let options = SqliteOptions::default().limits(self.limits);
                Arc::new(SqliteStore::open_with(path, options)?)
            }
            StoreUrl::Journal(dir) => {
                if !dir.is_dir() {
                    return Err(OpenError::Missing(dir.clone()));
                }
                let options = JournalOptions::default().limits(self.limits);
                Arc::new(JournalStore::open_with(dir, options).map_err(|source| {
                    if source.backend_error::<JournalInUse>().is_some() {
                        OpenError::JournalHeld {
                            dir: dir.clone(),
                            source,
                        }
                    } else {
                        OpenError::Store(source)
                    }
                })?)
            }
            StoreUrl::Postgres(url) => {
                let mut options = PgOptions::default()
                    .schema(self.pg_schema.as_str())
                    .limits(self.limits);
                if let Some(owner) = &self.owner {
                    options = options.owner(owner.as_str());
                }
                Arc::new(PgStore::connect(url, options).await?)
            }
            StoreUrl::Redis(url) => {
                let mut options = RedisOptions::default()
                    .name(self.redis_name.as_str())
                    .limits(self.limits);
                if let Some(owner) = &self.owner {
                    options = options.owner(owner.as_str());
                }
                Arc::new(RedisStore::connect(url, options).await?)
            }
        })
    }

    /// Opens the store to read it. A journal is read from its files without its lock
    /// ([`JournalView`]), so it can be inspected while its server runs; every other store is
    /// [`open`](Self::open)ed.
    ///
    /// # Errors
    /// As [`open`](Self::open); for a journal, when its files cannot be read.
    pub async fn read(&self) -> Result<Reader, OpenError> {
        if let StoreUrl::Journal(dir) = &self.url {
            if !dir.is_dir() {
                return Err(OpenError::Missing(dir.clone()));
            }
            return Ok(Reader::Journal(JournalView::read(dir)?));
        }
        Ok(Reader::Store(self.open().await?))
    }
}

/// A store opened to be read ([`StoreConfig::read`]).
#[non_exhaustive]
pub enum Reader {
    /// The store itself.
    Store(Arc<dyn Store>),
    /// A journal's contents, as of its server's last flush.
    Journal(JournalView),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(_) => f.write_str("Reader::Store(..)"),
            Self::Journal(view) => f.debug_tuple("Reader::Journal").field(view).finish(),
        }
    }
}

impl Reader {
    /// The dead letters, oldest first.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        match self {
            Self::Store(store) => store.dead_letters().await,
            Self::Journal(view) => Ok(view.dead_letters().to_vec()),
        }
    }

    /// What the store holds, by state.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        match self {
            Self::Store(store) => store.counts().await,
            Self::Journal(view) => Ok(view.counts()),
        }
    }
}

/// A reader answers as an [`Admin`] for what it can read; a journal read from its files (its
/// server holding it) refuses every change, and holds no history (the history lives in the
/// server: reach it through the admin API).
impl Admin for Reader {
    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        match self {
            Self::Store(store) => store.counts(),
            Self::Journal(view) => Box::pin(std::future::ready(Ok(view.counts()))),
        }
    }

    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        match self {
            Self::Store(store) => store.dead_letters(),
            Self::Journal(view) => Box::pin(std::future::ready(Ok(view.dead_letters().to_vec()))),
        }
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        match self {
            Self::Store(store) => store.replay(key),
            Self::Journal(_) => read_only("replay"),
        }
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        match self {
            Self::Store(store) => store.discard(key),
            Self::Journal(_) => read_only("discard"),
        }
    }

    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        match self {
            Self::Store(store) => store.history(filter, page),
            Self::Journal(_) => Box::pin(std::future::ready(Ok(HistoryPage::default()))),
        }
    }

    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        match self {
            Self::Store(store) => store.delivery(key),
            Self::Journal(_) => Box::pin(std::future::ready(Ok(None))),
        }
    }

    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        match self {
            Self::Store(store) => store.pause(kind),
            Self::Journal(_) => read_only("pause"),
        }
    }

    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        match self {
            Self::Store(store) => store.resume(kind),
            Self::Journal(_) => read_only("resume"),
        }
    }

    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        match self {
            Self::Store(store) => store.paused(),
            Self::Journal(_) => Box::pin(std::future::ready(Ok(Vec::new()))),
        }
    }
}

fn read_only<T: Send + 'static>(operation: &'static str) -> StoreFuture<'static, T> {
    Box::pin(std::future::ready(Err(StoreError::backend(
        operation,
        "a journal read from its files cannot be changed: stop its server, or use --server",
    ))))
}
