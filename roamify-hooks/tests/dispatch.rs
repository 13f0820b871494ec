//! A table of handlers for all 8 kinds dispatches each fixture to the right handler, unknown
//! events to the uncatalogued handler or the fallback; state, failures and panics.

mod support;

use std::sync::Mutex;

use roamify_hooks::events::{AffiliateOrder, EsimStatus, EsimUsage, PartnerBalance, Refund};
use roamify_hooks::{
    BuildError, EventName, HandlerError, Outcome, Receiver, Secret, State, UnknownEvent, handlers,
    on_event, testing,
};

/// Which handler saw what, in order.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().expect("log lock").push(entry.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("log lock"))
    }
}

#[on_event(category = "esim", kind = "usage")]
async fn usage(event: EsimUsage, log: State<Log>) {
    log.push(format!("usage {}", event.iccid));
}

#[on_event(category = "esim", kind = "status")]
fn status(event: EsimStatus, log: State<Log>) {
    log.push(format!("status {}", event.status));
}

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(event: PartnerBalance, log: State<Log>) -> Result<(), std::io::Error> {
    log.push(format!("low_balance {}", event.balance));
    Ok(())
}

#[on_event(category = "partner", kind = "insufficient_balance")]
async fn insufficient(event: PartnerBalance, log: State<Log>) -> Result<(), String> {
    log.push(format!("insufficient_balance {}", event.balance));
    Ok(())
}

mod partner {
    use super::*;

    #[on_event(category = "partner", kind = "top_up")]
    pub(crate) fn top_up(event: PartnerBalance, log: State<Log>) {
        log.push(format!("top_up {}", event.balance));
    }
}

#[on_event(category = "affiliate", kind = "order")]
fn order(event: AffiliateOrder, log: State<Log>) {
    log.push(format!("order {}", event.order_data.total));
}

#[on_event(category = "refund", kind = "refunded")]
fn refunded(event: Refund, log: State<Log>) {
    log.push(format!("refunded {}", event.event_id.unwrap_or_default()));
}

#[on_event(category = "refund", kind = "rejected")]
fn rejected(event: Refund, log: State<Log>) {
    log.push(format!(
        "rejected {}",
        event.rejection_reason.unwrap_or_default()
    ));
}

#[derive(serde::Deserialize)]
struct EsimTopUp {
    package_id: String,
}

#[on_event(category = "esim", kind = "topup", uncatalogued)]
fn esim_topup(event: EsimTopUp, log: State<Log>) {
    log.push(format!("uncatalogued topup {}", event.package_id));
}

#[on_event(fallback)]
fn anything_else(event: UnknownEvent, log: State<Log>) {
    log.push(format!("fallback {}.{}", event.category(), event.kind()));
}

#[on_event(fallback)]
async fn awaited_unknown(_: UnknownEvent) {}

const SECRET: &str = "whsec_roamify_test";

/// A handler for every kind (sync and async), one found by name, and a fallback.
fn table() -> impl roamify_hooks::dispatch::Handlers {
    handlers![
        usage,
        status,
        low_balance,
        insufficient,
        partner::top_up,
        order,
        refunded,
        rejected,
        esim_topup,
        fallback = anything_else,
    ]
}

fn receiver(log: std::sync::Arc<Log>) -> Receiver<impl roamify_hooks::Dispatch> {
    Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(log)
        .build(table())
        .expect("all state registered")
}

async fn deliver<D: roamify_hooks::Dispatch>(receiver: &Receiver<D>, body: &[u8]) -> Outcome {
    receiver.receive([testing::sign(SECRET, body)], body).await
}

#[test]
fn every_fixture_reaches_its_handler() {
    let log = std::sync::Arc::new(Log::default());
    let receiver = receiver(log.clone());
    let expected = [
        ("affiliate_order.json", "order", "order 49.99"),
        ("esim_status.json", "status", "status ACTIVATED"),
        ("esim_status_flat.json", "status", "status ACTIVATED"),
        (
            "esim_status_legacy_name_compact.json",
            "status",
            "status DOWNLOADED",
        ),
        ("esim_usage.json", "usage", "usage 8991234567890123456"),
        ("esim_usage_flat.json", "usage", "usage 8991234567890123456"),
        (
            "partner_insufficient_balance.json",
            "insufficient",
            "insufficient_balance 3.25",
        ),
        (
            "partner_low_balance.json",
            "low_balance",
            "low_balance 50.00",
        ),
        (
            "partner_low_balance_flat.json",
            "low_balance",
            "low_balance 50.00",
        ),
        ("partner_top_up.json", "top_up", "top_up 1003.25"),
        (
            "refund_refunded.json",
            "refunded",
            "refunded rfd_7d1c2b0e-5f43-4c84-9f0e-2f7a1c9b8e11_refunded",
        ),
        (
            "refund_rejected.json",
            "rejected",
            "rejected The eSIM has already used data.",
        ),
        (
            "unknown_future_event.json",
            "esim_topup",
            "uncatalogued topup esim-europe-30days-10gb-all",
        ),
    ];
    assert_eq!(support::event_names(), expected.map(|e| e.0));
    futures_executor::block_on(async {
        for (fixture, handler, entry) in expected {
            match deliver(&receiver, &support::event(fixture)).await {
                Outcome::Handled {
                    handler: h,
                    secret_index: 0,
                    ..
                } => assert_eq!(h, handler, "{fixture}"),
                other => panic!("{fixture}: {other:?}"),
            }
            assert_eq!(log.take(), [entry], "{fixture}");
        }
        let body = br#"{"event_category":"loyalty","event_type":"points","data":{}}"#;
        let outcome = deliver(&receiver, body).await;
        assert!(
            matches!(
                &outcome,
                Outcome::Handled {
                    handler: "anything_else",
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(
            outcome.event(),
            Some(&EventName::Unknown {
                category: "loyalty".into(),
                kind: "points".into()
            })
        );
        assert_eq!(log.take(), ["fallback loyalty.points"]);
    });
}

#[test]
fn handlers_stay_callable() {
    let log = State::new(Log::default());
    status(
        testing::sample_payload(roamify_hooks::EventKind::EsimStatus).expect("sample"),
        log.clone(),
    );
    low_balance(
        testing::sample_payload(roamify_hooks::EventKind::PartnerLowBalance).expect("sample"),
        log.clone(),
    )
    .expect("ok");
    assert_eq!(log.take(), ["status ACTIVATED", "low_balance 50.00"]);
}

#[on_event(category = "partner", kind = "low_balance")]
async fn failing(_: PartnerBalance) -> Result<(), std::io::Error> {
    Err(std::io::Error::other("database down"))
}

#[on_event(category = "partner", kind = "top_up")]
fn panicking(_: PartnerBalance) {
    panic!("bug in handler");
}

#[test]
fn failures_and_panics_become_outcomes() {
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![failing, panicking])
        .expect("no state needed");
    futures_executor::block_on(async {
        let low = testing::sample(roamify_hooks::EventKind::PartnerLowBalance);
        match deliver(&receiver, low).await {
            Outcome::HandlerFailed {
                error: e @ HandlerError::Failed { .. },
                ..
            } => {
                assert_eq!(e.handler(), "failing");
                assert_eq!(
                    std::error::Error::source(&e)
                        .map(ToString::to_string)
                        .as_deref(),
                    Some("database down")
                );
            }
            other => panic!("{other:?}"),
        }
        let top_up = testing::sample(roamify_hooks::EventKind::PartnerTopUp);
        match deliver(&receiver, top_up).await {
            Outcome::HandlerFailed {
                error: HandlerError::Panicked { handler, message },
                ..
            } => {
                assert_eq!((handler, message.as_str()), ("panicking", "bug in handler"));
            }
            other => panic!("{other:?}"),
        }
        // Kinds without a handler, and unknown events without a fallback, are acknowledged.
        let status = testing::sample(roamify_hooks::EventKind::EsimStatus);
        assert!(matches!(
            deliver(&receiver, status).await,
            Outcome::Acknowledged { .. }
        ));
        let unknown = support::event("unknown_future_event.json");
        assert!(matches!(
            deliver(&receiver, &unknown).await,
            Outcome::Acknowledged { .. }
        ));
        // The receiver keeps working after a panic.
        assert!(matches!(
            deliver(&receiver, low).await,
            Outcome::HandlerFailed { .. }
        ));
    });
}

#[test]
fn missing_state_fails_at_build_time() {
    let error = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![usage])
        .expect_err("Log was not registered");
    let BuildError::MissingState(missing) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(missing.handler, "usage");
    assert!(missing.type_name.ends_with("Log"), "{}", missing.type_name);
    assert!(error.to_string().contains("takes `State<"), "{error}");
    let no_secret = Receiver::builder()
        .build(handlers![failing])
        .expect_err("no secret");
    assert!(matches!(no_secret, BuildError::NoSecret), "{no_secret:?}");
}

/// `fn main() -> Result<(), E>` prints `Error: {e:?}`: the message, not the variant's fields.
#[test]
fn errors_debug_print_their_message() {
    let error = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![usage])
        .expect_err("Log was not registered");
    assert_eq!(format!("{error:?}"), error.to_string());
    assert!(format!("{error:?}").starts_with("handler `usage` takes `State<"));
    let unset = Secret::from_env_var("ROAMIFY_TEST_VARIABLE_NEVER_SET").expect_err("unset");
    assert_eq!(
        format!("{unset:?}"),
        "the environment variable ROAMIFY_TEST_VARIABLE_NEVER_SET is not set (copy the webhook secret from the Roamify dashboard)"
    );
}

#[test]
fn uncatalogued_payload_that_does_not_fit_is_malformed() {
    let log = std::sync::Arc::new(Log::default());
    let receiver = receiver(log);
    let body =
        br#"{"event_category":"esim","event_type":"topup","data":{"package":"no package_id"}}"#;
    let outcome = futures_executor::block_on(deliver(&receiver, body));
    assert!(
        matches!(
            outcome,
            Outcome::Malformed {
                error: roamify_hooks::ParseError::InvalidUncatalogued { .. },
                ..
            }
        ),
        "{outcome:?}"
    );
}

/// A fallback taking `Event` receives every event no handler takes, known or unknown.
#[on_event(fallback)]
fn every_unhandled(event: roamify_hooks::Event, log: State<Log>) {
    let name = EventName::of(&event);
    log.push(format!("unhandled {name}"));
}

#[test]
fn a_fallback_taking_event_receives_known_and_unknown_events_without_a_handler() {
    let log = std::sync::Arc::new(Log::default());
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(log.clone())
        .build(handlers![usage, fallback = every_unhandled])
        .expect("all state registered");
    futures_executor::block_on(async {
        // Handled by their own handlers: the fallback sees nothing.
        let usage_body = testing::sample(roamify_hooks::EventKind::EsimUsage);
        assert!(matches!(
            deliver(&receiver, usage_body).await,
            Outcome::Handled {
                handler: "usage",
                ..
            }
        ));
        // A known kind without a handler, and an unknown event: both reach the fallback.
        let status_body = testing::sample(roamify_hooks::EventKind::EsimStatus);
        assert!(matches!(
            deliver(&receiver, status_body).await,
            Outcome::Handled {
                handler: "every_unhandled",
                ..
            }
        ));
        let unknown = support::event("unknown_future_event.json");
        assert!(matches!(
            deliver(&receiver, &unknown).await,
            Outcome::Handled {
                handler: "every_unhandled",
                ..
            }
        ));
        let entries = log.take();
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert!(entries[0].starts_with("usage "), "{entries:?}");
        assert_eq!(entries[1], "unhandled esim.status");
        assert_eq!(entries[2], "unhandled esim.topup");
    });
}

/// `dispatch_now` runs synchronous handlers in place and gives back every event whose handler
/// must be awaited (async handlers, handlers found by name, the fallback); what it runs gives
/// what `dispatch` gives.
#[test]
fn dispatch_now_runs_synchronous_handlers_and_gives_back_the_rest() {
    use roamify_hooks::{
        Dispatch, Event,
        dispatch::{Handlers, States},
    };

    let log = std::sync::Arc::new(Log::default());
    let mut states = States::default();
    states.insert_arc(log.clone());
    let table = table().bind(&states).expect("all state registered");
    let awaited = [
        "esim_usage.json",
        "esim_usage_flat.json",
        "partner_insufficient_balance.json",
        "unknown_future_event.json",
    ];
    for name in support::event_names() {
        let event = support::parsed_event(&name);
        match table.dispatch_now(event.clone()) {
            Ok(now) => {
                assert!(!awaited.contains(&name.as_str()), "{name} ran in place");
                let later = futures_executor::block_on(table.dispatch(event));
                assert!(
                    matches!(now, roamify_hooks::dispatch::Dispatched::Handled { .. }),
                    "{name}: {now:?}"
                );
                assert_eq!(format!("{now:?}"), format!("{later:?}"), "{name}");
            }
            Err(back) => {
                assert!(awaited.contains(&name.as_str()), "{name} was given back");
                assert_eq!(back, event, "{name} came back changed");
            }
        }
    }
    // Each synchronous handler ran twice (in place, then awaited); nothing ran for the others.
    let ran = log.take();
    assert_eq!(
        ran.len(),
        2 * (support::event_names().len() - awaited.len()),
        "{ran:?}"
    );

    // Without a fallback or handlers found by name, an event without a handler is answered in
    // place; with a fallback it is given back.
    let bare = handlers![status].bind(&states).expect("bound");
    let top_up = support::parsed_event("partner_top_up.json");
    assert!(matches!(
        bare.dispatch_now(top_up.clone()),
        Ok(roamify_hooks::dispatch::Dispatched::NoHandler)
    ));
    let unknown = support::parsed_event("unknown_future_event.json");
    assert!(matches!(
        bare.dispatch_now(unknown.clone()),
        Ok(roamify_hooks::dispatch::Dispatched::NoHandler)
    ));
    // A synchronous fallback runs in place too, for unknown events and kinds without a handler,
    // as `dispatch` would run it; an awaited one is given back.
    let with_fallback = handlers![status, fallback = anything_else]
        .bind(&states)
        .expect("bound");
    let now = with_fallback
        .dispatch_now(unknown.clone())
        .expect("run in place");
    let later = futures_executor::block_on(with_fallback.dispatch(unknown.clone()));
    assert_eq!(format!("{now:?}"), format!("{later:?}"));
    assert!(matches!(
        now,
        roamify_hooks::dispatch::Dispatched::Handled {
            handler: "anything_else"
        }
    ));
    assert!(matches!(
        with_fallback.dispatch_now(top_up.clone()),
        Ok(roamify_hooks::dispatch::Dispatched::NoHandler)
    ));
    assert_eq!(
        log.take(),
        ["fallback esim.topup", "fallback esim.topup"],
        "the fallback ran once each way"
    );
    let awaited_fallback = handlers![status, fallback = awaited_unknown]
        .bind(&states)
        .expect("bound");
    assert!(awaited_fallback.dispatch_now(unknown.clone()).is_err());
    let by_name = handlers![status, esim_topup].bind(&states).expect("bound");
    assert!(by_name.dispatch_now(unknown).is_err());
    assert!(matches!(
        by_name.dispatch_now(top_up),
        Err(Event::PartnerTopUp(_))
    ));
}

/// An `async fn` handler whose future is large: it keeps 16 KiB across an await.
#[on_event(category = "refund", kind = "refunded")]
async fn large_refunded(event: Refund, log: State<Log>) {
    let buffer = std::hint::black_box([1_u8; 16 * 1024]);
    std::future::ready(()).await;
    log.push(format!("large_refunded {} {}", event.refund_id, buffer[0]));
}

/// `dispatch_boxed` gives what `dispatch` gives, for every fixture (handled by a sync or async
/// handler, by name, by the fallback), and boxes only the future of the handler the event goes
/// to: a small handler's box stays small beside a handler whose future is 16 KiB.
#[test]
fn dispatch_boxed_gives_what_dispatch_gives_in_a_box_the_size_of_one_handler() {
    use roamify_hooks::{
        Dispatch,
        dispatch::{Handlers, States},
    };

    let log = std::sync::Arc::new(Log::default());
    let mut states = States::default();
    states.insert_arc(log.clone());
    let table = table().bind(&states).expect("all state registered");
    for name in support::event_names() {
        let event = support::parsed_event(&name);
        let boxed = futures_executor::block_on(table.dispatch_boxed(event.clone()));
        let awaited = futures_executor::block_on(table.dispatch(event));
        assert_eq!(format!("{boxed:?}"), format!("{awaited:?}"), "{name}");
    }
    let ran = log.take();
    assert_eq!(ran.len(), 2 * support::event_names().len(), "{ran:?}");
    assert!(ran.chunks(2).all(|pair| pair[0] == pair[1]), "{ran:?}");

    let mixed = handlers![insufficient, large_refunded, fallback = awaited_unknown]
        .bind(&states)
        .expect("bound");
    let whole =
        std::mem::size_of_val(&mixed.dispatch(support::parsed_event("refund_refunded.json")));
    assert!(whole > 16 * 1024, "the table's future is {whole} bytes");
    let small = mixed.dispatch_boxed(support::parsed_event("partner_insufficient_balance.json"));
    let size = std::mem::size_of_val(&*small);
    assert!(size < 1024, "a small handler's box is {size} bytes");
    assert!(matches!(
        futures_executor::block_on(small),
        roamify_hooks::dispatch::Dispatched::Handled {
            handler: "insufficient"
        }
    ));
    let unknown = mixed.dispatch_boxed(support::parsed_event("unknown_future_event.json"));
    let size = std::mem::size_of_val(&*unknown);
    assert!(size < 1024, "the fallback's box is {size} bytes");
    let large = mixed.dispatch_boxed(support::parsed_event("refund_refunded.json"));
    let size = std::mem::size_of_val(&*large);
    assert!(size > 16 * 1024, "the large handler's box is {size} bytes");
    assert!(matches!(
        futures_executor::block_on(large),
        roamify_hooks::dispatch::Dispatched::Handled {
            handler: "large_refunded"
        }
    ));
    assert_eq!(log.take().len(), 2);
}
