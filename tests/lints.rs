//! Expansions of `#[on_event]` and `handlers!` compile without a warning in a crate that denies
//! warnings and clippy's pedantic lints (checked by `cargo clippy --all-targets -D warnings`).
#![deny(warnings, clippy::pedantic)]

use roamify_hooks::events::{EsimStatus, PartnerBalance};
use roamify_hooks::{Receiver, Secret, State, UnknownEvent, handlers, on_event};

/// Counts partner alerts.
#[derive(Default)]
pub struct Alerts(std::sync::atomic::AtomicU32);

/// A public handler with state.
#[on_event(category = "partner", kind = "low_balance")]
pub fn low_balance(_event: PartnerBalance, alerts: State<Alerts>) {
    alerts.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

#[on_event(category = "esim", kind = "status")]
async fn status(event: EsimStatus) -> Result<(), std::io::Error> {
    std::future::ready(()).await;
    if event.iccid.is_empty() {
        return Err(std::io::Error::other("no iccid"));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct TopUp {
    iccid: String,
}

#[on_event(category = "esim", kind = "topup", uncatalogued)]
fn topup(event: TopUp) {
    assert!(!event.iccid.is_empty());
}

#[on_event(fallback)]
fn unknown(event: UnknownEvent) {
    assert!(!event.kind().is_empty());
}

#[test]
fn builds_under_pedantic_lints() {
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec").expect("secret"))
        .state(Alerts::default())
        .build(handlers![low_balance, status, topup, fallback = unknown]);
    assert!(receiver.is_ok());
}
