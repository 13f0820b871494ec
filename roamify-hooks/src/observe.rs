//! What a delivery leaves in the logs, whatever the web framework: one event per outcome, with
//! every field it needs on the event itself (category, kind, key, cause…), and a span around
//! each handler run (so a handler's own lines carry `category` and `kind`).
//!
//! Refusals and failures are logged at WARN or ERROR, successes at INFO; a span disabled at
//! WARN takes nothing from them. Secrets and bodies are never logged. Success messages are short
//! on purpose: there is one per delivery, and a subscriber's cost grows with each character
//! (formatting and escaping), where the fields already say what happened.

use std::time::Instant;

use tracing::Span;

use crate::catalog::EventName;
use crate::outcome::Outcome;

/// The `target` of the receiver's log records (filter with `RUST_LOG=roamify_hooks=…`).
const TARGET: &str = "roamify_hooks";

/// The span a handler runs in, named from the start: created with its fields (formatted once),
/// never recorded into afterwards. `None` when nothing would see it (`started` is `None`): no
/// `tracing` subscriber and no `log` logger enabled at INFO (creating, entering and leaving a
/// span that only the `log` fallback could record costs as much as routing the event).
pub(crate) fn delivery_span(name: &EventName, started: Option<Instant>) -> Option<Span> {
    // `started` is read only when INFO is seen (see `started`).
    started?;
    Some(tracing::info_span!(
        "roamify_delivery",
        category = %name.category(),
        kind = %name.kind()
    ))
}

/// Whether a `tracing` subscriber or a `log` logger may record INFO (two atomic loads).
fn info_seen() -> bool {
    tracing::level_enabled!(tracing::Level::INFO) || log::max_level() >= log::LevelFilter::Info
}

/// When a delivery started, for the `latency_us` of its INFO outcome; `None` when INFO is not
/// recorded (only successes carry a latency, and reading the clock is a tenth of the runtime's
/// own cost per delivery).
pub(crate) fn started() -> Option<Instant> {
    info_seen().then(Instant::now)
}

/// Logs how a delivery ended, once, every field on the event itself. `key` is its idempotency
/// key when known (stored, failed); `started` comes from [`started`].
pub(crate) fn ended(outcome: &Outcome, key: Option<&str>, started: Option<Instant>) {
    crate::meter::delivery(outcome.label(), outcome.event(), outcome.refusal());
    let success = matches!(
        outcome,
        Outcome::Handled { .. }
            | Outcome::Acknowledged { .. }
            | Outcome::Queued { .. }
            | Outcome::Duplicate { .. }
    );
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
        Outcome::Handled { handler, .. } => {
            tracing::info!(target: TARGET, %category, %kind, handler, secret, latency_us = latency(), "delivery handled");
        }
        Outcome::Acknowledged { .. } => {
            tracing::info!(target: TARGET, %category, %kind, secret, latency_us = latency(), "acknowledged, no handler");
        }
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
        Outcome::HandlerFailed { error, .. } => {
            tracing::error!(target: TARGET, %category, %kind, key, handler = error.handler(), cause = %error.report(), "handler failed (500); Roamify will retry");
        }
    }
}

/// Logs a delivery refused before its body was read whole (over the limit, or unreadable), and
/// counts it by `label`.
pub(crate) fn unread(label: &'static str, status: u16, why: &str) {
    crate::meter::refused(label);
    tracing::warn!(target: TARGET, status, "delivery refused before verification: {why}");
}
