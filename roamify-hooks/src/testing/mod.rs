//! A test kit for users' own handlers: sign bodies, build signed deliveries, and get a valid
//! sample body for every event kind, as is or changed ([`sample_with`]), and its payload, as is
//! ([`sample_payload`]) or changed ([`sample_payload_with`]). For HTTP-level tests,
//! `roamify_hooks_actix::test` and `roamify_hooks_axum::test` build signed requests for each
//! framework's own test tools; in queued modes, `Receiver::wait_idle` waits for the workers.
//! Store authors check their store against the contract with `testing::conformance` (feature
//! `queue`).
//!
//! ```
//! use roamify_hooks::testing::{self, SignedDelivery};
//! use roamify_hooks::{EventKind, Outcome, Receiver, Secret, handlers, on_event};
//! use roamify_hooks::events::EsimStatus;
//!
//! #[on_event(category = "esim", kind = "status")]
//! fn status(event: EsimStatus) {
//!     assert_eq!(event.iccid, "8991234567890123456");
//! }
//!
//! // Handlers are plain functions: call them directly…
//! status(testing::sample_payload(EventKind::EsimStatus)?);
//!
//! // …or deliver a signed sample through a receiver.
//! let receiver = Receiver::builder().secret(Secret::new("whsec_test")?).build(handlers![status])?;
//! let delivery = SignedDelivery::sample(EventKind::EsimStatus).signed("whsec_test");
//! let outcome = futures_executor::block_on(delivery.deliver(&receiver));
//! assert!(matches!(outcome, Outcome::Handled { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::catalog::{EventKind, ParseError};
use crate::dispatch::Dispatch;
use crate::outcome::Outcome;
use crate::receiver::Receiver;

#[cfg(feature = "queue")]
pub mod conformance;

/// The `X-Roamify-Signature` value Roamify would send for `body` signed with `secret`: lowercase
/// hex of HMAC-SHA256 over the exact bytes.
#[must_use]
pub fn sign(secret: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_ref()) else {
        unreachable!("HMAC-SHA256 accepts keys of every length")
    };
    mac.update(body.as_ref());
    faster_hex::hex_string(&mac.finalize().into_bytes())
}

/// A valid sample body of `kind`, in the current (nested `data`) shape.
#[must_use]
pub fn sample(kind: EventKind) -> &'static [u8] {
    match kind {
        EventKind::EsimUsage => include_bytes!("../samples/esim_usage.json"),
        EventKind::EsimStatus => include_bytes!("../samples/esim_status.json"),
        EventKind::PartnerLowBalance => include_bytes!("../samples/partner_low_balance.json"),
        EventKind::PartnerInsufficientBalance => {
            include_bytes!("../samples/partner_insufficient_balance.json")
        }
        EventKind::PartnerTopUp => include_bytes!("../samples/partner_top_up.json"),
        EventKind::AffiliateOrder => include_bytes!("../samples/affiliate_order.json"),
        EventKind::RefundRefunded => include_bytes!("../samples/refund_refunded.json"),
        EventKind::RefundRejected => include_bytes!("../samples/refund_rejected.json"),
    }
}

/// The sample body of `kind`, changed by `edit` on its JSON: a negative balance, a missing field,
/// the legacy flat shape…
///
/// ```
/// use roamify_hooks::testing;
/// use roamify_hooks::signature::Secrets;
/// use roamify_hooks::{EventKind, Event, Secret};
///
/// let body = testing::sample_with(EventKind::PartnerLowBalance, |json| {
///     json["data"]["balance"] = serde_json::json!(-12.5);
/// });
/// # let secrets = Secrets::new(Secret::new("s")?);
/// # let verified = secrets.verify([testing::sign("s", &body)], &body)?;
/// # let Event::PartnerLowBalance(event) = Event::parse(&verified)? else { unreachable!() };
/// # assert_eq!(event.balance, roamify_hooks::Decimal::new(-125, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn sample_with(kind: EventKind, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(sample(kind)) else {
        unreachable!("every sample is valid JSON (tested)")
    };
    edit(&mut json);
    json.to_string().into_bytes()
}

/// The payload of [`sample`]`(kind)`, parsed, for calling handlers directly
/// ([`sample_payload_with`] changes it first).
///
/// # Errors
/// When `T` is not `kind`'s payload type.
pub fn sample_payload<T: DeserializeOwned>(kind: EventKind) -> Result<T, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    serde_json::from_slice::<Envelope<T>>(sample(kind)).map(|e| e.data)
}

/// The payload of [`sample_with`]`(kind, edit)`: the sample's JSON changed by `edit`, then read
/// by the receiver's own parser (every shape and spelling it tolerates), for calling a handler
/// directly with an edited payload. `T` is `kind`'s payload type.
///
/// ```
/// use roamify_hooks::events::PartnerBalance;
/// use roamify_hooks::{Decimal, EventKind, testing};
///
/// let event: PartnerBalance = testing::sample_payload_with(EventKind::PartnerLowBalance, |json| {
///     json["data"]["balance"] = serde_json::json!(-5);
///     json["data"]["threshold"] = serde_json::Value::Null;
/// })?;
/// assert_eq!(event.balance, Decimal::from(-5));
/// assert_eq!(event.threshold, None);
/// # Ok::<(), roamify_hooks::testing::SampleError>(())
/// ```
///
/// # Errors
/// [`SampleError::Parse`] when the edited body is no longer a valid `kind` event;
/// [`SampleError::NotThePayload`] when `T` is not `kind`'s payload type.
pub fn sample_payload_with<T: 'static>(
    kind: EventKind,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<T, SampleError> {
    let body = sample_with(kind, edit);
    let event = crate::parse::parse(&body).map_err(SampleError::Parse)?;
    event
        .into_payload_any()
        .downcast::<T>()
        .map(|payload| *payload)
        .map_err(|_| SampleError::NotThePayload {
            kind,
            asked: std::any::type_name::<T>(),
        })
}

/// Why [`sample_payload_with`] gave no payload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The edited sample is not a valid event any more (a required field removed, a wrong type).
    #[error("the edited sample does not parse")]
    Parse(#[source] ParseError),
    /// The type asked for is not the kind's payload type.
    #[error("`{asked}` is not the payload of `{kind}` (see the catalog's payload types)")]
    NotThePayload {
        /// The sample's kind.
        kind: EventKind,
        /// The type asked for.
        asked: &'static str,
    },
}

/// A delivery as Roamify would make it: a body and its `X-Roamify-Signature` value(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelivery {
    body: Vec<u8>,
    signatures: Vec<String>,
}

impl SignedDelivery {
    /// An unsigned delivery of `body`.
    #[must_use]
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            signatures: Vec::new(),
        }
    }

    /// An unsigned delivery of the sample body of `kind`.
    #[must_use]
    pub fn sample(kind: EventKind) -> Self {
        Self::new(sample(kind))
    }

    /// An unsigned delivery of [`sample_with`]`(kind, edit)`.
    #[must_use]
    pub fn sample_with(kind: EventKind, edit: impl FnOnce(&mut serde_json::Value)) -> Self {
        Self::new(sample_with(kind, edit))
    }

    /// Adds the signature of the body with `secret`.
    #[must_use]
    pub fn signed(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.signatures.push(sign(secret, &self.body));
        self
    }

    /// Adds an arbitrary header value (a wrong, malformed or second signature).
    #[must_use]
    pub fn with_signature(mut self, value: impl Into<String>) -> Self {
        self.signatures.push(value.into());
        self
    }

    /// Adds a well-formed signature that no secret made.
    #[must_use]
    pub fn badly_signed(self) -> Self {
        self.with_signature("0".repeat(64))
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The `X-Roamify-Signature` values, in order.
    #[must_use]
    pub fn signatures(&self) -> &[String] {
        &self.signatures
    }

    /// Delivers to `receiver` in-process, as an HTTP adapter would.
    pub async fn deliver<D: Dispatch>(&self, receiver: &Receiver<D>) -> Outcome {
        receiver
            .receive(self.signatures.iter().map(String::as_bytes), &self.body)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_survives_an_edit_that_changes_nothing() {
        for &kind in EventKind::ALL {
            let edited: serde_json::Value =
                serde_json::from_slice(&sample_with(kind, |_| {})).unwrap();
            let original: serde_json::Value = serde_json::from_slice(sample(kind)).unwrap();
            assert_eq!(edited, original, "{kind}");
        }
    }
}
