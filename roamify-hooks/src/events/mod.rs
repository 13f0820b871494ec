//! Typed payloads of every documented Roamify event, one module per category.
//!
//! Every payload struct is `#[non_exhaustive]` and keeps the keys it does not model in an
//! `extra` map, so nothing Roamify sends is lost. Optional fields read absent, `null` and `""` as
//! `None`; money is [`rust_decimal::Decimal`], exact as sent; status enums keep values they do
//! not know in an `Other` variant.

pub mod affiliate;
pub mod esim;
pub mod partner;
pub mod refund;
mod unknown;

pub use affiliate::{AffiliateOrder, OrderData, OrderItem, OrderStatus};
pub use esim::{DailyUsage, EsimState, EsimStatus, EsimUsage, UsageData};
pub use partner::PartnerBalance;
pub use refund::{Refund, RefundStatus};
pub use unknown::UnknownEvent;

/// When an event happened, as Roamify sends it: whole seconds since the Unix epoch.
pub use crate::time::UnixTime;
