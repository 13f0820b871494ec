//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): the
//! application installs the exporter it wants (Prometheus, StatsD, OpenTelemetry…); without one
//! the calls cost a check. Without the feature every function here is empty.
//!
//! The metric names and labels are listed in the crate docs ("Logs and metrics"); each is
//! described (HELP text, unit) to the recorder when a receiver is built. Public here: the
//! buckets suggested for the handler duration histogram.

#[cfg(feature = "metrics")]
use std::time::Instant;

#[cfg(feature = "metrics")]
use metrics::SharedString;

use crate::catalog::EventName;

/// The buckets this crate suggests for `roamify_handler_duration_seconds`, in seconds: from a
/// millisecond (handlers that only record something) to Roamify's 2–3 s deadline and the
/// workers' timeouts beyond it. An exporter that keeps histograms as buckets (Prometheus) uses
/// them where the application passes them (see the `server` example).
pub const HANDLER_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Describes every metric (HELP text and unit) to the installed recorder: called when a receiver
/// is built, so a recorder installed before it sees the descriptions.
#[cfg(feature = "metrics")]
pub(crate) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "roamify_deliveries_total",
        Unit::Count,
        "Roamify deliveries received, by outcome (handled, queued, duplicate, bad_signature…), category and kind"
    );
    describe_counter!(
        "roamify_refused_total",
        Unit::Count,
        "Deliveries refused, by reason (bad_signature, malformed, too_old, queue_full, store_failed…)"
    );
    describe_histogram!(
        "roamify_handler_duration_seconds",
        Unit::Seconds,
        "Handler runs, inline and in the workers, by category, kind and result (ok, error)"
    );
    #[cfg(feature = "queue")]
    {
        describe_counter!(
            "roamify_jobs_total",
            Unit::Count,
            "Outcomes the workers recorded, by result (completed, retried, dead)"
        );
        describe_gauge!(
            "roamify_jobs_in_flight",
            Unit::Count,
            "Handlers running in the workers"
        );
        describe_gauge!(
            "roamify_queue_depth",
            Unit::Count,
            "Deliveries pending in the store (sampled by the workers at most once a second)"
        );
    }
}
#[cfg(not(feature = "metrics"))]
pub(crate) fn describe() {}

/// `category` and `kind` labels; a known kind's are static strings (no allocation).
#[cfg(feature = "metrics")]
fn names(name: Option<&EventName>) -> (SharedString, SharedString) {
    match name {
        Some(EventName::Known(kind)) => (
            SharedString::const_str(kind.category()),
            SharedString::const_str(kind.name()),
        ),
        Some(other) => (
            SharedString::from(other.category().to_owned()),
            SharedString::from(other.kind().to_owned()),
        ),
        None => (SharedString::const_str(""), SharedString::const_str("")),
    }
}

/// Counts one delivery's outcome (`label`), and its refusal reason when it was refused.
#[cfg(feature = "metrics")]
pub(crate) fn delivery(
    label: &'static str,
    name: Option<&EventName>,
    refusal: Option<&'static str>,
) {
    let (category, kind) = names(name);
    metrics::counter!(
        "roamify_deliveries_total",
        "outcome" => label,
        "category" => category,
        "kind" => kind,
    )
    .increment(1);
    if let Some(reason) = refusal {
        refused(reason);
    }
}
#[cfg(not(feature = "metrics"))]
pub(crate) fn delivery(_: &'static str, _: Option<&EventName>, _: Option<&'static str>) {}

/// Counts a refusal by reason.
#[cfg(feature = "metrics")]
pub(crate) fn refused(reason: &'static str) {
    metrics::counter!("roamify_refused_total", "reason" => reason).increment(1);
}
#[cfg(not(feature = "metrics"))]
pub(crate) fn refused(_: &'static str) {}

/// When a handler run started (kept only with the feature `metrics`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started(#[cfg(feature = "metrics")] Instant);

#[cfg(feature = "metrics")]
pub(crate) fn start() -> Started {
    Started(Instant::now())
}
#[cfg(not(feature = "metrics"))]
pub(crate) fn start() -> Started {
    Started()
}

/// Records a handler run's duration.
#[cfg(feature = "metrics")]
pub(crate) fn handler_ran(name: &EventName, started: Started, ok: bool) {
    let (category, kind) = names(Some(name));
    metrics::histogram!(
        "roamify_handler_duration_seconds",
        "category" => category,
        "kind" => kind,
        "result" => if ok { "ok" } else { "error" },
    )
    .record(started.0.elapsed().as_secs_f64());
}
#[cfg(not(feature = "metrics"))]
pub(crate) fn handler_ran(_: &EventName, _: Started, _: bool) {}

/// Counts a job outcome recorded by the workers: `completed`, `retried`, `dead` or `stale`.
#[cfg(feature = "queue")]
#[cfg(feature = "metrics")]
pub(crate) fn job(result: &'static str) {
    metrics::counter!("roamify_jobs_total", "result" => result).increment(1);
}
#[cfg(feature = "queue")]
#[cfg(not(feature = "metrics"))]
pub(crate) fn job(_: &'static str) {}

/// Moves the in-flight gauge by one.
#[cfg(feature = "queue")]
#[cfg(feature = "metrics")]
pub(crate) fn in_flight(running: bool) {
    let gauge = metrics::gauge!("roamify_jobs_in_flight");
    if running {
        gauge.increment(1.0);
    } else {
        gauge.decrement(1.0);
    }
}
#[cfg(feature = "queue")]
#[cfg(not(feature = "metrics"))]
pub(crate) fn in_flight(_: bool) {}

/// Sets the queue depth gauge (the workers sample it only when metrics are on).
#[cfg(feature = "queue")]
#[cfg(feature = "metrics")]
#[allow(clippy::cast_precision_loss)] // a queue deeper than 2^53 is not a concern
pub(crate) fn queue_depth(pending: usize) {
    metrics::gauge!("roamify_queue_depth").set(pending as f64);
}
