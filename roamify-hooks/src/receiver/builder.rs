//! Building a [`Receiver`]: secrets, state, delivery mode, and the errors of a bad set-up.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{Inner, Mode, Receiver};
#[cfg(feature = "queue")]
use crate::delivery::{Backing, Engine, QueueOptions, Role, Store};
use crate::delivery::{
    DEFAULT_DEDUPE_CAPACITY, DEFAULT_IDEMPOTENCY_WINDOW, Deduper, DeliveryMode, StoreError,
};
use crate::dispatch::{Dispatch, Handlers, MissingState, States};
use crate::ordering::{KeyFn, NoOrderKey, Ordering, Plan};
use crate::run::{Handled, OnHandled, Runner};
use crate::secret::{Secret, SecretError};
use crate::signature::Secrets;
use crate::stats::Counters;

/// Builds a [`Receiver`].
pub struct ReceiverBuilder {
    secrets: Option<Secrets>,
    states: States,
    mode: DeliveryMode,
    #[cfg(feature = "queue")]
    store: Option<(Arc<dyn Store>, QueueOptions)>,
    #[cfg(feature = "queue")]
    role: Role,
    #[cfg(feature = "queue")]
    history: crate::delivery::HistoryLimits,
    window: Option<Duration>,
    dedupe_capacity: usize,
    max_age: Option<Duration>,
    on_handled: Option<OnHandled>,
    ordering: Ordering,
    order_keys: std::collections::HashMap<(String, String), KeyFn>,
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        Self {
            secrets: None,
            states: States::default(),
            mode: DeliveryMode::Inline,
            #[cfg(feature = "queue")]
            store: None,
            #[cfg(feature = "queue")]
            role: Role::Both,
            #[cfg(feature = "queue")]
            history: crate::delivery::HistoryLimits::default(),
            window: Some(DEFAULT_IDEMPOTENCY_WINDOW),
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
            max_age: None,
            on_handled: None,
            ordering: Ordering::default(),
            order_keys: std::collections::HashMap::new(),
        }
    }
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("secrets", &self.secrets)
            .field("mode", &self.mode)
            .field("window", &self.window)
            .field("max_age", &self.max_age)
            .field("ordering", &self.ordering)
            .finish_non_exhaustive()
    }
}

/// Why a [`Receiver`] could not be built.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No secret was given.
    #[error("no webhook secret configured (call `.secret(…)` on the receiver builder)")]
    NoSecret,
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A handler needs state that was never registered.
    #[error(transparent)]
    MissingState(#[from] MissingState),
    /// The delivery store could not be opened (its error, the source, says which and why:
    /// `the delivery store could not open …`).
    #[error("cannot build the receiver")]
    Store(#[source] StoreError),
    /// The delivery workers' threads could not be started.
    #[error("cannot start the delivery workers")]
    Workers(#[source] std::io::Error),
    /// An ingest-only or worker-only role was asked of a receiver without a queue.
    #[error(
        "ingest-only and worker-only receivers need a queued or durable delivery mode, or a store"
    )]
    RoleWithoutQueue,
    /// A handler asks for ordering on a kind that has no stream key.
    #[error(transparent)]
    NoOrderKey(#[from] NoOrderKey),
}

impl ReceiverBuilder {
    /// Accepts signatures made with `secret` (call again to accept several, during a rotation).
    #[must_use]
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secrets = Some(match self.secrets.take() {
            Some(secrets) => secrets.with(secret),
            None => Secrets::new(secret),
        });
        self
    }

    /// Accepts signatures made with any of `secrets` (replacing secrets given before).
    #[must_use]
    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Registers application state; handlers take it as `State<T>`.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Registers application state that is already shared (`State<T>` in handlers).
    #[must_use]
    pub fn state_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.states.insert_arc(value);
        self
    }

    /// Chooses when handlers run and what survives a crash (default [`DeliveryMode::Inline`]).
    #[must_use]
    pub fn delivery(mut self, mode: DeliveryMode) -> Self {
        self.mode = mode;
        self
    }

    /// Queues deliveries in a store of your own (see [`Store`]), acknowledging them at once.
    ///
    /// The store keeps the dedupe window and the capacity it was opened with
    /// ([`StoreLimits`](crate::delivery::StoreLimits)): this receiver's
    /// [`idempotency_window`](Self::idempotency_window) and [`QueueOptions::capacity`] apply only
    /// to stores the receiver opens itself (the queued, durable and journal modes).
    #[cfg(feature = "queue")]
    #[must_use]
    pub fn store(mut self, store: Arc<dyn Store>, options: QueueOptions) -> Self {
        self.store = Some((store, options));
        self
    }

    /// How much delivery history the stores the receiver opens keep (queued, durable, journal;
    /// a store given with `store` has its own): by default the newest 20 000 deliveries of the
    /// last 7 days; [`HistoryLimits::off`](crate::delivery::HistoryLimits::off) keeps none.
    #[cfg(feature = "queue")]
    #[must_use]
    pub fn history(mut self, history: crate::delivery::HistoryLimits) -> Self {
        self.history = history;
        self
    }

    /// Makes this receiver ingest-only or worker-only ([`Role`]); queued and durable modes and
    /// custom stores only. Default [`Role::Both`].
    #[cfg(feature = "queue")]
    #[must_use]
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Acknowledges a delivery seen within `window` without running handlers again (default
    /// 24 hours): in inline mode, and in the stores the receiver opens (queued, durable,
    /// journal). A store given with `store` (feature `queue`) has its own window.
    #[must_use]
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Keeps at most `keys` delivery fingerprints in inline mode's in-memory deduplication index
    /// (default [`DEFAULT_DEDUPE_CAPACITY`], about 100 bytes each at the bound). At the bound the oldest key is
    /// forgotten before its window ends, so a redelivery of it would run its handler again. The
    /// queued mode's `MemoryStore` has its own bound (`MemoryOptions::dedupe_keys`); the durable
    /// store keeps keys on disk.
    #[must_use]
    pub fn dedupe_capacity(mut self, keys: usize) -> Self {
        self.dedupe_capacity = keys.max(1);
        self
    }

    /// Runs handlers for every delivery, duplicates included (inline mode only: the queued and
    /// durable stores always deduplicate, with a zero window here meaning none).
    #[must_use]
    pub fn without_idempotency(mut self) -> Self {
        self.window = None;
        self
    }

    /// Refuses (400) deliveries whose signed `timestamp` is older than `max_age`. Off by
    /// default: Roamify's retries arrive late, and refused events are not delivered again.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// How deliveries of kinds that report a state are ordered, unless their handler says
    /// otherwise with `#[on_event(…, ordering = "…")]`: see [`crate::ordering`]. Default
    /// [`Ordering::Off`]; with [`Ordering::Latest`], an older eSIM status or usage, or balance,
    /// never runs after a newer one of its stream started.
    #[must_use]
    pub fn ordering(mut self, ordering: Ordering) -> Self {
        self.ordering = ordering;
        self
    }

    /// Orders `category`/`kind` by the key `key` reads from each event (its stream is the kind's
    /// name and that key): for an uncatalogued kind, or to override a catalogued kind's key (a
    /// receiver serving several partner accounts, say). An event for which `key` gives `None` is
    /// not ordered. Its timestamp is the event's `timestamp` (under `data` or at the top level).
    ///
    /// ```
    /// use roamify_hooks::{Event, ReceiverBuilder};
    ///
    /// let builder = ReceiverBuilder::default().order_key("fleet", "location", |event| match event {
    ///     Event::Unknown(unknown) => unknown
    ///         .payload::<serde_json::Value>()
    ///         .ok()?
    ///         .get("vehicle")?
    ///         .as_str()
    ///         .map(str::to_owned),
    ///     _ => None,
    /// });
    /// # let _ = builder;
    /// ```
    #[must_use]
    pub fn order_key(
        mut self,
        category: &str,
        kind: &str,
        key: impl Fn(&crate::catalog::Event) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.order_keys
            .insert((category.to_owned(), kind.to_owned()), Arc::new(key));
        self
    }

    /// Calls `hook` after each successful handler run, with the delivery's idempotency key
    /// (an audit trail, metrics). It runs on the handler's thread: keep it short.
    #[must_use]
    pub fn on_handled(mut self, hook: impl Fn(&Handled<'_>) + Send + Sync + 'static) -> Self {
        self.on_handled = Some(Arc::new(hook));
        self
    }

    /// Binds `table` to the registered state and builds the receiver.
    ///
    /// # Errors
    /// [`BuildError::NoSecret`], or [`BuildError::MissingState`] when a handler takes state that
    /// was not registered — at start-up, never on a request.
    pub fn build<H: Handlers>(self, table: H) -> Result<Receiver<H::Bound>, BuildError> {
        let secrets = self.secrets.ok_or(BuildError::NoSecret)?;
        crate::meter::describe();
        let table = table.bind(&self.states)?;
        let plan = Plan::new(self.ordering, &table.orderings(), &self.order_keys)?;
        let plan = plan.any().then_some(plan);
        let runner = Runner::new(
            Arc::new(table),
            Arc::new(Counters::default()),
            self.on_handled,
        );
        #[cfg(feature = "queue")]
        let limits = |options: &QueueOptions| {
            crate::delivery::StoreLimits::default()
                .window(self.window.unwrap_or(Duration::ZERO))
                .capacity(options.capacity)
                .history(self.history)
        };
        #[cfg(feature = "queue")]
        // With whether only this process reads the store (a custom store may be shared; so may
        // a SQLite file), and whether it dies with the process (the queued mode's memory).
        let store: Option<(Backing, QueueOptions)> = match (self.store, self.mode) {
            (Some((custom, options)), _) => Some((Backing::shared(custom), options)),
            (None, DeliveryMode::Inline) => None,
            (None, DeliveryMode::Queued(options)) => Some((
                Backing {
                    store: Arc::new(crate::delivery::MemoryStore::with_options(
                        crate::delivery::MemoryOptions::default().limits(limits(&options)),
                    )),
                    private: true,
                    ephemeral: true,
                },
                options,
            )),
            #[cfg(feature = "durable")]
            (None, DeliveryMode::Durable { path, options }) => {
                let sqlite = crate::delivery::SqliteOptions::default().limits(limits(&options));
                let store = crate::delivery::SqliteStore::open_with(&path, sqlite)
                    .map_err(BuildError::Store)?;
                Some((Backing::shared(Arc::new(store)), options))
            }
            #[cfg(feature = "durable")]
            (None, DeliveryMode::Journal { dir, options }) => {
                let journal = crate::delivery::JournalOptions::default().limits(limits(&options));
                let store = crate::delivery::JournalStore::open_with(&dir, journal)
                    .map_err(BuildError::Store)?;
                let backing = Backing {
                    store: Arc::new(store),
                    private: true,
                    ephemeral: false,
                };
                Some((backing, options))
            }
        };
        #[cfg(feature = "queue")]
        if store.is_none() && self.role != Role::Both {
            return Err(BuildError::RoleWithoutQueue);
        }
        #[cfg(feature = "queue")]
        let engine = match store {
            Some((backing, options)) => Some(
                Engine::start(self.role, backing, options, runner.clone())
                    .map_err(BuildError::Workers)?,
            ),
            None => None,
        };
        let inline = || Mode::Inline {
            dedupe: self.window.map(|w| Deduper::new(w, self.dedupe_capacity)),
            marks: plan.as_ref().map(|_| {
                let retention = self
                    .window
                    .filter(|w| !w.is_zero())
                    .unwrap_or(DEFAULT_IDEMPOTENCY_WINDOW);
                crate::ordering::Marks::new(crate::ordering::DEFAULT_MARKS, retention)
            }),
        };
        #[cfg(feature = "queue")]
        let mode = match engine {
            Some(engine) => Mode::Queue(engine),
            None => inline(),
        };
        #[cfg(not(feature = "queue"))]
        let mode = {
            let DeliveryMode::Inline = self.mode;
            inline()
        };
        Ok(Receiver {
            inner: Arc::new(Inner {
                secrets,
                runner,
                mode,
                max_age: self.max_age,
                plan,
                stopping: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}

crate::report::debug_as_report!(BuildError);
