//! The receiver: verify, parse, dispatch — one call per delivery, with no web framework in it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument as _;

use crate::catalog::{Event, EventKind};
use crate::delivery::{
    Counters, DEFAULT_DEDUPE_CAPACITY, Deduper, DeliveryMode, Stats, StoreError, Unavailable,
    fingerprint, idempotency_key, key_from,
};
#[cfg(feature = "queue")]
use crate::delivery::{DeadLetter, Engine, QueueOptions, Role, Store, StoreCounts};
use crate::dispatch::{Dispatch, Dispatched, HandlerError, Handlers, MissingState, States};
use crate::parse::ParseError;
use crate::secret::{Secret, SecretError};
use crate::signature::{Secrets, SignatureError};
use crate::{meter, observe};

/// The default idempotency window: 24 hours.
pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// A delivery whose handler succeeded, as seen by [`ReceiverBuilder::on_handled`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled<'a> {
    /// The delivery's idempotency key ([`idempotency_key`](crate::delivery::idempotency_key)).
    pub key: &'a str,
    /// The event.
    pub event: &'a EventName,
    /// The handler that ran.
    pub handler: &'static str,
}

pub(crate) type OnHandled = Arc<dyn Fn(&Handled<'_>) + Send + Sync>;

/// Receives Roamify deliveries: holds the secrets and a bound dispatch table.
///
/// Cheap to clone (one `Arc`); build it once and share it between server workers.
///
/// ```
/// use roamify_hooks::{handlers, on_event, testing, Outcome, Receiver, Secret};
/// use roamify_hooks::events::PartnerBalance;
///
/// #[on_event(category = "partner", kind = "low_balance")]
/// fn low_balance(event: PartnerBalance) {
///     println!("balance down to {} {}", event.balance, event.currency);
/// }
///
/// # futures_executor::block_on(async {
/// let receiver = Receiver::builder()
///     .secret(Secret::new("whsec_test")?)
///     .build(handlers![low_balance])?;
///
/// let body = testing::sample(roamify_hooks::EventKind::PartnerLowBalance);
/// let signature = testing::sign("whsec_test", body);
/// let outcome = receiver.receive([signature.as_bytes()], body).await;
/// assert!(matches!(outcome, Outcome::Handled { handler: "low_balance", .. }));
///
/// let outcome = receiver.receive(["0".repeat(64)], body).await;
/// assert!(matches!(outcome, Outcome::BadSignature(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Receiver<D> {
    inner: Arc<Inner<D>>,
}

struct Inner<D> {
    secrets: Secrets,
    table: Arc<D>,
    /// Inline mode's idempotency (queued and durable stores deduplicate themselves).
    dedupe: Option<Deduper>,
    #[cfg(feature = "queue")]
    engine: Option<Engine>,
    counters: Arc<Counters>,
    max_age: Option<Duration>,
    on_handled: Option<OnHandled>,
}

impl<D> Clone for Receiver<D> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<D> fmt::Debug for Receiver<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("secrets", &self.inner.secrets)
            .finish_non_exhaustive()
    }
}

/// What happened to one delivery. An adapter maps it to an HTTP answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Verified, parsed, and its handler succeeded.
    Handled {
        /// The event.
        event: EventName,
        /// The handler that ran.
        handler: &'static str,
        /// Which secret matched.
        secret_index: usize,
    },
    /// Verified and parsed, but no handler runs for it (an unknown event without a fallback, or
    /// a known one without a handler). Acknowledge it: failing it would only make Roamify retry.
    Acknowledged {
        /// The event.
        event: EventName,
        /// Which secret matched.
        secret_index: usize,
    },
    /// Verified, parsed and stored for the workers (queued and durable modes): acknowledge it.
    Queued {
        /// The event.
        event: EventName,
        /// Its idempotency key.
        key: String,
        /// Which secret matched.
        secret_index: usize,
    },
    /// Already received within the idempotency window: acknowledge it, nothing ran.
    Duplicate {
        /// The event.
        event: EventName,
        /// Which secret matched.
        secret_index: usize,
    },
    /// Verified, but its signed `timestamp` is older than the configured maximum age.
    TooOld {
        /// The event.
        event: EventName,
        /// How old it is.
        age: Duration,
        /// Which secret matched.
        secret_index: usize,
    },
    /// Verified, but it could not be stored (the queue is full, or the store failing): answer
    /// 503 so Roamify retries. Nothing was acknowledged.
    Unavailable {
        /// Why, for logs (the store's error keeps its cause).
        reason: Unavailable,
    },
    /// Verified, but the receiver is shutting down: answer 503 so Roamify retries (another
    /// instance, or this one after its restart, takes it). Nothing was acknowledged.
    ShuttingDown,
    /// The signature is missing, malformed or wrong. Never say which to the sender.
    BadSignature(SignatureError),
    /// Signed, but not a Roamify envelope, or a known kind whose payload does not parse.
    Malformed {
        /// What is wrong.
        error: ParseError,
        /// Which secret matched.
        secret_index: usize,
    },
    /// The handler returned an error or panicked; the sender should retry.
    HandlerFailed {
        /// The event.
        event: EventName,
        /// The failure.
        error: HandlerError,
        /// Which secret matched.
        secret_index: usize,
    },
}

impl Outcome {
    /// The event's names, when the body was verified and parsed.
    #[must_use]
    pub fn event(&self) -> Option<&EventName> {
        match self {
            Self::Handled { event, .. }
            | Self::Acknowledged { event, .. }
            | Self::HandlerFailed { event, .. }
            | Self::Queued { event, .. }
            | Self::Duplicate { event, .. }
            | Self::TooOld { event, .. } => Some(event),
            Self::BadSignature(_)
            | Self::Malformed { .. }
            | Self::Unavailable { .. }
            | Self::ShuttingDown => None,
        }
    }

    /// Which secret verified the delivery, when one did.
    #[must_use]
    pub fn secret_index(&self) -> Option<usize> {
        match self {
            Self::Handled { secret_index, .. }
            | Self::Acknowledged { secret_index, .. }
            | Self::Malformed { secret_index, .. }
            | Self::HandlerFailed { secret_index, .. }
            | Self::Queued { secret_index, .. }
            | Self::Duplicate { secret_index, .. }
            | Self::TooOld { secret_index, .. } => Some(*secret_index),
            Self::BadSignature(_) | Self::Unavailable { .. } | Self::ShuttingDown => None,
        }
    }

    /// A short label for logs and metrics: `handled`, `acknowledged`, `queued`, `duplicate`,
    /// `too_old`, `unavailable`, `shutting_down`, `bad_signature`, `malformed`,
    /// `handler_failed`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Handled { .. } => "handled",
            Self::Acknowledged { .. } => "acknowledged",
            Self::Queued { .. } => "queued",
            Self::Duplicate { .. } => "duplicate",
            Self::TooOld { .. } => "too_old",
            Self::Unavailable { .. } => "unavailable",
            Self::ShuttingDown => "shutting_down",
            Self::BadSignature(_) => "bad_signature",
            Self::Malformed { .. } => "malformed",
            Self::HandlerFailed { .. } => "handler_failed",
        }
    }
}

/// An event's category and kind, for outcomes and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventName {
    /// A catalog kind.
    Known(EventKind),
    /// An event the catalog does not know, with its names as sent.
    Unknown {
        /// `event_category`.
        category: String,
        /// `event_type`.
        kind: String,
    },
}

impl EventName {
    pub(crate) fn of(event: &Event) -> Self {
        match event {
            Event::Unknown(u) => Self::Unknown {
                category: u.category().to_owned(),
                kind: u.kind().to_owned(),
            },
            known => match known.kind() {
                Some(kind) => Self::Known(kind),
                None => Self::Unknown {
                    category: String::new(),
                    kind: String::new(),
                },
            },
        }
    }

    /// `event_category`.
    #[must_use]
    pub fn category(&self) -> &str {
        match self {
            Self::Known(kind) => kind.category(),
            Self::Unknown { category, .. } => category,
        }
    }

    /// `event_type` (the canonical spelling for known kinds).
    #[must_use]
    pub fn kind(&self) -> &str {
        match self {
            Self::Known(kind) => kind.name(),
            Self::Unknown { kind, .. } => kind,
        }
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.category(), self.kind())
    }
}

impl Receiver<()> {
    /// Starts a receiver: add secrets and state, then [`ReceiverBuilder::build`] with a table.
    #[must_use]
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }
}

impl<D: Dispatch> Receiver<D> {
    /// Handles one delivery: verifies `body` against the `X-Roamify-Signature` value(s), parses
    /// it, and — per the delivery mode — runs its handler or stores it for the workers.
    ///
    /// Logs the outcome once (target `roamify_hooks`), with `category`, `kind`, `secret` (the
    /// matching secret's index), `latency_us`, and `handler` or `key` where they apply: at
    /// `info` when handled, acknowledged, stored or a duplicate; at `warn` for a refusal (bad
    /// signature, malformed, too old, 503) with its `cause`; at `error` when a handler failed,
    /// with the whole cause chain. A handler runs in a span `roamify_delivery` with `category`
    /// and `kind`, so its own log lines carry them. Secrets and bodies are never logged.
    pub async fn receive<I>(&self, signatures: I, body: &[u8]) -> Outcome
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let started = Instant::now();
        let mut key = None;
        let outcome = match self.verify_and_parse(signatures, body, &mut key) {
            Err(refused) => refused,
            Ok((event, secret_index)) => {
                let name = EventName::of(&event);
                self.handle(event, name, body, secret_index, &mut key).await
            }
        };
        observe::ended(&outcome, key.as_deref(), started);
        outcome
    }

    /// The event in a verified body, and the matching secret's index; or why not. `failed_key`
    /// is set for a verified body that does not parse (for the log line).
    fn verify_and_parse<I>(
        &self,
        signatures: I,
        body: &[u8],
        failed_key: &mut Option<String>,
    ) -> Result<(Event, usize), Outcome>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let verified = self
            .inner
            .secrets
            .verify(signatures, body)
            .map_err(Outcome::BadSignature)?;
        let secret_index = verified.secret_index();
        match Event::parse(&verified) {
            Ok(event) => Ok((event, secret_index)),
            Err(error) => {
                *failed_key = Some(key_from(None, body));
                Err(Outcome::Malformed {
                    error,
                    secret_index,
                })
            }
        }
    }

    /// Runs or stores a verified, parsed delivery. `failed_key` is set to its idempotency key
    /// when it fails (for the log line).
    async fn handle(
        &self,
        event: Event,
        name: EventName,
        body: &[u8],
        secret_index: usize,
        failed_key: &mut Option<String>,
    ) -> Outcome {
        if let Some(age) = self.too_old(&event) {
            *failed_key = Some(idempotency_key(&event, body));
            return Outcome::TooOld {
                event: name,
                age,
                secret_index,
            };
        }
        #[cfg(feature = "queue")]
        if let Some(engine) = &self.inner.engine {
            return self.enqueue(engine, &event, name, body, secret_index).await;
        }
        let fingerprint = self
            .inner
            .dedupe
            .as_ref()
            .map(|_| fingerprint(&event, body));
        if let (Some(dedupe), Some(fingerprint)) = (&self.inner.dedupe, fingerprint)
            && !dedupe.first_time(fingerprint)
        {
            Counters::bump(&self.inner.counters.deduplicated);
            return Outcome::Duplicate {
                event: name,
                secret_index,
            };
        }
        // The visible key (SHA-256) is computed only for the hook that shows it, or for the log
        // line of a failure (from what it is made of, kept before the event moves).
        let key = self
            .inner
            .on_handled
            .as_ref()
            .map(|_| idempotency_key(&event, body));
        let event_id = event.event_id().map(str::to_owned);
        let started = meter::start();
        // Awaiting the table directly (not `self.dispatch`) keeps one less future around the event.
        let dispatched = self
            .inner
            .table
            .dispatch(event)
            .instrument(observe::delivery_span(&name))
            .await;
        meter::handler_ran(&name, started, !matches!(dispatched, Dispatched::Failed(_)));
        let outcome = self.outcome(name, dispatched, secret_index);
        match &outcome {
            Outcome::Handled { event, handler, .. } => {
                if let (Some(hook), Some(key)) = (&self.inner.on_handled, &key) {
                    hook(&Handled {
                        key,
                        event,
                        handler,
                    });
                }
            }
            Outcome::HandlerFailed { .. } => {
                *failed_key = Some(key.unwrap_or_else(|| key_from(event_id.as_deref(), body)));
                // Roamify retries a failed delivery: it must run again.
                if let (Some(dedupe), Some(fingerprint)) = (&self.inner.dedupe, fingerprint) {
                    dedupe.forget(fingerprint);
                }
            }
            _ => {}
        }
        outcome
    }

    fn too_old(&self, event: &Event) -> Option<Duration> {
        let max_age = self.inner.max_age?;
        let sent = event.timestamp()?;
        let age = u64::try_from(
            crate::UnixTime::now()
                .as_secs()
                .saturating_sub(sent.as_secs()),
        )
        .unwrap_or(0);
        let age = Duration::from_secs(age);
        (age > max_age).then_some(age)
    }

    #[cfg(feature = "queue")]
    async fn enqueue(
        &self,
        engine: &Engine,
        event: &Event,
        name: EventName,
        body: &[u8],
        secret_index: usize,
    ) -> Outcome {
        use crate::delivery::Accepted;
        let key = idempotency_key(event, body);
        match engine.accept(key.clone(), body).await {
            Accepted::Stored => {
                Counters::bump(&self.inner.counters.queued);
                Outcome::Queued {
                    event: name,
                    key,
                    secret_index,
                }
            }
            Accepted::Duplicate => {
                Counters::bump(&self.inner.counters.deduplicated);
                Outcome::Duplicate {
                    event: name,
                    secret_index,
                }
            }
            Accepted::Full => {
                Counters::bump(&self.inner.counters.refused_full);
                Outcome::Unavailable {
                    reason: Unavailable::QueueFull,
                }
            }
            Accepted::Unavailable(error) => {
                Counters::bump(&self.inner.counters.refused_unavailable);
                Outcome::Unavailable {
                    reason: Unavailable::Store(error),
                }
            }
            Accepted::ShuttingDown => {
                Counters::bump(&self.inner.counters.refused_shutting_down);
                Outcome::ShuttingDown
            }
            Accepted::WorkerOnly => Outcome::Unavailable {
                reason: Unavailable::WorkerOnly,
            },
        }
    }

    /// Runs the handler of an already verified and parsed event, now.
    pub async fn dispatch(&self, event: Event, secret_index: usize) -> Outcome {
        let name = EventName::of(&event);
        let dispatched = self.inner.table.dispatch(event).await;
        self.outcome(name, dispatched, secret_index)
    }

    fn outcome(&self, name: EventName, dispatched: Dispatched, secret_index: usize) -> Outcome {
        match dispatched {
            Dispatched::Handled { handler } => {
                Counters::bump(&self.inner.counters.handled);
                Outcome::Handled {
                    event: name,
                    handler,
                    secret_index,
                }
            }
            Dispatched::NoHandler => Outcome::Acknowledged {
                event: name,
                secret_index,
            },
            Dispatched::Invalid(error) => Outcome::Malformed {
                error,
                secret_index,
            },
            Dispatched::Failed(error) => Outcome::HandlerFailed {
                event: name,
                error,
                secret_index,
            },
        }
    }

    /// What the receiver has done so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Deliveries that exhausted their retries (queued and durable modes; empty inline).
    ///
    /// # Errors
    /// When the store fails.
    #[cfg(feature = "queue")]
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        match &self.inner.engine {
            Some(engine) => engine.dead_letters().await,
            None => Ok(Vec::new()),
        }
    }

    /// Queues a dead letter again, with its attempts reset; `false` when there is none with
    /// that key.
    ///
    /// # Errors
    /// When the store fails.
    #[cfg(feature = "queue")]
    pub async fn replay(&self, key: &str) -> Result<bool, StoreError> {
        match &self.inner.engine {
            Some(engine) => engine.replay(key).await,
            None => Ok(false),
        }
    }

    /// What the store holds, by state (queued and durable modes; all zero inline). Read from the
    /// store itself: right after a restart, and for every receiver sharing the store — unlike
    /// [`Stats`], which counts what this receiver did since it was built.
    ///
    /// # Errors
    /// When the store fails.
    #[cfg(feature = "queue")]
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        match &self.inner.engine {
            Some(engine) => engine.counts().await,
            None => Ok(StoreCounts::default()),
        }
    }

    /// Deletes a dead letter; `false` when there is none with that key. Its key stays known
    /// for the dedupe window, so a late redelivery is still acknowledged as a duplicate.
    ///
    /// # Errors
    /// When the store fails.
    #[cfg(feature = "queue")]
    pub async fn discard(&self, key: &str) -> Result<bool, StoreError> {
        match &self.inner.engine {
            Some(engine) => engine.discard(key).await,
            None => Ok(false),
        }
    }

    /// Deliveries waiting or running (queued and durable modes; 0 inline).
    ///
    /// # Errors
    /// When the store fails.
    #[cfg(feature = "queue")]
    pub async fn pending(&self) -> Result<usize, StoreError> {
        match &self.inner.engine {
            Some(engine) => engine.pending().await,
            None => Ok(0),
        }
    }

    /// Stops taking deliveries (they are answered [`Outcome::Unavailable`], so Roamify retries
    /// them later), lets running handlers finish for up to `grace`, and stops the workers.
    /// Returns how many deliveries were still pending: a durable store keeps them for the next
    /// start; the in-memory queue loses them. Call it after the HTTP server has stopped. It blocks
    /// the calling thread (at most about twice `grace`), also when called from an `async fn main`.
    #[cfg(feature = "queue")]
    pub fn shutdown(&self, grace: Duration) -> usize {
        match &self.inner.engine {
            Some(engine) => engine.shutdown(grace),
            None => 0,
        }
    }

    /// The accepted secrets.
    #[must_use]
    pub fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }
}

/// Builds a [`Receiver`].
pub struct ReceiverBuilder {
    secrets: Option<Secrets>,
    states: States,
    mode: DeliveryMode,
    #[cfg(feature = "queue")]
    store: Option<(Arc<dyn Store>, QueueOptions)>,
    #[cfg(feature = "queue")]
    role: Role,
    window: Option<Duration>,
    dedupe_capacity: usize,
    max_age: Option<Duration>,
    on_handled: Option<OnHandled>,
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
            window: Some(DEFAULT_IDEMPOTENCY_WINDOW),
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
            max_age: None,
            on_handled: None,
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
    /// The delivery store could not be opened.
    #[error("cannot open the delivery store")]
    Store(#[source] StoreError),
    /// The delivery workers' threads could not be started.
    #[error("cannot start the delivery workers")]
    Workers(#[source] std::io::Error),
    /// An ingest-only or worker-only role was asked of a receiver without a queue.
    #[error(
        "ingest-only and worker-only receivers need a queued or durable delivery mode, or a store"
    )]
    RoleWithoutQueue,
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
    #[cfg(feature = "queue")]
    #[must_use]
    pub fn store(mut self, store: Arc<dyn Store>, options: QueueOptions) -> Self {
        self.store = Some((store, options));
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
    /// 24 hours).
    #[must_use]
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Keeps at most `keys` delivery fingerprints in inline mode's in-memory deduplication index
    /// (default [`DEFAULT_DEDUPE_CAPACITY`], about 100 bytes each at the bound). At the bound the oldest key is
    /// forgotten before its window ends, so a redelivery of it would run its handler again. The
    /// queued mode's `MemoryStore` has its own bound (`MemoryStore::with_limits`); the durable
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
        let table = Arc::new(table.bind(&self.states)?);
        let counters = Arc::new(Counters::default());
        #[cfg(feature = "queue")]
        let store: Option<(Arc<dyn Store>, QueueOptions)> = match (self.store, self.mode) {
            (Some(custom), _) => Some(custom),
            (None, DeliveryMode::Inline) => None,
            (None, DeliveryMode::Queued(options)) => {
                Some((Arc::new(crate::delivery::MemoryStore::new()), options))
            }
            #[cfg(feature = "durable")]
            (None, DeliveryMode::Durable { path, options }) => {
                let store = crate::delivery::SqliteStore::open(&path).map_err(BuildError::Store)?;
                Some((Arc::new(store), options))
            }
        };
        #[cfg(feature = "queue")]
        if store.is_none() && self.role != Role::Both {
            return Err(BuildError::RoleWithoutQueue);
        }
        #[cfg(feature = "queue")]
        let engine = match store {
            Some((store, options)) => Some(
                Engine::start(
                    self.role,
                    store,
                    options,
                    self.window.unwrap_or(Duration::ZERO),
                    Arc::clone(&table),
                    Arc::clone(&counters),
                    self.on_handled.clone(),
                )
                .map_err(BuildError::Workers)?,
            ),
            None => None,
        };
        #[cfg(feature = "queue")]
        let dedupe = if engine.is_some() {
            None
        } else {
            self.window.map(|w| Deduper::new(w, self.dedupe_capacity))
        };
        #[cfg(not(feature = "queue"))]
        let dedupe = {
            let DeliveryMode::Inline = self.mode;
            self.window.map(|w| Deduper::new(w, self.dedupe_capacity))
        };
        Ok(Receiver {
            inner: Arc::new(Inner {
                secrets,
                table,
                dedupe,
                #[cfg(feature = "queue")]
                engine,
                counters,
                max_age: self.max_age,
                on_handled: self.on_handled,
            }),
        })
    }
}

crate::debug_as_report!(BuildError);
