//! The `affiliate` category: orders placed through the partner's affiliate link.

use rust_decimal::Decimal;

use crate::time::UnixTime;
use crate::wire::{payload, wire_enum};

wire_enum! {
    /// The state of an affiliate order (`order_data.order_status`).
    pub enum OrderStatus {
        /// `completed`.
        "completed" => Completed,
        /// `pending`.
        "pending" => Pending,
        /// `failed`.
        "failed" => Failed,
        /// `refunded`.
        "refunded" => Refunded,
    }
}

payload! {
    /// `affiliate`/`order`: an order was placed through the partner's affiliate link.
    pub struct AffiliateOrder {
        /// When Roamify triggered the event.
        "timestamp" => timestamp: UnixTime,
        /// The affiliate partner's name.
        "partner_name" => partner_name: String,
        /// The affiliate partner's id.
        "partner_id" => partner_id: String,
        /// Commission rate in percent (`10.0` is 10 %).
        "commission_rate" => commission_rate: Decimal,
        /// Commission earned (Roamify does not state its currency).
        "commission_amount" => commission_amount: Decimal,
        /// The order itself.
        "order_data" => order_data: OrderData,
    }
}

payload! {
    /// The order of an [`AffiliateOrder`] (`order_data`).
    pub struct OrderData {
        /// The order id.
        "order_id" => order_id: String,
        /// Total charged, in `currency`.
        "order_total" => total: Decimal,
        /// Adjustment applied, in `currency`.
        "order_adjustment" => adjustment: Option<Decimal>,
        /// Subtotal before adjustment and discount, in `currency`.
        "order_subtotal" => subtotal: Option<Decimal>,
        /// Discount, if any, in `currency`.
        "order_discount" => discount: Option<Decimal>,
        /// ISO 4217 currency code of the order's amounts.
        "order_currency" => currency: String,
        /// The order's state.
        "order_status" => status: OrderStatus,
        /// The items ordered (empty when absent).
        "order_items" => items: Vec<OrderItem>,
    }
}

payload! {
    /// One line of an affiliate order (`order_items[]`).
    pub struct OrderItem {
        /// The item (package) id.
        "item_id" => item_id: String,
        /// The item's display name.
        "item_name" => item_name: Option<String>,
        /// How many were ordered.
        "item_quantity" => quantity: u32,
        /// Unit price (stated as USD by Roamify).
        "item_price" => price: Decimal,
    }
}
