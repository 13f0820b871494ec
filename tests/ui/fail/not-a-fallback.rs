use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{handlers, on_event, Receiver, Secret};

#[on_event(category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance) {}

fn main() {
    let _ = Receiver::builder().secret(Secret::new("whsec").unwrap()).build(handlers![fallback = low_balance]);
}
