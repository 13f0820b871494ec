//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): the
//! application installs the exporter it wants (Prometheus, StatsD, OpenTelemetry…); without one
//! the calls cost a check. Without the feature every function here is empty.
//!
//! The metric names and labels are listed in the crate docs ("Logs and metrics").

#[cfg(feature = "metrics")]
use std::time::Instant;

#[cfg(feature = "metrics")]
use metrics::SharedString;

use crate::catalog::EventName;

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

/// Counts a job outcome recorded by the workers: `completed`, `retried` or `dead`.
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
