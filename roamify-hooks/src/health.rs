//! Liveness and readiness, for load balancers and orchestrators (Kubernetes probes): what the
//! adapters answer on the paths the application chooses (`/healthz` and `/readyz` in the
//! examples), without a token and without reading a body.
//!
//! - **Live** while the process answers at all: [`LIVE`](crate::http::Reply::LIVE), always.
//! - **Ready** ([`Receiver::readiness`](crate::Receiver::readiness)) while the receiver is not
//!   shutting down ([`Receiver::begin_shutdown`](crate::Receiver::begin_shutdown) or
//!   `Receiver::shutdown` (queued modes) was called), its store answers, and the
//!   store holds fewer pending deliveries than the queue's capacity. The store is asked at most
//!   once per [`READINESS_CACHE`], with a bound of [`STORE_CHECK_TIMEOUT`], so probes cost next
//!   to nothing. Inline mode has no store: it is ready until it shuts down.
//!
//! A receiver that is not ready still takes deliveries: readiness tells a balancer to send the
//! next ones elsewhere, before the receiver has to refuse them.

use std::time::Duration;

/// How long a readiness answer is reused before the store is asked again.
pub const READINESS_CACHE: Duration = Duration::from_secs(1);

/// How long the readiness check waits for the store before calling it unavailable.
pub const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The two graces of a clean stop, as the adapters' `run_until_stopped` / `serve_until_stopped`
/// take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Graces {
    /// Once the stop begins, how long deliveries are still taken while readiness fails, so a
    /// load balancer notices before connections are refused (default 5 s).
    pub shutdown: Duration,
    /// Once the HTTP server stopped taking connections, how long running handlers (and, in the
    /// queued mode, the queue) get to finish (default 10 s).
    pub drain: Duration,
}

impl Default for Graces {
    fn default() -> Self {
        Self {
            shutdown: Duration::from_secs(5),
            drain: Duration::from_secs(10),
        }
    }
}

impl Graces {
    /// Graces of `shutdown` and `drain`.
    #[must_use]
    pub const fn new(shutdown: Duration, drain: Duration) -> Self {
        Self { shutdown, drain }
    }
}

/// Why a receiver is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotReady {
    /// The receiver is shutting down.
    ShuttingDown,
    /// The store did not answer (an error, or nothing within [`STORE_CHECK_TIMEOUT`]); the
    /// cause is logged at WARN when readiness changes.
    StoreUnavailable,
    /// The store holds as many pending deliveries as the queue's capacity: the next one would
    /// be answered 503.
    QueueFull,
}

impl NotReady {
    /// The reason as the probe's answer says it: `shutting_down`, `store_unavailable` or
    /// `queue_full`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::ShuttingDown => "shutting_down",
            Self::StoreUnavailable => "store_unavailable",
            Self::QueueFull => "queue_full",
        }
    }
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ShuttingDown => "the receiver is shutting down",
            Self::StoreUnavailable => "the delivery store does not answer",
            Self::QueueFull => "the delivery queue is full",
        })
    }
}
