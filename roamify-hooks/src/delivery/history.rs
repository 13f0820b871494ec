//! The delivery history: what became of every verified delivery a store took, kept for a
//! bounded time and number ([`HistoryLimits`]), searched with a [`Filter`]. Written by the store
//! as it enqueues, settles, replays and discards; read through [`Admin::history`] and
//! [`Admin::delivery`].
//!
//! [`Admin::history`]: super::Admin::history
//! [`Admin::delivery`]: super::Admin::delivery

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::dedupe::PrehashedMap;
use super::filter::{Described, Filter};

/// The default number of deliveries a history keeps: 20 000.
pub const DEFAULT_HISTORY_ENTRIES: usize = 20_000;
/// The default time a history keeps a delivery after it arrived: 7 days.
pub const DEFAULT_HISTORY_AGE: Duration = Duration::from_secs(7 * 86_400);
/// The attempts a history keeps per delivery: the newest 16.
pub const HISTORY_ATTEMPTS: usize = 16;

/// How much history a store keeps: deliveries that arrived within `age`, the newest `entries`
/// of them. Whichever bound is reached first drops the oldest. `entries` 0 keeps none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryLimits {
    /// Deliveries kept at most. Default [`DEFAULT_HISTORY_ENTRIES`].
    pub entries: usize,
    /// How long after it arrived a delivery is kept. Default [`DEFAULT_HISTORY_AGE`].
    pub age: Duration,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            entries: DEFAULT_HISTORY_ENTRIES,
            age: DEFAULT_HISTORY_AGE,
        }
    }
}

impl HistoryLimits {
    /// No history at all.
    #[must_use]
    pub fn off() -> Self {
        Self {
            entries: 0,
            age: Duration::ZERO,
        }
    }

    /// Keeps at most `entries` deliveries for at most `age`.
    #[must_use]
    pub fn new(entries: usize, age: Duration) -> Self {
        Self { entries, age }
    }

    /// Whether any history is kept.
    #[must_use]
    pub fn is_on(&self) -> bool {
        self.entries > 0 && !self.age.is_zero()
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fate {
    /// Stored, waiting for a worker or running.
    Pending,
    /// Failed, waiting for its next attempt.
    Retrying,
    /// A handler ran it successfully.
    Handled,
    /// Gave up: a dead letter.
    Dead,
    /// Not run: a newer delivery of its stream had started ([`crate::ordering`]).
    Stale,
    /// A dead letter an operator discarded.
    Discarded,
}

impl Fate {
    /// Every fate, in the order above.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Retrying,
        Self::Handled,
        Self::Dead,
        Self::Stale,
        Self::Discarded,
    ];

    /// Its name: `pending`, `retrying`, `handled`, `dead`, `stale`, `discarded`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Handled => "handled",
            Self::Dead => "dead",
            Self::Stale => "stale",
            Self::Discarded => "discarded",
        }
    }

    /// Its number in the SQL stores' tables (0 to 5, in the order of [`Fate::ALL`]).
    #[must_use]
    pub const fn code(self) -> i16 {
        match self {
            Self::Pending => 0,
            Self::Retrying => 1,
            Self::Handled => 2,
            Self::Dead => 3,
            Self::Stale => 4,
            Self::Discarded => 5,
        }
    }

    /// The fate numbered `code` ([`Fate::code`]); `None` for another number.
    #[must_use]
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|f| i64::from(f.code()) == code)
    }

    /// Whether nothing more will happen to the delivery (unless an operator replays it).
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Handled | Self::Dead | Self::Stale | Self::Discarded
        )
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|fate| fate.as_str() == s)
            .ok_or_else(|| {
                format!("{s:?} is not pending, retrying, handled, dead, stale or discarded")
            })
    }
}

/// One run of a delivery's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// When it started, unix milliseconds.
    pub at_ms: i64,
    /// How long it ran, milliseconds.
    pub took_ms: u64,
    /// Its error, when it failed.
    pub error: Option<String>,
}

impl Attempt {
    /// A run started at `at_ms` (unix milliseconds) that took `took_ms`, failed with `error`.
    #[must_use]
    pub fn new(at_ms: i64, took_ms: u64, error: Option<String>) -> Self {
        Self {
            at_ms,
            took_ms,
            error,
        }
    }

    /// The attempts of a JSON array of `{"at_ms", "took_ms", "error"}` objects, as the SQL and
    /// Redis stores keep them (an entry that does not read is left out; text that is not such an
    /// array is none).
    #[must_use]
    pub fn list_from_json(json: &str) -> Vec<Self> {
        let values: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
        values
            .iter()
            .filter_map(|v| {
                Some(Self::new(
                    v.get("at_ms")?.as_i64()?,
                    v.get("took_ms")?.as_u64()?,
                    v.get("error").and_then(|e| e.as_str()).map(str::to_owned),
                ))
            })
            .collect()
    }
}

/// What a history holds of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Its idempotency key.
    pub key: String,
    /// Its names and eSIM.
    pub about: Described,
    /// When it was stored, unix milliseconds.
    pub received_ms: i64,
    /// When it reached its last final fate, unix milliseconds.
    pub finished_ms: Option<i64>,
    /// Where it is.
    pub fate: Fate,
    /// Its runs, oldest first (the newest [`HISTORY_ATTEMPTS`]).
    pub attempts: Vec<Attempt>,
    /// Redeliveries of it acknowledged as duplicates.
    pub duplicates: u32,
    /// Times an operator replayed it.
    pub replays: u32,
}

impl Delivery {
    /// A delivery just stored at `received_ms`.
    #[must_use]
    pub fn new(key: impl Into<String>, about: Described, received_ms: i64) -> Self {
        Self {
            key: key.into(),
            about,
            received_ms,
            finished_ms: None,
            fate: Fate::Pending,
            attempts: Vec::new(),
            duplicates: 0,
            replays: 0,
        }
    }

    /// Whether it meets every condition of `filter` (its time is when it arrived; its error, its
    /// last attempt's).
    #[must_use]
    pub fn matches(&self, filter: &Filter) -> bool {
        let error = self.attempts.last().and_then(|a| a.error.as_deref());
        filter.matches_parts(
            &self.about,
            crate::time::UnixTime::from_secs(self.received_ms.div_euclid(1000)),
            error,
            self.fate,
        )
    }

    /// Records a run (keeping the newest [`HISTORY_ATTEMPTS`]) and the fate it led to.
    pub fn ran(&mut self, attempt: Attempt, fate: Fate, now_ms: i64) {
        if self.attempts.len() >= HISTORY_ATTEMPTS {
            self.attempts.remove(0);
        }
        self.attempts.push(attempt);
        self.reach(fate, now_ms);
    }

    /// Records a new fate.
    pub fn reach(&mut self, fate: Fate, now_ms: i64) {
        self.fate = fate;
        self.finished_ms = fate.is_final().then_some(now_ms);
    }
}

/// One page of a search: how many match in all, and the page's deliveries, the newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryPage {
    /// Deliveries matching, in all.
    pub total: usize,
    /// This page's.
    pub items: Vec<Delivery>,
}

impl HistoryPage {
    /// A page of `items` out of `total`.
    #[must_use]
    pub fn new(total: usize, items: Vec<Delivery>) -> Self {
        Self { total, items }
    }
}

/// Which page: skip `offset` matches, return at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Matches skipped.
    pub offset: usize,
    /// Matches returned at most.
    pub limit: usize,
}

impl Page {
    /// Skips `offset`, returns at most `limit`.
    #[must_use]
    pub fn new(offset: usize, limit: usize) -> Self {
        Self { offset, limit }
    }
}

/// A history in memory (the in-memory store's and the journal's): bounded by [`HistoryLimits`],
/// the oldest dropped first.
#[derive(Debug)]
pub(crate) struct HistoryLog {
    limits: HistoryLimits,
    /// By the fingerprint of the key (xxh3, as the dedupe index).
    entries: PrehashedMap<u128, Delivery>,
    /// Fingerprints in arrival order, with their arrival time (a key stored again after its
    /// window has a newer time: its older place is skipped).
    order: VecDeque<(i64, u128)>,
}

fn print(key: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key.as_bytes())
}

impl HistoryLog {
    pub(crate) fn new(limits: HistoryLimits) -> Self {
        Self {
            limits,
            entries: PrehashedMap::default(),
            order: VecDeque::new(),
        }
    }

    /// A delivery stored at `now_ms`.
    pub(crate) fn stored(&mut self, key: &str, about: impl FnOnce() -> Described, now_ms: i64) {
        if !self.limits.is_on() {
            return;
        }
        let print = print(key);
        self.entries
            .insert(print, Delivery::new(key, about(), now_ms));
        self.order.push_back((now_ms, print));
        self.trim(now_ms);
    }

    /// Changes the delivery `key`, if it is kept.
    pub(crate) fn update(&mut self, key: &str, change: impl FnOnce(&mut Delivery)) {
        if let Some(delivery) = self.entries.get_mut(&print(key)) {
            change(delivery);
        }
    }

    /// A settlement recorded.
    pub(crate) fn settled(&mut self, settlement: &super::store::Settlement) {
        let (attempt, fate) = settlement.history();
        if let Some(fate) = fate {
            let now = now_ms();
            self.update(&settlement.key, |d| match attempt {
                Some(attempt) => d.ran(attempt, fate, now),
                None => d.reach(fate, now),
            });
        }
    }

    /// A dead letter replayed.
    pub(crate) fn replayed(&mut self, key: &str) {
        self.update(key, |d| {
            d.replays += 1;
            d.reach(Fate::Pending, 0);
        });
    }

    /// A dead letter discarded.
    pub(crate) fn discarded(&mut self, key: &str) {
        let now = now_ms();
        self.update(key, |d| d.reach(Fate::Discarded, now));
    }

    pub(crate) fn get(&self, key: &str) -> Option<Delivery> {
        self.entries.get(&print(key)).cloned()
    }

    /// The deliveries matching `filter`, the newest first.
    pub(crate) fn search(&self, filter: &Filter, page: Page) -> HistoryPage {
        let mut total = 0;
        let mut items = Vec::new();
        for (at, print) in self.order.iter().rev() {
            let Some(delivery) = self.entries.get(print).filter(|d| d.received_ms == *at) else {
                continue;
            };
            if delivery.matches(filter) {
                if total >= page.offset && items.len() < page.limit {
                    items.push(delivery.clone());
                }
                total += 1;
            }
        }
        HistoryPage { total, items }
    }

    /// Drops what is past either bound.
    fn trim(&mut self, now_ms: i64) {
        let oldest = now_ms.saturating_sub(millis(self.limits.age));
        while let Some((at, _)) = self.order.front() {
            if self.order.len() <= self.limits.entries && *at >= oldest {
                break;
            }
            if let Some((at, print)) = self.order.pop_front()
                && self
                    .entries
                    .get(&print)
                    .is_some_and(|d| d.received_ms == at)
            {
                self.entries.remove(&print);
            }
        }
    }
}

/// `duration` in whole milliseconds, saturated.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Now, unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    millis(since)
}
