//! Why a delivery could not be stored: errors that keep their cause.

use std::error::Error;
use std::sync::Arc;

/// A store operation failed: a new delivery is answered 503 (Roamify retries it), a worker backs
/// off and tries again.
///
/// The underlying error is kept as the [`source`](Error::source); [`StoreError::report`] prints
/// the whole chain on one line. Cheap to clone (the cause is shared), so one failed group commit
/// reaches every delivery that waited on it with the same error.
#[derive(Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store was shut down, or its owner thread is gone: nothing more can be stored.
    #[error("the delivery store is closed")]
    Closed,
    /// The store's engine failed (I/O, a full disk, a lost connection, …).
    #[error("the delivery store could not {operation}")]
    Backend {
        /// What the store was doing: `enqueue`, `lease`, `settle`, `open`, ….
        operation: &'static str,
        /// The engine's error.
        #[source]
        source: Arc<dyn Error + Send + Sync + 'static>,
    },
}

impl StoreError {
    /// A failure of the store's engine while doing `operation`.
    pub fn backend(
        operation: &'static str,
        source: impl Into<Box<dyn Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Backend {
            operation,
            source: Arc::from(source.into()),
        }
    }

    /// The error and its whole cause chain on one line:
    /// `the delivery store could not enqueue: database or disk is full`.
    #[must_use]
    pub fn report(&self) -> String {
        crate::report::report(self)
    }

    /// The engine's error as an `E`, when it is one: to tell one failure from another by type
    /// (say, `JournalInUse`, with the feature `durable`) rather than by message.
    #[must_use]
    pub fn backend_error<E: Error + 'static>(&self) -> Option<&E> {
        match self {
            Self::Closed => None,
            Self::Backend { source, .. } => source.downcast_ref(),
        }
    }
}

/// Why a verified delivery was refused with 503 ([`Outcome::Unavailable`](crate::Outcome)):
/// Roamify retries it later.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// The queue holds its capacity of pending deliveries.
    #[error("the delivery queue is full")]
    QueueFull,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// This receiver is worker-only (`Role::WorkerOnly`, feature `queue`): it accepts
    /// no deliveries.
    #[error("this receiver only runs workers and accepts no deliveries")]
    WorkerOnly,
}

impl Unavailable {
    /// A short label for logs and metrics: `queue_full`, `store_failed` or `worker_only`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::Store(_) => "store_failed",
            Self::WorkerOnly => "worker_only",
        }
    }

    /// The reason and its whole cause chain on one line.
    #[must_use]
    pub fn report(&self) -> String {
        crate::report::report(self)
    }
}

crate::report::debug_as_report!(StoreError);
