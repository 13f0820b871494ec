//! Receive [Roamify](https://getroamify.com) eSIM webhooks safely, fast, and without losing an
//! event.
//!
//! `roamify-hooks` verifies each delivery's `X-Roamify-Signature` over the exact body bytes,
//! turns the body into a typed [`Event`] — whatever shape of Roamify's documentation it follows —
//! and runs the handler you registered for it. Handlers are plain functions; the compiler checks
//! that each names a real event, takes that event's payload, and that no event has two.
//! No web framework lives here: `roamify-hooks-actix` mounts a [`Receiver`] in actix-web and
//! `roamify-hooks-axum` in axum; any other server calls [`Receiver::receive`] with header values
//! and body bytes and answers [`Outcome::reply`] — the HTTP policy (statuses, JSON bodies, body
//! limit) is in [`http`], so every adapter answers the same way.
//!
//! # A tour
//!
//! ```
//! use roamify_hooks::events::{EsimUsage, PartnerBalance};
//! use roamify_hooks::{handlers, on_event, testing, EventKind, Outcome, Receiver, Secret, State};
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! #[derive(Default)]
//! struct Alerts {
//!     sent: AtomicU32,
//! }
//!
//! // A synchronous handler taking shared state.
//! #[on_event(category = "partner", kind = "low_balance")]
//! fn low_balance(event: PartnerBalance, alerts: State<Alerts>) {
//!     alerts.sent.fetch_add(1, Ordering::Relaxed);
//!     println!("balance {} {} (threshold {:?})", event.balance, event.currency, event.threshold);
//! }
//!
//! // An async handler that can fail: Roamify will retry the delivery.
//! #[on_event(category = "esim", kind = "usage")]
//! async fn usage(event: EsimUsage) -> Result<(), std::io::Error> {
//!     println!("{} used {} days", event.iccid, event.usage_list.len());
//!     Ok(())
//! }
//!
//! # futures_executor::block_on(async {
//! let receiver = Receiver::builder()
//!     .secret(Secret::new("whsec_test")?) // in production: Secret::from_env()?
//!     .state(Alerts::default())
//!     .build(handlers![low_balance, usage])?;
//!
//! // What an HTTP adapter does with each request:
//! let body = testing::sample(EventKind::PartnerLowBalance);
//! let signature = testing::sign("whsec_test", body);
//! match receiver.receive([signature.as_bytes()], body).await {
//!     Outcome::Handled { handler, .. } => assert_eq!(handler, "low_balance"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # What it tolerates
//!
//! Real deliveries follow every published version of Roamify's documentation. Parsing accepts
//! both spellings of eSIM kinds (`usage`/`esim_usage`, `status`/`esim_status`), fields under
//! `data` or flat at the top level, any key order, optional fields absent, `null` or `""`, and
//! numbers with or without decimals. Money is [`rust_decimal::Decimal`], exact as sent. Keys this
//! version does not model are kept in each payload's `extra` map; status values it does not know
//! land in an `Other` variant; events it does not know become [`Event::Unknown`] and are
//! acknowledged.
//!
//! # Signatures
//!
//! [`signature::Secrets`] prepares each secret's HMAC key once; its `verify` takes the header
//! values and the raw bytes (any bytes) and returns a [`signature::Verified`] body, the only input
//! [`Event::parse`] accepts. Several secrets may be active at once for rotation.
//!
//! # Delivery modes and features
//!
//! By default handlers run before the answer ([`delivery::DeliveryMode::Inline`]) and duplicates (same
//! `event_id`, or same body, within 24 hours) are acknowledged without running them again. Cargo
//! features add modes that acknowledge at once and run handlers on worker threads with retries,
//! timeouts and dead letters:
//!
//! - `queue`: `DeliveryMode::Queued`, an in-memory queue (events pending at exit are lost);
//! - `durable`: `DeliveryMode::Durable`, committed to an embedded SQLite file before the 200 and
//!   resumed after a restart, and `DeliveryMode::Journal`, the same guarantee from an append-only
//!   journal (faster, one process at a time);
//! - stores shared by every receiver using one PostgreSQL database or one Redis server are
//!   crates of their own: `roamify-hooks-postgres` (`PgStore`) and `roamify-hooks-redis`
//!   (`RedisStore`).
//!
//! See [`delivery`] for what each guarantees, and `delivery::Queue` and `delivery::Admin` (with
//! `queue`) to plug in another store, checked with `testing::conformance`.
//!
//! # Logs and metrics
//!
//! Each delivery is logged through `tracing` (see [`Receiver::receive`]; without a `tracing`
//! subscriber the records reach `log`). With the feature `metrics`, the receiver also reports
//! through the [`metrics`](https://docs.rs/metrics) facade, to whatever exporter the
//! application installs:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `roamify_deliveries_total` | counter | `outcome`, `category`, `kind` | deliveries received, by [`Outcome::label`] |
//! | `roamify_refused_total` | counter | `reason` | refusals: `bad_signature`, `malformed`, `too_old`, `queue_full`, `store_failed`, `worker_only`, `shutting_down`, `too_large`, `unreadable` |
//! | `roamify_handler_duration_seconds` | histogram | `category`, `kind`, `result` (`ok`, `error`) | handler runs, inline and in workers |
//! | `roamify_jobs_total` | counter | `result` (`completed`, `retried`, `dead`, `stale`) | outcomes recorded by the workers |
//! | `roamify_jobs_in_flight` | gauge | | handlers running in the workers |
//! | `roamify_queue_depth` | gauge | | deliveries pending in the store, sampled by the workers at most once a second |
//!
//! # Limits
//!
//! Roamify documents no timestamp in the signature, so a captured delivery can be replayed;
//! idempotent handlers (and `event_id` for refunds) are the defence. Inline handlers run before
//! the answer: keep them well under Roamify's 2–3 s deadline, or use a queued mode.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
pub mod admin;
mod catalog;
pub mod delivery;
pub mod dispatch;
pub mod events;
pub mod health;
pub mod http;
mod logs;
pub mod meter;
mod observe;
pub mod ordering;
mod outcome;
mod parse;
mod receiver;
mod report;
mod run;
mod secret;
pub mod signature;
mod stats;
pub mod testing;
mod time;
mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use catalog::{CATALOG, CatalogEntry, Event, EventKind, EventName, ParseError};
pub use dispatch::{BoxError, Dispatch, HandlerError, State};
pub use events::UnknownEvent;
pub use outcome::Outcome;
pub use receiver::{BuildError, Receiver, ReceiverBuilder};
pub use report::report;
pub use run::Handled;
/// Money in payloads: exact decimals, as sent (re-exported from `rust_decimal`).
pub use rust_decimal::Decimal;
pub use secret::{Secret, SecretError};
pub use stats::Stats;

/// Registers a function as the handler of one Roamify event.
///
/// ```
/// use roamify_hooks::on_event;
/// use roamify_hooks::events::PartnerBalance;
///
/// #[on_event(category = "partner", kind = "top_up")]
/// async fn top_up(event: PartnerBalance) -> Result<(), std::io::Error> {
///     println!("topped up to {}", event.balance);
///     Ok(())
/// }
/// ```
///
/// Arguments:
/// - `category = "…"`, `kind = "…"`: the event, checked against the catalog at compile time.
///   Write the canonical kind (`usage`, `status`): it also receives deliveries with the legacy
///   spellings `esim_usage` and `esim_status`.
/// - `uncatalogued`: the event is not in the catalog (Roamify added it after this release); the
///   payload argument may then be any `serde::de::DeserializeOwned` type. Without this flag a
///   misspelled name is a compile error.
/// - `fallback` (alone): the handler of events no other handler takes, listed as
///   `handlers![…, fallback = f]`. Taking [`UnknownEvent`], it receives unknown events only
///   (known kinds without a handler are acknowledged); taking [`Event`], it receives every
///   event without a handler, known or unknown.
/// - `crate = path`: where to find this crate when it is re-exported under another name.
///
/// The function stays an ordinary function: call it directly in tests. It takes the payload and
/// optionally a [`State<T>`], may be `async`, and returns `()` or `Result<(), E>` with `E`
/// convertible into [`BoxError`]. Gather handlers with [`handlers!`].
#[doc(inline)]
pub use roamify_hooks_macros::on_event;

/// Gathers handlers into a compile-time dispatch table: `handlers![a, module::b, fallback = c]`.
///
/// The table is one `match` on the event's kind. Two handlers for one event are a compile error
/// naming both. Pass the table to [`ReceiverBuilder::build`].
#[doc(inline)]
pub use roamify_hooks_macros::handlers;
