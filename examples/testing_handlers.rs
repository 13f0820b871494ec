//! How to test your own handlers with the test kit (`roamify_hooks::testing`).
//!
//! ```text
//! cargo test --example testing_handlers     # the tests below
//! cargo run --example testing_handlers      # the same checks as a program
//! ```
//!
//! Handlers are ordinary functions: call them with a sample payload, as is
//! (`testing::sample_payload`) or changed (`testing::sample_payload_with`). To test the whole path —
//! signature, parsing, routing — deliver a signed sample to a receiver built with your table;
//! change a sample with `testing::sample_with`; go through actix-web's test service with
//! `roamify_hooks_actix::test::signed_request`; in a queued mode, `Receiver::wait_idle` waits
//! for the workers before checking what they did.

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
    tests::direct_call_with_an_edited_payload();
    tests::through_a_receiver();
    tests::an_edited_sample_through_actix();
    tests::queued_then_idle();
    println!("handlers behave: direct call and signed delivery both passed");
    Ok(())
}

#[cfg_attr(not(test), allow(dead_code))]
mod tests {
    use super::*;
    use roamify_hooks::testing::{
        SignedDelivery, sample_payload, sample_payload_with, sample_with,
    };
    use roamify_hooks::{EventKind, Outcome, delivery::DeliveryMode};

    #[cfg_attr(test, test)]
    pub(crate) fn direct_call() {
        let refunds = State::new(Refunds::default());
        let event: Refund = sample_payload(EventKind::RefundRefunded).expect("sample parses");
        refunded(event.clone(), refunds.clone()).expect("handled");
        refunded(event, refunds.clone()).expect("a redelivery is fine");
        assert_eq!(refunds.0.lock().expect("lock").len(), 1, "idempotent");
    }

    /// Two refunds with their own ids: the payload changed in its JSON, read as Roamify's would
    /// be, then handed to the handler.
    #[cfg_attr(test, test)]
    pub(crate) fn direct_call_with_an_edited_payload() {
        let refunds = State::new(Refunds::default());
        for id in ["rfd_1", "rfd_2"] {
            let event: Refund = sample_payload_with(EventKind::RefundRefunded, |json| {
                json["data"]["refund_id"] = id.into();
            })
            .expect("the edited sample parses");
            assert_eq!(event.refund_id, id);
            refunded(event, refunds.clone()).expect("handled");
        }
        assert_eq!(*refunds.0.lock().expect("lock"), ["rfd_1", "rfd_2"]);
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

    /// A refund id the sample does not have, through actix-web's own test service: the answer
    /// is the HTTP one a real server gives.
    #[cfg_attr(test, test)]
    pub(crate) fn an_edited_sample_through_actix() {
        actix_web::rt::System::new().block_on(async {
            let refunds = std::sync::Arc::new(Refunds::default());
            let receiver = Receiver::builder()
                .secret(Secret::new("whsec_test").expect("secret"))
                .state_arc(refunds.clone())
                .build(handlers![refunded])
                .expect("receiver");
            let app = actix_web::test::init_service(
                actix_web::App::new()
                    .service(roamify_hooks_actix::webhook("/webhooks/roamify", receiver)),
            )
            .await;
            let body = sample_with(EventKind::RefundRefunded, |json| {
                json["data"]["refund_id"] = "rf_edited".into();
            });
            let request =
                roamify_hooks_actix::test::signed_request("/webhooks/roamify", "whsec_test", body);
            let response = actix_web::test::call_service(&app, request.to_request()).await;
            assert_eq!(response.status(), 200);
            assert_eq!(*refunds.0.lock().expect("lock"), ["rf_edited"]);
        });
    }

    /// Queued: the answer comes before the handler runs; `wait_idle` waits for the workers.
    #[cfg_attr(test, test)]
    pub(crate) fn queued_then_idle() {
        let refunds = std::sync::Arc::new(Refunds::default());
        let receiver = Receiver::builder()
            .secret(Secret::new("whsec_test").expect("secret"))
            .state_arc(refunds.clone())
            .delivery(DeliveryMode::Queued(Default::default()))
            .build(handlers![refunded])
            .expect("receiver");
        futures_executor::block_on(async {
            for id in ["rf_1", "rf_2", "rf_3"] {
                let delivery = SignedDelivery::sample_with(EventKind::RefundRefunded, |json| {
                    json["data"]["refund_id"] = id.into();
                    json["event_id"] = format!("evt_{id}").into();
                })
                .signed("whsec_test");
                let outcome = delivery.deliver(&receiver).await;
                assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
            }
            let idle = receiver
                .wait_idle(std::time::Duration::from_secs(10))
                .await
                .expect("store");
            assert!(idle, "the workers finished within 10 s");
        });
        let mut done = refunds.0.lock().expect("lock").clone();
        done.sort();
        assert_eq!(done, ["rf_1", "rf_2", "rf_3"]);
    }
}
