//! Unix timestamps as Roamify sends them.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time sent by Roamify as whole seconds since the Unix epoch (UTC).
///
/// Kept as the exact number sent; convert with [`UnixTime::to_system_time`] or
/// [`SystemTime::from`].
///
/// ```
/// use roamify_hooks::events::UnixTime;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// let t = UnixTime::from_secs(1_700_000_000);
/// assert_eq!(t.as_secs(), 1_700_000_000);
/// assert_eq!(SystemTime::from(t), UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    /// A timestamp `secs` seconds after (or, if negative, before) 1970-01-01T00:00:00Z.
    #[must_use]
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds since the Unix epoch, exactly as sent.
    #[must_use]
    pub const fn as_secs(self) -> i64 {
        self.0
    }

    /// The same instant as a [`SystemTime`].
    #[must_use]
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(self.0.unsigned_abs())
        }
    }

    /// The current time, truncated to whole seconds.
    #[must_use]
    pub fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Err(e) => Self(-i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

impl From<UnixTime> for SystemTime {
    fn from(t: UnixTime) -> Self {
        t.to_system_time()
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
