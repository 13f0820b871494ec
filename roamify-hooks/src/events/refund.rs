//! The `refund` category: decisions on refund requests (since November 2026).

use crate::time::UnixTime;
use crate::wire::{payload, wire_enum};

wire_enum! {
    /// The decision on a refund request (`status`).
    pub enum RefundStatus {
        /// `REFUNDED`: approved and paid back.
        "REFUNDED" => Refunded,
        /// `REJECTED`: refused, with a reason.
        "REJECTED" => Rejected,
    }
}

payload! {
    /// `refund`/`refunded` and `refund`/`rejected`: Roamify support decided a refund request.
    ///
    /// Refund events are the only ones with a stable id: [`Refund::event_id`]
    /// (`rfd_{refund_id}_{event_type}`) is the same on every redelivery, while `timestamp` is
    /// when the event was *sent* and may differ between redeliveries.
    pub struct Refund {
        /// When this delivery was sent (may differ between redeliveries of one event).
        "timestamp" => timestamp: UnixTime,
        /// The refund request's id.
        "refund_id" => refund_id: String,
        /// The decision.
        "status" => status: RefundStatus,
        /// The product refunded (`esim` for now).
        "product_type" => product_type: Option<String>,
        /// The eSIM concerned, when the product is an eSIM.
        "esim_id" => esim_id: Option<String>,
        /// The eSIM's ICCID (may be empty or absent).
        "iccid" => iccid: Option<String>,
        /// Why the request was rejected (for `rejected`).
        "rejection_reason" => rejection_reason: Option<String>,
        /// The envelope's `event_id`, copied here by the parser (not a field of `data`).
        "event_id" => event_id: Option<String>,
    }
}
