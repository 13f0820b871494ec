//! What a delivery leaves in the logs: with only WARN enabled, each refusal and failure is one
//! record with its cause (and, once the event is known, its category, kind and key); with INFO,
//! a handler's own lines carry the delivery's category and kind.

use std::io::Write;
use std::sync::{Arc, Mutex};

use roamify_hooks::events::PartnerBalance;
use roamify_hooks::testing::sign;
use roamify_hooks::{Receiver, Secret, handlers, on_event};
use tracing::Level;

const SECRET: &str = "whsec_logs";

#[on_event(category = "partner", kind = "top_up")]
async fn failing(_: PartnerBalance) -> Result<(), String> {
    Err("the ledger said no".to_owned())
}

#[on_event(category = "partner", kind = "low_balance")]
async fn chatty(event: PartnerBalance) {
    tracing::info!(balance = %event.balance, "inside the handler");
}

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("lock").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
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

/// Runs `work` with a `fmt` subscriber at `level` on this thread; returns what it wrote.
fn logged(level: Level, work: impl FnOnce()) -> Vec<String> {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, work);
    captured.lines()
}

fn top_up() -> Vec<u8> {
    br#"{"event_category":"partner","event_type":"top_up","data":{"timestamp":1700000000,"balance":5.00,"currency":"EUR"}}"#.to_vec()
}

#[test]
fn with_only_warn_each_refusal_and_failure_is_one_record_with_its_cause() {
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![failing])
        .expect("build");
    let deliver = |signature: String, body: Vec<u8>| {
        futures_executor::block_on(receiver.receive([signature], &body));
    };

    let bad_signature = logged(Level::WARN, || deliver("0".repeat(64), top_up()));
    assert_eq!(bad_signature.len(), 1, "{bad_signature:#?}");
    assert!(bad_signature[0].contains("WARN"), "{}", bad_signature[0]);
    assert!(
        bad_signature[0].contains("invalid signature"),
        "{}",
        bad_signature[0]
    );
    assert!(
        bad_signature[0].contains("does not match the body"),
        "the cause: {}",
        bad_signature[0]
    );

    let malformed_body = br#"{"not":"an envelope"}"#.to_vec();
    let malformed = logged(Level::WARN, || {
        deliver(sign(SECRET, &malformed_body), malformed_body.clone());
    });
    assert_eq!(malformed.len(), 1, "{malformed:#?}");
    assert!(malformed[0].contains("malformed event"), "{}", malformed[0]);
    assert!(malformed[0].contains("cause="), "{}", malformed[0]);
    assert!(malformed[0].contains("key="), "{}", malformed[0]);

    let failed = logged(Level::WARN, || deliver(sign(SECRET, top_up()), top_up()));
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let line = &failed[0];
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("handler failed"), "{line}");
    assert!(line.contains("the ledger said no"), "the cause: {line}");
    assert!(line.contains("category=partner"), "{line}");
    assert!(line.contains("kind=top_up"), "{line}");
    let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(top_up()));
    assert!(line.contains(&key), "the key: {line}");
}

#[test]
fn a_handlers_own_lines_carry_the_deliverys_category_and_kind() {
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .build(handlers![chatty])
        .expect("build");
    let body = roamify_hooks::testing::sample(roamify_hooks::EventKind::PartnerLowBalance);
    let lines = logged(Level::INFO, || {
        futures_executor::block_on(receiver.receive([sign(SECRET, body)], body));
    });
    let inside = lines
        .iter()
        .find(|l| l.contains("inside the handler"))
        .unwrap_or_else(|| panic!("the handler's line: {lines:#?}"));
    assert!(
        inside.contains("roamify_delivery{category=partner kind=low_balance}"),
        "{inside}"
    );
    let handled = lines
        .iter()
        .find(|l| l.contains("delivery handled"))
        .unwrap_or_else(|| panic!("the outcome line: {lines:#?}"));
    assert!(handled.contains("INFO"), "{handled}");
    assert!(
        handled.contains("category=partner kind=low_balance"),
        "{handled}"
    );
    assert!(handled.contains("latency_us="), "{handled}");
}
