// A company SDK re-exports roamify-hooks; handlers name it through `crate = …`.
mod company_sdk {
    pub use roamify_hooks as webhooks;
}

use company_sdk::webhooks::events::PartnerBalance;
use company_sdk::webhooks::{handlers, on_event, Receiver, Secret};

#[on_event(crate = crate::company_sdk::webhooks, category = "partner", kind = "low_balance")]
fn low_balance(_event: PartnerBalance) {}

#[on_event(crate = "crate::company_sdk::webhooks", category = "partner", kind = "top_up")]
fn top_up(_event: PartnerBalance) {}

fn main() {
    let receiver = Receiver::builder()
        .secret(Secret::new("whsec").unwrap())
        .build(handlers![crate = crate::company_sdk::webhooks, low_balance, top_up]);
    assert!(receiver.is_ok());
}
