use roamify_hooks::events::PartnerBalance;
use roamify_hooks::{handlers, Receiver, Secret};

fn low_balance(_event: PartnerBalance) {}

fn main() {
    low_balance(roamify_hooks::testing::sample_payload(roamify_hooks::EventKind::PartnerLowBalance).unwrap());
    let _ = Receiver::builder().secret(Secret::new("whsec").unwrap()).build(handlers![low_balance]);
}
