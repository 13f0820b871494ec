//! How to test your own handlers with the test kit (`roamify_hooks::testing`).
//!
//! ```text
//! cargo test --example testing_handlers     # the tests below
//! cargo run --example testing_handlers      # the same checks as a program
//! ```
//!
//! Handlers are ordinary functions: call them with a sample payload. To test the whole path —
//! signature, parsing, routing — deliver a signed sample to a receiver built with your table.

use std::sync::Mutex;

use roamify_hooks::events::Refund;
use roamify_hooks::{Receiver, Secret, State, handlers, on_event};

/// Refunds the shop has processed, by refund id (handlers must be idempotent: Roamify may
/// deliver an event twice).
#[derive(Default)]
pub struct Refunds(Mutex<Vec<String>>);

/// Records a paid-back refund once.
#[on_event(category = "refund", kind = "refunded")]
pub fn refunded(event: Refund, refunds: State<Refunds>) -> Result<(), String> {
    let mut done = refunds.0.lock().map_err(|_| "poisoned")?;
    if !done.contains(&event.refund_id) {
        done.push(event.refund_id);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tests::direct_call();
    tests::through_a_receiver();
    println!("handlers behave: direct call and signed delivery both passed");
    Ok(())
}

#[cfg_attr(not(test), allow(dead_code))]
mod tests {
    use super::*;
    use roamify_hooks::testing::{SignedDelivery, sample_payload};
    use roamify_hooks::{EventKind, Outcome};

    #[cfg_attr(test, test)]
    pub(crate) fn direct_call() {
        let refunds = State::new(Refunds::default());
        let event: Refund = sample_payload(EventKind::RefundRefunded).expect("sample parses");
        refunded(event.clone(), refunds.clone()).expect("handled");
        refunded(event, refunds.clone()).expect("a redelivery is fine");
        assert_eq!(refunds.0.lock().expect("lock").len(), 1, "idempotent");
    }

    #[cfg_attr(test, test)]
    pub(crate) fn through_a_receiver() {
        let refunds = std::sync::Arc::new(Refunds::default());
        let receiver = Receiver::builder()
            .secret(Secret::new("whsec_test").expect("secret"))
            .state_arc(refunds.clone())
            .build(handlers![refunded])
            .expect("receiver");
        let run =
            |delivery: SignedDelivery| futures_executor::block_on(delivery.deliver(&receiver));

        let outcome = run(SignedDelivery::sample(EventKind::RefundRefunded).signed("whsec_test"));
        assert!(
            matches!(
                outcome,
                Outcome::Handled {
                    handler: "refunded",
                    ..
                }
            ),
            "{outcome:?}"
        );
        let outcome =
            run(SignedDelivery::sample(EventKind::RefundRefunded).signed("another secret"));
        assert!(matches!(outcome, Outcome::BadSignature(_)), "{outcome:?}");
        let outcome = run(SignedDelivery::sample(EventKind::RefundRejected).signed("whsec_test"));
        assert!(
            matches!(outcome, Outcome::Acknowledged { .. }),
            "no handler: acknowledged, {outcome:?}"
        );
        assert_eq!(refunds.0.lock().expect("lock").len(), 1);
    }
}
