//! Where the receiver's records go, and whether anything records INFO: what every module that
//! logs asks first (a leaf, so that the request path, the runs and the workers can all use it).

use std::time::Instant;

/// The `target` of the receiver's log records (filter with `RUST_LOG=roamify_hooks=…`).
pub(crate) const TARGET: &str = "roamify_hooks";

/// Whether a `tracing` subscriber or a `log` logger may record INFO (two atomic loads).
pub(crate) fn info_seen() -> bool {
    tracing::level_enabled!(tracing::Level::INFO) || log::max_level() >= log::LevelFilter::Info
}

/// When a delivery started, for the `latency_us` of its INFO outcome; `None` when INFO is not
/// recorded (only successes carry a latency, and reading the clock is a tenth of the runtime's
/// own cost per delivery).
pub(crate) fn started() -> Option<Instant> {
    info_seen().then(Instant::now)
}
