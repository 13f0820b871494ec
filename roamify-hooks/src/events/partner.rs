//! The `partner` category: the partner account's balance.

use rust_decimal::Decimal;

use crate::time::UnixTime;
use crate::wire::payload;

payload! {
    /// The payload of every `partner` event: `low_balance` (the balance fell below the
    /// configured threshold, with early warnings at 75, 50 and 25 % of it),
    /// `insufficient_balance` (a transaction was attempted above the balance) and `top_up`
    /// (funds were added). Which one arrived is the handler's event kind.
    ///
    /// Money is exact: `49.99` stays `49.99`.
    pub struct PartnerBalance {
        /// When Roamify triggered the event.
        "timestamp" => timestamp: UnixTime,
        /// The balance, in `currency`.
        "balance" => balance: Decimal,
        /// The configured low-balance threshold, when applicable.
        "threshold" => threshold: Option<Decimal>,
        /// Percentage of the threshold reached, when applicable.
        "threshold_percentage" => threshold_percentage: Option<Decimal>,
        /// ISO 4217 currency code of `balance` and `threshold`.
        "currency" => currency: String,
    }
}
