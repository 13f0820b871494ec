//! What happened to one delivery, named for logs, metrics and HTTP answers.

use std::time::Duration;

use crate::catalog::{EventName, ParseError};
use crate::delivery::Unavailable;
use crate::dispatch::HandlerError;
use crate::signature::SignatureError;

/// What happened to one delivery. [`Outcome::reply`] is its HTTP answer.
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
    /// Verified, but a newer delivery of its stream already started (inline mode, with
    /// [`crate::ordering`]): acknowledge it, nothing ran. (Queued modes judge this when a worker
    /// is about to run it, and log it then.)
    Stale {
        /// The event.
        event: EventName,
        /// Its stream (`esim.status:<iccid>`…).
        stream: String,
        /// Its signed `timestamp`.
        timestamp: i64,
        /// The newest timestamp already started for its stream.
        newer: i64,
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
        /// The event.
        event: EventName,
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
            | Self::Stale { event, .. }
            | Self::TooOld { event, .. }
            | Self::Unavailable { event, .. } => Some(event),
            Self::BadSignature(_) | Self::Malformed { .. } | Self::ShuttingDown => None,
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
            | Self::Stale { secret_index, .. }
            | Self::TooOld { secret_index, .. } => Some(*secret_index),
            Self::BadSignature(_) | Self::Unavailable { .. } | Self::ShuttingDown => None,
        }
    }

    /// A short label for logs and metrics: `handled`, `acknowledged`, `queued`, `duplicate`,
    /// `stale`, `too_old`, `unavailable`, `shutting_down`, `bad_signature`, `malformed`,
    /// `handler_failed`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::Handled { .. } => "handled",
            Self::Acknowledged { .. } => "acknowledged",
            Self::Queued { .. } => "queued",
            Self::Duplicate { .. } => "duplicate",
            Self::Stale { .. } => "stale",
            Self::TooOld { .. } => "too_old",
            Self::Unavailable { .. } => "unavailable",
            Self::ShuttingDown => "shutting_down",
            Self::BadSignature(_) => "bad_signature",
            Self::Malformed { .. } => "malformed",
            Self::HandlerFailed { .. } => "handler_failed",
        }
    }

    /// The reason label of a refusal (`roamify_refused_total`): `bad_signature`, `malformed`,
    /// `too_old`, `queue_full`, `store_failed`, `worker_only`, `shutting_down`; `None` when the
    /// delivery was not refused.
    #[must_use]
    pub fn refusal(&self) -> Option<&'static str> {
        Some(match self {
            Self::BadSignature(_) => "bad_signature",
            Self::Malformed { .. } => "malformed",
            Self::TooOld { .. } => "too_old",
            Self::Unavailable { reason, .. } => reason.label(),
            Self::ShuttingDown => "shutting_down",
            Self::Handled { .. }
            | Self::Acknowledged { .. }
            | Self::Queued { .. }
            | Self::Duplicate { .. }
            | Self::Stale { .. }
            | Self::HandlerFailed { .. } => return None,
        })
    }
}
