//! The workers of a queued receiver run each job in a span `roamify_delivery` with its
//! category, kind, key and attempt: a handler's own lines carry them, async or synchronous; and
//! each successful run is logged at INFO, as the inline path logs it; a failing delivery's retry
//! and dead-letter lines carry its category and kind; what the queued mode's shutdown cannot
//! run is logged as lost, with its keys. (A global subscriber, so in a binary of its own: the
//! workers run on the receiver's threads.)

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roamify_hooks::delivery::{QueueOptions, RetryPolicy};
use roamify_hooks::events::{EsimStatus, PartnerBalance};
use roamify_hooks::testing::sign;
use roamify_hooks::{Outcome, Receiver, Secret, delivery::DeliveryMode, handlers, on_event};

const SECRET: &str = "whsec_worker_logs";

#[on_event(category = "partner", kind = "low_balance")]
async fn chatty(event: PartnerBalance) {
    tracing::info!(balance = %event.balance, "inside the handler");
}

/// Synchronous: run in place by the worker, in the same span.
#[on_event(category = "partner", kind = "top_up")]
fn chatty_now(event: PartnerBalance) {
    tracing::info!(balance = %event.balance, "inside the synchronous handler");
}

/// Takes its time: holds the only runner while a shutdown's grace runs out.
#[on_event(category = "partner", kind = "insufficient_balance")]
async fn slow(_: PartnerBalance) {
    tokio::time::sleep(Duration::from_millis(800)).await;
}

/// Fails every time: retried once, then a dead letter.
#[on_event(category = "esim", kind = "status")]
fn failing(_: EsimStatus) -> Result<(), String> {
    Err("the CRM is down".to_owned())
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// The first line that `matches`, waiting for it for up to 10 s (the workers log on their
    /// own threads).
    fn line(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        for _ in 0..1000 {
            let text = String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned();
            if let Some(line) = text.lines().find(|l| matches(l)) {
                return Some(line.to_owned());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_workers_handler_lines_carry_key_category_kind_and_attempt() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("the only subscriber of this test binary");
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .delivery(DeliveryMode::Queued(QueueOptions::default()))
        .build(handlers![chatty, chatty_now])
        .expect("build");
    for (kind, message, name, handler) in [
        (
            roamify_hooks::EventKind::PartnerLowBalance,
            "inside the handler",
            "low_balance",
            "chatty",
        ),
        (
            roamify_hooks::EventKind::PartnerTopUp,
            "inside the synchronous handler",
            "top_up",
            "chatty_now",
        ),
    ] {
        let body = roamify_hooks::testing::sample(kind);
        let outcome = futures_executor::block_on(receiver.receive([sign(SECRET, body)], body));
        let Outcome::Queued { key, .. } = outcome else {
            panic!("{outcome:?}");
        };
        let line = captured
            .line(|l| l.contains(message))
            .expect("the handler ran and logged");
        assert!(line.contains("roamify_delivery{"), "{line}");
        assert!(line.contains(&format!("key={key}")), "{line}");
        assert!(line.contains("category=partner"), "{line}");
        assert!(line.contains(&format!("kind={name}")), "{line}");
        assert!(line.contains("attempt=1"), "{line}");
        // The run's own record, once the handler returned.
        let handled = captured
            .line(|l| l.contains("delivery handled") && l.contains(&format!("key={key}")))
            .expect("the worker's run logged its success");
        assert!(handled.contains(" INFO "), "{handled}");
        assert!(handled.contains("category=partner"), "{handled}");
        assert!(handled.contains(&format!("kind={name}")), "{handled}");
        assert!(
            handled.contains(&format!("handler=\"{handler}\"")),
            "{handled}"
        );
        assert!(handled.contains("attempt=1"), "{handled}");
    }
    receiver.shutdown(Duration::from_secs(5));

    // A failing delivery's retry and dead-letter lines say which event it is.
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .delivery(DeliveryMode::Queued(QueueOptions::default().retry(
            RetryPolicy::new(2, Duration::from_millis(1), Duration::from_millis(1)),
        )))
        .build(handlers![failing])
        .expect("build");
    let body = roamify_hooks::testing::sample(roamify_hooks::EventKind::EsimStatus);
    let outcome = futures_executor::block_on(receiver.receive([sign(SECRET, body)], body));
    let Outcome::Queued { key, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let line_of =
        |message: &str| captured.line(|l| l.contains(message) && l.contains(&format!("key={key}")));
    let dead = line_of("delivery moved to the dead letters")
        .expect("the delivery died after two attempts");
    let retried = line_of("delivery will be retried").expect("the first attempt was retried");
    let failed = line_of("handler failed").expect("each run logged its failure");
    for line in [&dead, &retried, &failed] {
        assert!(line.contains("category=esim"), "{line}");
        assert!(line.contains("kind=status"), "{line}");
        assert!(line.contains("the CRM is down"), "the cause: {line}");
    }
    assert!(
        dead.contains("ERROR") && retried.contains("WARN"),
        "{dead}\n{retried}"
    );
    receiver.shutdown(Duration::from_secs(5));

    // The queued mode's memory dies with the process: what its shutdown could not run within
    // the grace is logged at ERROR, each delivery with its key.
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .delivery(DeliveryMode::Queued(
            QueueOptions::default().concurrency(1).batch(1),
        ))
        .build(handlers![slow])
        .expect("build");
    let mut keys = Vec::new();
    for n in 0..3 {
        let body = roamify_hooks::testing::sample_with(
            roamify_hooks::EventKind::PartnerInsufficientBalance,
            |json| json["data"]["balance"] = n.into(),
        );
        let outcome = futures_executor::block_on(receiver.receive([sign(SECRET, &body)], &body));
        let Outcome::Queued { key, .. } = outcome else {
            panic!("{outcome:?}");
        };
        keys.push(key);
    }
    let pending = receiver.shutdown(Duration::from_millis(300));
    assert!(
        pending >= 1,
        "the grace is shorter than the runs: {pending}"
    );
    let text = String::from_utf8_lossy(&captured.0.lock().expect("lock")).into_owned();
    let lost: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("delivery lost") && l.contains("ERROR"))
        .collect();
    assert!(!lost.is_empty() && lost.len() <= pending, "{lost:#?}");
    for line in &lost {
        assert!(keys.iter().any(|k| line.contains(k.as_str())), "{line}");
    }
    assert!(
        text.lines()
            .any(|l| l.contains("they are lost") && l.contains(&format!("pending={pending}"))),
        "and a summary: {text}"
    );
}
