//! Events out of order: which kinds report a *state* (so an older one must never overwrite a
//! newer one), the settings ([`Ordering`]), and a delivery's place in its stream ([`Order`]).
//!
//! Roamify delivers at least once and does not keep order: it retries up to three times at
//! increasing intervals, workers run several handlers at once, and several instances may share a
//! queue. So an eSIM's `INSTALLED` can reach its handler after its `ACTIVATED`, and a 75 % usage
//! report after the 100 % one.
//!
//! | kind | reports | stream (key) |
//! |---|---|---|
//! | `esim`/`status` | state | `esim.status:<iccid>` |
//! | `esim`/`usage` | state | `esim.usage:<iccid>` |
//! | `partner`/`low_balance`, `partner`/`top_up` | state (the account's balance) | `partner.balance:` (one receiver is one account; give a key with [`order_key`](crate::ReceiverBuilder::order_key) otherwise) |
//! | `partner`/`insufficient_balance` | incident | — |
//! | `affiliate`/`order` | incident | — |
//! | `refund`/`refunded`, `refund`/`rejected` | incident (a refund's `timestamp` is when it was *sent*) | — |
//!
//! Incidents are never judged stale. An application gives its own key for an uncatalogued kind,
//! or overrides a catalogued one's, with
//! [`ReceiverBuilder::order_key`](crate::ReceiverBuilder::order_key).

mod marks;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use marks::DEFAULT_MARKS;
#[cfg(any(test, feature = "queue"))]
pub(crate) use marks::MarkIndex;
pub(crate) use marks::Marks;

use crate::catalog::{Event, EventKind};

/// How deliveries of one stream (an eSIM's status, its usage, the account's balance) are ordered
/// before their handler runs. Set per handler (`#[on_event(…, ordering = "latest")]`) and per
/// receiver as the default of the others
/// ([`ReceiverBuilder::ordering`](crate::ReceiverBuilder::ordering)); the library's default is
/// [`Ordering::Off`]: ordering means some deliveries never run, which only the application can
/// decide is right (a handler that mirrors an eSIM's status wants `latest`; one that keeps a
/// ledger of top-ups, or e-mails each usage threshold, wants every delivery).
///
/// Parsed from `off`, `latest` or `serial` (what the example servers read from
/// `ROAMIFY_ORDERING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Ordering {
    /// Every delivery runs, whatever its timestamp (the default).
    #[default]
    Off,
    /// When a handler is about to start, the delivery's signed `timestamp` is compared with the
    /// newest one already started for its stream, atomically in the store (shared by every
    /// instance on a shared store): an older delivery is acknowledged and recorded as *stale*
    /// and never runs. Equal timestamps (Roamify's are whole seconds) both run. An older delivery
    /// that started first may still *finish* after a newer one: only [`Ordering::Serial`] rules
    /// that out.
    Latest,
    /// [`Ordering::Latest`], and at most one handler of a stream runs at a time across every
    /// instance: a later delivery of the stream waits (holding no worker) until the earlier one
    /// is settled — handled, dead or stale — retries included. Other streams are not held up.
    /// Queued and store-backed modes only; inline, it is [`Ordering::Latest`].
    Serial,
}

impl Ordering {
    /// `off`, `latest` or `serial`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Latest => "latest",
            Self::Serial => "serial",
        }
    }
}

impl fmt::Display for Ordering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ordering setting that is not `off`, `latest` or `serial`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ordering `{0}`: expected `off`, `latest` or `serial`")]
pub struct UnknownOrdering(pub String);

impl FromStr for Ordering {
    type Err = UnknownOrdering;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" => Ok(Self::Off),
            "latest" => Ok(Self::Latest),
            "serial" => Ok(Self::Serial),
            other => Err(UnknownOrdering(other.to_owned())),
        }
    }
}

/// What a catalogued kind reports: see the table in [`crate::ordering`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reports {
    /// A state: a newer delivery supersedes an older one of the same stream.
    State {
        /// The stream's name, shared by the kinds that report the same state.
        stream: &'static str,
        /// What tells one stream from another.
        key: StateKey,
    },
    /// Something that happened: never judged stale.
    Incident,
}

/// The key of a state stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateKey {
    /// The eSIM's ICCID.
    Iccid,
    /// The partner account (one receiver receives one account's events).
    Account,
}

impl EventKind {
    /// Whether this kind reports a state (ordered) or an incident (never judged stale): see the
    /// table in [`crate::ordering`].
    #[must_use]
    pub const fn reports(self) -> Reports {
        match self {
            Self::EsimStatus => Reports::State {
                stream: "esim.status",
                key: StateKey::Iccid,
            },
            Self::EsimUsage => Reports::State {
                stream: "esim.usage",
                key: StateKey::Iccid,
            },
            Self::PartnerLowBalance | Self::PartnerTopUp => Reports::State {
                stream: "partner.balance",
                key: StateKey::Account,
            },
            Self::PartnerInsufficientBalance
            | Self::AffiliateOrder
            | Self::RefundRefunded
            | Self::RefundRejected => Reports::Incident,
        }
    }
}

/// A delivery's place among the others of its stream, given to the store with it
/// (`delivery::Incoming::order`, feature `queue`) and kept with it until it is settled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Order {
    /// The stream: the state's name and its key, e.g. `esim.status:8988…`.
    pub stream: String,
    /// The delivery's signed `timestamp`, in Unix seconds.
    pub at: i64,
    /// Whether at most one delivery of the stream may be leased at a time
    /// ([`Ordering::Serial`]).
    pub serial: bool,
}

impl Order {
    /// A delivery of `stream` signed at `at` (Unix seconds); `serial` as in [`Ordering::Serial`].
    #[must_use]
    pub fn new(stream: impl Into<String>, at: i64, serial: bool) -> Self {
        Self {
            stream: stream.into(),
            at,
            serial,
        }
    }
}

/// An application's key for a kind's stream: see
/// [`ReceiverBuilder::order_key`](crate::ReceiverBuilder::order_key).
pub(crate) type KeyFn = Arc<dyn Fn(&Event) -> Option<String> + Send + Sync>;

/// The ordering each handler asked for with `#[on_event(…, ordering = "…")]`: what
/// [`Dispatch::orderings`](crate::Dispatch::orderings) lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerOrdering {
    /// The `event_category` the handler takes.
    pub category: &'static str,
    /// The `event_type` the handler takes.
    pub kind: &'static str,
    /// What it asked for.
    pub ordering: Ordering,
}

impl HandlerOrdering {
    /// `ordering` for the handler of `category`/`kind`.
    #[must_use]
    pub const fn new(category: &'static str, kind: &'static str, ordering: Ordering) -> Self {
        Self {
            category,
            kind,
            ordering,
        }
    }
}

/// A kind asked for ordering, but has no stream key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "handler of `{category}`/`{kind}` asks for ordering `{ordering}`, but `{category}`/`{kind}` has no stream key (it reports an incident, or is not in the catalog): give one with `ReceiverBuilder::order_key(\"{category}\", \"{kind}\", …)`"
)]
pub struct NoOrderKey {
    /// `event_category`.
    pub category: String,
    /// `event_type`.
    pub kind: String,
    /// What the handler asked for.
    pub ordering: Ordering,
}

/// How a receiver orders each delivery: a rule per ordered kind, decided once when it is built.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Per catalog kind (by `EventKind as usize`): its rule, `None` when it is not ordered.
    known: Vec<Option<Rule>>,
    /// Uncatalogued kinds the application gave a key for and that are ordered: category, kind,
    /// rule (a handful: found by a scan, with no allocation per delivery).
    unknown: Vec<(String, String, Rule)>,
}

/// How one kind's deliveries are ordered: its stream's name up to the key, where the key comes
/// from, and whether the stream is serial.
#[derive(Clone)]
struct Rule {
    /// `esim.status:`, `partner.balance:`, `fleet.location:`…
    prefix: String,
    key: KeyOf,
    serial: bool,
}

/// Where a stream's key comes from.
#[derive(Clone)]
enum KeyOf {
    /// The eSIM's ICCID.
    Iccid,
    /// Nothing: one stream per receiver (the partner account).
    Account,
    /// The application's [`order_key`](crate::ReceiverBuilder::order_key).
    App(KeyFn),
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self.key {
            KeyOf::Iccid => "iccid",
            KeyOf::Account => "account",
            KeyOf::App(_) => "application",
        };
        f.debug_struct("Rule")
            .field("prefix", &self.prefix)
            .field("key", &key)
            .field("serial", &self.serial)
            .finish()
    }
}

impl Rule {
    /// The rule of a kind set to `ordering` (`None` when off).
    fn new(ordering: Ordering, prefix: String, key: KeyOf) -> Option<Self> {
        (ordering != Ordering::Off).then(|| Self {
            prefix,
            key,
            serial: ordering == Ordering::Serial,
        })
    }
}

impl Plan {
    /// `default` for every kind, each handler's own setting over it, and the application's keys.
    pub(crate) fn new(
        default: Ordering,
        handlers: &[HandlerOrdering],
        keys: &HashMap<(String, String), KeyFn>,
    ) -> Result<Self, NoOrderKey> {
        let setting = |category: &str, kind: &str| {
            handlers
                .iter()
                .find(|h| h.category == category && h.kind == kind)
                .map(|h| h.ordering)
        };
        let mut known = Vec::with_capacity(EventKind::ALL.len());
        for &kind in EventKind::ALL {
            let key = keys
                .get(&(kind.category().to_owned(), kind.name().to_owned()))
                .cloned();
            let own = setting(kind.category(), kind.name());
            let keyed = key.is_some() || matches!(kind.reports(), Reports::State { .. });
            let ordering = match own {
                Some(ordering) if ordering != Ordering::Off && !keyed => {
                    return Err(NoOrderKey {
                        category: kind.category().to_owned(),
                        kind: kind.name().to_owned(),
                        ordering,
                    });
                }
                Some(ordering) => ordering,
                None if keyed => default,
                None => Ordering::Off,
            };
            let rule = match (key, kind.reports()) {
                (Some(key), Reports::State { stream, .. }) => {
                    Rule::new(ordering, format!("{stream}:"), KeyOf::App(key))
                }
                (Some(key), Reports::Incident) => {
                    Rule::new(ordering, format!("{kind}:"), KeyOf::App(key))
                }
                (None, Reports::State { stream, key }) => {
                    let key = match key {
                        StateKey::Iccid => KeyOf::Iccid,
                        StateKey::Account => KeyOf::Account,
                    };
                    Rule::new(ordering, format!("{stream}:"), key)
                }
                (None, Reports::Incident) => None,
            };
            known.push(rule);
        }
        let mut unknown: HashMap<(String, String), Ordering> = HashMap::new();
        for handler in handlers {
            let name = (handler.category.to_owned(), handler.kind.to_owned());
            if handler.ordering == Ordering::Off
                || EventKind::from_wire(handler.category, handler.kind).is_some()
            {
                continue;
            }
            if !keys.contains_key(&name) {
                return Err(NoOrderKey {
                    category: name.0,
                    kind: name.1,
                    ordering: handler.ordering,
                });
            }
            unknown.insert(name, handler.ordering);
        }
        let unknown = keys
            .iter()
            .filter(|((category, kind), _)| EventKind::from_wire(category, kind).is_none())
            .filter_map(|(name, key)| {
                let ordering = unknown.get(name).copied().unwrap_or(default);
                let prefix = format!("{}.{}:", name.0, name.1);
                let rule = Rule::new(ordering, prefix, KeyOf::App(Arc::clone(key)))?;
                Some((name.0.clone(), name.1.clone(), rule))
            })
            .collect();
        Ok(Self { known, unknown })
    }

    /// Whether any kind is ordered.
    pub(crate) fn any(&self) -> bool {
        self.known.iter().any(Option::is_some) || !self.unknown.is_empty()
    }

    /// The order of `event`: `None` when its kind is not ordered, or it has no key or
    /// timestamp to order it by.
    pub(crate) fn order(&self, event: &Event) -> Option<Order> {
        let (rule, at) = match event {
            Event::Unknown(unknown) => {
                let (_, _, rule) = self
                    .unknown
                    .iter()
                    .find(|(category, kind, _)| unknown.is(category, kind))?;
                (rule, unknown_timestamp(unknown)?)
            }
            _ => {
                let rule = self.known[event.kind()? as usize].as_ref()?;
                (rule, event.timestamp()?.as_secs())
            }
        };
        let mut stream = String::with_capacity(rule.prefix.len() + 24);
        stream.push_str(&rule.prefix);
        match &rule.key {
            KeyOf::Iccid => stream.push_str(event.iccid().filter(|i| !i.is_empty())?),
            KeyOf::Account => {}
            KeyOf::App(key) => stream.push_str(&key(event)?),
        }
        Some(Order::new(stream, at, rule.serial))
    }
}

/// The `timestamp` of an uncatalogued event: under `data`, or at the top level.
fn unknown_timestamp(event: &crate::events::UnknownEvent) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_str(event.raw()).ok()?;
    let read = |v: &serde_json::Value| {
        v.get("timestamp").and_then(|t| {
            t.as_i64()
                .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
        })
    };
    value.get("data").and_then(read).or_else(|| read(&value))
}

#[cfg(test)]
mod tests;
