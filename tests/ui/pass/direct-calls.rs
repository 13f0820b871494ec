// Annotated handlers stay ordinary functions that tests can call.
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::testing::sample_payload;
use roamify_hooks::{on_event, EventKind, State};

#[on_event(category = "partner", kind = "top_up")]
fn top_up(event: PartnerBalance, counter: State<std::sync::atomic::AtomicU32>) -> Result<(), std::io::Error> {
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _ = event;
    Ok(())
}

fn main() {
    let counter = State::new(std::sync::atomic::AtomicU32::new(0));
    top_up(sample_payload(EventKind::PartnerTopUp).unwrap(), counter.clone()).unwrap();
    assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 1);
    let f: fn(PartnerBalance, State<std::sync::atomic::AtomicU32>) -> Result<(), std::io::Error> = top_up;
    let _ = f;
}
