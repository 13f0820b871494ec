//! The receiver: one call per delivery ([`Receiver::receive`], in `pipeline`), built by
//! `builder`, and what an operator asks of its store.

mod builder;
mod pipeline;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use builder::{BuildError, ReceiverBuilder};

use crate::delivery::Deduper;
#[cfg(feature = "queue")]
use crate::delivery::{DeadLetter, Engine, StoreCounts, StoreError};
use crate::dispatch::Dispatch;
use crate::health::NotReady;
use crate::run::Runner;
use crate::signature::Secrets;
use crate::stats::Stats;

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

pub(crate) struct Inner<D> {
    pub(crate) secrets: Secrets,
    /// Runs handlers, inline (and in the workers, which hold a clone).
    pub(crate) runner: Runner<D>,
    pub(crate) mode: Mode,
    pub(crate) max_age: Option<Duration>,
    /// How deliveries are ordered (`None`: no kind is).
    pub(crate) plan: Option<crate::ordering::Plan>,
    /// Set by [`Receiver::begin_shutdown`] or [`Receiver::shutdown`]: not ready any more.
    pub(crate) stopping: AtomicBool,
}

/// Where a verified delivery goes.
pub(crate) enum Mode {
    /// Handlers run before the answer; duplicates are found in memory (`None`: no deduplication),
    /// and so are ordered streams' marks (`None`: no kind is ordered).
    Inline {
        dedupe: Option<Deduper>,
        marks: Option<crate::ordering::Marks>,
    },
    /// Stored for the workers (queued and durable modes, custom stores).
    #[cfg(feature = "queue")]
    Queue(Engine),
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

impl Receiver<()> {
    /// Starts a receiver: add secrets and state, then [`ReceiverBuilder::build`] with a table.
    #[must_use]
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }
}

impl<D: Dispatch> Receiver<D> {
    /// What the receiver has done so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.runner.counters.snapshot()
    }

    /// Deliveries that exhausted their retries (queued and durable modes; empty inline).
    ///
    /// # Errors
    /// When the store fails.
    #[cfg(feature = "queue")]
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        match self.engine() {
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
        match self.engine() {
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
        match self.engine() {
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
        match self.engine() {
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
        match self.engine() {
            Some(engine) => engine.pending().await,
            None => Ok(0),
        }
    }

    /// Stops taking deliveries (they are answered [`Outcome::ShuttingDown`](crate::Outcome::ShuttingDown), so Roamify retries
    /// them later), lets running handlers finish for up to `grace`, and stops the workers.
    /// Returns how many deliveries were still pending: a durable store keeps them for the next
    /// start; the in-memory queue runs what it can within `grace` and logs the rest as lost.
    /// Call it after the HTTP server has stopped. It blocks the calling thread (at most about
    /// twice `grace`), also when called from an `async fn main`. Inline, where handlers ran
    /// before each answer, it only marks the receiver not ready and returns 0.
    pub fn shutdown(&self, grace: Duration) -> usize {
        self.inner.stopping.store(true, Ordering::Release);
        #[cfg(feature = "queue")]
        if let Some(engine) = self.engine() {
            return engine.shutdown(grace);
        }
        let _ = grace;
        0
    }

    /// Waits until the workers have nothing ready or running (queued and durable modes; at once
    /// inline), for at most `timeout`: in tests, after sending deliveries, before checking what
    /// the handlers did. Deliveries waiting for a retry later do not count (see
    /// [`Receiver::counts`]). `Ok(false)` when the time ran out first.
    ///
    /// # Errors
    /// When the store fails.
    #[cfg(feature = "queue")]
    pub async fn wait_idle(&self, timeout: Duration) -> Result<bool, StoreError> {
        match self.engine() {
            Some(engine) => engine.wait_idle(timeout).await,
            None => Ok(true),
        }
    }

    /// The admin API of this receiver's store, for the holders of `tokens` (see
    /// [`crate::admin`]): mount it with `roamify_hooks_actix::admin` or
    /// `roamify_hooks_axum::admin`. A replay through it wakes this receiver's workers at once.
    /// Inline, where nothing is stored, it answers no dead letters and zero counts.
    #[cfg(feature = "admin")]
    #[must_use]
    pub fn admin(&self, tokens: crate::admin::AdminTokens) -> crate::admin::AdminApi {
        crate::admin::AdminApi::with(self.engine().map(Engine::operated), tokens)
    }

    #[cfg(feature = "queue")]
    fn engine(&self) -> Option<&Engine> {
        match &self.inner.mode {
            Mode::Queue(engine) => Some(engine),
            Mode::Inline { .. } => None,
        }
    }

    /// Whether the receiver should be sent deliveries: not when it is shutting down, nor, in
    /// the queued and durable modes, when its store does not answer or is full. See
    /// [`health`](crate::health) for what is checked and how often; adapters answer it on the
    /// path the application chooses.
    ///
    /// # Errors
    /// The first condition that failed.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        if self.inner.stopping.load(Ordering::Acquire) {
            return Err(NotReady::ShuttingDown);
        }
        match &self.inner.mode {
            Mode::Inline { .. } => Ok(()),
            #[cfg(feature = "queue")]
            Mode::Queue(engine) => engine.readiness().await,
        }
    }

    /// The first step of a clean stop: readiness fails from now on (so a load balancer stops
    /// sending deliveries here), while deliveries that still arrive are taken as before. Give
    /// the balancer time to notice, stop the HTTP server, then call `shutdown` (queued and
    /// durable modes) so running handlers finish.
    pub fn begin_shutdown(&self) {
        if !self.inner.stopping.swap(true, Ordering::AcqRel) {
            tracing::info!(target: crate::logs::TARGET, "shutting down: not ready any more, still taking deliveries");
        }
    }

    /// The accepted secrets.
    #[must_use]
    pub fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }
}
