//! What a delivery leaves in the logs, whatever the web framework: one event per outcome, with
//! every field it needs on the event itself (category, kind, key, cause…), and a span around
//! each handler run (so a handler's own lines carry `category` and `kind`).
//!
//! Refusals and failures are logged at WARN or ERROR, successes at INFO; a span disabled at
//! WARN takes nothing from them. Secrets and bodies are never logged. Success messages are short
//! on purpose: there is one per delivery, and a subscriber's cost grows with each character
//! (formatting and escaping), where the fields already say what happened.

use std::time::Instant;

use crate::logs::TARGET;
use crate::outcome::Outcome;

/// Counts how a request ended and logs it, once, every field on the event itself. `key` is its
/// idempotency key when known (stored, refused); `started` comes from [`crate::logs::started`]. A run's
/// outcomes (handled, acknowledged, handler failed) were logged by the run (`crate::run`), the
/// same way for requests and workers' jobs: they are only counted here.
pub(crate) fn ended(outcome: &Outcome, key: Option<&str>, started: Option<Instant>) {
    counted(outcome);
    let success = matches!(outcome, Outcome::Queued { .. } | Outcome::Duplicate { .. });
    if success && started.is_none() {
        // Logged at INFO, which nothing records.
        return;
    }
    let (category, kind) = outcome
        .event()
        .map_or(("", ""), |e| (e.category(), e.kind()));
    let key = key.unwrap_or("");
    let secret = outcome.secret_index();
    let latency = || {
        started.map_or(0, |started| {
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
        })
    };
    match outcome {
        Outcome::Queued { key, .. } => {
            tracing::info!(target: TARGET, %category, %kind, %key, secret, latency_us = latency(), "delivery stored");
        }
        Outcome::Duplicate { .. } => {
            tracing::info!(target: TARGET, %category, %kind, secret, latency_us = latency(), "duplicate acknowledged");
        }
        Outcome::TooOld { age, .. } => {
            tracing::warn!(target: TARGET, %category, %kind, key, ?age, "delivery refused (400): older than the maximum age");
        }
        Outcome::Unavailable { reason, .. } => {
            let cause = reason.report();
            tracing::warn!(target: TARGET, %category, %kind, key, reason = reason.label(), %cause, "delivery refused for now (503); Roamify will retry");
        }
        Outcome::ShuttingDown => {
            tracing::warn!(target: TARGET, key, "delivery refused (503): shutting down; Roamify will retry");
        }
        Outcome::BadSignature(reason) => {
            tracing::warn!(target: TARGET, cause = %reason, "delivery refused (401): invalid signature");
        }
        Outcome::Malformed { error, .. } => {
            tracing::warn!(target: TARGET, key, cause = %error, "delivery refused (400): malformed event");
        }
        // Logged by the run.
        Outcome::Handled { .. } | Outcome::Acknowledged { .. } | Outcome::HandlerFailed { .. } => {}
    }
}

/// Counts a delivery's outcome without logging it: a run's outcome, whose record the run left
/// (see `crate::run`).
pub(crate) fn counted(outcome: &Outcome) {
    crate::meter::delivery(outcome.label(), outcome.event(), outcome.refusal());
}

/// Logs a delivery refused before its body was read whole (over the limit, or unreadable), and
/// counts it by `label`.
pub(crate) fn unread(label: &'static str, status: u16, why: &str) {
    crate::meter::refused(label);
    tracing::warn!(target: TARGET, status, "delivery refused before verification: {why}");
}
