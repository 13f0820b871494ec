// Each handler may choose how its kind is ordered; the table lists what they chose, and the
// functions stay ordinary functions.
use roamify_hooks::events::{EsimStatus, EsimUsage, PartnerBalance};
use roamify_hooks::ordering::{HandlerOrdering, Ordering};
use roamify_hooks::{handlers, on_event, Dispatch, Receiver, Secret};

#[on_event(category = "esim", kind = "status", ordering = "serial")]
fn status(_event: EsimStatus) {}

#[on_event(category = "esim", kind = "usage", ordering = "off")]
async fn usage(_event: EsimUsage) {}

#[on_event(category = "partner", kind = "top_up", ordering = "latest")]
fn top_up(_event: PartnerBalance) {}

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance) {}

fn main() {
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec_x").unwrap())
        .build(handlers![status, usage, top_up, low_balance])
        .unwrap();
    let _ = receiver;
    let table = roamify_hooks::dispatch::Handlers::bind(
        handlers![status, usage, top_up, low_balance],
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        table.orderings(),
        [
            HandlerOrdering::new("esim", "status", Ordering::Serial),
            HandlerOrdering::new("esim", "usage", Ordering::Off),
            HandlerOrdering::new("partner", "top_up", Ordering::Latest),
        ]
    );
}
