//! What a delivery leaves in the logs, whatever the web framework: one `tracing` span per
//! delivery, named as soon as the event is parsed (so a handler's own lines carry `category` and
//! `kind`), and one event per outcome.
//!
//! Refusals and failures are logged at WARN or ERROR with every field they need on the event
//! itself (category, kind, key, cause): they are seen even where INFO — and with it the span —
//! is disabled. Successes are logged at INFO. Secrets and bodies are never logged.

use std::time::Instant;

use tracing::Span;
use tracing::field::Empty;

use crate::catalog::Event;
use crate::receiver::{EventName, Outcome};

/// The span of one delivery, its fields recorded as they become known.
pub(crate) fn delivery_span() -> Span {
    tracing::info_span!(
        "roamify_delivery",
        category = Empty,
        kind = Empty,
        outcome = Empty,
        handler = Empty,
        secret = Empty,
        latency_us = Empty,
    )
}

/// Names the delivery in its span, before its handler runs.
pub(crate) fn named(span: &Span, event: &Event) {
    if !span.is_disabled() {
        let name = EventName::of(event);
        span.record("category", name.category());
        span.record("kind", name.kind());
    }
}

/// Logs how a delivery ended. `key` is its idempotency key when known (stored, failed).
pub(crate) fn ended(span: &Span, outcome: &Outcome, key: Option<&str>, started: Option<Instant>) {
    crate::meter::delivery(outcome);
    if let Some(started) = started {
        let latency = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        span.record("outcome", outcome.label());
        span.record("latency_us", latency);
        if let Some(secret) = outcome.secret_index() {
            span.record("secret", secret);
        }
    }
    let (category, kind) = outcome
        .event()
        .map_or(("", ""), |e| (e.category(), e.kind()));
    let key = key.unwrap_or("");
    match outcome {
        Outcome::Handled { handler, .. } => {
            span.record("handler", *handler);
            tracing::info!(parent: span, "delivery handled");
        }
        Outcome::Acknowledged { .. } => {
            tracing::info!(parent: span, "delivery acknowledged without a handler");
        }
        Outcome::Queued { key, .. } => {
            tracing::info!(parent: span, %key, "delivery stored for the workers");
        }
        Outcome::Duplicate { .. } => {
            tracing::info!(parent: span, "duplicate delivery acknowledged; handlers not run again");
        }
        Outcome::TooOld { age, .. } => {
            tracing::warn!(parent: span, category, kind, key, ?age, "delivery refused (400): older than the maximum age");
        }
        Outcome::Unavailable { reason } => {
            let cause = reason.report();
            tracing::warn!(parent: span, reason = reason.label(), %cause, "delivery refused for now (503); Roamify will retry");
        }
        Outcome::ShuttingDown => {
            tracing::warn!(parent: span, "delivery refused (503): shutting down; Roamify will retry");
        }
        Outcome::BadSignature(reason) => {
            tracing::warn!(parent: span, cause = %reason, "delivery refused (401): invalid signature");
        }
        Outcome::Malformed { error, .. } => {
            tracing::warn!(parent: span, key, cause = %error, "delivery refused (400): malformed event");
        }
        Outcome::HandlerFailed { error, .. } => {
            span.record("handler", error.handler());
            tracing::error!(parent: span, category, kind, key, handler = error.handler(), cause = %error.report(), "handler failed (500); Roamify will retry");
        }
    }
}

/// Why an HTTP adapter refused a delivery before its body could be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unread {
    /// Over the adapter's size limit (413).
    TooLarge,
    /// The body could not be read (400): the connection failed or the encoding is broken.
    Unreadable,
}

/// For HTTP adapters: logs at WARN, and counts (`roamify_refused_total`, reason `too_large` or
/// `unreadable`), a delivery refused before its body was read whole. Everything after that is
/// logged and counted by [`Receiver::receive`](crate::Receiver::receive).
pub fn refused_unread(reason: Unread) {
    let (label, status, why) = match reason {
        Unread::TooLarge => ("too_large", 413_u16, "body over the size limit"),
        Unread::Unreadable => ("unreadable", 400, "body could not be read"),
    };
    crate::meter::refused(label);
    tracing::warn!(status, "delivery refused before verification: {why}");
}
