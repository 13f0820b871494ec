//! The two clocks of the journal: the state's `Instant`s, and the Unix milliseconds its records
//! hold.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(super) fn unix_ms(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The two clocks read once: to turn the state's `Instant`s into Unix milliseconds and back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clocks {
    pub(super) instant: Instant,
    pub(super) unix_ms: i64,
}

impl Clocks {
    pub(super) fn now() -> Self {
        Self {
            instant: Instant::now(),
            unix_ms: unix_ms(SystemTime::now()),
        }
    }

    pub(super) fn to_unix_ms(self, at: Instant) -> i64 {
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if at >= self.instant {
            self.unix_ms.saturating_add(millis(at - self.instant))
        } else {
            self.unix_ms.saturating_sub(millis(self.instant - at))
        }
    }

    pub(super) fn to_instant(self, unix_ms: i64) -> Instant {
        let offset = Duration::from_millis(unix_ms.abs_diff(self.unix_ms));
        if unix_ms >= self.unix_ms {
            self.instant + offset
        } else {
            self.instant.checked_sub(offset).unwrap_or(self.instant)
        }
    }
}
