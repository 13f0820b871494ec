//! Which deliveries an operator means: by ICCID, event, time and error text ([`Filter`]), read
//! from what a store keeps of each (its body and its last error).

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::catalog::EventName;
use crate::time::UnixTime;

use super::history::Fate;
use super::store::DeadLetter;

/// A search: every condition given must hold; an empty filter matches everything.
///
/// Built field by field, or from the text an operator types ([`Filter::set`]: the admin API's
/// query parameters and the CLI's options are the same names and values).
///
/// ```
/// use roamify_hooks::delivery::Filter;
///
/// let mut filter = Filter::default();
/// filter.set("iccid", "8932042000002328129")?;
/// filter.set("kind", "esim.status")?;
/// filter.set("since", "2h")?; // or unix seconds, or RFC 3339
/// filter.set("error", "timeout")?;
/// assert_eq!(filter.event.as_deref(), Some("esim.status"));
/// assert!(filter.set("colour", "red").is_err());
/// # Ok::<(), roamify_hooks::delivery::FilterError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// The eSIM: deliveries whose event's ICCID starts with these digits (give it whole to match
    /// one eSIM). Events without an ICCID (partner, refund…) never match.
    pub iccid: Option<String>,
    /// `category.kind` (`esim.status`), or a category alone (`esim`).
    pub event: Option<String>,
    /// At or after this time (for a dead letter, when it died).
    pub since: Option<UnixTime>,
    /// At or before this time.
    pub until: Option<UnixTime>,
    /// The last error contains this text, case ignored.
    pub error: Option<String>,
    /// Where the delivery is (`outcome=handled`); dead letters are all [`Fate::Dead`].
    pub fate: Option<Fate>,
}

/// A filter's condition that could not be read: the name and what was wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// No condition has this name.
    #[error("unknown filter {0:?}: use iccid, kind, since, until, error or outcome")]
    Unknown(String),
    /// The value does not read.
    #[error("{name}: {reason}")]
    Invalid {
        /// The condition's name.
        name: &'static str,
        /// Why its value does not read.
        reason: String,
    },
}

impl Filter {
    /// Sets one condition from its text: `iccid` (digits), `kind` (`category.kind` or a
    /// category), `since` and `until` (unix seconds, RFC 3339 such as `2026-12-07T10:00:00Z`, or
    /// a duration before now such as `90m`, `2h`, `3days`), `error` (any text), `outcome`
    /// (`pending`, `retrying`, `handled`, `dead`, `stale`, `discarded`). An empty value
    /// clears the condition.
    ///
    /// # Errors
    /// [`FilterError::Unknown`] for another name, [`FilterError::Invalid`] for a value that does
    /// not read.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), FilterError> {
        let value = value.trim();
        let text = (!value.is_empty()).then(|| value.to_owned());
        match name {
            "iccid" => {
                if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid("iccid", "digits only (an ICCID, or its start)"));
                }
                self.iccid = text;
            }
            "kind" | "event" => {
                let parts: Vec<&str> = value.split('.').collect();
                if parts.len() > 2 || (text.is_some() && parts.iter().any(|p| p.is_empty())) {
                    return Err(invalid("kind", "category.kind (esim.status) or a category"));
                }
                self.event = text;
            }
            "since" => self.since = time("since", value)?,
            "until" => self.until = time("until", value)?,
            "error" => self.error = text,
            "outcome" => {
                self.fate = match text {
                    Some(text) => Some(text.parse().map_err(|e| invalid("outcome", e))?),
                    None => None,
                }
            }
            other => return Err(FilterError::Unknown(other.to_owned())),
        }
        Ok(())
    }

    /// Whether no condition is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `letter` meets every condition (its time is when it died).
    #[must_use]
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.matches_letter(letter, &Described::of(&letter.body))
    }

    /// [`Filter::matches`], with what `letter`'s body says already read.
    pub(crate) fn matches_letter(&self, letter: &DeadLetter, described: &Described) -> bool {
        self.matches_parts(described, letter.dead_at, Some(&letter.error), Fate::Dead)
    }

    /// Whether a delivery described by `described`, at `at`, whose last error is `error`, where
    /// `fate` says, meets every condition.
    pub(crate) fn matches_parts(
        &self,
        described: &Described,
        at: UnixTime,
        error: Option<&str>,
        fate: Fate,
    ) -> bool {
        if self.fate.is_some_and(|wanted| wanted != fate) {
            return false;
        }
        let iccid = self.iccid.as_deref().is_none_or(|wanted| {
            described
                .iccid
                .as_deref()
                .is_some_and(|iccid| iccid.starts_with(wanted))
        });
        let event = self
            .event
            .as_deref()
            .is_none_or(|wanted| match wanted.split_once('.') {
                Some((category, kind)) => described.category == category && described.kind == kind,
                None => described.category == wanted,
            });
        let since = self.since.is_none_or(|since| at >= since);
        let until = self.until.is_none_or(|until| at <= until);
        let error = self
            .error
            .as_deref()
            .is_none_or(|wanted| error.is_some_and(|error| contains_ignoring_case(error, wanted)));
        iccid && event && since && until && error
    }
}

/// What a stored body says of its delivery: its names and its eSIM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Described {
    /// `event_category` (empty when the body does not name one).
    pub category: String,
    /// `event_type` (canonical for a catalog kind).
    pub kind: String,
    /// The eSIM's ICCID, for the events that have one.
    pub iccid: Option<String>,
}

impl Described {
    /// `category.kind`, about the eSIM `iccid` if any.
    #[must_use]
    pub fn new(
        category: impl Into<String>,
        kind: impl Into<String>,
        iccid: Option<String>,
    ) -> Self {
        Self {
            category: category.into(),
            kind: kind.into(),
            iccid,
        }
    }

    /// Reads `body` (a verified delivery's): names from its envelope, the ICCID from its payload.
    /// A body that does not parse names what its envelope's fields say, if anything.
    #[must_use]
    pub fn of(body: &[u8]) -> Self {
        match crate::parse::parse(body) {
            Ok(event) => {
                let name = EventName::of(&event);
                Self {
                    category: name.category().to_owned(),
                    kind: name.kind().to_owned(),
                    iccid: event.iccid().map(str::to_owned),
                }
            }
            Err(_) => {
                let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let field = |name| value.get(name).and_then(|v| v.as_str()).unwrap_or("");
                Self {
                    category: field("event_category").to_owned(),
                    kind: field("event_type").to_owned(),
                    iccid: None,
                }
            }
        }
    }
}

impl Described {
    /// `category.kind`: the name [`Admin::pause`](super::Admin::pause) takes.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}.{}", self.category, self.kind)
    }
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.category, self.kind)
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> FilterError {
    FilterError::Invalid {
        name,
        reason: reason.into(),
    }
}

/// Unix seconds, RFC 3339, or a duration before now; empty for none.
fn time(name: &'static str, value: &str) -> Result<Option<UnixTime>, FilterError> {
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(Some(UnixTime::from_secs(secs)));
    }
    if let Ok(at) = humantime::parse_rfc3339_weak(value) {
        return Ok(Some(unix(at)));
    }
    match humantime::parse_duration(value) {
        Ok(ago) => Ok(Some(unix(
            SystemTime::now()
                .checked_sub(ago)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ))),
        Err(_) => Err(invalid(
            name,
            format!(
                "{value:?} is not unix seconds, RFC 3339 (2026-12-07T10:00:00Z) or a duration (2h)"
            ),
        )),
    }
}

fn unix(at: SystemTime) -> UnixTime {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    UnixTime::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn contains_ignoring_case(text: &str, wanted: &str) -> bool {
    text.to_lowercase().contains(&wanted.to_lowercase())
}
