//! The Roamify event catalog: every documented (category, kind), its wire spellings and its
//! payload type, declared once below.
//!
//! Everything that depends on the list of events is generated from that one declaration: the
//! [`EventKind`] and [`Event`] enums, [`CATALOG`], the routing of wire names, and the payload
//! checks the `#[on_event]` macro's expansions use. The macro crate validates attributes against
//! its own copy of the names; a test (`catalog_agrees_with_macro_crate`) proves the two agree.

use serde::de::{DeserializeSeed, Deserializer};

use crate::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund, UnknownEvent};

/// The route key of [`Event::Unknown`] in generated `match`es.
pub(crate) const UNCATALOGUED: u16 = u16::MAX;
/// The route key of handlers that are found by name rather than by kind (uncatalogued events
/// and the fallback); no event has it, so their `match` arms never fire.
pub const BY_NAME: u16 = u16::MAX - 1;

/// A zero-sized marker naming one catalog kind (see [`kind`]).
pub trait CatalogKind {
    /// The kind.
    const KIND: EventKind;
}

/// One documented event, as listed in [`CATALOG`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogEntry {
    /// The kind.
    pub kind: EventKind,
    /// The `event_category` value.
    pub category: &'static str,
    /// The `event_type` value, as on Roamify's type pages.
    pub name: &'static str,
    /// Other `event_type` spellings real deliveries use for the same event.
    pub aliases: &'static [&'static str],
    /// The payload type's name (in [`crate::events`]).
    pub payload: &'static str,
}

macro_rules! catalog {
    ($(
        $(#[$doc:meta])*
        $variant:ident {
            category: $category:literal,
            name: $name:literal,
            aliases: [$($alias:literal),*],
            payload: $payload:ident,
            stored: $stored:ty,
            mismatch: $message:literal,
            expected: $note:literal,
        }
    )*) => {
        /// Every event kind the catalog documents. Kinds added by Roamify later arrive as
        /// [`Event::Unknown`] until this crate learns them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u16)]
        pub enum EventKind {
            $( $(#[$doc])* $variant, )*
        }

        impl EventKind {
            /// Every kind, in catalog order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];

            /// The `event_category` value.
            #[must_use]
            pub const fn category(self) -> &'static str {
                match self { $( EventKind::$variant => $category, )* }
            }

            /// The canonical `event_type` value.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $( EventKind::$variant => $name, )* }
            }

            /// The kind named by a delivery's `event_category` and `event_type`, accepting every
            /// spelling in the catalog; `None` for events the catalog does not know.
            #[must_use]
            pub fn from_wire(category: &str, name: &str) -> Option<EventKind> {
                Self::from_wire_bytes(category.as_bytes(), name.as_bytes())
            }

            /// [`EventKind::from_wire`] on the raw bytes of the two names.
            #[must_use]
            pub fn from_wire_bytes(category: &[u8], name: &[u8]) -> Option<EventKind> {
                // Bytes, so the parser need not check names' UTF-8 first.
                $(
                    if category == $category.as_bytes() && (name == $name.as_bytes() $(|| name == $alias.as_bytes())*) {
                        return Some(EventKind::$variant);
                    }
                )*
                None
            }
        }

        /// The catalog, one entry per [`EventKind`], in order.
        pub const CATALOG: &[CatalogEntry] = &[$(
            CatalogEntry {
                kind: EventKind::$variant,
                category: $category,
                name: $name,
                aliases: &[$($alias),*],
                payload: stringify!($payload),
            },
        )*];

        /// A verified, parsed Roamify event: one variant per [`EventKind`], plus
        /// [`Event::Unknown`] for events the catalog does not know.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Event {
            $( $(#[$doc])* $variant($stored), )*
            /// An event this version does not know, with its names and raw JSON.
            Unknown(UnknownEvent),
        }

        impl Event {
            /// The event's kind; `None` for [`Event::Unknown`].
            #[must_use]
            pub fn kind(&self) -> Option<EventKind> {
                match self {
                    $( Event::$variant(_) => Some(EventKind::$variant), )*
                    Event::Unknown(_) => None,
                }
            }

            /// When Roamify triggered (or, for refunds, sent) the event; `None` for unknown events.
            #[must_use]
            pub fn timestamp(&self) -> Option<crate::time::UnixTime> {
                match self {
                    $( Event::$variant(p) => Some(p.timestamp), )*
                    Event::Unknown(_) => None,
                }
            }

            /// The ICCID of the eSIM the event concerns: `esim.status`, `esim.usage`, and
            /// refunds that name one (not empty); `None` for the others.
            #[must_use]
            pub fn iccid(&self) -> Option<&str> {
                match self {
                    Event::EsimStatus(s) => Some(&s.iccid),
                    Event::EsimUsage(u) => Some(&u.iccid),
                    Event::RefundRefunded(r) | Event::RefundRejected(r) => {
                        r.iccid.as_deref().filter(|i| !i.is_empty())
                    }
                    _ => None,
                }
            }

            /// The envelope's `event_id`, stable across redeliveries (refund events and unknown
            /// events that carry one).
            #[must_use]
            pub fn event_id(&self) -> Option<&str> {
                match self {
                    Event::RefundRefunded(r) | Event::RefundRejected(r) => r.event_id.as_deref(),
                    Event::Unknown(u) => u.event_id(),
                    _ => None,
                }
            }

            /// The route key the generated dispatch `match` switches on.
            pub(crate) fn route_key(&self) -> u16 {
                match self {
                    $( Event::$variant(_) => EventKind::$variant as u16, )*
                    Event::Unknown(_) => UNCATALOGUED,
                }
            }

            /// The payload, by value and type-erased (the test kit hands it back as the type a
            /// test asks for); an unknown event gives its [`UnknownEvent`].
            pub(crate) fn into_payload_any(self) -> Box<dyn std::any::Any> {
                match self {
                    $( Event::$variant(p) => Box::new(Unbox::<$payload>::unbox(p)), )*
                    Event::Unknown(u) => Box::new(u),
                }
            }

            pub(crate) fn payload_extra_mut(&mut self) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
                match self {
                    $( Event::$variant(p) => Some(&mut p.extra), )*
                    Event::Unknown(_) => None,
                }
            }
        }

        impl EventKind {
            /// The documented keys of this kind's payload.
            pub(crate) fn wire_fields(self) -> &'static [&'static str] {
                match self { $( EventKind::$variant => $payload::WIRE_FIELDS, )* }
            }
        }

        /// Reads the payload of a known kind from `data` (or the flat top level).
        #[derive(Clone, Copy)]
        pub(crate) struct KindSeed(pub(crate) EventKind);

        impl<'de> DeserializeSeed<'de> for KindSeed {
            type Value = Event;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Event, D::Error> {
                match self.0 {
                    $( EventKind::$variant => <$stored as serde::Deserialize<'de>>::deserialize(d).map(Event::$variant), )*
                }
            }
        }

        /// Zero-sized markers naming each kind in generated code.
        pub mod kind {
            $(
                #[doc = concat!("`", $category, "`/`", $name, "`.")]
                #[derive(Debug, Clone, Copy)]
                pub struct $variant;
                impl super::CatalogKind for $variant {
                    const KIND: super::EventKind = super::EventKind::$variant;
                }
            )*
        }

        /// One trait per kind, implemented only by that kind's payload type: a handler whose
        /// argument has another type fails to compile with the kind's own message.
        #[allow(clippy::result_large_err)] // Events are handed back by value (see `Taken`).
        pub mod payload_of {
            use super::{Event, Unbox};
            $(
                #[doc = concat!("Implemented by the payload type of `", $category, "`/`", $name, "`.")]
                #[diagnostic::on_unimplemented(message = $message, label = "wrong payload type for this event", note = $note)]
                pub trait $variant: Sized {
                    /// Takes this kind's payload out of an event of this kind.
                    ///
                    /// # Errors
                    /// Gives the event back when it is of another kind.
                    fn take(event: Event) -> Result<Self, Event>;
                }
                impl $variant for super::$payload {
                    #[inline]
                    fn take(event: Event) -> Result<Self, Event> {
                        match event {
                            Event::$variant(p) => Ok(Unbox::unbox(p)),
                            other => Err(other),
                        }
                    }
                }
            )*
        }
    };
}

catalog! {
    /// `esim`/`usage` (also sent as `esim_usage`): usage report of an eSIM.
    EsimUsage {
        category: "esim",
        name: "usage",
        aliases: ["esim_usage"],
        payload: EsimUsage,
        stored: Box<EsimUsage>,
        mismatch: "`{Self}` is not the payload of Roamify event `esim`/`usage`",
        expected: "handlers of `esim`/`usage` take `roamify_hooks::events::EsimUsage`",
    }
    /// `esim`/`status` (also sent as `esim_status`): an eSIM's status changed.
    EsimStatus {
        category: "esim",
        name: "status",
        aliases: ["esim_status"],
        payload: EsimStatus,
        stored: Box<EsimStatus>,
        mismatch: "`{Self}` is not the payload of Roamify event `esim`/`status`",
        expected: "handlers of `esim`/`status` take `roamify_hooks::events::EsimStatus`",
    }
    /// `partner`/`low_balance`: the balance fell below the threshold (or an early warning).
    PartnerLowBalance {
        category: "partner",
        name: "low_balance",
        aliases: [],
        payload: PartnerBalance,
        stored: PartnerBalance,
        mismatch: "`{Self}` is not the payload of Roamify event `partner`/`low_balance`",
        expected: "handlers of `partner`/`low_balance` take `roamify_hooks::events::PartnerBalance`",
    }
    /// `partner`/`insufficient_balance`: a transaction was attempted above the balance.
    PartnerInsufficientBalance {
        category: "partner",
        name: "insufficient_balance",
        aliases: [],
        payload: PartnerBalance,
        stored: PartnerBalance,
        mismatch: "`{Self}` is not the payload of Roamify event `partner`/`insufficient_balance`",
        expected: "handlers of `partner`/`insufficient_balance` take `roamify_hooks::events::PartnerBalance`",
    }
    /// `partner`/`top_up`: funds were added to the balance.
    PartnerTopUp {
        category: "partner",
        name: "top_up",
        aliases: [],
        payload: PartnerBalance,
        stored: PartnerBalance,
        mismatch: "`{Self}` is not the payload of Roamify event `partner`/`top_up`",
        expected: "handlers of `partner`/`top_up` take `roamify_hooks::events::PartnerBalance`",
    }
    /// `affiliate`/`order`: an order was placed through the affiliate link.
    AffiliateOrder {
        category: "affiliate",
        name: "order",
        aliases: [],
        payload: AffiliateOrder,
        stored: Box<AffiliateOrder>,
        mismatch: "`{Self}` is not the payload of Roamify event `affiliate`/`order`",
        expected: "handlers of `affiliate`/`order` take `roamify_hooks::events::AffiliateOrder`",
    }
    /// `refund`/`refunded`: a refund request was approved and paid back.
    RefundRefunded {
        category: "refund",
        name: "refunded",
        aliases: [],
        payload: Refund,
        stored: Box<Refund>,
        mismatch: "`{Self}` is not the payload of Roamify event `refund`/`refunded`",
        expected: "handlers of `refund`/`refunded` take `roamify_hooks::events::Refund`",
    }
    /// `refund`/`rejected`: a refund request was rejected.
    RefundRejected {
        category: "refund",
        name: "rejected",
        aliases: [],
        payload: Refund,
        stored: Box<Refund>,
        mismatch: "`{Self}` is not the payload of Roamify event `refund`/`rejected`",
        expected: "handlers of `refund`/`rejected` take `roamify_hooks::events::Refund`",
    }
}

/// Every payload larger than `PartnerBalance` is boxed inside [`Event`] (120 bytes), so that
/// moving an event is a few register copies rather than a `memcpy` call (the parser and the
/// dispatch table move events several times); handlers still get the payload by value.
trait Unbox<T> {
    fn unbox(self) -> T;
}

impl<T> Unbox<T> for Box<T> {
    #[inline]
    fn unbox(self) -> T {
        *self
    }
}

macro_rules! unboxed {
    ($($t:ty),*) => {$(
        impl Unbox<$t> for $t {
            #[inline]
            fn unbox(self) -> $t {
                self
            }
        }
    )*};
}
unboxed!(PartnerBalance);

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.category(), self.name())
    }
}

/// An event's category and kind, for outcomes and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventName {
    /// A catalog kind.
    Known(EventKind),
    /// An event the catalog does not know, with its names as sent.
    Unknown {
        /// `event_category`.
        category: String,
        /// `event_type`.
        kind: String,
    },
}

impl EventName {
    /// The names of `event`.
    #[must_use]
    #[inline]
    pub fn of(event: &Event) -> Self {
        match event.kind() {
            Some(kind) => Self::Known(kind),
            None => Self::unknown(event),
        }
    }

    #[cold]
    fn unknown(event: &Event) -> Self {
        match event {
            Event::Unknown(u) => Self::Unknown {
                category: u.category().to_owned(),
                kind: u.kind().to_owned(),
            },
            _ => Self::Unknown {
                category: String::new(),
                kind: String::new(),
            },
        }
    }

    /// `event_category`.
    #[must_use]
    pub fn category(&self) -> &str {
        match self {
            Self::Known(kind) => kind.category(),
            Self::Unknown { category, .. } => category,
        }
    }

    /// `event_type` (the canonical spelling for known kinds).
    #[must_use]
    pub fn kind(&self) -> &str {
        match self {
            Self::Known(kind) => kind.name(),
            Self::Unknown { kind, .. } => kind,
        }
    }
}

impl std::fmt::Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.category(), self.kind())
    }
}

/// Why a signed body could not be turned into an [`Event`].
///
/// An event of an unknown category or kind is *not* an error: it parses to
/// [`Event::Unknown`] and is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not a Roamify envelope: not JSON, not an object, or without string
    /// `event_category` and `event_type`.
    #[error("not a Roamify event envelope: {reason}")]
    NotEnvelope {
        /// What is wrong, for logs.
        reason: String,
    },
    /// A known kind whose payload does not match the documented fields.
    #[error("invalid `{kind}` payload at `{path}`: {message}")]
    InvalidPayload {
        /// The event's kind.
        kind: EventKind,
        /// JSON path of the offending field, from the top of the body (e.g. `data.balance`).
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// An event outside the catalog, handled by an `uncatalogued` handler whose payload type
    /// does not fit its fields.
    #[error("invalid `{category}.{kind}` payload for its uncatalogued handler: {message}")]
    InvalidUncatalogued {
        /// `event_category`.
        category: String,
        /// `event_type`.
        kind: String,
        /// What is wrong.
        message: String,
    },
}
