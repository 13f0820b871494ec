// The escape hatch for events newer than the catalog, and a fallback for everything else.
use roamify_hooks::{handlers, on_event, Receiver, Secret, UnknownEvent};

#[derive(serde::Deserialize)]
struct EsimTopUp {
    iccid: String,
}

#[on_event(category = "esim", kind = "topup", uncatalogued)]
fn esim_topup(event: EsimTopUp) {
    println!("{}", event.iccid);
}

#[on_event(fallback)]
async fn unknown(event: UnknownEvent) {
    println!("{}.{}", event.category(), event.kind());
}

fn main() {
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec").unwrap())
        .build(handlers![esim_topup, fallback = unknown]);
    assert!(receiver.is_ok());
}
