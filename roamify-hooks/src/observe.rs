//! What a request leaves in the logs, whatever the web framework: one event per outcome, with
//! every field it needs on the event itself (category, kind, key, cause…). A handler's run is
//! logged by the run itself (`crate::run`), the same way inline and in the workers.
//!
//! Refusals are logged at WARN: those that come before verification (a bad signature, a body
//! too large or unreadable) at most [`REFUSALS_LOGGED_PER_INTERVAL`] per reason every
//! [`REFUSAL_INTERVAL_SECS`] (the rest counted, and summed up in one line), the others (which
//! follow a verified delivery) each with its key; successes at INFO. Secrets and bodies are never logged. Success messages are short
//! on purpose: there is one per delivery, and a subscriber's cost grows with each character
//! (formatting and escaping), where the fields already say what happened.

use std::time::Instant;

use std::sync::atomic::{AtomicU64, Ordering};

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
    if let Outcome::BadSignature(_) = outcome
        && !admitted("bad_signature")
    {
        return;
    }
    match outcome {
        Outcome::Queued { key, .. } => {
            tracing::info!(target: TARGET, %category, %kind, %key, secret, latency_us = latency(), "delivery stored");
        }
        Outcome::Duplicate { .. } => {
            tracing::info!(target: TARGET, %category, %kind, secret, latency_us = latency(), "duplicate acknowledged");
        }
        Outcome::Stale {
            stream,
            timestamp,
            newer,
            ..
        } => {
            tracing::info!(target: TARGET, %category, %kind, key, %stream, timestamp, newer, secret, "stale delivery acknowledged, not run: a newer one of its stream already started");
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
    if admitted(label) {
        tracing::warn!(target: TARGET, status, "delivery refused before verification: {why}");
    }
}

/// Refusals of one reason logged in each interval, for the refusals anyone can cause (a bad
/// signature, a body too large or unreadable); the rest are counted (metrics, [`Stats`]), and
/// summed up in one line when a later interval begins.
///
/// Anyone can send requests with a wrong signature, as fast as the server refuses them (about
/// 100 000 a second on one core): one line each would fill a disk without the secret ever being
/// known. What follows a verified delivery — a malformed or too old event, a 503, a handler
/// failure, a retry, a dead letter — is logged each time, with its key: only the secret's holder
/// can cause it, and an operator needs every key.
///
/// [`Stats`]: crate::stats::Stats
pub(crate) const REFUSALS_LOGGED_PER_INTERVAL: u64 = 10;
/// The interval of [`REFUSALS_LOGGED_PER_INTERVAL`], in seconds.
pub(crate) const REFUSAL_INTERVAL_SECS: u64 = 10;

/// Whether a refusal for `reason` is logged; when it is the first of a new interval and the
/// last interval left refusals unlogged, logs how many first.
fn admitted(reason: &'static str) -> bool {
    let interval =
        u64::try_from(crate::time::UnixTime::now().as_secs()).unwrap_or(0) / REFUSAL_INTERVAL_SECS;
    let (log, unlogged) = throttle(reason).admit(interval);
    if let Some(unlogged) = unlogged {
        tracing::warn!(target: TARGET, reason, unlogged, interval_secs = REFUSAL_INTERVAL_SECS, "more deliveries were refused for this reason than are logged: counted, not logged");
    }
    log
}

/// One reason's refusals in the current interval: two atomics, no lock, so a flood of refusals
/// on every thread contends on nothing but them.
struct Throttle {
    interval: AtomicU64,
    seen: AtomicU64,
}

impl Throttle {
    const fn new() -> Self {
        Self {
            interval: AtomicU64::new(0),
            seen: AtomicU64::new(0),
        }
    }

    /// Counts one refusal in `interval`: whether to log it, and how many refusals the previous
    /// interval did not log when this one is the first of a new interval. (Refusals counted by
    /// other threads while the interval turns may land in either interval's count.)
    fn admit(&self, interval: u64) -> (bool, Option<u64>) {
        let current = self.interval.load(Ordering::Relaxed);
        let mut unlogged = None;
        if current != interval
            && self
                .interval
                .compare_exchange(current, interval, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let previous = self.seen.swap(0, Ordering::AcqRel);
            unlogged = previous
                .checked_sub(REFUSALS_LOGGED_PER_INTERVAL)
                .filter(|&n| n > 0);
        }
        let seen = self.seen.fetch_add(1, Ordering::Relaxed);
        (seen < REFUSALS_LOGGED_PER_INTERVAL, unlogged)
    }
}

/// The throttle of a refusal before verification: `bad_signature`, and the adapters' `unread`
/// labels (`too_large`, `unreadable`); any other label shares one.
fn throttle(reason: &str) -> &'static Throttle {
    static THROTTLES: [Throttle; 4] = [const { Throttle::new() }; 4];
    let index = match reason {
        "bad_signature" => 0,
        "too_large" => 1,
        "unreadable" => 2,
        _ => 3,
    };
    &THROTTLES[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_logs_the_first_of_each_interval_and_sums_up_the_rest() {
        let throttle = Throttle::new();
        let logged = (0..25).filter(|_| throttle.admit(7).0).count();
        assert_eq!(logged, 10);
        // The first refusal of a later interval is logged, with the 15 the last one did not.
        assert_eq!(throttle.admit(9), (true, Some(15)));
        let logged = (0..9).filter(|_| throttle.admit(9).0).count();
        assert_eq!(logged, 9, "ten in this interval, the first included");
        assert_eq!(throttle.admit(9), (false, None));
        // An interval that logged everything has nothing to sum up.
        let quiet = Throttle::new();
        assert_eq!(quiet.admit(1), (true, None));
        assert_eq!(quiet.admit(2), (true, None));
    }
}
